"""zoo_core.bench.loader (``zoo bench --data FOLDER``): each contender reads the whole folder in its own process;
the table, the ratios and the markdown come from those epochs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zoo_core.bench import loader


def test_the_loader_benchmark_reads_every_image_with_each_contender(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        d = tmp_path / "imgs" / f"c{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(d / f"{i}.jpg")
    result = loader.run(tmp_path / "imgs", model="simplecnn_cifar", batch=5, workers=0, rounds=1,
                        contenders=("zoo-torch", "torchvision"), log=lambda msg: None)
    assert set(result["table"]) == {"zoo-torch", "torchvision"}
    assert all(row["images"] == 12 and row["images_per_s"] > 0 and row["peak_pss_mb"] > 0
               for row in result["table"].values())
    assert result["ratio_vs_faster_peer"]["zoo-torch"] == pytest.approx(
        result["table"]["zoo-torch"]["images_per_s"] / result["table"]["torchvision"]["images_per_s"])
    md = loader.write(result, tmp_path / "out").read_text()
    assert "| zoo-torch |" in md and "zoo / faster peer: zoo-torch" in md


def test_zoo_bench_without_models_needs_a_folder(capsys):
    from zoo_core.cli.app import main

    assert main(["bench", "--data", "mnist5k"]) == 1
    assert "benchmarks the data loader and needs --data FOLDER" in capsys.readouterr().err
