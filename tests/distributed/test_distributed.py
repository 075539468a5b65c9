"""Distributed training on CPU over loopback: torchrun + DDP (gloo) and tf.distribute MultiWorkerMirroredStrategy.

Every worker is a real process (`zoo train --nproc 2` runs torchrun; the TF workers get their own TF_CONFIG).
With $ZOO_DIST_DEBUG_DIR each rank writes rank<R>.json (its pid, a sha256 of its own final weights and its
history), which is how these tests see what every rank holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zoo_core.distributed import env as distributed
from zoo_core.distributed.env import TFConfig, TorchEnv
from zoo_core.errors import DistributedError

FAIL_WITHIN = 60.0  # seconds from killing a worker to the run's non-zero exit


# ---------------------------------------------------------------------------------------------------- helpers


def _env(debug: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", distributed.DEBUG_DIR_ENV: str(debug), **extra}


def _zoo(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo_core", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def _ranks(debug: Path, n: int) -> list[dict]:
    records = [json.loads((debug / f"rank{r}.json").read_text()) for r in range(n)]
    assert [r["rank"] for r in records] == list(range(n))
    return records


def _metrics(history: dict) -> dict:
    """A history without its wall-clock fields (seconds, images per second differ from rank to rank)."""
    return {k: v for k, v in history.items() if k not in ("seconds", "images_per_second")}


def _checkpoint(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(run / "model.safetensors"))


def _history(run: Path) -> dict:
    return json.loads((run / "history.json").read_text())


def _wait_for_epoch(run: Path, epoch: int, procs: list[subprocess.Popen], limit: float = 240) -> None:
    """Until history.json (written by rank 0 / the chief after each epoch) records ``epoch``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        path = run / "history.json"
        if path.is_file() and epoch in json.loads(path.read_text())["epoch"]:
            return
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"a worker exited early with {p.returncode}: {p.communicate()[1][-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"epoch {epoch} was not written to {run} within {limit} s")


# ---------------------------------------------------------------------------------------------------- environment


def test_torchrun_environment():
    env = TorchEnv.from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.1",
                             "MASTER_PORT": "29400"})
    assert env == TorchEnv(1, 4, 1, "10.0.0.1", 29400)
    assert TorchEnv.from_env({}) is None
    with pytest.raises(DistributedError, match=r"RANK must be in \[0, WORLD_SIZE\)"):
        TorchEnv.from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(DistributedError, match="must be integers"):
        TorchEnv.from_env({"RANK": "one", "WORLD_SIZE": "4"})


def test_tf_config_chief_and_ranks(monkeypatch):
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    chief = TFConfig.from_env({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}})})
    w1 = TFConfig.from_env({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}})})
    assert (chief.is_chief, chief.rank, chief.num_workers) == (True, 0, 3)
    assert (w1.is_chief, w1.rank) == (False, 2)
    workers = {"worker": ["a:1", "b:1"]}  # no chief: worker 0 is the chief
    w0 = TFConfig.from_env({"TF_CONFIG": json.dumps({"cluster": workers, "task": {"type": "worker", "index": 0}})})
    assert (w0.is_chief, w0.rank, w0.num_workers) == (True, 0, 2)
    with pytest.raises(DistributedError, match="TF_CONFIG is not valid.*set TF_CONFIG to JSON like"):
        TFConfig.from_env({"TF_CONFIG": "{not json"})
    with pytest.raises(DistributedError, match="task worker:5 is not in its cluster"):
        TFConfig.from_env({"TF_CONFIG": json.dumps({"cluster": workers, "task": {"type": "worker", "index": 5}})})

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": workers, "task": {"type": "worker", "index": 1}}))
    assert not distributed.is_main_process() and distributed.rank_and_world() == (1, 2)
    monkeypatch.delenv("TF_CONFIG")
    assert distributed.is_main_process() and distributed.rank_and_world() == (0, 1)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert distributed.is_main_process()


def test_collective_timeout_setting(monkeypatch):
    monkeypatch.delenv(distributed.TIMEOUT_ENV, raising=False)
    assert distributed.timeout_seconds() == distributed.DEFAULT_TIMEOUT
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "45")
    assert distributed.timeout_seconds() == 45.0
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    with pytest.raises(DistributedError, match="ZOO_DIST_TIMEOUT='soon' is not a positive number"):
        distributed.timeout_seconds()


def test_launcher_passes_the_same_arguments_to_every_rank():
    """What `zoo train --nproc N` hands to torchrun parses back to the same arguments (minus --nproc)."""
    from zoo_core.cli.app import build_parser

    line = ["train", "resnet18", "--data", "imgs", "--epochs", "5", "--batch-size", "32", "--augment",
            "--freeze-until", "stage2", "--resume", "--nproc", "2", "--lr", "0.01", "--seed", "3"]
    args = build_parser().parse_args(line)
    import argparse

    from zoo_core.cli.training import _train_args

    probe = argparse.ArgumentParser()
    _train_args(probe)
    argv = distributed.argv_for(probe, args, drop=("nproc",))
    assert "--nproc" not in argv  # torchrun's own parser rejects it as an abbreviation of --nproc-per-node
    again = build_parser().parse_args(["train", *argv])
    assert {**vars(again), "nproc": 2} == {**vars(args), "func": again.func}
    cmd = distributed.torchrun_command(2, ["train", *argv], port=29555)
    assert cmd[1:3] == ["-m", "torch.distributed.run"]
    assert cmd[cmd.index("--nproc-per-node") + 1] == "2" and cmd[cmd.index("--master-addr") + 1] == "127.0.0.1"
    assert cmd[cmd.index("-m", 3):][:3] == ["-m", "zoo_core", "train"]


def test_sampler_deals_the_single_process_batches():
    """Rank r takes positions r, r+W, ... of the single-process loader's order, so the ranks' step-s batches
    together are the single-process step-s batch of batch_size x W (the last one padded from the start)."""
    import torch

    from zoo_core.data import Preprocess, Split, torch_loader
    from zoo_core.distributed.torch_ddp import GlobalOrderSampler

    n, world, per_rank, seed = 37, 2, 4, 11
    split = Split("train", np.zeros((n, 4, 4), np.uint8), np.arange(n), [str(i) for i in range(n)])
    single = [y.tolist() for _, y in torch_loader(split, Preprocess((4, 4), 1, (0.5,), (0.5,)), per_rank * world,
                                                   shuffle=True, seed=seed + 3)]
    ranks = []
    for rank in range(world):
        sampler = GlobalOrderSampler(range(n), num_replicas=world, rank=rank, shuffle=True, seed=seed)
        sampler.set_epoch(3)
        ranks.append([b.tolist() for b in torch.utils.data.DataLoader(range(n), batch_size=per_rank,
                                                                        sampler=sampler)])
    assert len(ranks[0]) == len(ranks[1]) == len(single)  # the same number of steps: the same lr schedule
    for step, batch in enumerate(single):
        union = sorted(ranks[0][step] + ranks[1][step])
        if step < len(single) - 1:
            assert union == sorted(batch), step
        else:  # 37 samples: the last global batch gets the first sample again so both ranks have 3
            assert union == sorted(batch + single[0][:1]) and len(ranks[0][step]) == len(ranks[1][step])


def test_cli_names_the_right_tool_for_each_framework(tmp_path, capsys, monkeypatch):
    from zoo_core.cli.app import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    base = ["train", "simplecnn", "--data", "digits", "--limit", "60", "--out", str(tmp_path)]
    assert main([*base, "--framework", "tf", "--nproc", "2"]) == 1
    assert "--nproc launches torchrun for PyTorch; for TensorFlow use --strategy" in capsys.readouterr().err
    assert main([*base, "--framework", "torch", "--strategy", "mirrored"]) == 1
    assert "PyTorch trains distributed with --nproc N" in capsys.readouterr().err
    assert main([*base, "--framework", "tf", "--strategy", "multiworker"]) == 1
    assert "--strategy multiworker needs TF_CONFIG in every worker's environment" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- torch


@pytest.fixture(scope="module")
def vit_start(tmp_path_factory) -> Path:
    """A tiny ViT (LayerNorm, no dropout: nothing depends on how a batch is split) saved as a starting point."""
    import torch

    import zoo_core

    torch.manual_seed(0)
    model = zoo_core.load("vit_tiny_patch16_224", "torch", num_classes=10, input_size=16, patch_size=4,
                          embed_dim=32, depth=2, num_heads=2)
    return zoo_core.save(model, tmp_path_factory.mktemp("vit") / "start")


@pytest.fixture(scope="module")
def simplecnn_start(tmp_path_factory) -> Path:
    """SimpleCNN without dropout; trained with its BatchNorm stages frozen (inference-mode BN), so nothing in it
    depends on how a batch is split between ranks (DDP's BatchNorm normalises each rank's half batch otherwise)."""
    import torch

    import zoo_core

    torch.manual_seed(0)
    model = zoo_core.load("simplecnn", "torch", num_classes=10, input_size=16, dropout=0.0)
    return zoo_core.save(model, tmp_path_factory.mktemp("simplecnn") / "start")


@pytest.mark.parametrize(("start_fixture", "extra"), [("vit_start", []),
                                                      ("simplecnn_start", ["--freeze", "until=stage2"])])
def test_ddp_two_ranks_equal_single_process_with_the_global_batch(start_fixture, extra, request, tmp_path):
    """2 gloo ranks x batch 16 == 1 process x batch 32: the same data per step, averaged gradients."""
    vit_start = request.getfixturevalue(start_fixture)
    common = ["train", str(vit_start), "--data", "digits", "--limit", "200", "--split", "0.8,0.2,0",
              "--epochs", "2", "--optimizer", "sgd", "--lr", "0.05", "--framework", "torch", *extra]
    ddp = _zoo(*common, "--batch-size", "16", "--nproc", "2", "--out", str(tmp_path / "ddp"),
               env=_env(tmp_path / "debug"))
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = _zoo(*common, "--batch-size", "32", "--out", str(tmp_path / "single"), env=_env(tmp_path / "unused"))
    assert single.returncode == 0, single.stderr[-3000:]
    assert not (tmp_path / "unused").exists()  # a single process is not distributed

    r0, r1 = _ranks(tmp_path / "debug", 2)
    assert r0["world_size"] == 2 and r0["backend"] == "gloo" and r0["pid"] != r1["pid"]
    assert r0["weights"] == r1["weights"]  # bit-identical on both ranks
    assert _metrics(r0["history"]) == _metrics(r1["history"])  # metrics all-reduced: the same on every rank
    written = _checkpoint(tmp_path / "ddp")
    assert distributed.fingerprint(written) == r0["weights"]  # rank 0 saved what the ranks hold
    reference = _checkpoint(tmp_path / "single")
    start = _checkpoint(vit_start)
    assert max(float(np.abs(written[k] - start[k]).max()) for k in start) > 1e-3  # it trained
    for key, value in reference.items():
        np.testing.assert_allclose(written[key], value, rtol=0, atol=1e-5, err_msg=key)
    h_ddp, h_single = _history(tmp_path / "ddp"), _history(tmp_path / "single")
    assert h_ddp["epoch"] == h_single["epoch"] == [1, 2] and h_ddp["lr"] == h_single["lr"]
    np.testing.assert_allclose(h_ddp["train_loss"], h_single["train_loss"], atol=1e-5)
    np.testing.assert_allclose(h_ddp["val_loss"], h_single["val_loss"], atol=1e-5)
    assert json.loads((tmp_path / "ddp" / "train_args.json").read_text())["nproc"] == 2
    events = list((tmp_path / "ddp" / "tb").glob("events.out.tfevents.*"))  # rank 0 alone tracks the run
    assert len(events) == 1 and events[0].name.endswith(f".{r0['pid']}.1"), events
    record = json.loads((tmp_path / "ddp" / "run.json").read_text())
    assert record["state"] == "finished" and record["pid"] == r0["pid"] and record["epoch"] == 2


def test_ddp_killed_rank_fails_fast_and_resume_continues(tmp_path):
    """SIGKILL rank 1 during epoch 2: torchrun stops rank 0, `zoo` exits non-zero naming --resume; epoch 1's
    checkpoint is intact, and `zoo train --resume RUN` relaunches both ranks and finishes the run."""
    run, debug = tmp_path / "run", tmp_path / "debug"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo_core", "train", "simplecnn", "--framework", "torch", "--nproc", "2",
         "--data", "digits", "--limit", "600", "--split", "0.8,0.2,0", "--epochs", "3", "--batch-size", "8",
         "--optimizer", "sgd", "--lr", "0.02", "--out", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(debug))
    try:
        _wait_for_epoch(run, 1, [proc])
        first = _history(run)
        os.kill(_ranks(debug, 2)[1]["pid"], signal.SIGKILL)
        killed = time.monotonic()
        _, err = proc.communicate(timeout=FAIL_WITHIN + 30)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and took < FAIL_WITHIN, (proc.returncode, took)
    assert "Signal 9 (SIGKILL)" in err  # torchrun's report names the rank that died
    assert "zoo: error: distributed training failed" in err and "--resume" in err
    assert _history(run)["epoch"] == [1]  # killed mid-epoch 2: epoch 1 is the last complete one
    import zoo_core

    saved = json.loads((run / "config.json").read_text())
    assert saved["zoo"]["training"]["epoch"] == 1
    zoo_core.load(str(run), "torch")  # the checkpoint is complete and loads

    resumed = _zoo("train", "--resume", str(run), env=_env(tmp_path / "debug2"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    r0, r1 = _ranks(tmp_path / "debug2", 2)  # relaunched with 2 ranks (train_args.json recorded --nproc 2)
    assert r0["weights"] == r1["weights"] and _metrics(r0["history"]) == _metrics(r1["history"])
    history = _history(run)
    assert history["epoch"] == [1, 2, 3]
    assert history["train_loss"][0] == first["train_loss"][0]  # epoch 1 kept, not retrained
    assert distributed.fingerprint(_checkpoint(run)) == r0["weights"]


def test_torch_rank_whose_peers_never_start_gives_up_after_the_timeout(tmp_path):
    """Rank 0 of 2 started by hand (torchrun's variables) without rank 1: joining the process group fails after
    $ZOO_DIST_TIMEOUT with a message naming the address to check, instead of waiting 30 minutes."""
    env = _env(tmp_path / "debug", RANK="0", WORLD_SIZE="2", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(distributed.free_port()), ZOO_DIST_TIMEOUT="5")
    t0 = time.monotonic()
    done = _zoo("train", "simplecnn", "--data", "digits", "--limit", "60", "--out", str(tmp_path / "run"),
                env=env, timeout=120)
    assert done.returncode == 1 and time.monotonic() - t0 < FAIL_WITHIN
    assert "zoo: error: rank 0 could not join the 2-process group at 127.0.0.1:" in done.stderr
    assert "within 5 s" in done.stderr and not (tmp_path / "run" / "model.safetensors").exists()


# ---------------------------------------------------------------------------------------------------- tensorflow


def test_tf_mirrored_two_replicas_equal_single_process_with_the_global_batch():
    """MirroredStrategy over two logical CPU devices (one process; the same code path as two GPUs), batch 16 per
    replica == one device with batch 32, on a tiny Keras ViT (nothing depends on how a batch is split)."""
    from tests.helpers import run_python

    done = run_python("""
        import json
        import torch  # noqa: F401  (torch before TensorFlow)
        import numpy as np
        from zoo_core.backends import get
        tf = get("tf").import_framework()
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import keras
        import zoo_core
        from zoo_core import training
        from zoo_core.backends import tf_backend
        from zoo_core.data import builtin

        ds = builtin("digits", limit=200, split=(0.8, 0.2, 0))
        def build():
            keras.utils.set_random_seed(0)
            return zoo_core.load("vit_tiny_patch16_224", "tf", num_classes=10, input_size=16, patch_size=4,
                                 embed_dim=32, depth=2, num_heads=2)
        single = build()
        start = tf_backend.to_canonical(single)
        kw = dict(epochs=2, optimizer="sgd", lr=0.05, progress=False)
        h1 = training.finetune(single, ds, batch_size=32, **kw)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            mirrored = build()
        tf_backend.from_canonical(mirrored, start)
        h2 = training.finetune(mirrored, ds, batch_size=16, strategy=strategy, **kw)
        a, b = tf_backend.to_canonical(single), tf_backend.to_canonical(mirrored)
        print(json.dumps({"replicas": strategy.num_replicas_in_sync, "h1": h1, "h2": h2,
                          "diff": max(float(np.abs(a[k] - b[k]).max()) for k in a),
                          "moved": max(float(np.abs(a[k] - start[k]).max()) for k in a)}))
    """, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2 and out["moved"] > 1e-3
    assert out["diff"] < 1e-5, out["diff"]
    for key in ("train_loss", "val_loss"):
        np.testing.assert_allclose(out["h2"][key], out["h1"][key], atol=1e-5)


def _tf_workers(out: list[Path], debug: Path, extra: list[str]) -> list[subprocess.Popen]:
    ports = [distributed.free_port(), distributed.free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "zoo_core", "train", "simplecnn", "--framework", "tf", "--strategy",
             "multiworker", "--data", "digits", "--limit", "500", "--split", "0.8,0.2,0", "--epochs", "3",
             "--batch-size", "16", "--optimizer", "sgd", "--lr", "0.02", "--out", str(out[index]), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=_env(debug, TF_CONFIG=tf_config, ZOO_DIST_TIMEOUT="60")))
    return procs


def test_tf_multiworker_chief_writes_kill_fails_fast_resume_ends_identical(tmp_path):
    """Two MultiWorkerMirroredStrategy workers on 127.0.0.1. Worker 1 gets its own (empty) --out: only the chief
    writes. SIGKILL worker 1 in epoch 2: the chief stops with a clear error; both resume from the chief's run
    directory and end with bit-identical weights, which the chief's checkpoint holds."""
    run, other, debug = tmp_path / "chief", tmp_path / "worker1", tmp_path / "debug"
    procs = _tf_workers([run, other], debug, [])
    try:
        _wait_for_epoch(run, 1, procs)
        first = _history(run)
        procs[1].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, err = procs[0].communicate(timeout=FAIL_WITHIN + 30)
        took = time.monotonic() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[0].returncode != 0 and took < FAIL_WITHIN, (procs[0].returncode, took, err[-2000:])
    assert "zoo: error: worker 0 of 2 lost the other workers" in err and "--resume" in err
    assert _history(run)["epoch"] == [1]
    assert not other.exists() or not [p.name for p in other.iterdir()]  # the non-chief wrote nothing
    assert {"model.safetensors", "config.json", "training_state.npz", "train_args.json"} <= {
        p.name for p in run.iterdir()}

    procs = _tf_workers([run, run], tmp_path / "debug2", ["--resume"])
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    w0, w1 = _ranks(tmp_path / "debug2", 2)
    assert w0["strategy"] == "multiworker" and w0["world_size"] == 2
    assert w0["weights"] == w1["weights"]  # bit-identical on both workers
    assert _metrics(w0["history"]) == _metrics(w1["history"])
    assert distributed.fingerprint(_checkpoint(run)) == w0["weights"]  # what the chief wrote
    history = _history(run)
    assert history["epoch"] == [1, 2, 3] and history["train_loss"][0] == first["train_loss"][0]
    assert history["train_loss"][-1] < history["train_loss"][0]  # it learns


def test_tf_worker_whose_peers_never_start_gives_up_after_the_timeout(tmp_path):
    """A multi-worker job with a worker that never starts: the one that did stops after $ZOO_DIST_TIMEOUT
    instead of waiting forever (TensorFlow's own default), naming the cluster and the fix."""
    tf_config = json.dumps({"cluster": {"worker": [f"127.0.0.1:{distributed.free_port()}", "127.0.0.1:9"]},
                            "task": {"type": "worker", "index": 0}})
    t0 = time.monotonic()
    done = _zoo("train", "simplecnn", "--framework", "tf", "--strategy", "multiworker", "--data", "digits",
                "--limit", "60", "--out", str(tmp_path / "run"), timeout=120,
                env=_env(tmp_path / "debug", TF_CONFIG=tf_config, ZOO_DIST_TIMEOUT="5"))
    assert done.returncode == 1 and time.monotonic() - t0 < FAIL_WITHIN
    assert "zoo: error: worker worker:0 could not join the cluster" in done.stderr
    assert "within 5 s" in done.stderr and "start every worker of TF_CONFIG" in done.stderr


def test_tf_input_pipelines_read_disjoint_shares_that_make_the_single_process_batches(tmp_path, monkeypatch):
    """tf.distribute input: each replica's loader decodes only its share of the epoch, and the replicas' batches
    at step s together are the single-process step-s batch (2 workers x 1 replica, and 1 worker x 2 replicas)."""
    import tensorflow as tf
    from PIL import Image

    import zoo_core
    from zoo_core.data import loader, open_dataset
    from zoo_core.data.preprocess import Preprocess
    from zoo_core.distributed.tf_strategy import pipeline_data
    from zoo_core.training import keras_loop
    from zoo_core.training.config import TrainConfig

    rng = np.random.default_rng(0)
    for i in range(11):
        folder = tmp_path / "imgs" / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (36, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    data = open_dataset(tmp_path / "imgs", split=(1.0, 0.0, 0.0))
    model = zoo_core.load("simplecnn_cifar", "tf", num_classes=2)
    pre = Preprocess.for_model(model)

    def trainer(batch_size: int) -> keras_loop.Trainer:
        return keras_loop.Trainer(model, data, pre, TrainConfig(batch_size=batch_size, augment="crop,flip"))

    read: list[int] = []
    real_pixels = loader.MakeBatch.pixels
    monkeypatch.setattr(loader.MakeBatch, "pixels",
                        lambda self, i, epoch: read.append(i) or real_pixels(self, i, epoch))

    def batches_of(ds) -> list[np.ndarray]:
        return [x.numpy() for x, _ in ds]

    single = batches_of(trainer(4)._epoch_data(1))  # 11 images: 3 global batches of 4, the last padded to 6 - 5
    shares, reads = [], []
    for worker in (0, 1):  # two workers, one replica each
        read.clear()
        shares.append(batches_of(pipeline_data(trainer(2), 1, tf.distribute.InputContext(2, worker, 2))))
        reads.append(sorted(read))
    # 6 images each: the 11 between them, only the padding (the epoch's first image, again) read by both
    assert len(reads[0]) == len(reads[1]) == 6 and set(reads[0]) | set(reads[1]) == set(range(11))
    assert len(set(reads[0]) & set(reads[1])) == 1
    assert len(shares[0]) == len(shares[1]) == len(single) == 3
    for s, batch in enumerate(single):
        together = np.empty_like(np.concatenate([shares[0][s], shares[1][s]]))
        together[0::2], together[1::2] = shares[0][s], shares[1][s]  # position 2k went to replica 0, 2k+1 to 1
        np.testing.assert_array_equal(together[:len(batch)], batch)
    both = batches_of(pipeline_data(trainer(2), 1, tf.distribute.InputContext(1, 0, 2)))  # one worker, 2 replicas
    in_turn = [b for step in zip(*shares, strict=True) for b in step]  # replica 0's step-s batch, then replica 1's
    assert len(both) == 6 and all(np.array_equal(a, b) for a, b in zip(both, in_turn, strict=True))
