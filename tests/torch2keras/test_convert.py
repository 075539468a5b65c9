"""The PyTorch-to-Keras converter: parity per family at small inputs, training, the stored graph, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")
pytest.importorskip("tensorflow")

from tests.helpers import run_python  # noqa: E402
from zoo_core.errors import ConversionError, UnknownModelError  # noqa: E402
from zoo_core.torch2keras import convert as conv  # noqa: E402
from zoo_core.torch2keras import emit, verify  # noqa: E402


def _logits(torch_model, keras_model, x):
    with torch.no_grad():
        a = torch_model.eval()(torch.from_numpy(x)).numpy()
    b = np.asarray(keras_model(x.transpose(0, 2, 3, 1), training=False))
    return a, b


@pytest.mark.parametrize("name,kwargs,size", [
    ("resnet18", {}, 32),
    ("efficientnet_b0", {}, 32),
    ("mobilenetv3_small_100", {}, 32),
    ("convnext_atto", {}, 32),
    ("vit_tiny_patch16_224", {"img_size": 32, "patch_size": 8, "depth": 2}, 32),
])
def test_parity_per_family(name, kwargs, size):
    model = timm.create_model(name, num_classes=7, **kwargs).eval()
    result = conv.convert(model, (size, size))
    assert result.parity.ok and result.parity.max_rel < 1e-4, result.parity
    # the converted model carries the torch model's own weights afterwards: equal logits on a fresh batch
    x = np.random.default_rng(5).standard_normal((3, 3, size, size)).astype(np.float32)
    a, b = _logits(model, result.model, x)
    assert np.max(np.abs(a - b)) <= 1e-4 * max(np.max(np.abs(a)), 1e-6)
    layers = {type(layer).__name__ for layer in result.model.layers}
    assert "Lambda" not in layers and ({"Conv2D", "DepthwiseConv2D"} & layers)
    if name.startswith("vit"):
        assert {"Dense", "LayerNormalization"} <= layers
        assert result.dynamic["batch"]
        assert result.transposes == 0  # attention reads the heads in place (two einsums)
    else:  # fully convolutional: any batch and image size, no transposes for the CNNs
        assert result.dynamic == {"batch": True, "height": True, "width": True}
        assert result.transposes <= 12
        x2 = np.random.default_rng(6).standard_normal((1, 3, size + 16, size + 8)).astype(np.float32)
        a2, b2 = _logits(model, result.model, x2)
        assert np.max(np.abs(a2 - b2)) <= 1e-4 * max(np.max(np.abs(a2)), 1e-6)


def test_divergence_names_the_first_wrong_op(monkeypatch):
    """A wrong op is caught at conversion, named with its module path (never a silently wrong model)."""
    model = timm.create_model("resnet18", num_classes=3).eval()
    monkeypatch.setitem(emit.HANDLERS, "aten.relu.default", emit._unary("sigmoid"))
    with pytest.raises(ConversionError) as err:
        conv.convert(model, (32, 32))
    msg = str(err.value)
    assert "first divergence: aten.relu.default at act1" in msg and "\n" not in msg


class _Sort(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return torch.sort(self.conv(x), dim=1).values.mean((2, 3))


class _Branchy(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x.mean((2, 3))
        return x.amax((2, 3))


def test_unknown_op_is_named_with_its_module():
    with pytest.raises(ConversionError, match=r"op aten\.sort\.default \(at .*\) is not supported"):
        conv.convert(_Sort(), (16, 16))


def test_untraceable_model_is_one_line():
    with pytest.raises(ConversionError, match="torch.export cannot trace _Branchy") as err:
        conv.convert(_Branchy(), (16, 16))
    assert "\n" not in str(err.value)


def test_unknown_timm_name_suggests_close_names():
    import zoo_core as zoo

    with pytest.raises(UnknownModelError, match="did you mean timm:resnet18"):
        zoo.load("timm:resnet18x", framework="tf")


def test_dropout_and_drop_path_come_back_in_training():
    model = timm.create_model("resnet18", num_classes=4, drop_rate=0.5, drop_path_rate=0.2).eval()
    result = conv.convert(model, (32, 32))
    kinds = {type(layer).__name__ for layer in result.model.layers}
    assert {"Dropout", "DropPath"} <= kinds
    x = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype(np.float32)
    eval_a = np.asarray(result.model(x, training=False))
    eval_b = np.asarray(result.model(x, training=False))
    train = np.asarray(result.model(x, training=True))
    assert np.array_equal(eval_a, eval_b) and not np.allclose(train, eval_a)


def test_timm_models_train_save_and_load_in_timm(tmp_path):
    """zoo.load("timm:...") in Keras: a training step moves weights and BatchNorm statistics; the Keras-saved
    checkpoint (with its graph) loads in timm and in Keras with equal logits; the graph is safe-mode JSON."""
    import keras

    import zoo_core as zoo
    from zoo_core.backends import keras_weights

    m = zoo.load("timm:resnet18", framework="tf", num_classes=3, input_size=32)
    assert m.zoo_conversion["parity"]["ok"]
    before = keras_weights.to_canonical(m)
    x = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype(np.float32)
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    m.train_on_batch(x, np.array([0, 1, 2, 0]))
    after = keras_weights.to_canonical(m)
    assert not np.array_equal(before["conv1.weight"], after["conv1.weight"])
    assert not np.array_equal(before["bn1.running_mean"], after["bn1.running_mean"])
    assert after["bn1.num_batches_tracked"] == before["bn1.num_batches_tracked"] + 1
    path = zoo.save(m, tmp_path / "r18")
    graph = json.loads((path / "keras_graph.json").read_text())
    assert "Lambda" not in json.dumps(graph)
    want = np.asarray(m(x, training=False))
    back = timm.create_model(f"local-dir:{path}", pretrained=True).eval()
    with torch.no_grad():
        got = back(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want))
    again = zoo.load(str(path), framework="tf")
    assert np.array_equal(np.asarray(again(x, training=False)), want)


def test_stored_graph_loads_without_torch(tmp_path):
    """A converted checkpoint loads in TensorFlow on a machine without torch (torch made unimportable)."""
    import zoo_core as zoo

    m = zoo.load("timm:mobilenetv3_small_100", framework="tf", num_classes=2, input_size=32)
    path = zoo.save(m, tmp_path / "mnv3")
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", np.asarray(m(x, training=False)))
    proc = run_python(f"""
        import sys

        class NoTorch:  # this machine has no torch or timm
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "timm", "torchvision"):
                    raise ImportError("No module named " + name)

        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        import zoo_core as zoo
        m = zoo.load({str(path)!r}, framework="tf")
        got = np.asarray(m(np.load({str(tmp_path / 'x.npy')!r}), training=False))
        assert np.array_equal(got, np.load({str(tmp_path / 'want.npy')!r})), "logits differ"
        assert "torch" not in sys.modules
        from zoo_core.errors import ZooError
        for name, says in (("timm:resnet18", "need torch and timm to be built or converted"),
                           ("convnext_atto", "timm's own model names need torch and timm")):
            try:
                zoo.load(name, framework="tf")
            except ZooError as exc:  # converting needs torch and timm: one line saying so
                assert says in str(exc) and "\\n" not in str(exc), str(exc)
            else:
                raise AssertionError(name + " loaded without torch")
        print("ok")
    """)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_freeze_means_the_same_in_both_frameworks():
    import zoo_core as zoo
    from zoo_core.backends import keras_weights

    pt = zoo.load("timm:resnet18", framework="torch", num_classes=3, input_size=32)
    tf = zoo.load("timm:resnet18", framework="tf", num_classes=3, input_size=32)
    zoo.freeze(pt, until="stage1")
    zoo.freeze(tf, until="stage1")
    frozen_pt = {k for k, p in pt.named_parameters() if not p.requires_grad}
    trainable_tf = {id(v) for v in tf.trainable_weights}
    frozen_tf = {b.key for b in keras_weights.bindings(tf) if id(b.variable) not in trainable_tf
                 and not b.key.endswith(("running_mean", "running_var", "num_batches_tracked"))}
    assert frozen_pt == frozen_tf and "conv1.weight" in frozen_pt and "layer1.0.conv1.weight" in frozen_pt
    assert "layer2.0.conv1.weight" not in frozen_pt and "fc.weight" not in frozen_pt


def test_verify_limit_is_relative():
    assert verify.RTOL == 1e-4
