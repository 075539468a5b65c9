"""Load test of `zoo serve` on 127.0.0.1: dynamic batching against one-request-one-forward, paired in one run.

For each model, each round starts `zoo serve` twice, once with dynamic batching (--max-batch-size 32
--max-delay-ms 5) and once without (--max-batch-size 1: every request is its own forward pass), in alternating order
(drift between rounds cancels in the ratio), and sends CLIENTS concurrent clients x REQUESTS sequential
`POST /v2/models/NAME/classify` requests each (a PNG of the model's input size). Every request must succeed; the
report has throughput (requests/s), p50/p99 latency and the forward passes the server ran, per mode and round, and
the median throughput ratio batched/unbatched.

    python benchmarks/serve_load.py      # simplecnn and resnet18@64px, 32 clients x 20 requests, 2 rounds
    python benchmarks/serve_load.py --models simplecnn --rounds 1 --out /tmp/serve_load

Writes OUT/results.json and OUT/results.md (default benchmarks/results/serve_load).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODES = {"batched": ["--max-batch-size", "32", "--max-delay-ms", "5"], "unbatched": ["--max-batch-size", "1"]}
MODELS = {"simplecnn": {}, "resnet18": {"num_classes": 10, "input_size": 64}}


def make_checkpoint(name: str, root: Path) -> tuple[Path, bytes]:
    """A checkpoint of the model (random weights: the speed does not depend on them) and a PNG of its input size."""
    from PIL import Image

    import zoo_core as zoo

    model = zoo.load(name, "torch", **MODELS[name])
    path = zoo.save(model, root / name)
    entry = model.zoo_spec.entry
    h, w = entry.input_size
    shape = (h, w) if entry.in_chans == 1 else (h, w, 3)
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random(shape) * 255).astype(np.uint8)).save(buf, format="PNG")
    return path, buf.getvalue()


class Server:
    def __init__(self, checkpoint: Path, framework: str, mode: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "zoo_core", "serve", str(checkpoint), "--framework",
                                      framework, "--port", "0", "--name", "m", *MODES[mode]],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        line = self.proc.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+", line)
        if not match:
            raise SystemExit(f"zoo serve did not start: {self.proc.communicate()[1][-2000:]}")
        self.url = match.group(0)

    def stop(self) -> None:
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=120)
        if self.proc.returncode != 0:
            raise SystemExit(f"zoo serve exited {self.proc.returncode}: {err[-2000:]}")


async def load(url: str, body: bytes, clients: int, requests: int) -> dict:
    import aiohttp

    target = f"{url}/v2/models/m/classify?top_k=1"
    latencies: list[float] = []
    failures: list[str] = []

    async def client(session):
        for _ in range(requests):
            t0 = time.perf_counter()
            try:
                async with session.post(target, data=body, headers={"content-type": "image/png"}) as r:
                    await r.read()
                    if r.status != 200:
                        failures.append(f"HTTP {r.status}")
                        continue
            except aiohttp.ClientError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - t0)

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients), timeout=timeout) as session:
        for _ in range(3):  # warm-up: first requests, connections
            async with session.post(target, data=body) as r:
                await r.read()
        async with session.get(f"{url}/v2/models/m/stats") as r:
            before = (await r.json())["model_stats"][0]
        t0 = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - t0
        async with session.get(f"{url}/v2/models/m/stats") as r:
            after = (await r.json())["model_stats"][0]
    sent = clients * requests
    lat = np.array(latencies) * 1000
    return {
        "requests": sent, "ok": len(latencies), "failed": len(failures), "failures": failures[:5],
        "seconds": round(wall, 3), "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 1) if len(lat) else None,
        "p99_ms": round(float(np.percentile(lat, 99)), 1) if len(lat) else None,
        "forward_passes": after["execution_count"] - before["execution_count"],
        "images": after["inference_count"] - before["inference_count"],
    }


def run(models: list[str], framework: str, clients: int, requests: int, rounds: int) -> dict:
    results = {"clients": clients, "requests_per_client": requests, "rounds": rounds, "framework": framework,
               "modes": {k: " ".join(v) for k, v in MODES.items()}, "machine": platform.machine(),
               "cpus": os.cpu_count(), "python": platform.python_version(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            checkpoint, body = make_checkpoint(name, Path(tmp))
            rows, ratios = [], []
            for r in range(rounds):
                order = list(MODES) if r % 2 == 0 else list(MODES)[::-1]
                pair = {}
                for mode in order:
                    server = Server(checkpoint, framework, mode)
                    try:
                        stats = asyncio.run(load(server.url, body, clients, requests))
                    finally:
                        server.stop()
                    stats.update(round=r + 1, mode=mode)
                    print(json.dumps(stats), flush=True)
                    rows.append(stats)
                    pair[mode] = stats
                ratios.append(pair["batched"]["throughput_rps"] / pair["unbatched"]["throughput_rps"])
            results["models"][name] = {"runs": rows, "throughput_ratios": [round(x, 2) for x in ratios],
                                       "median_ratio": round(statistics.median(ratios), 2),
                                       "all_ok": all(x["failed"] == 0 and x["ok"] == x["requests"] for x in rows)}
    return results


def markdown(results: dict) -> str:
    lines = [f"# zoo serve load test: {results['clients']} clients x {results['requests_per_client']} requests, "
             f"{results['framework']}, {results['cpus']} CPUs", "",
             "| model | round | mode | ok / sent | throughput (req/s) | p50 (ms) | p99 (ms) | forward passes |",
             "|---|---|---|---|---|---|---|---|"]
    for name, m in results["models"].items():
        for x in m["runs"]:
            lines.append(f"| {name} | {x['round']} | {x['mode']} | {x['ok']} / {x['requests']} | "
                         f"{x['throughput_rps']} | {x['p50_ms']} | {x['p99_ms']} | {x['forward_passes']} |")
    lines += ["", "| model | throughput ratio batched / unbatched per round | median |", "|---|---|---|"]
    for name, m in results["models"].items():
        lines.append(f"| {name} | {', '.join(map(str, m['throughput_ratios']))} | {m['median_ratio']} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--framework", default="torch")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "serve_load"))
    args = p.parse_args()
    t0 = time.perf_counter()
    results = run(args.models, args.framework, args.clients, args.requests, args.rounds)
    results["total_seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    print(markdown(results))
    failed = [n for n, m in results["models"].items() if not m["all_ok"]]
    if failed:
        print(f"requests failed for {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
