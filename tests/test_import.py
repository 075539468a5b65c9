"""`import zoo_core` and `zoo list` must not import any framework (nor tensorboard or a tracker plugin's MLflow)."""

from __future__ import annotations

from tests.helpers import run_python

FRAMEWORK_MODULES = ("torch", "torchvision", "timm", "tensorflow", "keras", "triton", "tensorboard", "mlflow")


def test_import_zoo_core_loads_no_framework():
    proc = run_python(f"""
        import sys, zoo_core
        zoo_core.list_models()
        zoo_core.model_info("simplecnn")
        loaded = [m for m in {FRAMEWORK_MODULES!r} if m in sys.modules]
        print("LOADED", loaded)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout


def test_zoo_list_command_loads_no_framework():
    proc = run_python(f"""
        import sys, io, contextlib
        from zoo_core.cli import main
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert main(["list"]) == 0
        assert "simplecnn" in out.getvalue()
        print("LOADED", [m for m in {FRAMEWORK_MODULES!r} if m in sys.modules])
    """)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout


def test_tensorflow_first_then_torch_does_not_crash():
    """A user who loads a Keras model and then a torch model in one process (tensorflow#124205)."""
    proc = run_python("""
        import zoo_core as zoo
        tf_model = zoo.load("simplecnn", framework="tf")
        torch_model = zoo.load("resnet18", framework="torch", num_classes=3, input_size=32)
        import torch
        print("OUT", tuple(torch_model.eval()(torch.zeros(1, 3, 32, 32)).shape))
    """)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "OUT (1, 3)" in proc.stdout


def test_user_imported_tensorflow_before_zoo_then_torch():
    proc = run_python("""
        import tensorflow  # the user's own import, before the zoo is involved
        import zoo_core as zoo
        m = zoo.load("resnet18", framework="torch", num_classes=2, input_size=32)
        import timm, torchvision  # noqa: F401 (these pull in triton when it is importable)
        print("OK", type(m).__name__)
    """)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "OK ResNet" in proc.stdout
