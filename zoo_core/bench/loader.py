"""``zoo bench --data FOLDER`` (no model names): the data loader alone, beside its peers, paired.

Contenders, each reading one epoch of the folder with the model's eval transform (resize the shorter side to
size / crop_pct, center crop, normalise: timm's), the same batch size and workers:

- ``zoo-torch`` / ``zoo-tf``: :func:`zoo_core.data.batches` in NCHW (torch tensors) / NHWC (tf tensors), its W
  workers placed as the loader places them by default: W decode threads in the training process on machines with
  2 CPUs or fewer (as Keras's W tf.data threads), W Grain worker processes above that (as torchvision's);
- ``torchvision``: ``ImageFolder`` + ``DataLoader(num_workers=W)`` with torchvision's Resize/CenterCrop/ToTensor/
  Normalize;
- ``tf.data``: the same transform in TensorFlow's C++ ops: ``tf.io.decode_image``, ``tf.image.resize`` of the
  shorter side with the model's interpolation, antialiased (as Pillow's), rounded to 0..255 as a uint8 image would
  be, center crop, normalise; W parallel calls, W private threads;
- ``keras``: ``keras.utils.image_dataset_from_directory(crop_to_aspect_ratio=True)``, normalised in the pipeline,
  its tf.data private thread pool set to W threads. Not the same transform: Keras squashes the central crop of the
  aspect ratio to the input size with a bilinear resize that is not antialiased, which is less work per image and
  other pixels. Shown beside, outside the ratio.

The ratio is the zoo's images/s over the faster of the peers doing the same transform (torchvision, tf.data).

Every epoch runs in a fresh process (one framework per process, memory peaks separable), and the contenders take
turns round after round, so the other load on a shared machine falls on all of them alike. Images/s is the epoch's
images over its wall time from creating the loader to its last batch (worker start-up included, as a training
epoch pays it; the framework is imported before the clock starts). Memory is the peak of the summed proportional
set size (PSS: shared pages split between the processes sharing them) of the process and all its workers, sampled
every 0.2 s with psutil.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..backends.tf_backend import host_tensor
from ..data import Preprocess, batches, image_folder
from ..data.loader import default_workers
from ..frameworks import import_keras, import_torch
from ..models import get_entry

CONTENDERS = ("zoo-torch", "torchvision", "zoo-tf", "tf.data", "keras")
SAME_TRANSFORM_PEERS = ("torchvision", "tf.data")


class PeakMemory:
    """The peak summed PSS (MB) of this process and its descendants, sampled in a thread."""

    def __init__(self, every: float = 0.2):
        self.every, self.peak, self._stop = every, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> float:
        import psutil

        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                total += p.memory_full_info().pss
        return total / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def _zoo(folder: str, model: str, batch: int, workers: int, framework: str) -> int:

    lib = sys.modules["torch" if framework == "torch" else "tensorflow"]
    split = image_folder(folder, split=(1.0, 0.0, 0.0)).train
    processes = default_workers(split) and workers
    threads = 1 if processes else max(workers, 1)
    n = 0
    # torch: a tensor over the batch's memory; TF: the same, as the Keras loop makes it (host_tensor)
    convert = lib.from_numpy if framework == "torch" else host_tensor
    for x, y in batches(split, model, batch_size=batch, workers=processes, threads=threads, framework=framework):
        convert(x), convert(y)
        n += len(y)
    return n


def _torchvision(folder: str, model: str, batch: int, workers: int) -> int:

    torch = sys.modules["torch"]
    from torchvision import datasets, transforms

    pre = Preprocess.for_entry(get_entry(model))
    size = int(pre.input_size[0] / pre.crop_pct)
    tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(pre.input_size), transforms.ToTensor(),
                             transforms.Normalize(pre.mean, pre.std)])
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(folder, tf), batch_size=batch, num_workers=workers)
    return sum(len(y) for _, y in loader)


def _keras(folder: str, model: str, batch: int, workers: int) -> int:

    tf, keras = sys.modules["tensorflow"], sys.modules["keras"]
    pre = Preprocess.for_entry(get_entry(model))
    ds = keras.utils.image_dataset_from_directory(folder, image_size=tuple(pre.input_size), batch_size=batch,
                                                  shuffle=False, crop_to_aspect_ratio=True, verbose=False)
    mean = tf.constant([255.0 * m for m in pre.mean])
    std = tf.constant([255.0 * s for s in pre.std])
    ds = ds.map(lambda x, y: ((x - mean) / std, y), num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)
    options = tf.data.Options()
    options.threading.private_threadpool_size = max(workers, 1)
    return sum(int(y.shape[0]) for _, y in ds.with_options(options))


def tf_data_pipeline(folder: str, model: str, batch: int, workers: int) -> Any:
    """The ``tf.data`` contender: the folder's images through the model's eval transform in TensorFlow ops."""
    tf = sys.modules["tensorflow"]
    pre = Preprocess.for_entry(get_entry(model))
    classes = sorted(d.name for d in Path(folder).iterdir() if d.is_dir())
    files = [(str(f), k) for k, c in enumerate(classes) for f in sorted((Path(folder) / c).iterdir()) if f.is_file()]
    h, w = pre.input_size
    scale = int(h / pre.crop_pct)  # torchvision's Resize(int): the shorter side to this, the longer truncated
    mean = tf.constant(pre.mean, tf.float32)
    std = tf.constant(pre.std, tf.float32)

    def load(path, label):
        img = tf.io.decode_image(tf.io.read_file(path), channels=pre.in_chans, expand_animations=False)
        size = tf.shape(img)[:2]
        short = tf.reduce_min(size)
        new = tf.where(size == short, scale, size * scale // short)
        img = tf.image.resize(img, new, method=pre.interpolation, antialias=True)
        img = tf.round(tf.clip_by_value(img, 0.0, 255.0))
        top, left = (tf.cast(tf.round(tf.cast(new - (h, w), tf.float32) / 2.0), tf.int32)[i] for i in (0, 1))
        img = tf.image.crop_to_bounding_box(img, top, left, h, w)
        return (img / 255.0 - mean) / std, label

    ds = tf.data.Dataset.from_tensor_slices(([f for f, _ in files], [k for _, k in files]))
    ds = ds.map(load, num_parallel_calls=max(workers, 1)).batch(batch).prefetch(2)
    options = tf.data.Options()
    options.threading.private_threadpool_size = max(workers, 1)
    return ds.with_options(options)


def _tf_data(folder: str, model: str, batch: int, workers: int) -> int:
    return sum(int(y.shape[0]) for _, y in tf_data_pipeline(folder, model, batch, workers))


def epoch(contender: str, folder: str, model: str, batch: int, workers: int) -> dict[str, Any]:
    """One epoch of one contender in this process: images, seconds, images/s, peak RSS (MB)."""
    if contender in ("zoo-torch", "torchvision"):
        import_torch()
    else:
        import_keras()
    if contender == "torchvision":  # each loader's library is imported before the clock starts, like the framework
        import torchvision  # noqa: F401
    elif contender.startswith("zoo-"):
        import grain  # noqa: F401
    memory = PeakMemory().__enter__()
    t0 = time.perf_counter()
    if contender.startswith("zoo-"):
        n = _zoo(folder, model, batch, workers, "torch" if contender == "zoo-torch" else "tf")
    elif contender == "torchvision":
        n = _torchvision(folder, model, batch, workers)
    elif contender == "tf.data":
        n = _tf_data(folder, model, batch, workers)
    else:
        n = _keras(folder, model, batch, workers)
    seconds = time.perf_counter() - t0
    memory.__exit__()
    return {"contender": contender, "images": n, "seconds": seconds, "images_per_s": n / seconds,
            "peak_pss_mb": memory.peak}


def _one(contender: str, folder: str, model: str, batch: int, workers: int) -> dict[str, Any]:
    code = ("import json, sys; from zoo_core.bench.loader import epoch; "
            f"print('RESULT', json.dumps(epoch({contender!r}, {folder!r}, {model!r}, {batch}, {workers})))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"contender": contender, "error": tail}
    return json.loads(lines[-1][len("RESULT "):])


def run(folder: str, *, model: str = "resnet18", batch: int = 64, workers: int = 2, rounds: int = 3,
        contenders: tuple[str, ...] = CONTENDERS, warmup: bool = True, log=print) -> dict[str, Any]:
    """``rounds`` interleaved epochs of every contender, after one untimed epoch of each (``warmup``: the file
    cache and each library's first start); the median images/s of each and the zoo/peer ratios (of the medians,
    and the median of the per-round ratios)."""
    samples: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    for c in contenders if warmup else ():
        res = _one(c, str(folder), model, batch, workers)
        log(f"warm-up {c}: " + (f"{res['images_per_s']:.0f} img/s (not counted)" if "error" not in res
                                else f"error: {res['error']}"))
    for r in range(rounds):
        for c in contenders if r % 2 == 0 else tuple(reversed(contenders)):  # alternate who goes first
            res = _one(c, str(folder), model, batch, workers)
            samples[c].append(res)
            log(f"round {r + 1}/{rounds} {c}: " + (f"{res['images_per_s']:.0f} img/s, peak PSS "
                                                    f"{res['peak_pss_mb']:.0f} MB" if "error" not in res
                                                    else f"error: {res['error']}"))
    table = {}
    for c, rows in samples.items():
        ok = [row for row in rows if "error" not in row]
        if ok:
            table[c] = {"images_per_s": statistics.median(row["images_per_s"] for row in ok),
                        "peak_pss_mb": max(row["peak_pss_mb"] for row in ok),
                        "images": ok[0]["images"], "epochs": len(ok)}
    ratios, paired = {}, {}
    for zoo_name in ("zoo-torch", "zoo-tf"):
        have = [table[p]["images_per_s"] for p in SAME_TRANSFORM_PEERS if p in table]
        if zoo_name in table and have:
            ratios[zoo_name] = table[zoo_name]["images_per_s"] / max(have)
        per_round = [_round_ratio(samples, zoo_name, r) for r in range(rounds)]
        if any(v is not None for v in per_round):
            paired[zoo_name] = statistics.median(v for v in per_round if v is not None)
    return {"folder": str(folder), "images": next((t["images"] for t in table.values()), 0), "model": model,
            "batch": batch, "workers": workers, "rounds": rounds, "cpus": os.cpu_count(), "table": table,
            "ratio_vs_faster_peer": ratios, "paired_ratio_vs_faster_peer": paired, "samples": samples}


def _round_ratio(samples: dict[str, list[dict[str, Any]]], zoo_name: str, r: int) -> float | None:
    """Round ``r``'s zoo images/s over the faster same-transform peer's in that round (None if one failed)."""
    def speed(name: str) -> float | None:
        rows = samples.get(name, [])
        return rows[r].get("images_per_s") if r < len(rows) else None

    peers = [v for v in map(speed, SAME_TRANSFORM_PEERS) if v]
    mine = speed(zoo_name)
    return mine / max(peers) if mine and peers else None


def markdown(result: dict[str, Any]) -> str:
    """The table docs/data.md shows."""
    lines = [f"{result['images']} JPEGs, {result['model']} eval transform, batch {result['batch']}, "
             f"{result['workers']} workers, {result['rounds']} interleaved rounds, {result['cpus']} CPUs "
             "(median images/s):", "", "| loader | images/s | peak memory, process + workers (PSS, MB) |",
             "|---|---|---|"]
    for c, row in result["table"].items():
        lines.append(f"| {c} | {row['images_per_s']:.0f} | {row['peak_pss_mb']:.0f} |")
    ratios = ", ".join(f"{k} {v:.2f}x" for k, v in result["ratio_vs_faster_peer"].items())
    lines += ["", f"zoo / faster peer with the same transform ({', '.join(SAME_TRANSFORM_PEERS)}): {ratios}"]
    paired = result.get("paired_ratio_vs_faster_peer", {})
    if paired:
        lines.append("median of the per-round ratios (each round's epochs run back to back): "
                     + ", ".join(f"{k} {v:.2f}x" for k, v in paired.items()))
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: str | os.PathLike) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "loader.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "loader.md").write_text(markdown(result))
    return out / "loader.md"
