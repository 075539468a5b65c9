"""Property-based: random bytes and random JSON/YAML fed to the zoo's readers (checkpoint config and weights, the
registry file loader, the image loader) give only ZooError subclasses, each a single line (issue 22).

No framework is imported: every input here fails before a model would be built."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import zoo_core as zoo
from zoo_core import catalog
from zoo_core.checkpoint import format as ckpt_format
from zoo_core.data import Preprocess, image_folder
from zoo_core.errors import ZooError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
ZOO_KEYS = ["format_version", "name", "architecture", "config", "num_classes", "in_chans", "input_size", "mean", "std",
            "interpolation", "crop_pct", "crop_mode", "license", "saved_from", "sha256"]
TOP_KEYS = ["architecture", "num_classes", "model_args", "label_names", "pretrained_cfg", "zoo"]
NAMES = st.sampled_from(["simplecnn", "resnet18", "vit_tiny_patch16_224", "nope", "resnet18.a1_in1k"])
# config.json shaped like the real one, with random values where the readers look
CONFIG = st.dictionaries(
    st.sampled_from(TOP_KEYS),
    JSON | NAMES | st.dictionaries(st.sampled_from(ZOO_KEYS + ["input_size", "mean", "img_size", "in_chans"]),
                                   JSON | NAMES, max_size=8),
    max_size=6,
)
REGISTRY_FIELDS = ["architecture", "num_classes", "input_size", "mean", "std", "description", "config", "in_chans",
                   "interpolation", "crop_pct", "crop_mode", "license", "plugin", "aliases", "weights", "bogus"]
REGISTRY = st.dictionaries(
    st.sampled_from(["models", "other"]),
    JSON | st.dictionaries(st.text(max_size=8) | NAMES,
                           JSON | st.dictionaries(st.sampled_from(REGISTRY_FIELDS), JSON | NAMES, max_size=10),
                           max_size=3),
    max_size=2,
)


def assert_one_line_zoo_error(call) -> None:
    """``call()`` either returns or raises a ZooError whose message is one non-empty line."""
    try:
        call()
    except ZooError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, f"multi-line {type(exc).__name__}: {msg!r}"
    except Exception as exc:  # anything else is a traceback for the user
        raise AssertionError(f"{type(exc).__name__} instead of a ZooError: {exc}") from exc


def _checkpoint(tmp: Path, config: bytes, weights: bytes) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "config.json").write_bytes(config)
    (tmp / "model.safetensors").write_bytes(weights)
    return tmp


def _read_all(path: Path) -> None:
    assert_one_line_zoo_error(lambda: ckpt_format.read_config(path))
    assert_one_line_zoo_error(lambda: ckpt_format.read_weights(path))
    assert_one_line_zoo_error(lambda: zoo.load(str(path), framework="torch"))
    assert_one_line_zoo_error(lambda: zoo.model_info(str(path)))


@SETTINGS
@given(config=st.binary(max_size=300), weights=st.binary(max_size=300))
@example(config=b"[1, 2, 3]", weights=b"")
@example(config=b"\xff\xfe{", weights=b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}")
def test_checkpoint_reader_on_random_bytes(tmp_path_factory, config, weights):
    _read_all(_checkpoint(tmp_path_factory.mktemp("ckpt"), config, weights))


@SETTINGS
@given(config=JSON | CONFIG, weights=st.binary(max_size=64))
@example(config={"zoo": {"sha256": 5, "architecture": "simplecnn"}}, weights=b"")
@example(config={"architecture": "resnet18", "pretrained_cfg": {"input_size": 5}}, weights=b"")
@example(config={"architecture": "resnet18", "model_args": {"img_size": "x"}}, weights=b"")
@example(config={"zoo": {"name": ["x"]}, "label_names": 3}, weights=b"")
def test_checkpoint_reader_on_random_json(tmp_path_factory, config, weights):
    text = json.dumps(config).encode()
    _read_all(_checkpoint(tmp_path_factory.mktemp("ckpt"), text, weights))


def _registry(tmp: Path, data: bytes) -> Path:
    path = tmp / "registry.yaml"
    path.write_bytes(data)
    return path


@SETTINGS
@given(data=st.binary(max_size=300))
@example(data=b"\xff\xfe")
@example(data=b"models:\n  a: \x00")
def test_registry_loader_on_random_bytes(tmp_path_factory, data):
    path = _registry(tmp_path_factory.mktemp("reg"), data)
    assert_one_line_zoo_error(lambda: catalog.load_file(path))


@SETTINGS
@given(data=JSON | REGISTRY)
@example(data={"models": {"a": {"architecture": "simplecnn", "num_classes": 2, "input_size": [8, 8], "mean": [0.5],
                                "std": [0.5], "weights": {"repo": "a/b", "sha256": 7}}}})
def test_registry_loader_on_random_json(tmp_path_factory, data):
    path = _registry(tmp_path_factory.mktemp("reg"), json.dumps(data).encode())  # JSON is YAML
    assert_one_line_zoo_error(lambda: catalog.load_file(path))


@pytest.mark.parametrize("text", ["models:\n  ? [1]\n  : {}\n", "<<: {models: {}}\n", "models:\n  ~: {}\n",
                                  "models: {a: &x {architecture: simplecnn}, b: *x}\n", "models:\n  a: [\n"])
def test_registry_loader_on_odd_yaml(tmp_path, text):
    path = _registry(tmp_path, text.encode())
    assert_one_line_zoo_error(lambda: catalog.load_file(path))


def _png_bytes(mode: str = "L") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((6, 6, 3) if mode == "RGB" else (6, 6), 100, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@SETTINGS
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".png", ".jpg", ".ppm", ".tif", ".gif", ".bmp"]))
@example(data=b"P5\n4 4\n255\n" + bytes(3), suffix=".ppm")
@example(data=_png_bytes()[:40], suffix=".png")
def test_image_loader_on_random_bytes(tmp_path_factory, data, suffix):
    root = tmp_path_factory.mktemp("img")
    path = root / f"x{suffix}"
    path.write_bytes(data)
    for pre in (Preprocess((8, 8), 1, (0.5,), (0.5,)), Preprocess((8, 8), 3, (0.5, 0.5, 0.5), (0.2, 0.2, 0.2))):
        assert_one_line_zoo_error(lambda pre=pre: pre(str(path)))
    # an image folder holding that file beside good images
    for cls in ("a", "b"):
        (root / "folder" / cls).mkdir(parents=True)
        (root / "folder" / cls / "good.png").write_bytes(_png_bytes("RGB"))
    (root / "folder" / "a" / f"random{suffix}").write_bytes(data)

    def use_folder() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = image_folder(root / "folder", split=(1.0, 0.0, 0.0))
        pre = Preprocess((8, 8), 3, (0.5,), (0.5,))
        for item in ds.train.images:
            pre(item)

    assert_one_line_zoo_error(use_folder)
    assert_one_line_zoo_error(lambda: image_folder(root / "folder", strict=True))
