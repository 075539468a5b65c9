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
                        contenders=("zoo-torch", "torchvision"), warmup=False, log=lambda msg: None)
    assert set(result["table"]) == {"zoo-torch", "torchvision"}
    assert all(row["images"] == 12 and row["images_per_s"] > 0 and row["peak_pss_mb"] > 0
               for row in result["table"].values())
    assert result["ratio_vs_faster_peer"]["zoo-torch"] == pytest.approx(
        result["table"]["zoo-torch"]["images_per_s"] / result["table"]["torchvision"]["images_per_s"])
    assert result["paired_ratio_vs_faster_peer"]["zoo-torch"] == pytest.approx(
        result["samples"]["zoo-torch"][0]["images_per_s"] / result["samples"]["torchvision"][0]["images_per_s"])
    md = loader.write(result, tmp_path / "out").read_text()
    assert "| zoo-torch |" in md and "zoo / faster peer with the same transform (torchvision, tf.data): zoo-torch" in md
    assert "median of the per-round ratios" in md


def test_zoo_bench_without_models_needs_a_folder(capsys):
    from zoo_core.cli.app import main

    assert main(["bench", "--data", "mnist5k"]) == 1
    assert "benchmarks the data loader and needs --data FOLDER" in capsys.readouterr().err


def test_the_tf_data_peer_does_the_zoo_transform_in_tensorflow_ops(tmp_path):
    """The peer is held to the same work: its batches are the zoo's eval batches up to resampling differences
    between TensorFlow's and Pillow's antialiased resize (not Keras's squash without antialiasing)."""
    pytest.importorskip("tensorflow")
    from zoo_core.data import transform
    from zoo_core.frameworks import import_keras

    import_keras()
    photo = np.asarray(Image.effect_mandelbrot((300, 200), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB"))
    for i, (h, w) in enumerate([(200, 300), (300, 200), (171, 233), (256, 256)]):
        d = tmp_path / "imgs" / f"c{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo).resize((w, h), Image.BICUBIC).save(d / f"{i}.png")
    peer = np.concatenate([x.numpy() for x, _ in loader.tf_data_pipeline(str(tmp_path / "imgs"), "resnet18", 4, 1)])
    zoo = np.stack([transform("resnet18")(f) for f in sorted((tmp_path / "imgs").glob("*/*.png"))])
    assert peer.shape == zoo.shape == (4, 224, 224, 3)
    assert np.mean(np.abs(peer - zoo)) < 0.01  # normalised units; another image or a pixel's shift: 0.16 or more
