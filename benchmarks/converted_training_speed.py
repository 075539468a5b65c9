"""Training speed of converted Keras models against the hand-written Keras builders (paired, same process).

For ResNet-18, EfficientNet-B0 and ViT-Tiny: the zoo's torch model is converted to Keras (``torch2keras``) and the
hand-written Keras builder builds the same network; both get the same weights, are compiled the same way (SGD,
sparse cross-entropy, Keras' default compilation) and run the same loop of ``train_on_batch`` steps. Rounds
alternate between the two models so load from other processes hits both alike; the median round counts.

    PYTHONPATH=.:plugins python benchmarks/converted_training_speed.py [--size 64] [--batch 16] [--steps 5]

Writes benchmarks/results/converted_training_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["resnet18", "efficientnet_b0", "vit_tiny_patch16_224"]


def measure(name: str, size: int, batch: int, steps: int, rounds: int) -> dict:
    import numpy as np

    from zoo_core.frameworks import import_torch

    import_torch()
    import keras

    import zoo_core as zoo
    from zoo_core import backends
    from zoo_core.torch2keras import convert as conv

    torch_model = zoo.load(name, framework="torch", num_classes=10, input_size=size).eval()
    t = time.perf_counter()
    converted = conv.convert(torch_model, (size, size)).model
    convert_s = time.perf_counter() - t
    hand = zoo.load(name, framework="tf", num_classes=10, input_size=size)
    backends.get("tf").from_canonical(hand, backends.get("tf").to_canonical(converted))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, 3)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    models = {"converted": converted, "hand-written": hand}
    for m in models.values():
        m.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        for _ in range(2):  # trace / compile the step
            m.train_on_batch(x, y)
    speed: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(rounds):
        for key, m in models.items():
            t = time.perf_counter()
            for _ in range(steps):
                m.train_on_batch(x, y)
            speed[key].append(steps * batch / (time.perf_counter() - t))
    conv_ips, hand_ips = statistics.median(speed["converted"]), statistics.median(speed["hand-written"])
    return {"model": name, "size": size, "batch": batch, "steps": steps, "rounds": rounds,
            "convert_s": round(convert_s, 1), "converted_ips": round(conv_ips, 2), "hand_ips": round(hand_ips, 2),
            "ratio": round(conv_ips / hand_ips, 3),
            "transposes": sum(1 for layer in converted.layers if getattr(layer, "fn", None) == "transpose"),
            "layers": {"converted": len(converted.layers), "hand-written": len(hand.layers)},
            "rounds_ips": speed}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "converted_training_speed"))
    args = p.parse_args()
    rows = []
    for name in args.models.split(","):
        row = measure(name, args.size, args.batch, args.steps, args.rounds)
        print(json.dumps({k: v for k, v in row.items() if k != "rounds_ips"}), flush=True)
        rows.append(row)
    import keras
    import tensorflow as tf

    meta = {"command": "PYTHONPATH=.:plugins python benchmarks/converted_training_speed.py " + " ".join(sys.argv[1:]),
            "tensorflow": tf.__version__, "keras": keras.__version__, "machine": platform.machine(),
            "note": "2 shared CPU cores (other processes running); rounds alternate between the two models"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    lines = ["# Converted vs hand-written Keras models: training images/s", "",
             f"`{meta['command']}` (TF {meta['tensorflow']}, Keras {meta['keras']}; {meta['note']}). "
             f"One `train_on_batch` loop per model, batch {args.batch}, {args.size} px, {args.steps} steps a round, "
             f"median of {args.rounds} rounds.", "",
             "| model | converted img/s | hand-written img/s | ratio | transposes | layers (conv/hand) | convert s |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['converted_ips']} | {r['hand_ips']} | {r['ratio']} | {r['transposes']} | "
                     f"{r['layers']['converted']}/{r['layers']['hand-written']} | {r['convert_s']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
