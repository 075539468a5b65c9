"""The zoo's overhead: the same training epochs and the same inference pass through ``zoo.finetune`` /
``zoo.evaluate`` and through a plain hand-written loop in the same framework, interleaved in one process.

Plain PyTorch: the preprocessed images as one in-memory tensor, a seeded permutation per epoch, batch slicing,
AdamW, cross-entropy, loss and accuracy summed on the device (no per-step host sync); inference under
``torch.inference_mode`` over the same tensor. Plain Keras: ``model.compile(AdamW, sparse cross-entropy,
accuracy)`` + ``model.fit`` on the same numpy arrays; inference ``model.predict``. Both sides: same model, same
batch size, same data already in memory, same optimizer and learning rate (constant), no validation.

Each training call runs ``epochs_per_call`` epochs; its first epoch (tracing, allocator warm-up) is reported as
"cold" and the rest as "steady". Rounds alternate which side goes first. ratio = plain time / zoo time (> 1:
the zoo is faster).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .common import median, percentile

WEIGHT_DECAY = 0.01  # AdamW's decay in zoo.finetune (the default for adamw)


# ---------------------------------------------------------------------------------------------------- plain torch


def plain_torch_train(model: Any, x: Any, y: Any, batch: int, epochs: int, lr: float, seed: int) -> list[float]:
    """Seconds of each epoch of a plain PyTorch loop over in-memory tensors ``x`` (NCHW) and ``y``."""
    import torch

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=WEIGHT_DECAY)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    n = len(y)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        model.eval()
        _ = float(total) / n, int(correct) / n  # the epoch's loss and accuracy, as the zoo reports them
        times.append(time.perf_counter() - t0)
    return times


def plain_torch_predict(model: Any, x: Any, y: Any, batch: int) -> float:
    """Seconds to predict every image (and the accuracy) with a plain PyTorch inference loop."""
    import torch

    t0 = time.perf_counter()
    model.eval()
    with torch.inference_mode():
        logits = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
    _ = float((logits.argmax(1) == y).float().mean())
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------- plain keras


def plain_keras_train(model: Any, x: np.ndarray, y: np.ndarray, batch: int, epochs: int, lr: float,
                      seed: int) -> list[float]:
    """Seconds of each epoch of ``model.compile`` + ``model.fit`` on in-memory numpy arrays (NHWC)."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    times: list[float] = []
    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=lr, weight_decay=WEIGHT_DECAY),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[EpochTimer()])
    return times


def plain_keras_predict(model: Any, x: np.ndarray, y: np.ndarray, batch: int) -> float:
    t0 = time.perf_counter()
    logits = model.predict(x, batch_size=batch, verbose=0)
    _ = float((logits.argmax(1) == y).mean())
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------- the zoo


def zoo_train(model: Any, data: Any, batch: int, epochs: int, lr: float, seed: int) -> list[float]:
    from ..training import finetune

    history = finetune(model, data, epochs=epochs, batch_size=batch, lr=lr, schedule="constant", seed=seed,
                       progress=False)
    return list(history["seconds"])


def zoo_predict(model: Any, split: Any, batch: int) -> float:
    from ..training import evaluate

    t0 = time.perf_counter()
    evaluate(model, split, batch_size=batch)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------- measurement


def _plain_arrays(framework: str, x_nhwc: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    if framework == "torch":
        import torch

        # standard NCHW strides, as a DataLoader batch has: with one channel, a transposed NHWC array counts as
        # contiguous but keeps channels-last strides, which select other (faster) CPU kernels
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2)))
        return x.clone(memory_format=torch.contiguous_format), torch.from_numpy(y)
    return x_nhwc, y


def measure(model: Any, framework: str, data: Any, x_nhwc: np.ndarray, batch: int, rounds: int, lr: float,
            seed: int, epochs_per_call: int = 2, predict_reps: int = 3) -> dict[str, Any]:
    """Interleaved zoo-vs-plain training (``rounds`` calls each of ``epochs_per_call`` >= 2 epochs) and inference
    (``rounds * predict_reps`` passes each, after one warm-up pass each). ``x_nhwc`` is ``data.train``
    preprocessed for the model."""
    if epochs_per_call < 2:
        raise ValueError("epochs_per_call must be >= 2: the first epoch of each call is not steady state")
    y_np = np.asarray(data.train.labels, np.int64)
    x, y = _plain_arrays(framework, x_nhwc, y_np)
    if framework == "torch":
        def plain_train() -> list[float]:
            return plain_torch_train(model, x, y, batch, epochs_per_call, lr, seed)

        def plain_predict() -> float:
            return plain_torch_predict(model, x, y, batch)
    else:
        def plain_train() -> list[float]:
            return plain_keras_train(model, x, y, batch, epochs_per_call, lr, seed)

        def plain_predict() -> float:
            return plain_keras_predict(model, x, y, batch)

    sides = {"zoo": lambda: zoo_train(model, data, batch, epochs_per_call, lr, seed), "plain": plain_train}
    train = {"zoo": [], "plain": []}
    for r in range(rounds):
        for side in (("zoo", "plain") if r % 2 == 0 else ("plain", "zoo")):
            train[side].append(sides[side]())
    psides = {"zoo": lambda: zoo_predict(model, data.train, batch), "plain": plain_predict}
    pred = {"zoo": [], "plain": []}
    for side in psides:  # warm-up: compiled predict functions, caches
        psides[side]()
    for r in range(rounds * predict_reps):
        for side in (("zoo", "plain") if r % 2 == 0 else ("plain", "zoo")):
            pred[side].append(psides[side]())

    steady_all = {s: [t for call in train[s] for t in call[1:]] for s in train}
    steady = {s: median(v) for s, v in steady_all.items()}
    cold = {s: median([call[0] for call in train[s]]) for s in train}
    infer = {s: median(pred[s]) for s in pred}
    n = len(y_np)
    return {
        "train_epoch_seconds": {"zoo": steady["zoo"], "plain": steady["plain"]},
        "train_first_epoch_seconds": cold,
        "train_ratio": steady["plain"] / steady["zoo"],
        "train_noise": max(spread(v) for v in steady_all.values()),
        "train_first_epoch_ratio": cold["plain"] / cold["zoo"],
        "inference_seconds": infer,
        "inference_images_per_second": {s: n / infer[s] for s in infer},
        "inference_ratio": infer["plain"] / infer["zoo"],
        "inference_noise": max(spread(v) for v in pred.values()),
        "raw": {"train": train, "inference": pred},
    }


def spread(values: list[float]) -> float:
    """Relative spread of repeated timings, (p75 - p25) / median: how far apart the same work ran on this machine.
    A ratio closer to 1 than this is within the noise."""
    return (percentile(values, 75) - percentile(values, 25)) / median(values) if len(values) > 1 else float("nan")
