"""The benchmark's files: results.json (everything measured), results.md (the tables), throughput.png."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from ..fileio import atomic_write
from .flops import achieved
from .overhead import pooled

JSON_NAME = "results.json"
MD_NAME = "results.md"
PNG_NAME = "throughput.png"
RATIO_TARGET = 0.97


def verdict(ratio: float, noise: float) -> str:
    """"yes" at or above the target; "within noise" below it by no more than the run's own spread of repeated
    timings (not distinguishable from 1 on this machine: measure longer to decide); "no" otherwise."""
    if ratio >= RATIO_TARGET:
        return "yes"
    if noise == noise and 1 - ratio <= noise:  # noise is NaN with a single timing
        return "within noise"
    return "no"


def overhead_verdict(o: dict[str, Any]) -> str:
    """The worse of the training and inference verdicts of one overhead row."""
    order = ("yes", "within noise", "no")
    return max(verdict(o["train_ratio"], o.get("train_noise", float("nan"))),
               verdict(o["inference_ratio"], o.get("inference_noise", float("nan"))), key=order.index)


def peaks(results: dict[str, Any]) -> dict[str, float]:
    """The best matmul FLOP/s each framework reached over its worker processes: the device's measured peak."""
    out: dict[str, float] = {}
    for row in results["runs"]:
        p = row.get("matmul", {}).get("peak_flops")
        if p:
            out[row["framework"]] = max(out.get(row["framework"], 0.0), p)
    return out


def efficiency(results: dict[str, Any], row: dict[str, Any]) -> dict[str, float | None]:
    counted = results.get("flops", {}).get(row["model"]) or {}
    return achieved(counted.get("train_flops_per_image"), row["train"]["images_per_second"],
                    peaks(results).get(row["framework"]))


def write_json(results: dict[str, Any], out: Path) -> None:
    atomic_write(out / JSON_NAME, (json.dumps(results, indent=2) + "\n").encode())


def write(results: dict[str, Any], out: Path) -> None:
    results["peak_flops"] = peaks(results)
    for row in results["runs"]:
        row["efficiency"] = efficiency(results, row)
    write_json(results, out)
    atomic_write(out / MD_NAME, markdown(results).encode())
    if results["runs"]:
        atomic_write(out / PNG_NAME, plot(results))


# ---------------------------------------------------------------------------------------------------- markdown


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _f(value: float | None, fmt: str = ".2f") -> str:
    return "–" if value is None else format(value, fmt)


def command(cfg: dict[str, Any]) -> str:
    size = f" --input-size {cfg['input_size']}" if cfg.get("input_size") else ""
    return (f"zoo bench {','.join(cfg['models'])} --frameworks {','.join(cfg['frameworks'])} "
            f"--batch {','.join(map(str, cfg['batches']))} --data {cfg['data']} --limit {cfg['limit']}{size} "
            f"--epochs {cfg['epochs']} --warmup {cfg['warmup']} --rounds {cfg['rounds']}"
            f"{'' if cfg['overhead'] else ' --no-overhead'}"
            f"{f' --threads {t}' if (t := cfg.get('threads')) else ''}"
            f"{' --tune off' if cfg.get('tune') == 'off' else ''} --out {cfg['out']}")


def markdown(results: dict[str, Any]) -> str:
    m, cfg, runs = results["machine"], results["config"], results["runs"]
    parts = ["# zoo bench results", ""]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    parts += [f"- machine: {m['cpu']}, {m['cores']} cores, {m.get('memory_gb')} GB, {m['os']}",
              f"- software: Python {m['python']}, {versions}",
              f"- load average (1/5/15 min) at start {m.get('load_average_at_start')}, "
              f"at end {m.get('load_average_at_end')}",
              f"- data: {cfg['data']}, {_data_text(cfg)}, input "
              f"{cfg['input_size'] or 'registry size'}; {cfg['warmup']} warm-up + {cfg['epochs']} measured epochs",
              f"- CPU threads per framework: {cfg.get('threads') or 'framework default (one per core)'}",
              f"- command: `{command(cfg)}`"]
    if "wall_s" in results:
        parts.append(f"- total wall time: {results['wall_s']:.0f} s")
    if runs:
        gpu = any(r["train"].get("gpu_peak_mb") for r in runs)
        header = ["model", "framework", "batch", "s/epoch", "train img/s", "peak RSS MiB"]
        header += ["peak GPU MiB"] if gpu else []
        header += ["GFLOP/s", "% of matmul peak"]
        rows = []
        for r in runs:
            t, e = r["train"], r.get("efficiency") or efficiency(results, r)
            row = [r["model"], r["framework"], r["batch"], _f(t["seconds_per_epoch"]),
                   _f(t["images_per_second"], ".0f"), _f(t["peak_rss_mb"], ".0f")]
            row += [_f(t.get("gpu_peak_mb"), ".0f")] if gpu else []
            frac = e["fraction_of_peak"]
            row += [_f(e["achieved_flops"] and e["achieved_flops"] / 1e9, ".1f"), _f(frac and 100 * frac, ".1f")]
            rows.append(row)
        parts += ["", "## Training", "", _table(header, rows)]
        rows = []
        for r in runs:
            i, s = r["inference"], r["startup"]
            rows.append([r["model"], r["framework"], r["batch"], _f(i["images_per_second"], ".0f"),
                         f"{_f(i['latency_b1_p50_ms'], '.1f')} / {_f(i['latency_b1_p95_ms'], '.1f')}",
                         f"{_f(i['latency_p50_ms'], '.1f')} / {_f(i['latency_p95_ms'], '.1f')}",
                         _f(s["ttfp_s"])])
        parts += ["", "## Inference", "",
                  _table(["model", "framework", "batch", "img/s", "batch-1 p50 / p95 ms", "batch p50 / p95 ms",
                          "first prediction s"], rows),
                  "", "First prediction: framework import + build + preprocessing + first forward, in a fresh "
                  "process."]
        over = [r for r in runs if "overhead" in r]
        if over:
            rows = []
            for r in over:
                o = r["overhead"]
                ok = overhead_verdict(o)
                rows.append([r["model"], r["framework"], r["batch"], _f(o["train_epoch_seconds"]["zoo"], ".3f"),
                             _f(o["train_epoch_seconds"]["plain"], ".3f"), _f(o["train_ratio"], ".3f"),
                             f"±{_f(100 * o.get('train_noise', float('nan')), '.0f')} %",
                             _f(o["inference_seconds"]["zoo"], ".3f"), _f(o["inference_seconds"]["plain"], ".3f"),
                             _f(o["inference_ratio"], ".3f"),
                             f"±{_f(100 * o.get('inference_noise', float('nan')), '.0f')} %",
                             "**no**" if ok == "no" else ok, tuned_text(r["train"].get("tuning"))])
            parts += ["", "## The zoo's tuned loop against the plain loop (ratio = plain / zoo; ≥ 0.97 means at most "
                      "3 % slower, > 1 faster)", "",
                      _table(["model", "framework", "batch", "zoo s/epoch", "plain s/epoch", "train ratio", "noise",
                              "zoo inference s", "plain inference s", "inference ratio", "noise",
                              f"≥ {RATIO_TARGET}", "zoo's tuned settings"], rows),
                      "", "Plain: a hand-written PyTorch loop over in-memory tensors / Keras `compile` + `fit` and "
                      "`predict` on the same arrays; one plain epoch after each zoo epoch in the same process, "
                      "steady-state epochs (after the warm-up) compared. Ratio: the median over pairs of timings "
                      "taken back to back (zoo epoch i and plain epoch i; inference pass r of each), so a machine "
                      "that speeds up or slows down during the run cancels out. Noise: the spread (p75 - p25) / "
                      "median of those paired ratios; a ratio within it of 1 is not distinguishable from 1 on this "
                      "machine (\"within noise\": measure longer, e.g. more --epochs, to decide)."]
            parts += _pooled_md(results)
    parts += _startup_md(results.get("startup"))
    parts += _flops_md(results)
    if results.get("errors"):
        parts += ["", "## Errors", ""] + [f"- {e['task']}: {e['error'].splitlines()[0]}" for e in results["errors"]]
    return "\n".join(parts) + "\n"


def _data_text(cfg: dict[str, Any]) -> str:
    if Path(cfg["data"]).is_dir():
        return "image files decoded every epoch (data loading timed on both sides)"
    return f"{cfg['limit']} images in memory"


def tuned_text(tuning: dict[str, Any] | None) -> str:
    """What the zoo side trained with: the chosen setting, how it was decided, and per timed candidate its
    median paired ratio in the trial, the pairs it was faster in and the rule's verdict."""
    if not tuning:
        return "–"
    if tuning["source"] in ("off", "unsupported", "skipped"):
        return f"default ({tuning['source']})"
    timed = [f"{c} {v['median']:.2f}x {v['faster_pairs']}/{v['pairs']} {v['verdict']}"
             for c, v in (tuning.get("verdicts") or {}).items() if v.get("median") is not None]
    if timed:
        return f"{tuning['chosen']} (trial: {', '.join(timed)})"
    gain = tuning.get("speedup")
    return f"{tuning['chosen']}" + (f" ({gain:.2f}x in trial)" if gain and tuning["chosen"] != "default" else "")


def _pooled_md(results: dict[str, Any]) -> list[str]:
    rows = []
    for framework, kinds in pooled(results).items():
        row = [framework]
        for kind in ("train", "inference"):
            p = kinds.get(kind)
            row += [f"{p['ratio']:.3f} [{p['low']:.3f}, {p['high']:.3f}]", f"{p['pairs']}",
                    f"{100 * p['coverage']:.0f} %"] if p else ["-", "0", "-"]
        row.append("yes" if all(k["ratio"] >= RATIO_TARGET for k in kinds.values()) else "**no**")
        rows.append(row)
    if not rows:
        return []
    return ["", "### All rows together, per framework", "",
            _table(["framework", "training ratio [CI]", "pairs", "CI coverage", "inference ratio [CI]", "pairs",
                    "CI coverage", f"≥ {RATIO_TARGET}"], rows),
            "", "Every paired ratio of the table above taken together (ratios are unit-free, so models pool): the "
            "median and a distribution-free confidence interval of it, from order statistics (coverage as "
            "stated). One row has few pairs; together they measure the zoo's overhead to a percent or so."]


def _startup_md(s: dict[str, Any] | None) -> list[str]:
    if not s:
        return []
    rows = []
    for key, label in (("import_zoo_core", "`import zoo_core`"), ("zoo_list", "`zoo list`")):
        c = s["checks"][key]
        rows.append([label, _f(s[key]["wall_s"], ".3f"), _f(s[key]["in_process_s"], ".3f"),
                     ", ".join(c["frameworks_imported"]) or "none",
                     "yes" if c["ok"] else "**no**"])
    for key, v in s.get("load", {}).items():
        rows.append([f"`zoo.load` {key}", _f(v["wall_s"], ".2f"), _f(v["in_process_s"], ".2f"), "(its own)", ""])
    return ["", f"## Start-up (fresh processes, medians; Python itself: {s['python_s']:.3f} s)", "",
            _table(["what", "wall s", "in-process s", "frameworks imported", f"≤ {s['limit_s']} s, no framework"],
                   rows), "",
            "`zoo.load`: in each measurement's fresh worker process (median over its batch sizes); wall = process "
            "start to model built, without the benchmark data's loading; in-process = framework import + build."]


def _flops_md(results: dict[str, Any]) -> list[str]:
    rows = [[name, _f(c["params"] / 1e6, ".2f"), _f(c["forward_flops_per_image"] / 1e6, ".1f"),
             _f(c["train_flops_per_image"] / 1e6, ".1f")] for name, c in results.get("flops", {}).items() if c]
    if not rows:
        return []
    pk = peaks(results)
    peak_text = ", ".join(f"{fw} {v / 1e9:.1f} GFLOP/s" for fw, v in pk.items()) or "not measured"
    return ["", "## FLOPs (forward counted on the PyTorch model with FlopCounterMode; the same network in Keras; "
            "a training step = 3x forward)", "",
            _table(["model", "params (M)", "forward MFLOP/image", "train step MFLOP/image"], rows), "",
            f"Measured float32 matmul peak (1024x1024, best run): {peak_text}."]


# ---------------------------------------------------------------------------------------------------- plot


def plot(results: dict[str, Any]) -> bytes:
    """Grouped bars: training and inference images/s per (model, batch), one bar per framework."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    runs = results["runs"]
    groups = list(dict.fromkeys(f"{r['model']}\nbatch {r['batch']}" for r in runs))
    fws = list(dict.fromkeys(r["framework"] for r in runs))
    width = 0.8 / max(len(fws), 1)
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(groups) * 2), 4.2))
    for ax, key, title in ((axes[0], "train", "training images/s"), (axes[1], "inference", "inference images/s")):
        for j, fw in enumerate(fws):
            vals = []
            for g in groups:
                match = [r for r in runs if f"{r['model']}\nbatch {r['batch']}" == g and r["framework"] == fw]
                vals.append(match[0][key]["images_per_second"] if match else 0.0)
            ax.bar([i + (j - (len(fws) - 1) / 2) * width for i in range(len(groups))], vals, width, label=fw)
        ax.set_xticks(range(len(groups)), labels=groups, fontsize=8)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend()
    fig.suptitle(f"zoo bench on {results['machine']['cpu']} ({results['machine']['cores']} cores)", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
