"""``zoo bench``: the PyTorch-vs-TensorFlow table for any model on this machine, and the zoo's own overhead.

One module per measurement: :mod:`.startup` (import / ``zoo list`` / ``zoo.load`` in fresh processes),
:mod:`.train` (seconds per epoch, images/s, peak memory), :mod:`.inference` (throughput, latency, time to first
prediction), :mod:`.overhead` (``zoo.finetune``/``zoo.evaluate`` vs plain framework loops, interleaved),
:mod:`.flops` (FLOPs per step and a measured matmul peak), :mod:`.report` (results.json, results.md,
throughput.png). :mod:`.runner` runs each (model, framework, batch) in a fresh process (:mod:`.worker`), so
memory peaks are separable and one framework never loads the other. Nothing here is imported by ``import zoo_core``.
"""

from __future__ import annotations

from .common import BenchConfig
from .runner import run as _run

__all__ = ["BenchConfig", "run"]


def run(cfg: BenchConfig, log=print) -> dict:
    """Run the whole benchmark described by ``cfg``; writes results.json, results.md and throughput.png."""
    return _run(cfg, log=log)
