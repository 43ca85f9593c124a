"""The real thing: uvicorn in a subprocess on a free loopback port, spoken to over HTTP.

It runs two uvicorn workers (one analysis worker each) to show the service is stateless and
serves from several processes, and checks what TestClient cannot: real chunked uploads, a
declared Content-Length over the limit, and /health latency while hostile requests are refused.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

import cnncalc

if TYPE_CHECKING:
    from conftest import Server, Uvicorn  # tests/api/conftest.py

RESNET50 = cnncalc.zoo_json("resnet50")
SLOW = {"input": {"shape": ["N", "C", "H", "W"]}, "symbols": {"K": {}, "S": {}, "P": {}},
        "layers": [{"type": "repeat", "times": 40, "body": [
            {"type": "conv", "out_channels": "C", "kernel_size": "K", "stride": "S",
             "padding": "P"}]}]}


@pytest.fixture(scope="module")
def server(uvicorn: Uvicorn) -> Iterator[Server]:
    with uvicorn({"CNNCALC_TIME_LIMIT_S": "1", "CNNCALC_WORKERS": "1",
                  "CNNCALC_MAX_BODY_BYTES": str(1 << 20)}, workers=2) as s:
        yield s


def test_analyze_over_http_with_cache(server: Server) -> None:
    body = {"architecture": RESNET50, "bindings": {"N": 1, "H": 224, "W": 224}}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        seen = []
        for _ in range(6):  # two server processes: each caches on its own
            r = c.post("/analyze", json=body)
            assert r.status_code == 200
            seen.append(r.headers["x-cnncalc-cache"])
        assert r.json()["totals"]["params"] == 25557032
        assert seen[0] == "miss" and "hit" in seen
        r = c.post("/analyze?format=markdown", json=body)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")


def test_chunked_upload_over_the_limit(server: Server) -> None:
    chunk = b"x" * 65536
    payload = (b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
    for _ in range(17):  # 17 * 64 KiB: just over the 1 MiB limit
        payload += b"%x\r\n%s\r\n" % (len(chunk), chunk)
    payload += b"0\r\n\r\n"
    with socket.create_connection(server.address, timeout=10) as s:
        s.sendall(payload)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            more = s.recv(65536)
            if not more:
                break
            data += more
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"] == "limit"


def test_declared_length_over_the_limit_is_refused_unread(server: Server) -> None:
    with socket.create_connection(server.address, timeout=10) as s:
        s.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000000000\r\n\r\n{")
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 413")


def test_health_stays_fast_while_hostile_requests_are_refused(server: Server) -> None:
    deep = b'{"architecture": ' + b"[" * 400_000 + b"]" * 400_000 + b"}"
    huge_expr = {"architecture": {"input": {"shape": [1, 3, "H", "W"]}, "layers": [
        {"type": "conv", "out_channels": "+".join(["H"] * 150_000), "kernel_size": 1}]}}
    statuses: list[int] = []
    stop = threading.Event()

    def hostile(kind: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            while not stop.is_set():
                if kind == 0:
                    r = c.post("/analyze", content=deep,
                               headers={"content-type": "application/json"})
                elif kind == 1:
                    r = c.post("/analyze", json=huge_expr)
                else:
                    r = c.post("/analyze", json={"architecture": SLOW})
                statuses.append(r.status_code)

    threads = [threading.Thread(target=hostile, args=(k,)) for k in (0, 1, 2)]
    for t in threads:
        t.start()
    worst = 0.0
    try:
        time.sleep(0.3)
        with httpx.Client(base_url=server.url, timeout=5) as c:
            for _ in range(30):
                t0 = time.perf_counter()
                assert c.get("/health").status_code == 200
                worst = max(worst, time.perf_counter() - t0)
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert statuses and set(statuses) <= {413, 422}, statuses
    # Every probe answered 200 within the client's 5 s timeout. The latency target (100 ms) is
    # measured by tests/bench/bench_api.py and recorded in docs/benchmarks.md, not asserted
    # here: a timed unit test fails on a loaded CI machine for reasons that are not bugs.
    assert worst < 5.0


def test_timeout_then_still_serving(server: Server) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        t0 = time.perf_counter()
        r = c.post("/analyze", json={"architecture": SLOW})
        assert r.status_code == 422 and r.json()["error"] == "timeout"
        assert time.perf_counter() - t0 < 3
        r = c.post("/analyze", json={"architecture": cnncalc.zoo_json("seed_example"),
                                     "bindings": {"H": 40, "W": 40}})
        assert r.status_code == 200
