"""The throughput paths of the service: ``POST /analyze`` answered before FastAPI's routing
(api/fastpath.py), the raw-body index of the cache, the event-loop pool call
(``WorkerPool.acall``) and the worker's cache of validated architectures.

Each fast answer is compared with the route's own answer to the same body (``?format=json``
sends it through FastAPI: same options, so same answer), errors included.
"""

from __future__ import annotations

import asyncio
import json
import operator
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import cnncalc
from api import worker
from api.cache import canonical
from api.fastpath import plain_request
from api.main import create_app
from api.pool import JobTimeout, PoolBusy, WorkerBug, WorkerCrashed, WorkerPool
from api.settings import Settings

SEED = cnncalc.zoo_json("seed_example")
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(time_limit_s=5.0, workers=1, queue_timeout_s=20.0,
                              max_binding=10**6))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _seed(out_channels: int = 12) -> dict[str, Any]:
    return {"input": {"shape": [1, 3, "H", "W"]}, "layers": [
        {"type": "conv", "name": "conv1", "out_channels": out_channels, "kernel_size": 6,
         "stride": 2}, {"type": "relu"}]}


BODIES: list[bytes] = [
    json.dumps({"architecture": _seed(), "bindings": {"H": 32, "W": 32}}).encode(),
    json.dumps({"architecture": _seed()}).encode(),
    json.dumps({"architecture": "seed_example", "bindings": {"H": 40, "W": 40}}).encode(),
    # errors the route answers: each must come back exactly as it does from the route
    b'{"architecture": "resnet5"}',
    b'{"architecture": {"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "bogus"}]}}',
    b'{"architecture": "seed_example", "bindings": {"H": 3.5}}',
    b'{"architecture": "seed_example", "bindings": {"H": true}}',
    b'{"architecture": "seed_example", "bindings": {"H": NaN}}',
    b'{"architecture": "seed_example", "bindings": {"H": 1180591620717411303424}}',
    b'{"architecture": "seed_example", "bindings": {"H": 0}}',
    b'{"architecture": "seed_example", "bindings": {"H": 2000000}}',
    b'{"architecture": "seed_example", "extra": 1}',
    b'{"architecture": ["seed_example"]}',
    b'{"architecture": 7}',
    b'{"bindings": {"H": 1}}',
    b'{"architecture": "\\ud800"}',
    b'{"architecture": "seed_example", "bindings": {"\\ud800": 1}}',
    b'[1, 2]',
    b'{"architecture": ',
    b'',
    b'[' * 100_000 + b']' * 100_000,
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_fast_answer_is_the_routes_answer(client: TestClient, body: bytes) -> None:
    fast = client.post("/analyze", content=body, headers=JSON)
    routed = client.post("/analyze?format=json", content=body, headers=JSON)
    assert fast.status_code == routed.status_code
    assert fast.status_code in (200, 422), fast.text
    assert fast.headers["content-type"] == routed.headers["content-type"]
    assert fast.json() == routed.json()
    if fast.status_code == 200:  # the second is the same request: answered from the cache
        assert routed.headers["x-cnncalc-cache"] == "hit"


def test_fast_answer_numbers(client: TestClient) -> None:
    """The conv of the seed example at 32x32: 12 channels of (32-6)//2+1 = 14 squared."""
    r = client.post("/analyze", content=json.dumps(
        {"architecture": _seed(), "bindings": {"H": 32, "W": 32}}).encode(), headers=JSON)
    assert r.status_code == 200
    conv = r.json()["layers"][0]
    assert conv["output_shape"] == [1, 12, 14, 14]
    assert conv["params"] == 6 * 6 * 3 * 12 + 12
    assert conv["macs"] == 14 * 14 * 12 * 6 * 6 * 3


def test_other_content_types_and_methods_go_to_the_route(client: TestClient) -> None:
    body = json.dumps({"architecture": "seed_example"}).encode()
    for ct in ("text/plain", "application/x-www-form-urlencoded"):
        fast = client.post("/analyze", content=body, headers={"content-type": ct})
        routed = client.post("/analyze?format=json", content=body, headers={"content-type": ct})
        assert (fast.status_code, fast.json()) == (routed.status_code, routed.json())
    r = client.post("/analyze", content=body, headers={"content-type": "Application/JSON; "
                                                                      "charset=utf-8"})
    assert r.status_code == 200
    assert client.get("/analyze").status_code == 405


def test_a_body_sent_again_is_a_hit_by_its_bytes(client: TestClient) -> None:
    svc = client.app.state.service  # type: ignore[attr-defined]  # TestClient.app: bare ASGI
    body = json.dumps({"architecture": _seed(5), "bindings": {"H": 64, "W": 48}}).encode()
    first = client.post("/analyze", content=body, headers=JSON)
    assert first.headers["x-cnncalc-cache"] == "miss"
    digest = svc.bodies.digest(body)
    assert svc.bodies.get(digest) is not None
    again = client.post("/analyze", content=body, headers=JSON)
    assert again.headers["x-cnncalc-cache"] == "hit" and again.content == first.content
    # other bytes for the same request: not in the index, but the same canonical request
    spaced = json.dumps({"bindings": {"W": 48, "H": 64}, "architecture": _seed(5)},
                        indent=2).encode()
    other = client.post("/analyze", content=spaced, headers=JSON)
    assert other.headers["x-cnncalc-cache"] == "hit" and other.content == first.content
    # an answer evicted from the cache is a miss again, whatever the index says
    svc.cache._d.clear()
    assert client.post("/analyze", content=body,
                       headers=JSON).headers["x-cnncalc-cache"] == "miss"


def test_plain_request_accepts_only_what_the_model_accepts() -> None:
    assert plain_request({"architecture": "x"}) == ("x", {})
    assert plain_request({"architecture": {}, "bindings": {"H": 2}}) == ({}, {"H": 2})
    refused: list[Any] = [{"architecture": "x", "bindings": {"H": True}}, {"architecture": 1},
                          {"architecture": "x", "bindings": {"H": 2**63}},
                          {"architecture": "x", "b": 1}, {"bindings": {}}, ["architecture"],
                          {"architecture": "x", "bindings": []}]
    for obj in refused:
        assert plain_request(obj) is None, obj


# --- the worker's architecture cache ----------------------------------------------------------

def test_worker_architecture_cache_keeps_architectures_apart() -> None:
    """Alternating two architectures that differ in one field, and two bindings: each answer
    is its own (params 6*6*3*c + c)."""
    for _ in range(2):
        for c in (12, 8):
            for h in (32, 64):
                status, _, body = worker.analyze_job(
                    canonical({"architecture": _seed(c), "bindings": {"H": h, "W": h}}), "json")
                d = json.loads(body)
                assert status == 200
                assert d["layers"][0]["params"] == 6 * 6 * 3 * c + c
                assert d["layers"][0]["output_shape"] == [1, c, (h - 6) // 2 + 1,
                                                          (h - 6) // 2 + 1]
    bad = canonical({"architecture": {"input": {"shape": [1, 3, 8, 8]},
                                      "layers": [{"type": "bogus"}]}})
    for _ in range(2):  # an invalid architecture is not cached: the same error each time
        status, _, body = worker.analyze_job(bad, "json")
        assert status == 422 and json.loads(body)["path"][:2] == ["architecture", "layers"]


# --- WorkerPool.acall ---------------------------------------------------------------------------

def test_pool_acall_timeout_crash_busy_and_cancel() -> None:
    async def run(pool: WorkerPool) -> None:
        assert await pool.acall(operator.add, (2, 3), 5.0) == 5
        t0 = time.perf_counter()
        with pytest.raises(JobTimeout):
            await pool.acall(time.sleep, (30,), 0.3)
        assert time.perf_counter() - t0 < 1.0
        assert await pool.acall(operator.mul, (6, 7), 10.0) == 42  # the replacement
        with pytest.raises(WorkerCrashed):
            await pool.acall(os._exit, (3,), 5.0)
        with pytest.raises(WorkerBug, match="ZeroDivisionError"):
            await pool.acall(operator.truediv, (1, 0), 5.0)
        assert await pool.acall(bytes, (3_000_000,), 10.0) == bytes(3_000_000)  # many reads
        # five requests queue for the one worker and are answered in order
        assert await asyncio.gather(*(pool.acall(operator.add, (i, 0), 10.0)
                                      for i in range(5))) == list(range(5))
        pool.queue_timeout_s = 0.2
        slow = asyncio.ensure_future(pool.acall(time.sleep, (1.0,), 5.0))
        await asyncio.sleep(0.1)
        with pytest.raises(PoolBusy):
            await pool.acall(operator.add, (1, 2), 5.0)
        await slow
        pool.queue_timeout_s = 20.0
        # a caller cancelled while its job runs, and one cancelled while it waits: the worker
        # finishes the job and comes back
        running = asyncio.ensure_future(pool.acall(time.sleep, (0.3,), 5.0))
        waiting = asyncio.ensure_future(pool.acall(operator.add, (1, 1), 5.0))
        await asyncio.sleep(0.1)
        running.cancel()
        waiting.cancel()
        for t in (running, waiting):
            with pytest.raises(asyncio.CancelledError):
                await t
        assert await pool.acall(operator.add, (4, 4), 5.0) == 8
        assert await asyncio.to_thread(pool.call, operator.add, (7, 7), 5.0) == 14

    pool = WorkerPool("test", 1, queue_timeout_s=20.0)
    try:
        assert pool.wait_ready(60)
        asyncio.run(run(pool))
        assert pool.stats()["restarts"] == 2
        assert pool.stats()["workers"] == 1
    finally:
        pool.close()


def test_dumps_writes_what_the_json_module_reads() -> None:
    """With or without orjson: the same JSON value; what orjson refuses (an integer past 64
    bits, a lone surrogate) falls back to the json module (the surrogate sent escaped)."""
    an = cnncalc.analyze("resnet50", {"N": 1, "H": 224, "W": 224}).to_dict()
    for obj in (an, {"big": 2**70, "neg": -(2**65)}, {"ok": "é ✓\u001f", "n": None}):
        assert worker.dumps(obj) == json.dumps(obj, separators=(",", ":"),
                                               ensure_ascii=False).encode()
    assert json.loads(worker.dumps({"f": [0.1, 1e-05, 2.5e300]})) == {"f": [0.1, 1e-05, 2.5e300]}
    assert json.loads(worker.dumps({"s": "\ud800"})) == {"s": "\ud800"}
    assert b"\\ud800" in worker.dumps({"s": "\ud800"})
