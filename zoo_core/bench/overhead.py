"""The zoo's overhead: the same training epochs and the same inference pass through ``zoo.finetune`` /
``zoo.evaluate`` and through a plain hand-written loop in the same framework, interleaved in one process.

Training: one ``zoo.finetune`` call of ``warmup + epochs`` epochs; after each of its epochs (an epoch callback)
the plain side runs one epoch of its own, so zoo and plain epochs alternate Z P Z P ... and share the machine's
state. The first ``warmup`` epochs of each side (tracing, allocator warm-up) are reported as "cold", the rest as
"steady". The plain side keeps its optimizer (PyTorch) or its compiled ``fit`` (Keras) across its epochs, as a
plain multi-epoch run would.

Plain PyTorch: the preprocessed images as one in-memory tensor, a seeded permutation per epoch, batch slicing,
AdamW, cross-entropy, loss and accuracy summed on the device (no per-step host sync); inference under
``torch.inference_mode`` over the same tensor. Plain Keras: ``model.compile(AdamW, sparse cross-entropy,
accuracy)`` once, then ``model.fit(epochs=1)`` per epoch on the same numpy arrays, timed from Keras's own
``on_epoch_begin`` to ``on_epoch_end`` (the per-call setup of ``fit`` is not counted against Keras); inference
``model.predict``. Both sides: same model, same batch size, same data already in memory, same optimizer and
learning rate (constant), no validation.

ratio = plain time / zoo time (> 1: the zoo is faster), the median over pairs of timings taken back to back.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np

from ..training import evaluate
from .common import median, percentile

WEIGHT_DECAY = 0.01  # AdamW's decay in zoo.finetune (the default for adamw)


class PlainTorch:
    """A plain PyTorch training loop over in-memory tensors ``x`` (NCHW) and ``y``, one epoch per call."""

    def __init__(self, model: Any, x: Any, y: Any, batch: int, lr: float, seed: int):
        import torch

        self.torch, self.model, self.x, self.y, self.batch = torch, model, x, y, batch
        self.opt = None
        self.lr = lr
        self.gen = torch.Generator().manual_seed(seed)
        self.loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(self) -> float:
        """Seconds of one training epoch, in the framework's default memory format (see :func:`default_layout`)."""
        with default_layout(self.model):
            return self._epoch()

    def _epoch(self) -> float:
        torch, model, x, y, batch = self.torch, self.model, self.x, self.y, self.batch
        t0 = time.perf_counter()
        if self.opt is None:  # created on the first epoch, as a plain script would before its loop
            self.opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=self.lr,
                                         weight_decay=WEIGHT_DECAY)
        opt, n = self.opt, len(y)
        model.train()
        perm = torch.randperm(n, generator=self.gen)
        total = torch.zeros(())
        correct = torch.zeros((), dtype=torch.long)
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            loss = self.loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
        model.eval()
        _ = float(total) / n, int(correct) / n  # the epoch's loss and accuracy, as the zoo reports them
        return time.perf_counter() - t0

    def predict(self) -> float:
        """Seconds to predict every image (and the accuracy) with a plain PyTorch inference loop."""
        torch, model, x, batch = self.torch, self.model, self.x, self.batch
        t0 = time.perf_counter()
        model.eval()
        with torch.inference_mode():
            logits = torch.cat([model(x[i:i + batch]) for i in range(0, len(x), batch)])
        _ = float((logits.argmax(1) == self.y).float().mean())
        return time.perf_counter() - t0


@contextlib.contextmanager
def default_layout(model: Any):
    """The plain loop's epochs run between the zoo's, on the same model object: when the zoo's tuning switched its
    weights to channels_last, PyTorch would run the plain loop's convolutions channels-last too (it follows the
    weights), so the plain side would get the zoo's tuning for free. Put the weights in the default layout for the
    plain epoch (outside its timer) and back afterwards."""
    import torch

    tuned = any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                for p in model.parameters())
    if tuned:
        model.to(memory_format=torch.contiguous_format)
    try:
        yield
    finally:
        if tuned:
            model.to(memory_format=torch.channels_last)


class PlainKeras:
    """``model.compile`` once + ``model.fit(epochs=1)`` per call on in-memory numpy arrays (NHWC)."""

    def __init__(self, model: Any, x: np.ndarray, y: np.ndarray, batch: int, lr: float):
        self.model, self.x, self.y, self.batch, self.lr = model, x, y, batch, lr
        self.compiled = False

    def epoch(self) -> float:
        """Seconds of one ``fit`` epoch, from Keras's on_epoch_begin to on_epoch_end."""
        import keras

        times: list[float] = []

        class EpochTimer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.t0)

        if not self.compiled:  # no keras.utils.set_random_seed here: it resets TensorFlow's global seed, which
            # empties TF's kernel cache and makes the zoo re-instantiate its compiled step (seconds) mid-comparison
            self.model.compile(optimizer=keras.optimizers.AdamW(learning_rate=self.lr, weight_decay=WEIGHT_DECAY),
                               loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                               metrics=["accuracy"])
            self.compiled = True
        self.model.fit(**self._fit_data(), epochs=1, verbose=0, callbacks=[EpochTimer()])
        return times[0]

    def _fit_data(self) -> dict[str, Any]:
        return {"x": self.x, "y": self.y, "batch_size": self.batch, "shuffle": True}

    def predict(self) -> float:
        t0 = time.perf_counter()
        logits = self.model.predict(self.x, batch_size=self.batch, verbose=0)
        _ = float((logits.argmax(1) == self.y).mean())
        return time.perf_counter() - t0


class PlainTorchFiles(PlainTorch):
    """The plain PyTorch loop of an image folder, as its tutorials write it: a ``Dataset`` decoding each file with
    PIL and torchvision's ``Resize`` + ``CenterCrop`` + ``ToTensor`` + ``Normalize``, a shuffling ``DataLoader``
    (no worker processes, as the zoo's default); inference over the same loader unshuffled."""

    def __init__(self, model: Any, paths: list[str], labels: np.ndarray, pre: Any, batch: int, lr: float,
                 seed: int):
        import torch
        from PIL import Image
        from torchvision import transforms

        super().__init__(model, None, torch.from_numpy(np.asarray(labels, np.int64)), batch, lr, seed)
        size = pre.input_size
        tf = transforms.Compose([transforms.Resize(int(size[0] / pre.crop_pct)), transforms.CenterCrop(size),
                                 transforms.ToTensor(), transforms.Normalize(pre.mean, pre.std)])
        mode = "L" if pre.in_chans == 1 else "RGB"

        class Files(torch.utils.data.Dataset):
            def __len__(self):
                return len(paths)

            def __getitem__(self, i):
                with Image.open(paths[i]) as img:
                    return tf(img.convert(mode)), int(labels[i])

        self.files = Files()

    def _loader(self, shuffle: bool):
        torch = self.torch
        return torch.utils.data.DataLoader(self.files, batch_size=self.batch, shuffle=shuffle,
                                           generator=self.gen if shuffle else None)

    def _epoch(self) -> float:
        torch, model = self.torch, self.model
        t0 = time.perf_counter()
        if self.opt is None:
            self.opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=self.lr,
                                         weight_decay=WEIGHT_DECAY)
        model.train()
        total, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
        for xb, yb in self._loader(shuffle=True):
            logits = model(xb)
            loss = self.loss_fn(logits, yb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            total += loss.detach() * len(yb)
            correct += (logits.detach().argmax(1) == yb).sum()
        model.eval()
        _ = float(total), int(correct)
        return time.perf_counter() - t0

    def predict(self) -> float:
        torch, model = self.torch, self.model
        t0 = time.perf_counter()
        model.eval()
        with torch.inference_mode():
            logits = torch.cat([model(xb) for xb, _ in self._loader(shuffle=False)])
        _ = float((logits.argmax(1) == self.y).float().mean())
        return time.perf_counter() - t0


class PlainKerasFiles(PlainKeras):
    """The plain Keras loop of an image folder, as its guides write it: a ``tf.data`` pipeline of the file paths
    (shuffle, ``decode_jpeg``, resize + center crop, normalise, batch, prefetch) into ``compile`` + ``fit``;
    ``predict`` over the same pipeline unshuffled."""

    def __init__(self, model: Any, paths: list[str], labels: np.ndarray, pre: Any, batch: int, lr: float):
        import tensorflow as tf

        super().__init__(model, None, np.asarray(labels, np.int64), batch, lr)
        size = pre.input_size
        resize = [int(s / pre.crop_pct) for s in size]
        mean = tf.constant(pre.mean, tf.float32) * 255.0
        std = tf.constant(pre.std, tf.float32) * 255.0

        def load(path, label):
            img = tf.io.decode_jpeg(tf.io.read_file(path), channels=pre.in_chans)
            img = tf.image.resize(img, resize)
            img = tf.image.resize_with_crop_or_pad(img, *size)
            return (img - mean) / std, label

        base = tf.data.Dataset.from_tensor_slices(([str(p) for p in paths], self.y))
        self.train_ds = base.shuffle(len(paths)).map(load, num_parallel_calls=tf.data.AUTOTUNE) \
            .batch(batch).prefetch(tf.data.AUTOTUNE)
        self.eval_ds = base.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch).prefetch(tf.data.AUTOTUNE)

    def _fit_data(self) -> dict[str, Any]:
        return {"x": self.train_ds, "shuffle": False}  # shuffled by the pipeline itself

    def predict(self) -> float:
        t0 = time.perf_counter()
        logits = self.model.predict(self.eval_ds, verbose=0)
        _ = float((logits.argmax(1) == self.y).mean())
        return time.perf_counter() - t0


def zoo_predict(model: Any, split: Any, batch: int) -> float:
    t0 = time.perf_counter()
    evaluate(model, split, batch_size=batch)
    return time.perf_counter() - t0


def plain_side(model: Any, framework: str, x_nhwc: np.ndarray, y: np.ndarray, batch: int, lr: float,
               seed: int, split: Any = None, pre: Any = None) -> PlainTorch | PlainKeras:
    """The plain loop of ``framework`` over ``x_nhwc`` (the training split, preprocessed) and labels ``y``; over
    the files of ``split``, decoded every epoch, when it is an image folder (not held in memory)."""
    if split is not None and not split.in_memory:
        paths = [str(p) for p in split.images]
        if framework == "torch":
            return PlainTorchFiles(model, paths, y, pre, batch, lr, seed)
        return PlainKerasFiles(model, paths, y, pre, batch, lr)
    if framework == "torch":
        import torch

        # standard NCHW strides, as a DataLoader batch has: with one channel, a transposed NHWC array counts as
        # contiguous but keeps channels-last strides, which select other (faster) CPU kernels
        x = torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))).clone(
            memory_format=torch.contiguous_format)
        return PlainTorch(model, x, torch.from_numpy(y), batch, lr, seed)
    return PlainKeras(model, x_nhwc, y, batch, lr)  # unseeded: TF's global seed is the zoo's (see epoch())


def paired_ratios(zoo: list[float], plain: list[float]) -> list[float]:
    """plain / zoo of each pair of timings taken next to each other: a machine that speeds up or slows down
    during the run (frequency, other tenants) changes both members of a pair alike, so it cancels out."""
    return [p / z for z, p in zip(zoo, plain, strict=True)]


def training_summary(zoo_epochs: list[float], plain_epochs: list[float], warmup: int) -> dict[str, Any]:
    """Ratios of the interleaved epochs: steady = after ``warmup`` epochs on each side, cold = the first. The
    ratio is the median of the paired ratios (zoo epoch i, then plain epoch i); its noise is their spread."""
    steady = {"zoo": zoo_epochs[warmup:], "plain": plain_epochs[warmup:]}
    if not steady["zoo"] or not steady["plain"]:
        raise ValueError("no steady epochs to compare: run more epochs than warm-up epochs")
    med = {s: median(v) for s, v in steady.items()}
    ratios = paired_ratios(steady["zoo"], steady["plain"])
    cold = {"zoo": zoo_epochs[0], "plain": plain_epochs[0]}
    return {
        "train_epoch_seconds": med,
        "train_first_epoch_seconds": cold,
        "train_ratio": median(ratios),
        "train_noise": spread(ratios),
        "train_first_epoch_ratio": cold["plain"] / cold["zoo"],
    }


def measure_inference(model: Any, plain: PlainTorch | PlainKeras, split: Any, batch: int, rounds: int,
                      predict_reps: int = 3) -> dict[str, Any]:
    """Interleaved ``zoo.evaluate`` vs the plain prediction loop: ``rounds * predict_reps`` passes each over
    ``split``, after one warm-up pass each, the order alternating."""
    sides = {"zoo": lambda: zoo_predict(model, split, batch), "plain": plain.predict}
    times: dict[str, list[float]] = {"zoo": [], "plain": []}
    for side in sides:  # warm-up: compiled predict functions, caches
        sides[side]()
    for r in range(rounds * predict_reps):
        for side in (("zoo", "plain") if r % 2 == 0 else ("plain", "zoo")):
            times[side].append(sides[side]())
    med = {s: median(v) for s, v in times.items()}
    ratios = paired_ratios(times["zoo"], times["plain"])  # pass r of each side ran back to back
    n = len(split)
    return {
        "inference_seconds": med,
        "inference_images_per_second": {s: n / med[s] for s in med},
        "inference_ratio": median(ratios),
        "inference_noise": spread(ratios),
        "inference_raw": times,
    }


def spread(values: list[float]) -> float:
    """Relative spread of repeated timings, (p75 - p25) / median: how far apart the same work ran on this machine.
    A ratio closer to 1 than this is within the noise."""
    return (percentile(values, 75) - percentile(values, 25)) / median(values) if len(values) > 1 else float("nan")


def median_ci(values: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """A distribution-free confidence interval of the median: (low, high, coverage). The interval between two
    order statistics, x_(j) and x_(n+1-j), holds the true median with probability 1 - 2 P(Binomial(n, 1/2) < j);
    ``j`` is the largest that keeps that at ``confidence`` or more. With too few values for ``confidence``, the
    interval is (min, max) and ``coverage`` says how sure it actually is (2 values: 50 %)."""
    from math import comb

    xs, n = sorted(values), len(values)
    if n == 0:
        raise ValueError("no values")

    def coverage(j: int) -> float:
        return 1 - 2 * sum(comb(n, i) for i in range(j)) / 2**n

    j = 1
    while j + 1 <= (n + 1) // 2 and coverage(j + 1) >= confidence:
        j += 1
    return xs[j - 1], xs[n - j], coverage(j)


def pooled(results: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Per framework, the paired ratios of every benchmarked row taken together (training: the steady epochs;
    inference: the passes): their median, a 95 % confidence interval of it (:func:`median_ci`) and the number of
    pairs. Ratios are unit-free, so rows of different models pool; many pairs give a tight interval where one
    row's few pairs cannot."""
    warmup = int(results.get("config", {}).get("warmup", 1))
    ratios: dict[str, dict[str, list[float]]] = {}
    for row in results.get("runs", []):
        raw = row.get("overhead", {}).get("raw")
        if not raw:
            continue
        fw = ratios.setdefault(row["framework"], {"train": [], "inference": []})
        fw["train"] += paired_ratios(raw["train"]["zoo"][warmup:], raw["train"]["plain"][warmup:])
        fw["inference"] += paired_ratios(raw["inference"]["zoo"], raw["inference"]["plain"])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for framework, kinds in ratios.items():
        for kind, values in kinds.items():
            if values:
                low, high, cover = median_ci(values)
                out.setdefault(framework, {})[kind] = {"ratio": median(values), "low": low, "high": high,
                                                       "coverage": cover, "pairs": len(values)}
    return out
