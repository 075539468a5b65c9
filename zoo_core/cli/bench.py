"""`zoo bench`: seconds per epoch, images/s, memory, latency, start-up and the zoo's overhead per framework."""

from __future__ import annotations

import argparse

from ..bench import BenchConfig, run
from ..bench import loader as loader_bench
from ..bench.common import DEFAULT_LIMIT
from ..bench.report import RATIO_TARGET, overhead_verdict
from ..errors import ZooError
from .app import command


def _csv(kind):
    def parse(text: str):
        items = [t.strip() for t in text.split(",") if t.strip()]
        try:
            return [kind(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None

    return parse


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", type=_csv(str), nargs="?",
                   help="model names, comma-separated: resnet18,vit_tiny; none: benchmark the data loader on --data "
                   "FOLDER beside torchvision and Keras")
    p.add_argument("--frameworks", "-f", type=_csv(str), default=["torch", "tf"], help="default: torch,tf")
    p.add_argument("--batch", type=_csv(int), default=[32, 128], help="batch sizes, comma-separated (32,128)")
    p.add_argument("--data", default="mnist5k", help="built-in dataset or image folder (default mnist5k)")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help=f"images to use (default {DEFAULT_LIMIT})")
    p.add_argument("--input-size", type=int, help="square input size for every model (default: registry size)")
    p.add_argument("--epochs", type=int, default=2, help="measured training epochs after the warm-up")
    p.add_argument("--warmup", type=int, default=1, help="warm-up epochs, not measured (default 1)")
    p.add_argument("--rounds", type=int, default=2,
                   help="interleaved zoo-vs-plain inference rounds, 3 passes each (default 2); training alternates "
                   "every epoch")
    p.add_argument("--no-overhead", dest="overhead", action="store_false", help="skip the zoo-vs-plain comparison")
    p.add_argument("--latency-reps", type=int, default=20, help="timed batch-1 predictions (default 20)")
    p.add_argument("--startup-repeats", type=int, default=3, help="fresh processes per start-up timing")
    p.add_argument("--threads", type=int, help="CPU threads per framework (default: the framework's own, one per "
                   "core); on a shared machine 1 avoids thread-pool contention")
    p.add_argument("--tune", default="auto", metavar="{auto,off}",
                   help="the zoo side's --tune (default auto: its exact speed settings; the plain side keeps the "
                   "framework's defaults)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", "-o", default="bench", help="directory for results.json, results.md, throughput.png")
    p.add_argument("--model", default="resnet18", help="loader benchmark: the model whose eval transform is used")
    p.add_argument("--workers", type=int, default=2, help="loader benchmark: worker processes of every loader")


@command("bench", "benchmark models in each framework: training, inference, memory, start-up, zoo overhead")(
    _bench_args)
def cmd_bench(args: argparse.Namespace) -> int:
    if not args.models:
        return _loader_bench(args)
    cfg = BenchConfig(models=args.models, frameworks=args.frameworks, batches=args.batch, data=args.data,
                      limit=args.limit, input_size=args.input_size, epochs=args.epochs, warmup=args.warmup,
                      rounds=args.rounds, overhead=args.overhead, latency_reps=args.latency_reps,
                      startup_repeats=args.startup_repeats, threads=args.threads, lr=args.lr, seed=args.seed,
                      out=args.out, tune=args.tune)
    results = run(cfg, log=lambda msg: print(msg, flush=True))
    checks = (results.get("startup") or {}).get("checks", {})
    for key, c in checks.items():
        print(f"{key}: {c['wall_s']:.3f} s wall, frameworks imported: {', '.join(c['frameworks_imported']) or 'none'}"
              f" -> {'ok' if c['ok'] else 'OVER the limit'}")
    slow = [r for r in results["runs"] if "overhead" in r and min(r["overhead"]["train_ratio"],
                                                                  r["overhead"]["inference_ratio"]) < RATIO_TARGET]
    for r in slow:
        o = r["overhead"]
        print(f"overhead: {r['model']} {r['framework']} batch {r['batch']}: train ratio {o['train_ratio']:.3f} "
              f"(noise ±{100 * o['train_noise']:.0f} %), inference ratio {o['inference_ratio']:.3f} (noise "
              f"±{100 * o['inference_noise']:.0f} %), target >= {RATIO_TARGET}: {overhead_verdict(o)}")
    for framework, kinds in results.get("overhead_pooled", {}).items():
        print(f"overhead, all {framework} rows: " + ", ".join(
            f"{kind} {p['ratio']:.3f} [{p['low']:.3f}, {p['high']:.3f}] ({p['pairs']} pairs)"
            for kind, p in kinds.items()))
    for r in results["runs"]:
        tuned = r["train"].get("tuning")
        if tuned:
            print(f"tuned: {r['model']} {r['framework']} batch {r['batch']}: {tuned['chosen']} ({tuned['source']}"
                  f"{', ' + format(tuned['speedup'], '.2f') + 'x in its trial' if tuned.get('speedup') else ''})")
    for e in results["errors"]:
        print(f"zoo: error: {e['task']}: {e['error']}")
    return 1 if results["errors"] else 0


def _loader_bench(args: argparse.Namespace) -> int:
    """``zoo bench --data FOLDER``: the loader alone beside torchvision's and Keras's, paired (bench/loader.py)."""
    from pathlib import Path

    if not Path(args.data).is_dir():
        raise ZooError(f"zoo bench without model names benchmarks the data loader and needs --data FOLDER (an image "
                       f"folder, one subfolder per class); {args.data!r} is not a folder")
    result = loader_bench.run(args.data, model=args.model, batch=args.batch[0], workers=args.workers,
                              rounds=max(args.rounds, 1), log=lambda msg: print(msg, flush=True))
    path = loader_bench.write(result, args.out)
    print(path.read_text(), end="")
    print(f"results in {path.parent}")
    return 0
