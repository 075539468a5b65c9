"""Issue #19: the tuned settings do not change what training reaches. The same PyTorch run (seed, epochs, data)
with the framework's defaults (``tune="off"``) and with channels_last and the fused optimizer applied (the
settings the trial chooses for CNNs such as efficientnet_b0 on this CPU; forced here, so the comparison does not
depend on a timing), on mnist5k and on the 224 px photo folder of ``zoo bench --data photos``. Writes
benchmarks/results/tuned_accuracy.json.

    python benchmarks/tuned_accuracy.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import zoo_core
from zoo_core import training
from zoo_core.bench import photos
from zoo_core.data import open_dataset
from zoo_core.training import tuning

CASES = [  # (name, dataset, model, load kwargs, epochs, batch)
    ("mnist5k", "mnist5k", "simplecnn", {}, 3, 64),
    ("photos224", "photos", "resnet18", {}, 3, 16),
]


TUNED = "channels_last+fused"


def _forced(decision: dict) -> object:
    return lambda key: {**decision, "key": key}


def run_case(name: str, source: str, model_name: str, kw: dict, epochs: int, batch: int, tmp: Path) -> dict:
    if source == "photos":
        source = str(photos.make_folder(tmp / "photos", 96))
        data = open_dataset(source, split=(0.75, 0.0, 0.25), seed=0)
    else:
        data = open_dataset(source, split=(0.6, 0.0, 0.4), seed=0, limit=2000)
    out = {"data": name, "model": model_name, "epochs": epochs, "batch": batch, "train": len(data.train),
           "test": len(data.test)}
    weights = {}
    for side in ("off", TUNED):
        zoo_core.backends.get("torch").import_framework().manual_seed(0)
        model = zoo_core.load(model_name, "torch", num_classes=data.num_classes, **kw)
        original = tuning.load_cached
        if side == TUNED:
            tuning.load_cached = _forced({"chosen": TUNED, "settings": {"channels_last": True,
                                                                        "fused_optimizer": True},
                                          "speedup": float("nan"), "source": "forced"})
        try:
            t0 = time.perf_counter()
            history = training.finetune(model, data, epochs=epochs, batch_size=batch, progress=False,
                                        tune="off" if side == "off" else "auto")
            seconds = time.perf_counter() - t0
        finally:
            tuning.load_cached = original
        report = training.evaluate(model, data.test)
        weights[side] = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        out[side] = {"test_accuracy": report["accuracy"], "final_train_loss": history["train_loss"][-1],
                     "chosen": history["tuning"]["chosen"], "seconds": seconds}
    out["max_weight_difference"] = max(float(np.abs(weights["off"][k] - weights[TUNED][k]).max())
                                       for k in weights["off"] if weights["off"][k].dtype.kind == "f")
    return out


def main() -> int:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            results.append(run_case(*case, Path(tmp)))
            print(json.dumps(results[-1]), flush=True)
    path = Path(__file__).parent / "results" / "tuned_accuracy.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
