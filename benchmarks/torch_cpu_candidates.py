"""Issue #19: which exact PyTorch settings are faster on this CPU? Paired, interleaved micro-benchmarks.

Per model (128 px, batch 32, AdamW as in ``zoo.finetune``, one CPU thread unless ``--threads``):

- the optimizer step alone, foreach (torch's default on CPU) against ``fused=True``, for AdamW, Adam and SGD
  (momentum), in alternating rounds (A B, B A, ...): the per-pair ratio's median and (p75 - p25) / median;
- whole training steps: default, fused AdamW, channels_last, channels_last + fused AdamW, and the default with
  oneDNN (``torch.backends.mkldnn``) switched off, each paired with a default step in the same round;
- exactness: the weights after ``--steps`` training steps of fused AdamW against foreach AdamW (the same batches,
  the same start), as max |a - b| / max |a| over the tensors, next to the same figure for two foreach runs that
  differ only in the number of threads (1 against 2): float32 run-to-run noise on this machine.

    PYTHONPATH=.:plugins python benchmarks/torch_cpu_candidates.py [--models resnet18,efficientnet_b0,convnext_atto]

Writes benchmarks/results/torch_cpu_candidates.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pair_stats(base: list[float], cand: list[float]) -> dict:
    ratios = [b / c for b, c in zip(base, cand, strict=True)]
    med = statistics.median(ratios)
    q = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else [med, med, med]
    return {"median": med, "spread": (q[2] - q[0]) / med, "faster_pairs": sum(r > 1 for r in ratios),
            "pairs": len(ratios), "ratios": [round(r, 4) for r in ratios]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,efficientnet_b0,convnext_atto")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=6, help="paired rounds of whole training steps")
    ap.add_argument("--opt-rounds", type=int, default=20, help="paired rounds of optimizer steps")
    ap.add_argument("--steps", type=int, default=5, help="training steps for the exactness check")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", default="fused,channels_last,channels_last+fused,mkldnn_off",
                    help="whole-step variants, each paired with a default step")
    ap.add_argument("--skip-optimizer", action="store_true", help="whole steps and exactness only")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "torch_cpu_candidates.json"))
    args = ap.parse_args()

    import torch

    import zoo_core as zoo

    torch.set_num_threads(args.threads)
    results = {"torch": torch.__version__, "threads": args.threads, "size": args.size, "batch": args.batch,
               "load_start": Path("/proc/loadavg").read_text().split()[:3], "models": {}}
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, args.size, args.size, generator=gen)
    y = torch.randint(10, (args.batch,), generator=gen)
    loss_fn = torch.nn.CrossEntropyLoss()
    for name in args.models.split(","):
        torch.manual_seed(0)
        base_model = zoo.load(name, "torch", num_classes=10, input_size=args.size).train()
        out = results["models"][name] = {"params_M": sum(p.numel() for p in base_model.parameters()) / 1e6}

        # ---- the optimizer step alone
        params = [p for p in base_model.parameters() if p.requires_grad]
        for p in params:
            p.grad = torch.randn_like(p) * 1e-3
        out["optimizer_step"] = {}
        optimizers = (("AdamW", torch.optim.AdamW, {"lr": 1e-3, "weight_decay": 0.01}),
                      ("Adam", torch.optim.Adam, {"lr": 1e-3}),
                      ("SGD", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}))
        for label, cls, kw in () if args.skip_optimizer else optimizers:
            saved = [p.detach().clone() for p in params]
            opts = {"foreach": cls(params, **kw), "fused": cls(params, fused=True, **kw)}
            for o in opts.values():
                o.step()
            times = {k: [] for k in opts}
            for r in range(args.opt_rounds):
                for k in (list(opts) if r % 2 == 0 else list(reversed(opts))):
                    t0 = time.perf_counter()
                    opts[k].step()
                    times[k].append(time.perf_counter() - t0)
            with torch.no_grad():
                for p, s in zip(params, saved, strict=True):
                    p.copy_(s)
            out["optimizer_step"][label] = {"foreach_ms": 1e3 * statistics.median(times["foreach"]),
                                            "fused_ms": 1e3 * statistics.median(times["fused"]),
                                            **pair_stats(times["foreach"], times["fused"])}
        for p in params:
            p.grad = None

        # ---- exactness of fused AdamW after several training steps, against two thread counts' foreach runs
        def run(fused: bool, threads: int, steps: int = args.steps, base_model=base_model) -> dict:
            torch.set_num_threads(threads)
            m = copy.deepcopy(base_model)
            o = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01, fused=fused or None)
            g = torch.Generator().manual_seed(1)
            for _ in range(steps):
                torch.manual_seed(0)
                xb = torch.randn(args.batch, 3, args.size, args.size, generator=g)
                yb = torch.randint(10, (args.batch,), generator=g)
                o.zero_grad(set_to_none=True)
                loss_fn(m(xb), yb).backward()
                o.step()
            torch.set_num_threads(args.threads)
            return {k: v.detach().clone() for k, v in m.state_dict().items() if v.is_floating_point()}

        def rel(a: dict, b: dict) -> float:
            """The largest per-tensor max |a - b| / max |a|."""
            return max(float((a[k] - b[k]).abs().max() / a[k].abs().max().clamp_min(1e-12)) for k in a)

        def rel_l2(a: dict, b: dict) -> float:
            """|a - b| / |a| over every floating-point tensor together (L2)."""
            num = sum(float((a[k] - b[k]).double().pow(2).sum()) for k in a)
            return (num / sum(float(a[k].double().pow(2).sum()) for k in a)) ** 0.5

        plain1, fused1, plain2 = run(False, 1), run(True, 1), run(False, 2)
        out["exactness"] = {"steps": args.steps, "fused_vs_foreach": rel(plain1, fused1),
                            "foreach_1_vs_2_threads": rel(plain1, plain2),
                            "fused_vs_foreach_2_threads": rel(plain2, fused1),
                            "l2_fused_vs_foreach": rel_l2(plain1, fused1),
                            "l2_foreach_1_vs_2_threads": rel_l2(plain1, plain2)}

        # ---- whole training steps, each variant paired with a default step in the same round
        def side(channels_last: bool, fused: bool, base_model=base_model):
            m = copy.deepcopy(base_model)
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            m.to(memory_format=fmt)
            o = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01, fused=fused or None)
            return m, o, fmt

        make = {"fused": (False, True), "channels_last": (True, False), "channels_last+fused": (True, True),
                "mkldnn_off": (False, False)}
        variants = {"default": side(False, False), **{v: side(*make[v]) for v in args.variants.split(",")}}

        def step(v: str, variants=variants) -> float:
            m, o, fmt = variants[v]
            t0 = time.perf_counter()
            with torch.backends.mkldnn.flags(enabled=v != "mkldnn_off"):
                loss = loss_fn(m(x.contiguous(memory_format=fmt)), y)
                o.zero_grad(set_to_none=True)
                loss.backward()
                o.step()
            return time.perf_counter() - t0

        for v in variants:  # warm-up
            step(v)
        times = {v: [] for v in variants}
        base_pairs = {v: [] for v in variants if v != "default"}
        for r in range(args.rounds):
            for v in base_pairs:
                order = ["default", v] if r % 2 == 0 else [v, "default"]
                t = {k: step(k) for k in order}
                base_pairs[v].append(t["default"])
                times[v].append(t[v])
                times["default"].append(t["default"])
        out["train_step"] = {"default_s": statistics.median(times["default"]),
                             **{v: {"s": statistics.median(times[v]), **pair_stats(base_pairs[v], times[v])}
                                for v in base_pairs}}
        print(name, json.dumps(out, indent=1), flush=True)
    results["load_end"] = Path("/proc/loadavg").read_text().split()[:3]
    dest = Path(args.out)
    dest.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nload {results['load_start']} -> {results['load_end']}; {dest}")
    names = args.variants.split(",")
    print("| model | params M | AdamW opt step foreach / fused ms | fused vs foreach after "
          f"{args.steps} steps: max / L2 | foreach 1 vs 2 threads: max / L2 | " + " | ".join(
              f"{v} step ratio (pairs faster)" for v in names) + " |")
    for name, o in results["models"].items():
        a, e, s = o["optimizer_step"].get("AdamW"), o["exactness"], o["train_step"]
        cells = [f"{s[v]['median']:.3f} ±{s[v]['spread'] * 100:.0f} % ({s[v]['faster_pairs']}/{s[v]['pairs']})"
                 for v in names]
        opt_ms = f"{a['foreach_ms']:.1f} / {a['fused_ms']:.1f}" if a else "–"
        print(f"| {name} | {o['params_M']:.1f} | {opt_ms} | {e['fused_vs_foreach']:.1e} / "
              f"{e['l2_fused_vs_foreach']:.1e} | {e['foreach_1_vs_2_threads']:.1e} / "
              f"{e['l2_foreach_1_vs_2_threads']:.1e} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
