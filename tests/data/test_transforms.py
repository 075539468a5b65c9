"""zoo.transform: the eval transform equals timm's create_transform for every catalogue entry, on non-square images
of several sizes and modes; the train transform is timm's/torchvision's ops on the original image, seeded."""

from __future__ import annotations

import numpy as np
import pytest

import zoo_core as zoo
from zoo_core.data import Preprocess, read_image
from zoo_core.data.augment import Augment
from zoo_core.data.imageops import (
    CropParams,
    JitterParams,
    color_jitter,
    color_jitter_params,
    eval_resize_crop,
    random_resized_crop_params,
    resized_crop,
)
from zoo_core.data.transforms import transform
from zoo_core.models import get_architecture, get_entry

PIL = pytest.importorskip("PIL.Image")
timm_data = pytest.importorskip("timm.data")
torch = pytest.importorskip("torch")
F = pytest.importorskip("torchvision.transforms.functional")

SIZES = [(53, 37), (300, 200), (90, 20), (64, 64)]  # (width, height): landscape, portrait-thin, square
MODES = ["L", "RGB", "RGBA", "P", "CMYK", "I;16"]


def _image(mode: str, size: tuple[int, int], seed: int = 0):
    """A smooth non-trivial picture in ``mode`` (gradients plus noise, so resampling errors show)."""
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) % 256], -1)
    rgb = np.clip(rgb + rng.normal(0, 20, rgb.shape), 0, 255).astype(np.uint8)
    if mode == "I;16":
        return PIL.fromarray((rgb[..., 0].astype(np.uint16) * 257 + rng.integers(0, 257, (h, w))).astype(np.uint16))
    img = PIL.fromarray(rgb)
    if mode == "RGBA":
        alpha = (yy * 255 // max(h - 1, 1)).astype(np.uint8)
        return PIL.fromarray(np.dstack([rgb, alpha]), "RGBA")
    if mode == "P":
        return img.convert("P", palette=PIL.Palette.ADAPTIVE, colors=64)
    return img.convert(mode)


def _timm(t) -> object:
    return timm_data.create_transform(**timm_data.resolve_data_config(pretrained_cfg=t.timm_config()))


def _hwc(tensor) -> np.ndarray:
    return tensor.numpy().transpose(1, 2, 0)


@pytest.mark.parametrize("name", zoo.list_models())
def test_eval_equals_timm_for_every_entry(name):
    t = zoo.transform(name)
    ref = _timm(t)
    for size in SIZES:
        for mode in MODES:
            img = _image(mode, size)
            got = t(img)
            assert got.dtype == np.float32 and got.shape == (*t.pre.input_size, t.pre.in_chans)
            # timm's transform on the image as the zoo reads it (grey/RGB, alpha composited, 16-bit scaled)
            np.testing.assert_array_equal(got, _hwc(ref(read_image(img, t.pre.in_chans))), err_msg=f"{mode} {size}")
        # ... and on plain RGB / grey images, timm's transform on the image itself
        plain = _image("L" if t.pre.in_chans == 1 else "RGB", size, seed=1)
        np.testing.assert_array_equal(t(plain), _hwc(ref(plain)))


@pytest.mark.parametrize("name", [n for n in zoo.list_models()
                                  if get_architecture(get_entry(n)).timm_config(get_entry(n))])
def test_catalogue_data_config_is_timms(name):
    """For timm architectures, resolve_data_config(model=timm model) gives the catalogue's transform."""
    entry = get_entry(name)
    timm_name = get_architecture(entry).timm_config(entry)["architecture"]
    pretrained = __import__("timm").models.get_pretrained_cfg(timm_name).to_dict()
    theirs = timm_data.resolve_data_config(pretrained_cfg=pretrained)
    ours = timm_data.resolve_data_config(pretrained_cfg=zoo.transform(name).timm_config())
    assert {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in theirs.items()} == \
        {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in ours.items()}


@pytest.mark.parametrize("crop_mode", ["center", "squash"])
@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic", "nearest"])
def test_crop_modes_and_non_square_sizes_equal_timm(crop_mode, interpolation):
    for input_size in [(30, 30), (24, 40)]:
        pre = Preprocess(input_size, 3, (0.5, 0.4, 0.3), (0.2, 0.3, 0.25), interpolation, 0.8, crop_mode)
        t = transform(pre)
        for size in SIZES:
            img = _image("RGB", size)
            np.testing.assert_array_equal(t(img), _hwc(_timm(t)(img)), err_msg=f"{input_size} {size}")


def test_sources_give_the_same_array(tmp_path):
    t = zoo.transform("simplecnn_cifar")
    img = _image("RGB", (45, 33))
    img.save(tmp_path / "a.png")
    arr = np.asarray(img)
    expected = t(img)
    for source in (tmp_path / "a.png", str(tmp_path / "a.png"), (tmp_path / "a.png").read_bytes(), arr):
        np.testing.assert_array_equal(t(source), expected)


def test_read_image_scales_deep_images_and_applies_exif(tmp_path):
    deep = PIL.fromarray(np.array([[0, 257 * 100, 65535]], np.uint16))
    assert np.asarray(read_image(deep, 1)).tolist() == [[0, 100, 255]]
    floats = PIL.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert np.asarray(read_image(floats, 1)).tolist() == [[0, 128, 255]]
    rgba = PIL.fromarray(np.array([[[200, 100, 50, 0], [200, 100, 50, 255]]], np.uint8), "RGBA")
    assert np.asarray(read_image(rgba)).tolist() == [[[0, 0, 0], [200, 100, 50]]]
    cmyk = PIL.new("CMYK", (2, 1), (0, 255, 255, 0))
    assert np.asarray(read_image(cmyk)).tolist() == [[[255, 0, 0], [255, 0, 0]]]
    # a 4x2 photo stored sideways with orientation 6 (rotate 90 degrees clockwise to view) reads as 2x4
    stored = _image("RGB", (4, 2))
    exif = PIL.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "sideways.jpg", exif=exif, quality=100)
    seen = read_image(tmp_path / "sideways.jpg")
    assert seen.size == (2, 4)


def test_unreadable_file_is_one_line_error(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(zoo.DataError, match=r"bad.jpg is not a readable image .*replace or remove the file"):
        zoo.transform("simplecnn")(tmp_path / "bad.jpg")


def test_random_resized_crop_equals_torchvision_ops():
    """The train ops, given the drawn parameters, are torchvision's functional ops pixel for pixel."""
    img = _image("RGB", (300, 200))
    rng = np.random.default_rng(0)
    for _ in range(5):
        box = random_resized_crop_params(300, 200, rng)
        assert 0 < box.height <= 200 and 0 < box.width <= 300
        assert 0.08 * 0.8 <= box.height * box.width / 60000 <= 1.0
        ours = resized_crop(img, box, (32, 24), "bicubic")
        ref = F.resized_crop(img, box.top, box.left, box.height, box.width, [32, 24],
                             F.InterpolationMode.BICUBIC)
        assert np.array_equal(np.asarray(ours), np.asarray(ref))
        p = color_jitter_params(rng)
        jittered = color_jitter(ours, p)
        ref_j = ref
        for i in p.order:
            op = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation)[i]
            ref_j = op(ref_j, (p.brightness, p.contrast, p.saturation)[i])
        assert np.array_equal(np.asarray(jittered), np.asarray(ref_j))
    # the central fallback, for an image far outside the aspect range
    never = np.random.default_rng(0)
    box = random_resized_crop_params(400, 10, never, scale=(1.0, 1.0))
    assert box == CropParams(0, (400 - 13) // 2, 10, 13)


def test_train_transform_is_seeded_and_crops_the_original():
    t = zoo.transform("resnet18", train=True)
    img = _image("RGB", (400, 300))
    a, b = t.at(img, 3, 0, 7), t.at(img, 3, 0, 7)
    c = t.at(img, 3, 1, 7)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (224, 224, 3) and not np.array_equal(a, c)
    # crop only: the pixels are the original's crop resized once (never an upsampled crop of a resized image)
    crop = transform("resnet18", train=True, augment="crop")
    rng = np.random.default_rng(11)
    box = random_resized_crop_params(400, 300, np.random.default_rng(11))
    expected = crop.pre.normalize(resized_crop(img, box, (224, 224), "bicubic"))
    np.testing.assert_array_equal(crop(img, rng), expected)
    # no ops: the eval transform
    plain = transform("resnet18", train=True, augment=Augment(crop=False, flip=False, jitter=0.0))
    np.testing.assert_array_equal(plain(img), zoo.transform("resnet18")(img))
    assert JitterParams((0, 1, 2), 1.0, 1.0, 1.0) == JitterParams((0, 1, 2), 1.0, 1.0, 1.0)


def test_eval_geometry_fast_path_keeps_the_image():
    img = _image("L", (28, 28))
    assert eval_resize_crop(img, (28, 28), 1.0, "center", "bilinear") is img
