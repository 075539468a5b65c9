"""`zoo serve` as a user runs it: tritonclient (a client nobody here wrote) against it in both frameworks,
SIGTERM while requests are in flight, a model that cannot load."""

from __future__ import annotations

import concurrent.futures
import io
import time

import numpy as np
import pytest
import requests
from PIL import Image

import zoo_core as zoo
from tests.helpers import run_zoo
from tests.serve.helpers import ServeProcess, png_bytes
from zoo_core import backends


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("served") / "cnn"
    model = zoo.load("simplecnn", "torch", num_classes=4)
    zoo.save(model, path, labels=["ant", "bee", "cat", "dog"])
    return path


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_tritonclient_gets_the_local_models_logits(checkpoint, framework):
    import tritonclient.http as httpclient

    local = zoo.load(str(checkpoint), framework)
    x = np.random.default_rng(0).standard_normal((3, 28, 28, 1)).astype(np.float32)  # NHWC
    if framework == "torch":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    expected = backends.of(local).predict(local, x)
    auth = {"Authorization": "Bearer k3y"}
    with ServeProcess(str(checkpoint), "--framework", framework, "--api-key", "k3y") as server:
        client = httpclient.InferenceServerClient(url=f"{server.host}:{server.port}")
        assert client.is_server_live() and client.is_server_ready()
        assert client.is_model_ready("simplecnn", headers=auth)
        meta = client.get_model_metadata("simplecnn", headers=auth)
        assert meta["inputs"][0]["shape"] == [-1, *x.shape[1:]]
        assert meta["parameters"]["labels"] == ["ant", "bee", "cat", "dog"]
        for binary in (False, True):
            inp = httpclient.InferInput("pixel_values", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            out = httpclient.InferRequestedOutput("logits", binary_data=binary)
            result = client.infer("simplecnn", [inp], outputs=[out], headers=auth, request_id="r1")
            got = result.as_numpy("logits")
            assert got.shape == (3, 4) and got.dtype == np.float32
            np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
            assert result.get_response()["id"] == "r1"
        inp = httpclient.InferInput("pixel_values", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        np.testing.assert_allclose(client.infer("simplecnn", [inp], headers=auth).as_numpy("logits"), expected,
                                   atol=1e-5, rtol=0)  # no outputs named: tritonclient asks for binary
        with pytest.raises(Exception, match="missing API key"):
            client.get_model_metadata("simplecnn")
        client.close()
        code, out, err = server.stop()
    assert code == 0, err
    assert "zoo serve: stopped" in out


def test_sigterm_answers_the_requests_in_flight_then_exits(checkpoint):
    images = (np.random.default_rng(2).random((6, 28, 28)) * 255).astype(np.uint8)
    # a long batching delay keeps the requests waiting inside the server when SIGTERM arrives
    with ServeProcess(str(checkpoint), "--max-delay-ms", "1500") as server:
        url = f"{server.url}/v2/models/simplecnn/classify"
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            futures = [pool.submit(requests.post, url, data=png_bytes(im), timeout=60) for im in images]
            time.sleep(0.7)
            assert not any(f.done() for f in futures)  # in flight
            server.proc.terminate()
            answers = [f.result() for f in futures]
        code, out, err = server.stop()
        assert [a.status_code for a in answers] == [200] * 6
        assert all(a.json()["predictions"][0]["label"] in ("ant", "bee", "cat", "dog") for a in answers)
        assert code == 0, err
        assert "zoo serve: stopped" in out
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{server.url}/v2/health/live", timeout=5)


def test_a_model_that_cannot_load_is_an_error_at_start(tmp_path):
    proc = run_zoo("serve", str(tmp_path / "no_such_checkpoint"), "--port", "0", timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"zoo: error: {tmp_path / 'no_such_checkpoint'} is not a checkpoint: it has no config.json"]
    assert "http://" not in proc.stdout  # nothing was bound
    proc = run_zoo("serve", "simplecnn", "--port", "0", "--max-batch-size", "0")
    assert proc.returncode == 1 and "--max-batch-size" in proc.stderr and "Traceback" not in proc.stderr


def test_workers_share_the_port_and_stop_on_sigterm(checkpoint):
    image = png_bytes((np.random.default_rng(4).random((28, 28)) * 255).astype(np.uint8))
    (expected,) = zoo.predict(str(checkpoint), Image.open(io.BytesIO(image)))
    with ServeProcess(str(checkpoint), "--workers", "2") as server:
        assert "2 workers" in server.first_line
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: requests.post(f"{server.url}/v2/models/simplecnn/classify",
                                                            data=image, timeout=60), range(8)))
        assert [a.status_code for a in answers] == [200] * 8
        assert {a.json()["predictions"][0]["label"] for a in answers} == {expected.label}  # same checkpoint in each
        code, out, err = server.stop()
    assert code == 0, err
    assert "zoo serve: stopped" in out
