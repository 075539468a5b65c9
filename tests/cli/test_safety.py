"""Nothing lost (issue 22, part A): the zoo never overwrites what it did not create unless asked, checks every
argument before the first byte is written, locks a run while it writes it, and stops on a non-finite loss."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import zoo_core as zoo
from tests.helpers import run_zoo
from zoo_core.errors import ExportError, HubError, TrainingDivergedError
from zoo_core.fileio import json_bytes, sha256_file

# huggingface_hub's own LFS upload (`data=fileobj`) trips an httpx2 deprecation warning: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")
TRAIN = ["simplecnn", "--data", "digits", "--batch-size", "64"]


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished one-epoch run of simplecnn on digits (torch)."""
    out = tmp_path_factory.mktemp("runs") / "cnn"
    proc = run_zoo("train", *TRAIN, "--epochs", "1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (out.parent / "stdout.txt").write_text(proc.stdout)
    return out


def test_one_plain_line_per_epoch_and_no_plural_for_one(run):
    assert " after 1 epoch; run in " in (run.parent / "stdout.txt").read_text()
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1]
    saved = (run / "train_args.json").read_text()
    json.loads(saved, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))


def test_train_into_an_existing_run_is_refused_and_overwrite_replaces_only_the_run(run, tmp_path):
    before = _snapshot(run)
    proc = run_zoo("train", *TRAIN, "--epochs", "1", "--out", str(run))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"zoo: error: {run} already holds a training run (simplecnn on digits in torch); continue it with --resume "
        f"{run}, replace it with --overwrite, or choose another --out"]
    assert _snapshot(run) == before

    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    proc = run_zoo("train", *TRAIN, "--epochs", "1", "--out", str(other))
    assert proc.returncode == 1 and "is not empty (mine.txt)" in proc.stderr
    assert sorted(p.name for p in other.iterdir()) == ["mine.txt"]


def test_overwrite_replaces_the_runs_files_and_keeps_the_others(tmp_path):
    out = tmp_path / "run"
    assert run_zoo("train", *TRAIN, "--epochs", "1", "--out", str(out)).returncode == 0
    (out / "interrupted").mkdir()
    (out / "interrupted" / "model.safetensors").write_bytes(b"old")
    (out / "mine.txt").write_text("keep me")
    proc = run_zoo("train", *TRAIN, "--epochs", "1", "--seed", "3", "--out", str(out), "--overwrite")
    assert proc.returncode == 0, proc.stderr
    assert (out / "mine.txt").read_text() == "keep me"
    assert not (out / "interrupted").exists()
    assert json.loads((out / "train_args.json").read_text())["seed"] == 3


def test_resume_honours_explicit_values_equal_to_the_defaults(tmp_path):
    out = tmp_path / "run"
    assert run_zoo("train", *TRAIN, "--epochs", "1", "--lr", "0.003", "--out", str(out)).returncode == 0
    proc = run_zoo("train", "--resume", str(out), "--epochs", "3", "--lr", "0.001")  # both parser defaults
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2, 3]
    saved = json.loads((out / "train_args.json").read_text())
    assert (saved["epochs"], saved["lr"]) == (3, 0.001)
    assert "epoch 3/3: loss" in proc.stderr  # one plain line per epoch when not on a terminal


@pytest.mark.parametrize("bad", [["--model", "resnet18"], ["-f", "tf"], ["--batch-size", "0"]],
                         ids=["other-model", "other-framework", "bad-batch"])
def test_a_failed_resume_leaves_the_run_as_it_was(run, bad):
    before = _snapshot(run)
    args = ["train", "--resume", str(run), *bad]
    if bad[0] == "--model":  # the model is positional
        args = ["train", "resnet18", "--resume", str(run)]
    proc = run_zoo(*args)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert _snapshot(run) == before


def test_failed_argument_checks_leave_no_folder(tmp_path):
    for bad in (["--epochs", "0"], ["--lr", "-1"], ["--freeze-until", "nope"]):
        out = tmp_path / f"run{bad[0]}"
        proc = run_zoo("train", *TRAIN, *bad, "--out", str(out))
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not out.exists(), bad


def test_out_that_is_a_file_or_unwritable_is_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = run_zoo("train", *TRAIN, "--out", str(afile))
    assert proc.stderr.strip() == f"zoo: error: --out {afile} is a file; give a directory for the run"
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        # root may write anywhere, but not make a folder in /proc: both are one line, before any training
        target = "/proc/zoo-test/run" if os.access(locked, os.W_OK) else str(locked / "run")
        proc = run_zoo("train", *TRAIN, "--out", target)
        assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("zoo: error: ") and target.split("/run")[0] in proc.stderr
        assert "epoch 1/" not in proc.stderr
    finally:
        locked.chmod(0o700)


def _png_folder(root: Path, per_class: int) -> Path:
    """An image folder of two classes (a, b) of random 28x28 grey PNGs."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (28, 28), np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_eval_knows_the_runs_data_however_it_is_spelt(tmp_path):
    _png_folder(tmp_path / "shapes", 10)
    env = {"PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "zoo_core", "train", "simplecnn", "--data", "shapes", "--epochs",
                           "1", "--split", "0.5,0,0.5", "--seed", "1", "--out", "run"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    reports = []
    for spelling in ("shapes", "./shapes", str(tmp_path / "shapes")):
        proc = subprocess.run([sys.executable, "-m", "zoo_core", "eval", "run", "--data", spelling, "--json"],
                              cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **env})
        assert proc.returncode == 0, proc.stderr
        reports.append(json.loads(proc.stdout))
    assert reports[0]["n"] == 10  # the run's own held-out half, not a re-split 0.7/0.2/0.1
    assert reports[1] == reports[0] and reports[2] == reports[0]


def test_a_second_writer_fails_at_once_naming_the_first(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from pathlib import Path
        from zoo_core.fileio import DirectoryLock
        with DirectoryLock(Path({str(out)!r}), "zoo train"):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.perf_counter()
        proc = run_zoo("train", *TRAIN, "--out", str(out), "--overwrite")
        assert time.perf_counter() - start < 60
        assert proc.returncode == 1
        assert f"{out} is being written by pid {holder.pid}" in proc.stderr and "(zoo train, since" in proc.stderr
        assert not (out / "train_args.json").exists()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_epoch(framework, tmp_path):
    digits = zoo.data.builtin("digits", split=(0.8, 0.2, 0.0))
    model = zoo.load("simplecnn", framework, num_classes=10)
    out = tmp_path / "run"
    zoo.finetune(model, digits, epochs=1, batch_size=64, out=out, progress=False)
    weights = sha256_file(out / "model.safetensors")
    with pytest.raises(TrainingDivergedError, match=r"^the training loss became NaN or infinite in epoch 2, step \d+ "
                       r"of 23 \(learning rate .*\); the run keeps epoch 1's checkpoint in .*run: lower the learning"):
        zoo.finetune(model, digits, epochs=2, lr=1e6, batch_size=64, out=out, resume=True, progress=False)
    assert sha256_file(out / "model.safetensors") == weights
    assert json.loads((out / "history.json").read_text())["epoch"] == [1]
    fresh = tmp_path / "fresh"
    with pytest.raises(TrainingDivergedError, match="no epoch was saved"):
        zoo.finetune(zoo.load("simplecnn", framework), digits, epochs=1, lr=1e6, batch_size=64, out=fresh,
                     progress=False)
    assert not fresh.exists()


def test_export_never_replaces_what_it_did_not_write(run, tmp_path, monkeypatch):
    before = _snapshot(run)
    with pytest.raises(ExportError, match=r"exists and is a folder zoo export did not write; nothing was written"):
        zoo.export(run, "savedmodel", run)
    assert _snapshot(run) == before
    monkeypatch.chdir(run)
    with pytest.raises(ExportError, match=r"exists and is a folder zoo export did not write"):
        zoo.export(run, "savedmodel", ".")
    theirs = tmp_path / "model.onnx"
    theirs.write_bytes(b"someone's model")
    with pytest.raises(ExportError, match=r"model.onnx exists and is a file zoo export did not write"):
        zoo.export(run, "onnx", theirs)
    assert theirs.read_bytes() == b"someone's model"
    ours = tmp_path / "ours.onnx"
    zoo.export(run, "onnx", ours)
    zoo.export(run, "onnx", ours)  # the zoo's own export: replaced in place
    zoo.export(run, "onnx", theirs, overwrite=True)
    assert theirs.read_bytes() != b"someone's model"


def test_pull_into_a_run_is_refused(hub, run):
    from huggingface_hub import HfApi

    from tests.conftest_hub import ALICE_TOKEN

    zoo.push(run, "alice/cnn", token=ALICE_TOKEN, endpoint=hub.url, measure=False)
    before = _snapshot(run)
    with pytest.raises(HubError, match=r"already holds files the zoo did not pull there .*overwrite=True"):
        zoo.pull("hf://alice/cnn", local_dir=run, endpoint=hub.url)
    assert _snapshot(run) == before
    target = run.parent / "pulled"
    zoo.pull("hf://alice/cnn", local_dir=target, endpoint=hub.url)
    zoo.pull("hf://alice/cnn", local_dir=target, endpoint=hub.url)  # its own earlier pull: fine
    assert HfApi(endpoint=hub.url).list_repo_commits("alice/cnn")


def test_push_with_an_existing_tag_pushes_nothing(hub, run):
    from huggingface_hub import HfApi

    from tests.conftest_hub import ALICE_TOKEN

    api = HfApi(endpoint=hub.url, token=ALICE_TOKEN)
    zoo.push(run, "alice/tagged", token=ALICE_TOKEN, endpoint=hub.url, tag="v1", measure=False)
    head = api.list_repo_commits("alice/tagged")[0].commit_id
    with pytest.raises(HubError, match=r"already has the tag 'v1' \(commit [0-9a-f]{12}\); nothing was pushed"):
        zoo.push(run, "alice/tagged", token=ALICE_TOKEN, endpoint=hub.url, tag="v1", measure=False)
    assert api.list_repo_commits("alice/tagged")[0].commit_id == head


def test_written_files_honour_the_umask_and_json_is_strict(tmp_path):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os
        os.umask(0o022)
        from pathlib import Path
        from zoo_core.fileio import atomic_dir, write_json
        out = Path({str(tmp_path)!r})
        write_json(out / "h.json", {{"loss": float("nan"), "acc": [1.0, float("inf")]}})
        with atomic_dir(out / "ckpt") as tmp:
            (tmp / "f").write_bytes(b"x")
        print(oct(os.stat(out / "h.json").st_mode & 0o777), oct(os.stat(out / "ckpt").st_mode & 0o777))
        """)], capture_output=True, text=True)
    assert proc.stdout.split() == ["0o644", "0o755"], proc.stderr
    assert json.loads((tmp_path / "h.json").read_text()) == {"loss": None, "acc": [1.0, None]}
    assert json_bytes({"x": float("nan")}) == b'{\n  "x": null\n}\n'


def test_the_command_line_is_quiet_and_helpful():
    proc = run_zoo("train", "--help", env={"TF_CPP_MIN_LOG_LEVEL": ""})
    assert "(default: 3)" in proc.stdout and "{torch,tf}" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "zoo_core", "info", "simplecnn"], capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert proc.returncode == 0, proc.stderr
    assert "absl::InitializeLog" not in proc.stderr and "oneDNN" not in proc.stderr, proc.stderr


def test_a_skipped_image_is_one_warning_line_naming_it(tmp_path):
    _png_folder(tmp_path / "imgs", 4)
    (tmp_path / "imgs" / "a" / "broken.png").write_bytes(b"not a png")
    proc = run_zoo("train", "simplecnn", "--data", str(tmp_path / "imgs"), "--split", "1,0,0", "--epochs", "1",
                   "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "broken.png" in line]
    assert len(lines) == 1 and lines[0].startswith("zoo: warning: skipped: "), proc.stderr
