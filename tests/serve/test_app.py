"""zoo serve's app in this process: the protocol routes, /classify, limits, the API key, dynamic batching."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import numpy as np
import pytest
import requests

import zoo_core as zoo
from tests.serve.helpers import app_server, png_bytes
from zoo_core.prediction import Runner
from zoo_core.serve import DynamicBatcher, ServeConfig, create_app
from zoo_core.serve.batcher import QueueFull

LABELS = [f"digit-{i}" for i in range(10)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "cnn"
    zoo.save(zoo.load("simplecnn", "torch"), path, labels=LABELS)
    return path


@pytest.fixture(scope="module")
def runner(checkpoint):
    return Runner(zoo.load(str(checkpoint), "torch"))


def digits(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((n, 28, 28)) * 255).astype(np.uint8)


def test_metadata_health_and_classify(runner, checkpoint):
    with app_server(create_app(runner, ServeConfig(model=str(checkpoint)))) as url:
        assert requests.get(f"{url}/v2/health/live").json() == {"live": True}
        assert requests.get(f"{url}/v2/health/ready").status_code == 200
        assert requests.get(f"{url}/v2/models/simplecnn/ready").status_code == 200
        meta = requests.get(f"{url}/v2/models/simplecnn").json()
        assert meta["inputs"] == [{"name": "pixel_values", "datatype": "FP32", "shape": [-1, 1, 28, 28]}]
        assert meta["outputs"] == [{"name": "logits", "datatype": "FP32", "shape": [-1, 10]}]
        assert meta["parameters"]["labels"] == LABELS
        image = digits(1)[0]
        r = requests.post(f"{url}/v2/models/simplecnn/classify?top_k=3", data=png_bytes(image),
                          headers={"content-type": "image/png"})
        assert r.status_code == 200, r.text
        got = r.json()["predictions"]
        (local,) = zoo.predict(runner.model, image, top_k=3)
        assert [p["label"] for p in got] == [t.label for t in local.top]
        assert [p["probability"] for p in got] == pytest.approx([t.probability for t in local.top], abs=1e-6)
        page = requests.get(url)
        assert page.status_code == 200 and "<title>zoo serve</title>" in page.text and '"simplecnn"' in page.text


def test_bad_requests_get_a_4xx_json_error_and_the_server_keeps_serving(runner, checkpoint):
    config = ServeConfig(model=str(checkpoint), max_body_bytes=64 * 1024, max_image_pixels=100 * 100,
                         max_batch_size=4)
    good = {"inputs": [{"name": "pixel_values", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": [0.0] * 784}]}

    def infer_with(**change):
        spec = {**good["inputs"][0], **change}
        return json.dumps({"inputs": [spec]})

    cases = [  # (method, path, body, headers, status, words in the error)
        ("post", "infer", infer_with(shape=[1, 3, 28, 28]), {}, 400, "this model takes ['N', 1, 28, 28]"),
        ("post", "infer", infer_with(datatype="INT8"), {}, 400, "this model takes FP32"),
        ("post", "infer", infer_with(name="input"), {}, 400, "this model's input is 'pixel_values'"),
        ("post", "infer", infer_with(data=[0.0] * 10), {}, 400, "needs 784"),
        ("post", "infer", infer_with(data=["a"] * 784), {}, 400, "must be numbers"),
        ("post", "infer", infer_with(shape=[5, 1, 28, 28], data=[0.0] * 784 * 5), {}, 400, "send 1 to 4"),
        ("post", "infer", "{not json", {}, 400, "not valid JSON"),
        ("post", "infer", "x" * (65 * 1024), {}, 413, "over the limit of 65536 bytes"),
        ("post", "classify", b"GIF89a but not really", {}, 400, "not an image file"),
        ("post", "classify", b"", {}, 400, "empty body"),
        ("post", "classify", png_bytes(np.zeros((101, 100), np.uint8)), {}, 413, "100x101 pixels is over"),
        ("post", "classify", b"--x\r\n", {"content-type": "multipart/form-data; boundary=x"}, 415, "--data-binary"),
        ("post", "classify?top_k=0", png_bytes(digits(1)[0]), {}, 400, "top_k='0'"),
        ("get", "../other", None, {}, 404, "unknown model 'other'"),
        ("get", "versions/2", None, {}, 404, "no version '2'"),
    ]
    with app_server(create_app(runner, config)) as url:
        for method, path, body, headers, status, words in cases:
            target = f"{url}/v2/models/other" if path == "../other" else f"{url}/v2/models/simplecnn/{path}"
            r = requests.request(method, target, data=body, headers=headers)
            assert r.status_code == status, (path, r.text)
            assert r.headers["content-type"] == "application/json", path
            assert words in r.json()["error"], (path, r.json())
        r = requests.post(f"{url}/v2/models/simplecnn/infer", json=good)
        assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [1, 10]
        assert requests.get(f"{url}/nowhere").json() == {"error": "no route GET /nowhere"}
        stats = requests.get(f"{url}/v2/models/simplecnn/stats").json()["model_stats"][0]
        assert stats["inference_count"] == 1  # none of the bad requests reached the model


def test_api_key_is_required_on_every_route_but_health_and_the_page(runner, checkpoint):
    with app_server(create_app(runner, ServeConfig(model=str(checkpoint), api_key="s3cret"))) as url:
        assert requests.get(f"{url}/v2/health/live").status_code == 200
        assert requests.get(f"{url}/v2/health/ready").status_code == 200
        assert requests.get(url).status_code == 200  # static page; its requests carry the key the user types
        body = png_bytes(digits(1)[0])
        for headers, words in (({}, "missing API key"), ({"authorization": "Bearer nope"}, "wrong API key"),
                               ({"authorization": "s3cret"}, "wrong API key")):
            for method, path in (("get", "/v2"), ("get", "/v2/models/simplecnn"),
                                 ("post", "/v2/models/simplecnn/classify"), ("get", "/v2/models/simplecnn/stats")):
                r = requests.request(method, url + path, headers=headers, data=body if method == "post" else None)
                assert r.status_code == 401, path
                assert words in r.json()["error"] and r.headers["www-authenticate"] == "Bearer"
        r = requests.post(f"{url}/v2/models/simplecnn/classify", data=body, headers={"authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["predictions"][0]["label"].startswith("digit-")


def test_concurrent_requests_share_forward_passes(runner, checkpoint):
    images = digits(12, seed=1)
    expected = [p.label for p in zoo.predict(runner.model, images, top_k=1)]
    config = ServeConfig(model=str(checkpoint), max_batch_size=32, max_delay_ms=300)
    with app_server(create_app(runner, config)) as url:
        def classify(image):
            return requests.post(f"{url}/v2/models/simplecnn/classify?top_k=1", data=png_bytes(image), timeout=60)

        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(classify, images))
        assert [a.status_code for a in answers] == [200] * 12
        assert [a.json()["predictions"][0]["label"] for a in answers] == expected
        stats = requests.get(f"{url}/v2/models/simplecnn/stats").json()["model_stats"][0]
    assert stats["inference_count"] == 12 and stats["request_count"] == 12
    assert stats["execution_count"] < 12  # fewer forward passes than requests
    assert max(b["batch_size"] for b in stats["batch_stats"]) > 1


def test_batcher_limits_and_results():
    calls = []

    def forward(x):
        calls.append(len(x))
        return x * 2

    async def scenario(max_batch_size, max_delay_ms, sizes):
        batcher = DynamicBatcher(forward, max_batch_size=max_batch_size, max_delay_ms=max_delay_ms, max_queue=64)
        await batcher.start()
        inputs = [np.full((n, 2), i, np.float32) for i, n in enumerate(sizes)]
        outputs = await asyncio.gather(*(batcher.submit(x) for x in inputs))
        await batcher.stop()
        return inputs, outputs, batcher.stats

    inputs, outputs, stats = asyncio.run(scenario(4, 50, [1, 2, 1, 3, 1, 1, 2]))
    for x, y in zip(inputs, outputs, strict=True):
        np.testing.assert_array_equal(y, x * 2)  # each request gets its own rows back
    assert max(calls) <= 4 and sum(calls) == 11 and len(calls) < 7
    assert stats.execution_count == len(calls) and stats.inference_count == 11
    calls.clear()
    _, _, stats = asyncio.run(scenario(1, 50, [1] * 5))
    assert calls == [1] * 5 and stats.execution_count == 5  # max_batch_size=1: one request, one forward


def test_batcher_reports_a_failing_model_and_a_full_queue():
    def forward(x):
        if (x < 0).any():
            raise ValueError("negative input")
        return x

    async def scenario():
        batcher = DynamicBatcher(forward, max_batch_size=1, max_delay_ms=0, max_queue=2)
        await batcher.start()
        with pytest.raises(ValueError, match="negative input"):
            await batcher.submit(-np.ones((1, 2), np.float32))
        ok = await batcher.submit(np.ones((1, 2), np.float32))  # still serving
        with pytest.raises(QueueFull):
            await batcher.submit(np.ones((3, 2), np.float32))
        await batcher.stop()
        return ok

    np.testing.assert_array_equal(asyncio.run(scenario()), np.ones((1, 2)))
