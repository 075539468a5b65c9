"""One measurement task in a fresh process: ``python -m zoo_core.bench.worker TASK.json RESULT.json``.

Task kinds: ``model`` (time to first prediction, training, inference, overhead and the matmul peak of one model in
one framework at one batch size) and ``flops`` (the FLOP count of one model, in PyTorch). A task imports only the
framework it measures, so peak memory and start-up times are that framework's alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends
from ..data import Preprocess, as_arrays
from . import flops, inference, overhead, train
from .common import load_data
from .flops import count


def run_model(task: dict[str, Any]) -> dict[str, Any]:
    fw = task["framework"]
    t0 = time.perf_counter()
    data = load_data(task["data"], task["limit"], task["seed"])
    data_s = time.perf_counter() - t0
    model, ttfp = inference.time_to_first_prediction(task["model"], fw, data.train.images[0], task["input_size"],
                                                     data.num_classes)
    if "spawned_at" in task:  # `python -c "import zoo_core; zoo_core.load(...)"` in a fresh process, wall clock
        ttfp["load_wall_s"] = ttfp.pop("built_at") - task["spawned_at"] - data_s
    pre = Preprocess.for_model(model)
    x_nhwc, _ = as_arrays(data.train, pre)
    backends.of(model).seed(task["seed"])
    result: dict[str, Any] = {"startup": ttfp}
    phases = {"data_s": data_s, "first_prediction_s": ttfp["ttfp_s"]}
    t0 = time.perf_counter()
    plain = None
    if task["overhead"]:
        plain = overhead.plain_side(model, fw, x_nhwc, np.asarray(data.train.labels, np.int64), task["batch"],
                                    task["lr"], task["seed"], split=data.train, pre=pre)
    result["train"] = train.measure(model, data, fw, task["batch"], task["epochs"], task["warmup"], task["lr"],
                                    task["seed"], between=plain.epoch if plain else None,
                                    tune=task.get("tune", "auto"))
    phases["train_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    result["inference"] = inference.measure(model, x_nhwc, task["batch"], task["latency_reps"])
    phases["latency_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if plain is not None:
        plain_epochs = result["train"].pop("between_seconds")
        infer = overhead.measure_inference(model, plain, data.train, task["batch"], task["rounds"])
        result["overhead"] = {
            **overhead.training_summary(result["train"]["epoch_seconds"], plain_epochs, task["warmup"]),
            **infer, "raw": {"train": {"zoo": result["train"]["epoch_seconds"], "plain": plain_epochs},
                             "inference": infer.pop("inference_raw")},
        }
    phases["overhead_inference_s"] = time.perf_counter() - t0 if plain is not None else 0.0
    t0 = time.perf_counter()
    if task.get("matmul", True):  # the device's peak: once per framework is enough
        result["matmul"] = flops.matmul_peak(fw)
    if task.get("flops"):
        result["flops"] = flops.count(task["model"], task["input_size"])
    phases["flops_s"] = time.perf_counter() - t0
    result["phases"] = phases  # where the worker's time went
    result["threads"] = _threads(fw)
    return result


def _threads(framework: str) -> int:
    """The CPU threads the framework actually uses for one op (what --threads set, or its default)."""
    if framework == "torch":
        import torch

        return int(torch.get_num_threads())
    import os

    import tensorflow as tf

    return int(os.environ.get("TF_NUM_INTRAOP_THREADS") or tf.config.threading.get_intra_op_parallelism_threads()
               or os.cpu_count() or 0)


def main(argv: list[str]) -> int:
    spec, out = Path(argv[0]), Path(argv[1])
    task = json.loads(spec.read_text())
    if task["kind"] == "model":  # imports only its own framework, inside the time-to-first-prediction timer
        result = run_model(task)
    elif task["kind"] == "flops":
        result = count(task["model"], task["input_size"])
    else:
        raise SystemExit(f"unknown task kind {task['kind']!r}")
    out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
