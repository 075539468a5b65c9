"""One measurement task in a fresh process: ``python -m zoo_core.bench.worker TASK.json RESULT.json``.

Task kinds: ``model`` (time to first prediction, training, inference, overhead and the matmul peak of one model in
one framework at one batch size) and ``flops`` (the FLOP count of one model, in PyTorch). A task imports only the
framework it measures, so peak memory and start-up times are that framework's alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def run_model(task: dict[str, Any]) -> dict[str, Any]:
    from .. import backends
    from ..data import Preprocess, as_arrays
    from . import flops, inference, overhead, train
    from .common import load_data

    fw = task["framework"]
    data = load_data(task["data"], task["limit"], task["seed"])
    model, ttfp = inference.time_to_first_prediction(task["model"], fw, data.train.images[0], task["input_size"],
                                                     data.num_classes)
    x_nhwc, _ = as_arrays(data.train, Preprocess.for_model(model))
    backends.of(model).seed(task["seed"])
    result: dict[str, Any] = {"startup": ttfp}
    result["train"] = train.measure(model, data, fw, task["batch"], task["epochs"], task["warmup"], task["lr"],
                                    task["seed"])
    result["inference"] = inference.measure(model, x_nhwc, task["batch"], task["latency_reps"])
    if task["overhead"]:
        result["overhead"] = overhead.measure(model, fw, data, x_nhwc, task["batch"], task["rounds"], task["lr"],
                                              task["seed"])
    result["matmul"] = flops.matmul_peak(fw)
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
        from .flops import count

        result = count(task["model"], task["input_size"])
    else:
        raise SystemExit(f"unknown task kind {task['kind']!r}")
    out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
