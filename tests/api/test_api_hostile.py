"""The service under hostile input and load, and its environment variables: never a 500,
never a starved event loop or thread pool.

TestClient covers what does not depend on timing; a real uvicorn subprocess (loopback only,
every loop bounded) covers queueing, stalled bodies and the validation worker's memory cap.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi.testclient import TestClient

import cnncalc
from api import service as service_mod
from api.errors import error_body, safe_text
from api.main import create_app
from api.settings import Settings, SettingsError

if TYPE_CHECKING:
    from conftest import Server, Uvicorn  # tests/api/conftest.py

ROOT = Path(__file__).resolve().parents[2]
SEED = cnncalc.zoo_json("seed_example")
ERROR_KEYS = {"error", "message", "detail", "layer", "index", "path"}
JSON_HEADERS = {"content-type": "application/json"}
# Forty convolutions with symbolic stride, kernel and padding: many seconds of sympy.
SLOW = {"input": {"shape": ["N", "C", "H", "W"]}, "symbols": {"K": {}, "S": {}, "P": {}},
        "layers": [{"type": "repeat", "times": 40, "body": [
            {"type": "conv", "out_channels": "C", "kernel_size": "K", "stride": "S",
             "padding": "P"}]}]}
HAS_TORCH = service_mod.validation_unavailable() is None
needs_validate = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(time_limit_s=5.0, workers=1, queue_timeout_s=20.0))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def error(r: Any, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "Traceback" not in r.text
    d: dict[str, Any] = r.json()
    assert ERROR_KEYS <= set(d)
    return d


def raw(c: TestClient, text: str, url: str = "/analyze") -> Any:
    """POST a body given as JSON text (escapes such as \\ud800 kept as written)."""
    return c.post(url, content=text.encode(), headers=JSON_HEADERS)


# --- item 12: lone surrogates -----------------------------------------------------------------

RELU = '{"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "relu"%s}]%s}'
SURROGATE_BODIES = {
    "layer name": ('{"architecture": ' + RELU % (', "name": "a\\ud800"', "") + "}",
                   ["architecture", "layers", 0, "name"]),
    "layer type": ('{"architecture": {"input": {"shape": [1, 3, 8, 8]}, "layers": '
                   '[{"type": "\\udfff"}]}}', ["architecture", "layers", 0, "type"]),
    "field value": ('{"architecture": {"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": '
                    '"conv", "out_channels": "C\\ud800", "kernel_size": 3}]}}',
                    ["architecture", "layers", 0, "out_channels"]),
    "object key": ('{"architecture": ' + RELU % ("", ', "\\ud800": 1') + "}",
                   ["architecture", "\\ud800"]),
    "binding key": ('{"architecture": ' + RELU % ("", "") + ', "bindings": {"\\ud800": 3}}',
                    ["bindings", "\\ud800"]),
    "binding key, bad value": ('{"architecture": ' + RELU % ("", "")
                               + ', "bindings": {"\\ud800": "x"}}', ["bindings", "\\ud800"]),
    "zoo name": ('{"architecture": "seed\\ud800"}', ["architecture"]),
    "shape entry": ('{"architecture": {"input": {"shape": [1, 3, "H\\udbff", 8]}, "layers": '
                    '[{"type": "relu"}]}}', ["architecture", "input", "shape", 2]),
}


@pytest.mark.parametrize("where", list(SURROGATE_BODIES))
def test_lone_surrogate_anywhere_is_422_not_500(client: TestClient, where: str) -> None:
    text, path = SURROGATE_BODIES[where]
    for url in ("/analyze", "/analyze?format=csv", *(("/validate",) if HAS_TORCH else ())):
        d = error(raw(client, text, url))
        assert d["error"] == "request", d
        assert "surrogate" in d["message"] and "UTF-8" in d["message"], d
        assert d["path"] == path, d
        json.dumps(d).encode()  # the answer itself is valid UTF-8


def test_surrogate_pairs_are_fine(client: TestClient) -> None:
    # a valid pair (U+1F600) is a normal character: the answer is not a surrogate refusal
    r = raw(client, '{"architecture": ' + RELU % (', "name": "\\ud83d\\ude00"', "") + "}")
    assert "surrogate" not in r.text
    assert r.status_code in (200, 422)


def test_surrogate_in_the_format_and_path_parameters(client: TestClient) -> None:
    d = error(raw(client, '{"architecture": "seed_example"}', "/analyze?format=%ED%A0%80"))
    assert d["path"] == ["query", "format"]
    d = error(client.get("/zoo/%ED%A0%80"), 404)
    assert d["error"] == "not_found"


def test_error_bodies_never_carry_surrogates() -> None:
    assert safe_text("a\ud800b\udfff") == "a\\ud800b\\udfff"
    assert safe_text("plain é \U0001f600") == "plain é \U0001f600"
    body = error_body("request", "x \ud800", path=["bindings", "\ud800", 3])
    json.dumps(body, ensure_ascii=False).encode()
    assert body["path"] == ["bindings", "\\ud800", 3]


# --- item 12: NaN and Infinity ----------------------------------------------------------------

@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_named_not_nested_too_deeply(client: TestClient,
                                                          literal: str) -> None:
    text = ('{"architecture": {"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": '
            '"dropout", "p": LIT}]}}').replace("LIT", literal)
    d = error(raw(client, text))
    assert "nested" not in d["message"], d
    assert "NaN" in d["message"] and "Infinity" in d["message"], d
    assert d["path"] == ["architecture", "layers", 0, "p"], d
    d = error(raw(client, '{"architecture": "seed_example", "bindings": {"H": LIT}}'
                  .replace("LIT", literal)))
    assert d["path"] == ["bindings", "H"], d
    assert "nested" not in d["message"]
    if HAS_TORCH:  # without torch /validate answers 501 before reading the body
        d = error(raw(client, text, "/validate"))
        assert "NaN" in d["message"] and "nested" not in d["message"]


def test_real_deep_nesting_still_says_so(client: TestClient) -> None:
    deep = '{"architecture": {"description": ' + "[" * 5000 + "]" * 5000 + "}}"
    d = error(raw(client, deep))
    assert "nested too deeply" in d["message"] or "could not be parsed" in d["message"]


# --- environment variables --------------------------------------------------------------------

@pytest.mark.parametrize(("var", "value", "words"), [
    ("CNNCALC_WORKERS", "two", "not an integer"),
    ("CNNCALC_WORKERS", "0", ">= 1"),
    ("CNNCALC_QUEUE_TIMEOUT_S", "inf", "finite"),
    ("CNNCALC_TIME_LIMIT_S", "nan", "finite"),
    ("CNNCALC_TIME_LIMIT_S", "-1", "> 0"),
    ("CNNCALC_TIME_LIMIT_S", "1e400", "finite"),
    ("CNNCALC_MAX_QUEUE", "-3", ">= 0"),
    ("CNNCALC_BODY_TIMEOUT_S", "soon", "not a number"),
    ("CNNCALC_MAX_BINDING", str(10**12), "<= 1000000000"),
    ("CNNCALC_VALIDATE_MAX_BYTES", "lots", "byte count"),
    ("CNNCALC_CACHE_SIZE", "1" * 5000, "not an integer"),
])
def test_invalid_env_var_names_the_variable(monkeypatch: pytest.MonkeyPatch, var: str,
                                            value: str, words: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as e:
        Settings.from_env()
    msg = str(e.value)
    assert var in msg and words in msg, msg
    assert len(msg) < 300


def test_valid_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCALC_MAX_QUEUE", "7")
    monkeypatch.setenv("CNNCALC_BODY_TIMEOUT_S", "2.5")
    monkeypatch.setenv("CNNCALC_VALIDATE_MAX_BYTES", "512MiB")
    s = Settings.from_env()
    assert (s.max_queue, s.body_timeout_s, s.validate_max_bytes) == (7, 2.5, 512 * 2**20)


def test_invalid_env_var_stops_uvicorn_with_one_clear_line(free_port: int) -> None:
    env = {**os.environ, "CNNCALC_QUEUE_TIMEOUT_S": "forever"}
    p = subprocess.run([sys.executable, "-m", "uvicorn", "api.main:app", "--port",
                        str(free_port)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert "Traceback" not in out, out[-2000:]
    assert "CNNCALC_QUEUE_TIMEOUT_S='forever' is not a number" in out, out[-2000:]


@pytest.mark.parametrize("var, value", [("CNNCALC_WORKERS", "-1"),
                                        ("CNNCALC_MAX_LAYERS", "abc"),
                                        ("CNNCALC_MAX_EXPR_DEPTH", "0")])
def test_invalid_env_var_stops_api_serve(var: str, value: str, free_port: int) -> None:
    """The service's own settings and the library's limits alike stop it with one line."""
    env = {**os.environ, var: value}
    p = subprocess.run([sys.executable, "-m", "api.serve", "--workers", "2", "--port",
                        str(free_port)], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "Traceback" not in out, out[-2000:]
    assert var in out, out[-2000:]


# --- a real server: queueing, stalled bodies, the validation worker ----------------------------

@pytest.fixture(scope="module")
def server(uvicorn: Uvicorn) -> Iterator[Server]:
    with uvicorn({"CNNCALC_TIME_LIMIT_S": "2", "CNNCALC_WORKERS": "1",
                  "CNNCALC_QUEUE_TIMEOUT_S": "20", "CNNCALC_MAX_QUEUE": "2",
                  "CNNCALC_BODY_TIMEOUT_S": "1"}) as s:
        yield s


def read_response(s: socket.socket) -> bytes:
    """One HTTP response (headers and a Content-Length body) or what came before EOF."""
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    length = int(v)
            if len(rest) >= length:
                return data
        more = s.recv(65536)
        if not more:
            return data
        data += more


def test_cache_hits_and_static_answers_stay_fast_under_a_queue_of_slow_requests(
        server: Server) -> None:
    cached = {"architecture": SEED, "bindings": {"H": 40, "W": 40}}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.post("/analyze", json=cached).status_code == 200
        assert c.post("/analyze", json=cached).headers["x-cnncalc-cache"] == "hit"
    body = json.dumps({"architecture": SLOW}).encode()
    request = (b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    socks = []
    try:
        for _ in range(50):  # more than anyio's 40 threads
            s = socket.create_connection(server.address, timeout=30)
            s.sendall(request)
            socks.append(s)
        time.sleep(0.5)
        worst: dict[str, float] = {}
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for _ in range(5):
                for name, call in (
                        ("cache hit", lambda: c.post("/analyze", json=cached)),
                        ("zoo", lambda: c.get("/zoo")),
                        ("zoo model", lambda: c.get("/zoo/resnet50")),
                        ("schema", lambda: c.get("/schema")),
                        ("health", lambda: c.get("/health"))):
                    t0 = time.perf_counter()
                    r = call()
                    dt = time.perf_counter() - t0
                    assert r.status_code == 200, (name, r.text)
                    worst[name] = max(worst.get(name, 0.0), dt)
                time.sleep(0.1)
        # generous: the point is not waiting for a worker (2 s each) or the queue (20 s)
        assert max(worst.values()) < 1.0, worst
        # the queue is bounded: one running, two waiting, every other answered 503 at once
        t0 = time.perf_counter()
        statuses = []
        for s in socks:
            resp = read_response(s)
            statuses.append(int(resp.split(b" ", 2)[1]))
            if statuses[-1] == 503:
                assert b"retry-after: 1" in resp.lower()
                assert b'"error":"busy"' in resp and b"CNNCALC_MAX_QUEUE" in resp
        assert set(statuses) <= {422, 503}, statuses
        assert statuses.count(422) <= 4, statuses  # 1 running + 2 queued (+1 racing a slot)
        assert statuses.count(503) >= 40, statuses
        assert time.perf_counter() - t0 < 20
    finally:
        for s in socks:
            s.close()


def test_stalled_body_is_timed_out_without_holding_a_worker(server: Server) -> None:
    t0 = time.perf_counter()
    with socket.create_connection(server.address, timeout=10) as s:
        s.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{\"architecture\": ")
        with httpx.Client(base_url=server.url, timeout=5) as c:  # meanwhile: served
            assert c.get("/health").status_code == 200
            r = c.post("/analyze", json={"architecture": SEED, "bindings": {"H": 9, "W": 9}})
            assert r.status_code == 200
        data = read_response(s)
        dt = time.perf_counter() - t0
        assert data.startswith(b"HTTP/1.1 408"), data[:300]
        assert b"CNNCALC_BODY_TIMEOUT_S" in data
        assert b"connection: close" in data.lower()
        assert 0.9 <= dt < 5, dt
        assert s.recv(10) == b""  # closed by the server


def test_trickled_body_is_timed_out_too(server: Server) -> None:
    t0 = time.perf_counter()
    with socket.create_connection(server.address, timeout=10) as s:
        s.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        data = b""
        for _ in range(40):  # a byte every 0.1 s: never idle for long, never done
            try:
                s.sendall(b"1\r\n \r\n")
            except OSError:
                break
            time.sleep(0.1)
            s.setblocking(False)
            try:
                data += s.recv(65536)
            except BlockingIOError:
                pass
            finally:
                s.settimeout(10)
            if data:
                break
        if not data:
            data = read_response(s)
    assert data.startswith(b"HTTP/1.1 408"), data[:300]
    assert time.perf_counter() - t0 < 3.5


def test_a_complete_slow_body_within_the_limit_is_served(server: Server) -> None:
    body = json.dumps({"architecture": SEED, "bindings": {"H": 11, "W": 11}}).encode()
    with socket.create_connection(server.address, timeout=10) as s:
        s.sendall(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        s.sendall(body[:10])
        time.sleep(0.3)
        s.sendall(body[10:])
        data = read_response(s)
    assert data.startswith(b"HTTP/1.1 200"), data[:300]


@needs_validate
def test_validate_worker_has_an_address_space_limit(uvicorn: Uvicorn) -> None:
    # budget 64 MiB: the worker's address space is capped at its measured torch baseline +
    # budget + margin; a normal validation still runs
    with uvicorn({"CNNCALC_WORKERS": "1", "CNNCALC_VALIDATE_MAX_BYTES": "64MiB",
                  "CNNCALC_VALIDATE_TIME_LIMIT_S": "120",
                  "CNNCALC_QUEUE_TIMEOUT_S": "120", "CNNCALC_VALIDATE_REPEATS": "0"}) as server:
        with httpx.Client(base_url=server.url, timeout=180) as c:
            r = c.post("/validate", json={"architecture": SEED, "bindings": {"H": 32, "W": 32}})
            assert r.status_code == 200, r.text
            assert r.json()["ok"] is True
            limits = c.get("/health").json()["pools"]["validate"]
            cap = limits["address_space_limit_bytes"]
            baseline = limits["address_space_baseline_bytes"]
            assert baseline > 100 << 20, limits  # torch is loaded
            assert (64 << 20) < cap - baseline <= (64 << 20) + (1 << 30), limits
            # predicted over the budget: refused before anything is allocated
            big = {"input": {"shape": [1, 3, 1024, 1024]},
                   "layers": [{"type": "conv", "out_channels": 16, "kernel_size": 3}]}
            d = error(c.post("/validate", json={"architecture": big}))
            assert d["error"] == "limit" and "CNNCALC_VALIDATE_MAX_BYTES" in d["message"], d
            r = c.post("/validate", json={"architecture": SEED, "bindings": {"H": 16, "W": 16}})
            assert r.status_code == 200, r.text


@needs_validate
def test_validate_worker_past_its_cap_answers_422_and_is_replaced() -> None:
    import torch

    from api.pool import WorkerPool
    from api.worker import validate_headroom

    pool = WorkerPool("validate", 1, queue_timeout_s=120.0, warm="validate",
                      headroom_bytes=validate_headroom(64 << 20))
    try:
        assert pool.wait_ready(120)
        cap = pool.stats()["address_space_limit_bytes"]
        assert cap > 0
        # torch's allocator past the cap (what a layer the budget misses would do)
        status, _, body = pool.call(torch.empty, (cap,), 60.0)
        assert status == 422, body
        d = json.loads(body)
        assert d["error"] == "limit" and "CNNCALC_VALIDATE_MAX_BYTES" in d["message"], d
        # Python's allocator past the cap
        status, _, body = pool.call(bytearray, (cap,), 60.0)
        assert status == 422 and json.loads(body)["error"] == "limit"
        assert pool.stats()["restarts"] == 2  # a worker that ran out is replaced
        assert pool.call(len, ([1, 2, 3],), 120.0) == 3
    finally:
        pool.close()
