"""Deployment exports: every built-in architecture (smallest variant, small input) to ONNX from both frameworks,
TorchScript, SavedModel and TFLite, each checked here in its own runtime against the checkpoint it came from;
quantization, pruning, unsupported ops, and the `zoo export` / `zoo prune` commands."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # torch before TensorFlow
pytest.importorskip("tensorflow")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

import zoo_core as zoo  # noqa: E402
from tests.helpers import run_zoo  # noqa: E402
from zoo_core import backends, models  # noqa: E402
from zoo_core.export import ExportError  # noqa: E402
from zoo_core.testing import realistic_weights  # noqa: E402

TF = backends.get("tf")
tf = TF.import_framework()
keras = TF.import_keras()

# the smallest registered variant of each architecture, at a small input size
ARCHS = {"simplecnn": ("simplecnn", None), "resnet": ("resnet18", 32), "efficientnet": ("efficientnet_b0", 32),
         "vit": ("vit_tiny_patch16_224", 32)}
EXPORTS = [("onnx", "torch"), ("onnx", "tf"), ("torchscript", None), ("savedmodel", None), ("tflite", None)]
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt", "savedmodel": "", "tflite": ".tflite"}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One checkpoint per architecture, saved from torch with realistic random weights (non-degenerate logits)."""
    root = tmp_path_factory.mktemp("ckpt")
    out = {}
    torch.manual_seed(0)  # the same checkpoints whatever ran before in this process (pytest -n 2 included)
    for arch, (name, size) in ARCHS.items():
        model = zoo.load(name, "torch", input_size=size, num_classes=7)
        backends.get("torch").from_canonical(model, realistic_weights(models.spec_of(model).entry))
        out[arch] = zoo.save(model, root / arch, labels=[f"class{i}" for i in range(7)])
    return out


def _inputs(path, framework: str, n: int, seed: int = 11) -> np.ndarray:
    cfg = json.loads((path / "config.json").read_text())["zoo"]
    h, w = cfg["input_size"]
    x = np.random.default_rng(seed).standard_normal((n, cfg["in_chans"], h, w)).astype(np.float32)
    return x if framework == "torch" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _run_artifact(fmt: str, path, x: np.ndarray) -> np.ndarray:
    """Run an exported file in its own runtime, without the zoo's code."""
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(["logits"], {"pixel_values": x})[0]
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch.jit.load(str(path))
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()
    if fmt == "savedmodel":
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        return serve(pixel_values=tf.constant(x))["logits"].numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(x.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


# SavedModel and TFLite of the two largest graphs take 15-20 s each on a busy 2-core machine: marked slow
SLOW = {(arch, fmt) for arch in ("efficientnet", "vit") for fmt in ("savedmodel", "tflite")}
MATRIX = [pytest.param(arch, fmt, fw, marks=[pytest.mark.slow] if (arch, fmt) in SLOW else [],
                       id=f"{arch}-{fmt}" + (f"-{fw}" if fw else ""))
          for arch in ARCHS for fmt, fw in EXPORTS]


@pytest.mark.parametrize("arch,fmt,framework", MATRIX)
def test_every_architecture_exports_to_every_format_within_1e4(arch, fmt, framework, checkpoints, tmp_path):
    ckpt = checkpoints[arch]
    out = tmp_path / f"{arch}{SUFFIX[fmt]}"
    report = zoo.export(str(ckpt), fmt, out, framework=framework)
    runtime_fw = {"torchscript": "torch", "savedmodel": "tf", "tflite": "tf"}.get(fmt, framework)
    assert report.framework == runtime_fw and report.max_abs_diff <= 1e-4 and out.exists()
    # independently: a third batch size, the artifact in its runtime vs the checkpoint loaded in that framework
    x = _inputs(ckpt, runtime_fw, 5)
    expected = backends.get(runtime_fw).predict(zoo.load(str(ckpt), runtime_fw), x)
    got = _run_artifact(fmt, out, x)
    assert got.shape == (5, 7)
    assert np.max(np.abs(got - expected)) <= 1e-4
    stored = json.loads((tmp_path / "export_report.json").read_text())[out.name]
    assert stored["max_abs_diff"] == report.max_abs_diff and stored["batch_sizes"] == [2, 3]
    assert stored["layout"] == ("NCHW" if runtime_fw == "torch" else "NHWC")
    assert stored["file_size_bytes"] > 0 and stored["versions"]["zoo"]


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_onnx_carries_names_dynamic_batch_and_preprocessing_metadata(framework, checkpoints, tmp_path):
    report = zoo.export(str(checkpoints["simplecnn"]), "onnx", tmp_path / "m.onnx", framework=framework)
    model = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert meta["labels"][:2] == ["class0", "class1"]
    assert meta["mean"] == [0.1307] and meta["std"] == [0.3081]
    assert meta["input_size"] == [28, 28] and meta["interpolation"] == "bilinear"
    assert meta["layout"] == ("NCHW" if framework == "torch" else "NHWC")
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("pixel_values", "logits")
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"
    assert report.opset and report.opset == next(o.version for o in model.opset_import if o.domain == "")


def test_a_float_export_beyond_the_tolerance_fails_and_writes_nothing(checkpoints, tmp_path):
    with pytest.raises(ExportError, match=r"max \|Δlogits\| .* > 1e-12.*nothing was written"):
        zoo.export(str(checkpoints["simplecnn"]), "tflite", tmp_path / "m.tflite", tolerance=1e-12)
    assert list(tmp_path.iterdir()) == []


def _with_spec(model, like: str = "simplecnn"):
    """Give a hand-made model the zoo spec of a registered one (as a plugin's builder would)."""
    model.zoo_spec = models.spec_of(zoo.load(like, "torch"))
    model.zoo_spec = models.ModelSpec(model.zoo_spec.entry, backends.framework_of(model))
    return model


def _keras_with(fn):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    return _with_spec(keras.Model(inputs, keras.layers.Lambda(fn)(x)))


def test_keras_exact_gelu_cannot_go_to_onnx_and_the_error_names_the_op(tmp_path):
    # TF's exact GELU lowers to Erfc, which ONNX lacks (onnx/tensorflow-onnx#2347): tf2onnx only logs it
    model = _keras_with(lambda t: keras.activations.gelu(t, approximate=False))
    with pytest.raises(ExportError, match=r"ONNX has no op Erfc.*onnx"):
        zoo.export(model, "onnx", tmp_path / "gelu.onnx")
    assert not (tmp_path / "gelu.onnx").exists()


def test_the_zoo_erf_gelu_exports_to_onnx_and_matches_torch_exact_gelu(tmp_path):
    from zoo_core.backends.keras_layers import Gelu

    x = np.linspace(-6, 6, 4001, dtype=np.float32).reshape(1, -1)
    expected = torch.nn.GELU()(torch.from_numpy(x)).numpy()
    assert np.max(np.abs(np.asarray(Gelu()(x)) - expected)) <= 1e-6
    report = zoo.export(_keras_with(lambda t: Gelu()(t)), "onnx", tmp_path / "gelu.onnx")
    assert report.max_abs_diff <= 1e-5  # onnxruntime's Erf against TensorFlow's


def test_torch_op_without_onnx_conversion_names_the_op(tmp_path):
    class Bessel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(28 * 28, 10)

        def forward(self, x):
            return torch.special.i0(self.fc(x.flatten(1)))

    with pytest.raises(ExportError, match=r"op prims\.bessel_i0 has no ONNX conversion.*onnx"):
        zoo.export(_with_spec(Bessel()), "onnx", tmp_path / "b.onnx")


def test_tflite_without_builtin_op_names_the_op(tmp_path):
    model = _keras_with(lambda t: tf.math.erfc(t))
    with pytest.raises(ExportError, match=r"tflite: TFLite has no builtin op for tf\.Erfc"):
        zoo.export(model, "tflite", tmp_path / "e.tflite")


@pytest.mark.parametrize("fmt,quantize,message", [
    ("savedmodel", "dynamic", "savedmodel is a float format"),
    ("torchscript", "int8", "torchscript supports --quantize dynamic, not 'int8'"),
    ("tflite", "int8", "full int8 quantization calibrates .* pass data"),
    ("pickle", None, "unknown export format 'pickle'"),
])
def test_bad_requests_are_refused_before_any_work(fmt, quantize, message, tmp_path):
    with pytest.raises(ExportError, match=message):
        zoo.export("no/such/dir", fmt, tmp_path / "x", quantize=quantize)


def test_torchscript_refuses_tf_and_keras_models_are_moved_to_torch(tmp_path):
    with pytest.raises(zoo.ZooError, match="torchscript is exported from PyTorch"):
        zoo.export("no/such/dir", "torchscript", tmp_path / "x.pt", framework="tf")
    keras_model = zoo.load("simplecnn", "tf")
    report = zoo.export(keras_model, "torchscript", tmp_path / "x.pt")
    x = _inputs_for(keras_model, 4)
    got = _run_artifact("torchscript", tmp_path / "x.pt", x)
    expected = TF.predict(keras_model, x.transpose(0, 2, 3, 1))
    assert report.framework == "torch" and np.max(np.abs(got - expected)) <= 1e-4


def _inputs_for(model, n: int) -> np.ndarray:
    e = models.spec_of(model).entry
    return np.random.default_rng(3).standard_normal((n, e.in_chans, *e.input_size)).astype(np.float32)


@pytest.fixture(scope="module")
def trained_cnn(tmp_path_factory):
    """SimpleCNN after one short epoch on mnist5k (80/0/20 split): accurate enough for accuracy deltas to mean
    something."""
    data = zoo.data.open_dataset("mnist5k", split=(0.8, 0, 0.2), seed=0)
    model = zoo.load("simplecnn", "torch", num_classes=data.num_classes)
    zoo.finetune(model, data, epochs=1, lr=2e-3, batch_size=64, seed=0, progress=False)
    return zoo.save(model, tmp_path_factory.mktemp("trained") / "cnn"), data


@pytest.mark.parametrize("fmt,quantize", [("torchscript", "dynamic"), ("tflite", "int8")])
def test_quantization_shrinks_simplecnn_and_keeps_accuracy(fmt, quantize, trained_cnn, tmp_path):
    ckpt, data = trained_cnn
    out = tmp_path / f"q{SUFFIX[fmt]}"
    report = zoo.export(str(ckpt), fmt, out, quantize=quantize, data=data)
    q = report.quantization
    assert q["split"] == "test" and q["n"] == len(data.test)
    assert q["accuracy_before"] > 0.85, "the float model should have learned something"
    assert abs(q["accuracy_delta"]) <= 0.01
    assert q["size_after_bytes"] < 0.4 * q["size_before_bytes"] and report.file_size_bytes == out.stat().st_size
    assert q["latency_ms_before"] > 0 and q["latency_ms_after"] > 0 and q["float_max_abs_diff"] <= 1e-4
    # the quantized file is what was measured: it runs in its runtime and agrees with the float model on top-1
    x, y = zoo.data.as_arrays(data.test, zoo.data.Preprocess.for_model(zoo.load(str(ckpt), "tf")))
    x = x[:200] if fmt == "tflite" else np.ascontiguousarray(x[:200].transpose(0, 3, 1, 2))
    acc = float((_run_artifact(fmt, out, x).argmax(1) == y[:200]).mean())
    assert acc > 0.8
    if fmt == "torchscript":
        assert q["quantized_layers"] == ["fc1", "fc2"] and q["quantized_fraction"] > 0.9


def test_dynamic_quantization_of_a_conv_net_only_touches_linear_layers(checkpoints, tmp_path):
    report = zoo.export(str(checkpoints["resnet"]), "torchscript", tmp_path / "r.pt", quantize="dynamic")
    q = report.quantization
    assert q["quantized_layers"] == ["fc"] and q["quantized_fraction"] < 0.01
    assert q["size_after_bytes"] > 0.95 * q["size_before_bytes"]  # honest: a conv net barely shrinks


def _zero_rows(w: np.ndarray) -> int:
    return int(np.sum(~w.reshape(w.shape[0], -1).any(1)))


@pytest.mark.parametrize("structured", [False, True], ids=["l1-unstructured", "ln-structured"])
def test_pruning_in_torch_and_tf_gives_the_same_checkpoint(structured, checkpoints, tmp_path):
    ckpt = str(checkpoints["resnet"])
    pt = zoo.prune(ckpt, 0.3, structured=structured, framework="torch", out=tmp_path / "pt")
    tfr = zoo.prune(ckpt, 0.3, structured=structured, framework="tf", out=tmp_path / "tf")
    assert [r["layer"] for r in pt.layers] == [r["layer"] for r in tfr.layers]
    assert "fc" in [r["layer"] for r in pt.layers] or structured
    for report in (pt, tfr):
        for row in report.layers:
            assert abs(row["sparsity"] - 0.3) < 0.02, row
    saved = json.loads((tmp_path / "tf" / "prune_report.json").read_text())
    assert saved["layers"][0]["sparsity"] == tfr.layers[0]["sparsity"]
    # the two frameworks zero exactly the same weights (by construction: one rule, ties broken by position)
    pt_weights = backends.get("torch").to_canonical(zoo.load(str(tmp_path / "pt"), "torch"))
    tf_weights = backends.get("torch").to_canonical(zoo.load(str(tmp_path / "tf"), "torch"))
    assert [k for k in pt_weights if not np.array_equal(pt_weights[k], tf_weights[k])] == []
    # each pruned checkpoint loads in both frameworks, and the two agree with each other
    a, b = zoo.load(str(tmp_path / "pt"), "tf"), zoo.load(str(tmp_path / "tf"), "torch")
    x = _inputs(checkpoints["resnet"], "torch", 2)
    assert np.max(np.abs(TF.predict(a, x.transpose(0, 2, 3, 1)) - backends.get("torch").predict(b, x))) <= 1e-4
    weights = backends.get("torch").to_canonical(b)
    conv = weights["layer1.0.conv1.weight"]
    if structured:
        assert _zero_rows(conv) == round(0.3 * conv.shape[0]) and pt.skipped == ["fc.weight"]
        assert _zero_rows(weights["fc.weight"]) == 0  # the classifier keeps every class
    else:
        assert _zero_rows(conv) == 0 and abs(np.mean(conv == 0) - 0.3) < 0.01


def test_prune_refuses_an_amount_that_is_not_a_fraction(checkpoints):
    with pytest.raises(zoo.ZooError, match="not a fraction"):
        zoo.prune(str(checkpoints["simplecnn"]), 1.5)


def test_cli_export_and_prune(checkpoints, tmp_path):
    ckpt = str(checkpoints["simplecnn"])
    proc = run_zoo("export", ckpt, "--format", "onnx", "--out", str(tmp_path / "cnn.onnx"))
    assert proc.returncode == 0, proc.stderr
    assert "max |Δlogits|" in proc.stdout and "export_report.json" in proc.stdout
    x = _inputs(checkpoints["simplecnn"], "torch", 4)
    expected = backends.get("torch").predict(zoo.load(ckpt, "torch"), x)
    assert np.max(np.abs(_run_artifact("onnx", tmp_path / "cnn.onnx", x) - expected)) <= 1e-4

    proc = run_zoo("prune", ckpt, "--amount", "0.5", "--framework", "torch", "--out", str(tmp_path / "pruned"))
    assert proc.returncode == 0, proc.stderr
    assert "fc1" in proc.stdout and "50.0%" in proc.stdout
    pruned = backends.get("tf").to_canonical(zoo.load(str(tmp_path / "pruned"), "tf"))
    assert abs(np.mean(pruned["fc1.weight"] == 0) - 0.5) < 0.01

    proc = run_zoo("export", ckpt, "--format", "savedmodel", "--quantize", "dynamic", "--out", str(tmp_path / "s"))
    assert proc.returncode == 1 and proc.stderr.strip().startswith("zoo: error: savedmodel is a float format")
    assert len(proc.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------ bad input (issue 22, part B)


def test_magnitude_prune_breaks_ties_by_position():
    from zoo_core.export.prune import magnitude_prune

    w = np.array([[1.0, -1.0, 1.0], [-1.0, 2.0, 1.0]], np.float32)
    np.testing.assert_array_equal(magnitude_prune(w, 0.5, False), [[0, 0, 0], [-1, 2, 1]])
    signs = np.where(np.arange(1000) % 2, 1.0, -1.0).astype(np.float32).reshape(10, 100)  # 1000 tied magnitudes
    assert np.array_equal(np.flatnonzero(magnitude_prune(signs, 0.3, False) == 0), np.arange(300))
    rows = np.array([[1.0, -1.0], [2.0, 0.0], [-1.0, 1.0]], np.float32)  # L1 norms 2, 2, 2
    np.testing.assert_array_equal(magnitude_prune(rows, 0.4, True), [[0, 0], [2, 0], [-1, 1]])


@pytest.mark.parametrize("structured", [False, True], ids=["l1-unstructured", "ln-structured"])
def test_pruning_chooses_the_same_weights_in_both_frameworks_when_magnitudes_tie(structured):
    """Weights whose magnitudes tie at the threshold: both frameworks must zero exactly the same ones."""
    from zoo_core.export.prune import prunable

    rng = np.random.default_rng(0)
    models_ = {fw: zoo.load("simplecnn", fw, input_size=16, widths=[16, 16], hidden=64) for fw in ("torch", "tf")}
    start = backends.get("torch").to_canonical(models_["torch"])
    tied = {k: (rng.choice([-1.0, 1.0], v.shape) * rng.choice([0.25, 0.5], v.shape)).astype(v.dtype)
            if k in prunable(start) else v for k, v in start.items()}
    for fw, model in models_.items():
        backends.get(fw).from_canonical(model, tied)
        zoo.prune(model, 0.3, structured=structured, framework=fw)
    pruned = {fw: backends.get(fw).to_canonical(m) for fw, m in models_.items()}
    for key in prunable(start):
        np.testing.assert_array_equal(pruned["torch"][key], pruned["tf"][key], err_msg=key)


@pytest.mark.parametrize("framework", ["torch", "tf"])
@pytest.mark.parametrize("opset", [3, 99, 2.5])
def test_an_opset_the_exporter_does_not_support_is_refused_before_writing(checkpoints, tmp_path, framework, opset):
    with pytest.raises(ExportError, match=rf"opset {opset}.*{framework}.*supports opsets \d+ to \d+") as info:
        zoo.export(str(checkpoints["simplecnn"]), "onnx", tmp_path / "cnn.onnx", framework=framework, opset=opset)
    assert "\n" not in str(info.value) and list(tmp_path.iterdir()) == []


def test_cli_opset_3_is_a_one_line_error(checkpoints, tmp_path):
    proc = run_zoo("export", str(checkpoints["simplecnn"]), "--format", "onnx", "--opset", "3",
                   "--out", str(tmp_path / "cnn.onnx"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and "opset 3" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout and list(tmp_path.iterdir()) == []
