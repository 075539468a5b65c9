"""`zoo train` / `zoo eval` as a user runs them: real subprocesses, killed and interrupted runs, bad inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from tests.helpers import run_zoo, wait_for_epoch

TRAIN = ["--data", "digits", "--limit", "300", "--split", "0.8,0,0.2", "--epochs", "2", "--batch-size", "24",
         "--optimizer", "sgd", "--lr", "0.02", "--seed", "3"]


def _popen_zoo(*args: str) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # SIGINT as in a terminal: a shell starts background jobs (a CI runner's, too) with SIGINT ignored
    return subprocess.Popen([sys.executable, "-m", "zoo_core", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _epochs_done(run: Path) -> int:
    try:
        return len(json.loads((run / "history.json").read_text())["epoch"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return 0


def _weights(run: Path) -> dict[str, np.ndarray]:
    return load_file(run / "model.safetensors")


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_sigkilled_run_resumes_to_the_same_weights(framework, tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    done = run_zoo("train", "simplecnn", *TRAIN, "--framework", framework, "--out", str(full))
    assert done.returncode == 0, done.stderr[-2000:]

    proc = _popen_zoo("train", "simplecnn", *TRAIN, "--framework", framework, "--out", str(cut))
    wait_for_epoch(proc, lambda: _epochs_done(cut), 1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _epochs_done(cut) < 2, "the run finished before it could be killed"

    resumed = run_zoo("train", "--resume", str(cut))  # everything else comes from the run directory
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((cut / "history.json").read_text())["epoch"] == [1, 2]
    a, b = _weights(full), _weights(cut)
    assert a.keys() == b.keys()
    for key in a:
        # Both frameworks resume bit-exactly on one machine: every epoch reseeds from (seed, epoch) and the
        # state file restores the optimizer; see docs/training.md.
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize(("signum", "code", "said"), [(signal.SIGINT, 130, "zoo: interrupted"),
                                                      (signal.SIGTERM, 143, "zoo: terminated")],
                         ids=["ctrl-c", "sigterm"])
def test_interrupt_saves_and_exits_cleanly(signum, code, said, tmp_path):
    """Ctrl-C, and SIGTERM (kill, a scheduler's preemption), save the weights of the unfinished epoch and exit
    with the shell's code for the signal; the run resumes from its last complete epoch."""
    run = tmp_path / "run"
    proc = _popen_zoo("train", "simplecnn", *TRAIN, "--epochs", "30", "--framework", "torch", "--out", str(run))
    wait_for_epoch(proc, lambda: _epochs_done(run), 1)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert "Traceback" not in err and said in err
    assert "interrupted during epoch" in err and "--resume" in err
    assert (run / "interrupted" / "model.safetensors").is_file()
    saved = _epochs_done(run)
    assert saved >= 1
    assert json.loads((run / "config.json").read_text())["zoo"]["training"]["epoch"] == saved
    resumed = run_zoo("train", "--resume", str(run), "--epochs", str(saved + 1))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _epochs_done(run) == saved + 1


@pytest.mark.parametrize(("trained_in", "evaluated_in"), [("torch", "tf"), ("tf", "torch")])
def test_checkpoint_evaluates_the_same_in_the_other_framework(trained_in, evaluated_in, tmp_path):
    run = tmp_path / "run"
    data = ["--data", "digits", "--limit", "300", "--split", "0.7,0,0.3", "--seed", "1"]
    trained = run_zoo("train", "simplecnn", *data, "--epochs", "1", "--framework", trained_in, "--out", str(run))
    assert trained.returncode == 0, trained.stderr[-2000:]
    own = json.loads((run / "report.json").read_text())
    # no --split/--seed/--limit: eval takes the run's own, so it scores the same held-out images
    other = run_zoo("eval", str(run), "--data", "digits", "--split", "test", "--framework", evaluated_in, "--json")
    assert other.returncode == 0, other.stderr[-2000:]
    report = json.loads(other.stdout)
    assert report["n"] == own["n"] == 90
    assert report["accuracy"] == own["accuracy"]
    assert report["confusion_matrix"] == own["confusion_matrix"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("folders")
    rng = np.random.default_rng(0)
    (root / "empty").mkdir()
    for folder in ("one/cat", "layout/train/a", "layout/train/b", "layout/val/a", "layout/val/b"):
        (root / folder).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / folder / f"{i}.png")
    return root


@pytest.mark.parametrize(("args", "message"), [
    (["train", "simplecnn", "--data", "{root}/empty"], "holds no readable images in class subfolders"),
    (["train", "simplecnn", "--data", "{root}/one"], "one class only (cat)"),
    (["eval", "simplecnn", "--data", "{root}/layout", "--split-name", "test"], "no images in its test split"),
    (["train", "simplecnn", "--data", "mnist6k"], "did you mean 'mnist5k'"),
    (["train", "simplecnn", "--data", "digits", "--limit", "50", "--freeze", "until=nonsense"],
     "its stages are: stage1, stage2, stage3, head"),
    (["train", "simplecnn", "--data", "digits", "--split", "0.8;0.2"], "write it as train,val,test"),
    (["train", "--resume", "{root}/empty"], "is not a zoo training run"),
    (["train", "simplecnn", "--data", "digits", "--limit", "50", "--augment", "rotate"],
     "choose from: crop, flip, jitter"),
    (["train", "simplecnn", "--data", "digits", "--limit", "50", "--device", "cuda:99"], "CUDA device(s)"),
])
def test_bad_inputs_give_one_line_errors(args, message, folders, tmp_path):
    argv = [a.replace("{root}", str(folders)) for a in args]
    if argv[0] == "train" and "--resume" not in argv:
        argv += ["--out", str(tmp_path / "run"), "--epochs", "1"]
    result = run_zoo(*argv)
    assert result.returncode == 1, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("zoo: error: ") and message in lines[-1], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("flag", "value", "message"), [
    ("--lr", "nan", "lr must be a finite number > 0"),
    ("--label-smoothing", "2", "label_smoothing must be a number in"),
    ("--num-workers", "-1", "num_workers must be a whole number"),
    ("--tune", "fast", "tune must be one of auto, off"),
])
def test_train_bad_numbers_are_one_line_errors(tmp_path, flag, value, message):
    proc = run_zoo("train", "simplecnn", "--data", "digits", "--epochs", "1", flag, value, "--out", str(tmp_path / "r"))
    assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_eval_of_a_model_with_another_number_of_classes_is_one_line(tmp_path):
    import zoo_core as zoo

    ckpt = zoo.save(zoo.load("simplecnn", "torch", num_classes=3, input_size=8, widths=[8]), tmp_path / "three")
    proc = run_zoo("eval", str(ckpt), "--data", "digits", "--split", "0.5,0,0.5")
    assert proc.returncode == 1 and "model has 3 classes but the test split has 10" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
    """A manifest naming a missing file, an empty shard and a truncated one (beside a good one)."""
    import io
    import tarfile

    from PIL import Image

    root = tmp_path_factory.mktemp("bad_data")
    (root / "img").mkdir()
    for i in range(2):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(root / "img" / f"{i}.png")
    (root / "m.csv").write_text("path,label\nimg/0.png,a\nimg/1.png,b\nimg/9.png,b\n")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "PNG")
    with tarfile.open(root / "good-000000.tar", "w") as tar:
        for name, data in (("a.png", buf.getvalue()), ("a.cls", b"0")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "good-000001.tar").write_bytes(b"")
    (root / "cut-000000.tar").write_bytes((root / "good-000000.tar").read_bytes()[:700])
    return root


@pytest.mark.parametrize(("data", "extra", "message"), [
    ("{root}/m.csv", [], "m.csv:4: img/9.png does not exist (paths are relative to"),
    ("{root}/good-{000000..000001}.tar", [], "good-000001.tar is empty; re-create it or leave it out"),
    ("{root}/cut-000000.tar", [], "cut-000000.tar is truncated"),
    ("hf://datasets/nobody", [], "is not a Hub dataset handle: write hf://datasets/OWNER/NAME"),
    ("digits", ["--mix", "blend"], "unknown mix blend; choose from: mixup, cutmix"),
    ("digits", ["--split-name", "holdout"], "invalid choice: 'holdout'"),
])
def test_bad_data_is_one_line_and_leaves_no_run_folder(data, extra, message, bad_data, tmp_path, capsys):
    from zoo_core.cli.app import main

    command = "eval" if "--split-name" in extra else "train"
    argv = [command, "simplecnn", "--data", data.replace("{root}", str(bad_data)), *extra]
    if command == "train":
        argv += ["--out", str(tmp_path / "run"), "--epochs", "1"]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code in (1, 2) and "error: " in err[-1] and message in err[-1], err
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_tune_decision_is_recorded_in_train_args_and_history(tmp_path):
    run = tmp_path / "r"
    proc = run_zoo("train", "simplecnn", "--data", "digits", "--limit", "100", "--epochs", "1", "--tune", "off",
                   "--out", str(run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    args = json.loads((run / "train_args.json").read_text())
    assert args["tune"] == "off" and args["tuning"] == {"mode": "off", "source": "off", "chosen": "default",
                                                        "settings": {}}
    assert json.loads((run / "history.json").read_text())["tuning"]["source"] == "off"


def test_a_run_with_worker_processes_prints_only_the_zoos_lines(tmp_path):
    """The `zoo` script's stderr on a run whose images Grain worker processes decode: the epoch line, not Grain's
    import-time JAX warning (from the zoo's process and from each worker) nor the resource tracker's warning about
    shared memory the loader left behind."""
    rng = np.random.default_rng(0)
    for i in range(24):
        folder = tmp_path / "imgs" / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (30, 34, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    zoo = Path(sys.executable).with_name("zoo")  # the console script: spawned workers import it first
    proc = subprocess.run([str(zoo), "train", "simplecnn", "--data", str(tmp_path / "imgs"), "--framework", "torch",
                           "--epochs", "1", "--num-workers", "1", "--batch-size", "8", "--split", "1,0,0",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("epoch 1/1: loss "), proc.stderr[-2000:]
