"""The HTTP service through FastAPI's TestClient: every endpoint, every error path, the cache.

One app (two analysis workers, a 1 s time limit) serves the module; tests that need other
limits build their own app.
"""

from __future__ import annotations

import json
import operator
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import cnncalc
from api import service as service_mod
from api.cache import ReplyCache, canonical
from api.main import create_app
from api.pool import JobTimeout, WorkerCrashed, WorkerPool
from api.settings import Settings
from api.worker import MEDIA_TYPES

SEED = cnncalc.zoo_json("seed_example")
RESNET50 = cnncalc.zoo_json("resnet50")
BOUND = {"N": 1, "H": 224, "W": 224}
# Forty convolutions with symbolic stride, kernel and padding: many seconds of sympy.
SLOW = {"input": {"shape": ["N", "C", "H", "W"]}, "symbols": {"K": {}, "S": {}, "P": {}},
        "layers": [{"type": "repeat", "times": 40, "body": [
            {"type": "conv", "out_channels": "C", "kernel_size": "K", "stride": "S",
             "padding": "P"}]}]}
ERROR_KEYS = {"error", "message", "detail", "layer", "index", "path"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(time_limit_s=1.0, workers=2, queue_timeout_s=20.0,
                              max_binding=10**6, validate_max_activations=2_000_000))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def post(c: TestClient, arch: Any, bindings: dict[str, Any] | None = None,
         fmt: str | None = None) -> Any:
    body: dict[str, Any] = {"architecture": arch}
    if bindings is not None:
        body["bindings"] = bindings
    return c.post("/analyze" + (f"?format={fmt}" if fmt else ""), json=body)


def net(*layers: dict[str, Any], shape: list[Any] | None = None) -> dict[str, Any]:
    return {"input": {"shape": shape or [1, 3, 32, 32]}, "layers": list(layers)}


def error(r: Any, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "Traceback" not in r.text
    d: dict[str, Any] = r.json()
    assert ERROR_KEYS <= set(d)
    return d


# --- endpoints -------------------------------------------------------------------------------

def test_health(client: TestClient) -> None:
    d = client.get("/health").json()
    assert d["status"] == "ok" and d["version"] == cnncalc.__version__
    assert d["pools"]["analysis"]["workers"] == 2


def test_zoo(client: TestClient) -> None:
    assert client.get("/zoo").json() == list(cnncalc.zoo_names())
    assert client.get("/zoo/resnet50").json() == RESNET50
    d = error(client.get("/zoo/resnet51"), 404)
    assert d["error"] == "not_found" and "resnet50" in d["message"]


def test_schema(client: TestClient) -> None:
    assert client.get("/schema").json() == cnncalc.json_schema()


def test_openapi_documents_every_endpoint_with_an_example(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert client.get("/docs").status_code == 200
    paths = doc["paths"]
    assert {"/analyze", "/validate", "/zoo", "/zoo/{name}", "/schema", "/health"} <= set(paths)
    assert paths["/analyze"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    assert paths["/validate"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    ok = paths["/analyze"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["example"]["totals"]["params"] == 1308
    for p in ("/zoo", "/zoo/{name}", "/schema", "/health"):
        assert paths[p]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    schemas = doc["components"]["schemas"]
    assert "Conv" in schemas and "Architecture" in schemas
    arch_refs = [a["$ref"] for a in
                 schemas["AnalyzeRequest"]["properties"]["architecture"]["anyOf"]]
    assert arch_refs == ["#/components/schemas/Architecture", "#/components/schemas/ZooName"]
    assert "#/$defs/" not in json.dumps(doc["components"])


def test_analyze_seed_example(client: TestClient) -> None:
    r = post(client, SEED, {"H": 32, "W": 32})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    d = r.json()
    conv1 = d["layers"][0]
    assert conv1["name"] == "conv1" and conv1["output_shape"] == [1, 12, 14, 14]
    assert (conv1["params"], conv1["macs"], conv1["flops"]) == (1308, 254016, 508032)
    assert d["totals"]["receptive_field"] == {"size": [6, 6], "stride": [2, 2],
                                              "start": [0, 0]}
    sym = post(client, SEED).json()
    assert sym["symbols"] == ["H", "W"] and isinstance(sym["layers"][0]["output_shape"][2], str)
    assert sym["constraints"]


def test_analyze_equals_the_library(client: TestClient) -> None:
    r = post(client, RESNET50, BOUND)
    assert r.status_code == 200
    expected = json.loads(json.dumps(cnncalc.analyze(RESNET50, BOUND).to_dict()))
    assert r.json() == expected
    assert r.json()["totals"]["macs"] == 4089184256


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_formats(client: TestClient, fmt: str) -> None:
    r = post(client, SEED, {"H": 32, "W": 32}, fmt)
    assert r.status_code == 200 and r.headers["content-type"] == MEDIA_TYPES[fmt]
    assert "conv1" in r.text
    if fmt != "json":
        assert r.text == cnncalc.analyze(SEED, {"H": 32, "W": 32}).to_table(fmt)


def test_unknown_format(client: TestClient) -> None:
    d = error(post(client, SEED, {"H": 32, "W": 32}, "pdf"))
    assert d["error"] == "request" and d["path"] == ["query", "format"]


# --- errors ----------------------------------------------------------------------------------

def test_invalid_expression_names_layer_index_and_path(client: TestClient) -> None:
    arch = net({"type": "conv", "out_channels": 4, "kernel_size": 3},
               {"type": "conv", "name": "c2", "out_channels": "x.y", "kernel_size": 3})
    d = error(post(client, arch))
    assert d["layer"] == "c2" and d["index"] == 1
    assert d["path"] == ["architecture", "layers", 1, "out_channels"]
    assert "c2" in d["message"] and "x.y" in d["message"]


@pytest.mark.parametrize("arch, layer, index, path", [
    (net({"type": "conv", "out_channels": 4}), "conv0", 0,
     ["architecture", "layers", 0, "kernel_size"]),
    (net({"type": "bogus"}), "bogus0", 0, ["architecture", "layers", 0]),
    (net({"type": "conv", "name": "big", "out_channels": 4, "kernel_size": 40}), "big", 0,
     ["architecture", "layers", 0]),
    (net({"type": "relu", "name": "r", "inputs": ["nowhere"]}), "r", 0, None),
])
def test_invalid_architectures(client: TestClient, arch: dict[str, Any], layer: str,
                               index: int, path: list[Any] | None) -> None:
    d = error(post(client, arch))
    assert d["layer"] == layer and d["index"] == index
    if path is not None:
        assert d["path"] == path
    assert d["path"][0] == "architecture"


def test_missing_input_and_bad_envelope(client: TestClient) -> None:
    d = error(post(client, {"layers": []}))
    assert d["path"][:2] == ["architecture", "input"]
    d = error(client.post("/analyze", json={"bindings": {}}))
    assert d["error"] == "request" and d["path"] == ["architecture"]
    d = error(client.post("/analyze", json={"architecture": SEED, "binding": {"H": 1}}))
    assert d["path"] == ["binding"]
    error(client.post("/analyze", json=[1, 2]))
    error(client.post("/analyze", content=b"{not json", headers={"content-type":
                                                                  "application/json"}))
    error(client.post("/analyze", content=b"", headers={"content-type": "application/json"}))


@pytest.mark.parametrize("bindings, path", [
    ({"Q": 3}, ["bindings", "Q"]),                # a name the architecture does not have
    ({"H": 0}, ["bindings", "H"]),                # below 1
    ({"H": 10**7}, ["bindings", "H"]),            # above CNNCALC_MAX_BINDING (10**6 here)
    ({"H": "32"}, ["bindings", "H"]),             # not an integer
    ({"H": 32.5}, ["bindings", "H"]),
    ({"H": True}, ["bindings", "H"]),
])
def test_bad_bindings(client: TestClient, bindings: dict[str, Any], path: list[Any]) -> None:
    d = error(post(client, SEED, bindings))
    assert d["path"] == path


def test_layer_limit(client: TestClient) -> None:
    arch = net({"type": "repeat", "times": 200, "body": [
        {"type": "repeat", "times": 100, "body": [{"type": "relu"}]}]})
    t0 = time.perf_counter()
    d = error(post(client, arch))
    assert "10000" in d["message"] and time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("text", ["H" + "+H" * 200, "(" * 40 + "H" + ")" * 40,
                                  "H**99", "__import__('os')", "10**100"])
def test_expression_limits(client: TestClient, text: str) -> None:
    arch = net({"type": "conv", "name": "c", "out_channels": text, "kernel_size": 1},
               shape=[1, 3, "H", "H"])
    d = error(post(client, arch))
    assert d["layer"] == "c" and d["path"] == ["architecture", "layers", 0, "out_channels"]


def test_deep_json_is_refused(client: TestClient) -> None:
    deep = b'{"architecture": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert len(deep) < 1 << 20
    d = error(client.post("/analyze", content=deep,
                          headers={"content-type": "application/json"}))
    assert d["error"] == "request"
    nested: Any = {}
    for _ in range(900):
        nested = {"a": nested}
    error(post(client, {**net({"type": "relu"}), "description": nested}))


def test_huge_integer_is_refused(client: TestClient) -> None:
    body = b'{"architecture": {}, "bindings": {"H": ' + b"9" * 100_000 + b"}}"
    error(client.post("/analyze", content=body, headers={"content-type": "application/json"}))


def test_body_too_large(client: TestClient) -> None:
    big = {"architecture": {**SEED, "description": "x" * (1 << 20)}}
    d = error(client.post("/analyze", json=big), 413)
    assert d["error"] == "limit" and "CNNCALC_MAX_BODY_BYTES" in d["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the streaming cap refuses it
        yield b'{"architecture": {"description": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}}'

    error(client.post("/analyze", content=chunks(),
                      headers={"content-type": "application/json"}), 413)


def test_timeout_stops_the_work_and_the_server_keeps_serving(client: TestClient) -> None:
    result: dict[str, Any] = {}

    def slow() -> None:
        t0 = time.perf_counter()
        result["r"] = post(client, SLOW)
        result["t"] = time.perf_counter() - t0

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.2)
    t0 = time.perf_counter()
    assert client.get("/health").status_code == 200
    assert time.perf_counter() - t0 < 0.1
    assert post(client, SEED, {"H": 33, "W": 32}).status_code == 200  # the other worker
    th.join()
    d = error(result["r"])
    assert d["error"] == "timeout" and "CNNCALC_TIME_LIMIT_S" in d["message"]
    assert 1.0 <= result["t"] < 3.0
    assert post(client, SLOW).json()["error"] == "timeout"  # timeouts are not cached
    stats = client.get("/health").json()["pools"]["analysis"]
    assert stats["restarts"] >= 2
    for _ in range(50):  # the killed workers are replaced
        if client.get("/health").json()["pools"]["analysis"]["workers"] == 2:
            break
        time.sleep(0.1)
    assert client.get("/health").json()["pools"]["analysis"]["workers"] == 2
    assert post(client, SEED, {"H": 34, "W": 32}).status_code == 200


# --- cache -----------------------------------------------------------------------------------

def test_cache_header(client: TestClient) -> None:
    body = {"architecture": SEED, "bindings": {"H": 61, "W": 17}}
    r1 = client.post("/analyze", json=body)
    r2 = client.post("/analyze", json=body)
    assert (r1.headers["x-cnncalc-cache"], r2.headers["x-cnncalc-cache"]) == ("miss", "hit")
    assert r1.content == r2.content
    # key order and whitespace do not matter; the format does
    reordered = json.dumps({"bindings": {"W": 17, "H": 61},
                            "architecture": dict(reversed(list(SEED.items())))}, indent=2)
    r3 = client.post("/analyze", content=reordered, headers={"content-type": "application/json"})
    assert r3.headers["x-cnncalc-cache"] == "hit"
    r4 = client.post("/analyze?format=csv", json=body)
    assert r4.headers["x-cnncalc-cache"] == "miss"
    # errors are cached too
    bad = {"architecture": net({"type": "bogus"})}
    assert client.post("/analyze", json=bad).headers["x-cnncalc-cache"] in ("miss", "hit")
    assert client.post("/analyze", json=bad).headers["x-cnncalc-cache"] == "hit"


def test_cache_off() -> None:
    app = create_app(Settings(cache_size=0, workers=1))
    with TestClient(app) as c:
        assert post(c, SEED, {"H": 32, "W": 32}).headers["x-cnncalc-cache"] == "off"
        assert post(c, SEED, {"H": 32, "W": 32}).headers["x-cnncalc-cache"] == "off"


def test_lru_cache_unit() -> None:
    cache = ReplyCache(size=2, max_bytes=1000)
    for k in (b"a", b"b", b"c"):
        cache.put(k, (200, "application/json", b"x" * 10))
    assert cache.get(b"a") is None and cache.get(b"c") is not None
    cache.put(b"big", (200, "application/json", b"x" * 600))  # > max_bytes / 4: not kept
    assert cache.get(b"big") is None
    assert canonical({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == '{"a":[1,{"c":3,"d":2}],"b":1}'


# --- validate --------------------------------------------------------------------------------

def test_validate_unavailable_is_501(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_mod, "validation_unavailable",
                        lambda: "validation builds the network in PyTorch, which is not "
                                "installed on this server")
    d = error(client.post("/validate", json={"architecture": SEED,
                                             "bindings": {"H": 32, "W": 32}}), 501)
    assert d["error"] == "unavailable" and "PyTorch" in d["message"]


needs_validate = pytest.mark.skipif(service_mod.validation_unavailable() is not None,
                                    reason="torch is not installed")


@needs_validate
def test_validate_runs_in_torch(client: TestClient) -> None:
    r = client.post("/validate", json={"architecture": SEED, "bindings": {"H": 32, "W": 32}})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d.get("ok") is True


@needs_validate
def test_validate_limits(client: TestClient) -> None:
    d = error(client.post("/validate", json={"architecture": SEED}))
    assert d["error"] == "binding" and "H" in d["message"]
    d = error(client.post("/validate", json={"architecture": RESNET50, "bindings": BOUND}))
    assert d["error"] == "limit" and "CNNCALC_VALIDATE_MAX_ACTIVATIONS" in d["message"]
    d = error(client.post("/validate", json={"architecture": net({"type": "bogus"})}))
    assert d["path"] == ["architecture", "layers", 0]


# --- never a traceback -----------------------------------------------------------------------

def test_http_errors_are_json(client: TestClient) -> None:
    assert error(client.get("/nowhere"), 404)["error"] == "not_found"
    assert error(client.get("/analyze"), 405)["error"] == "method_not_allowed"


def test_unexpected_worker_error_is_logged_not_shown(client: TestClient) -> None:
    svc = client.app.state.service  # type: ignore[attr-defined]  # TestClient.app: a bare ASGI app
    reply, computed = svc._run(svc.analysis, operator.truediv, (1, 0), 5.0, "X")
    assert reply[0] == 500 and not computed
    body = json.loads(reply[2])
    assert body["error"] == "internal" and "Traceback" not in reply[2].decode()
    assert "ZeroDivision" not in reply[2].decode()


# --- the pool and the settings ---------------------------------------------------------------

def test_pool_timeout_crash_and_recovery() -> None:
    pool = WorkerPool("test", 1, queue_timeout_s=30.0)
    try:
        assert pool.wait_ready(60)
        assert pool.call(operator.add, (2, 3), 5.0) == 5
        t0 = time.perf_counter()
        with pytest.raises(JobTimeout):
            pool.call(time.sleep, (30,), 0.3)
        assert time.perf_counter() - t0 < 1.0
        assert pool.call(operator.mul, (6, 7), 10.0) == 42  # waits for the replacement
        with pytest.raises(WorkerCrashed):
            pool.call(os._exit, (3,), 5.0)
        assert pool.call(operator.add, (1, 1), 10.0) == 2
        assert pool.stats()["restarts"] == 2
    finally:
        pool.close()


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCALC_MAX_BODY_BYTES", "2_048")
    monkeypatch.setenv("CNNCALC_TIME_LIMIT_S", "2.5")
    monkeypatch.setenv("CNNCALC_CACHE_SIZE", "0")
    s = Settings.from_env()
    assert (s.max_body_bytes, s.time_limit_s, s.cache_size) == (2048, 2.5, 0)
    monkeypatch.setenv("CNNCALC_WORKERS", "0")
    with pytest.raises(ValueError, match="CNNCALC_WORKERS"):
        Settings.from_env()
    monkeypatch.setenv("CNNCALC_WORKERS", "two")
    with pytest.raises(ValueError, match="not an integer"):
        Settings.from_env()


def test_small_body_limit_from_settings() -> None:
    with TestClient(create_app(Settings(max_body_bytes=100, workers=1))) as c:
        assert error(post(c, SEED), 413)["error"] == "limit"
        assert c.get("/health").status_code == 200
