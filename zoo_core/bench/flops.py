"""How close to the hardware: FLOPs of one training step (counted on the PyTorch model; the Keras model is the
same network, so the same count applies) against a measured float32 matmul peak of the same framework on the
same device."""

from __future__ import annotations

import time
from typing import Any

from .. import factory, models


def count(name: str, input_size: int | None, in_chans: int | None = None, num_classes: int = 10,
          batch: int = 2) -> dict[str, Any]:
    """Forward FLOPs per image of a model from ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and
    convolutions, 2 FLOPs per multiply-add), and the training step's as 3x that."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode


    model = factory.load(name, "torch", num_classes=num_classes, input_size=input_size, in_chans=in_chans)
    spec = models.spec_of(model).entry
    x = torch.randn(batch, spec.in_chans, *spec.input_size)
    model.train()
    with FlopCounterMode(display=False) as fwd:
        model(x)
    with FlopCounterMode(display=False) as step:
        model(x).sum().backward()
    forward = fwd.get_total_flops() / batch
    # training = forward + backward ~ 3x forward (the usual convention). FlopCounterMode's own count of the
    # backward is kept for reference: it over-counts grouped/depthwise convolution gradients (EfficientNet: 39x)
    return {"forward_flops_per_image": forward, "train_flops_per_image": 3 * forward,
            "counted_step_flops_per_image": step.get_total_flops() / batch,
            "params": int(sum(p.numel() for p in model.parameters()))}


def matmul_peak(framework: str, n: int = 1024, reps: int = 10, seconds: float = 1.0) -> dict[str, Any]:
    """Best float32 FLOP/s of an n x n matmul in ``framework`` over ``reps`` timed runs (or ``seconds``)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    if framework == "torch":
        import torch

        a, b = torch.from_numpy(a_np), torch.from_numpy(b_np)
        if torch.cuda.is_available():
            a, b = a.cuda(), b.cuda()

        def mm():
            c = a @ b
            if c.is_cuda:
                torch.cuda.synchronize()
    else:
        import tensorflow as tf

        a, b = tf.constant(a_np), tf.constant(b_np)

        def mm():
            tf.reduce_sum(tf.linalg.matmul(a, b)).numpy()  # waits for the result on any device (a scalar copy)

    mm()
    best, deadline = float("inf"), time.perf_counter() + seconds
    for i in range(reps):
        t0 = time.perf_counter()
        mm()
        best = min(best, time.perf_counter() - t0)
        if i >= 2 and time.perf_counter() > deadline:
            break
    return {"matmul_n": n, "peak_flops": 2.0 * n ** 3 / best}


def achieved(train_flops_per_image: float | None, images_per_second: float, peak_flops: float | None
             ) -> dict[str, float | None]:
    """Achieved FLOP/s of the training step and its fraction of the measured peak."""
    if not train_flops_per_image or not peak_flops:
        return {"achieved_flops": None, "fraction_of_peak": None}
    flops = train_flops_per_image * images_per_second
    return {"achieved_flops": flops, "fraction_of_peak": flops / peak_flops}
