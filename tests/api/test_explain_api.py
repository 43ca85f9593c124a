"""``POST /explain``: the lecture's working over HTTP, equal to the library's; errors are 422
naming the field; answers are cached; the real server answers it too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Uvicorn
from fastapi.testclient import TestClient

import cnncalc
from api.main import create_app
from api.settings import Settings
from cnncalc.core.explain import explain
from cnncalc.report.explain import render

SEED = cnncalc.zoo_json("seed_example")
ERROR_KEYS = {"error", "message", "detail", "layer", "index", "path"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(time_limit_s=5.0, workers=1, queue_timeout_s=20.0))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def steps(d: dict[str, Any], layer: str) -> dict[str, dict[str, Any]]:
    (lx,) = [x for x in d["layers"] if x["name"] == layer]
    return {s["label"]: s for s in lx["steps"]}


def error(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    assert "Traceback" not in r.text
    d: dict[str, Any] = r.json()
    assert ERROR_KEYS <= set(d)
    return d


def test_lecture_example_over_http(client: TestClient) -> None:
    r = client.post("/explain", json={"architecture": SEED, "bindings": {"H": 32, "W": 32}})
    assert r.status_code == 200, r.text
    d = r.json()
    conv = steps(d, "conv1")
    assert conv["output H"]["substituted"] == "floor((32 + 0 - 6)/2) + 1"
    assert conv["output H"]["result"] == (32 + 0 - 6) // 2 + 1 == 14
    assert conv["params"]["substituted"] == "6*6*3*12 + 12"
    assert conv["params"]["result"] == 6 * 6 * 3 * 12 + 12 == 1308
    assert conv["MACs"]["result"] == 6 * 6 * 3 * 12 * 14 * 14 == 254016
    assert conv["params"]["of"] == "params"
    assert "floor((32 + 0 - 6)/2) + 1 = 14" in d["text"]
    assert d["format"] == "text" and d["conventions"]["MACs"].endswith("FLOPs = 2*MACs")
    an = cnncalc.analyze(SEED, {"H": 32, "W": 32})
    assert d["text"] == an.explain()
    assert {k: v for k, v in d.items() if k not in ("format", "text")} == explain(an).to_dict()


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_formats_equal_the_library(client: TestClient, fmt: str) -> None:
    r = client.post("/explain", json={"architecture": SEED, "layer": "conv1", "format": fmt})
    assert r.status_code == 200, r.text
    ex = explain(cnncalc.analyze(SEED), "conv1")
    assert r.json()["text"] == render(ex, fmt)
    assert [x["name"] for x in r.json()["layers"]] == ["conv1"]
    conv = steps(r.json(), "conv1")
    assert conv["output H"]["result"] == "floor(H/2) - 2"
    assert conv["output H"]["substituted"] == "floor((H + 0 - 6)/2) + 1"


def test_unknown_layer_is_422_with_a_suggestion(client: TestClient) -> None:
    d = error(client.post("/explain", json={"architecture": SEED, "layer": "conv"}))
    assert d["error"] == "input" and d["path"] == ["layer"]
    assert "did you mean 'conv1'?" in d["message"]


def test_architecture_and_envelope_errors(client: TestClient) -> None:
    bad = {"input": {"shape": [1, 3, 8, 8]},
           "layers": [{"type": "conv", "name": "c1", "out_channels": "x.y", "kernel_size": 3}]}
    d = error(client.post("/explain", json={"architecture": bad}))
    assert d["layer"] == "c1" and d["path"][:2] == ["architecture", "layers"]
    d = error(client.post("/explain", json={"architecture": SEED, "format": "pdf"}))
    assert d["error"] == "request" and d["path"] == ["format"]
    d = error(client.post("/explain", json={"architecture": SEED, "bindings": {"H": 0}}))
    assert d["error"] == "binding"
    d = error(client.post("/explain", json={"architecture": SEED, "layer": ""}))
    assert d["path"] == ["layer"]


def test_answers_are_cached_by_layer_and_format(client: TestClient) -> None:
    body = {"architecture": SEED, "bindings": {"H": 45, "W": 31}}
    r1, r2 = client.post("/explain", json=body), client.post("/explain", json=body)
    assert (r1.headers["x-cnncalc-cache"], r2.headers["x-cnncalc-cache"]) == ("miss", "hit")
    assert r1.content == r2.content
    r3 = client.post("/explain", json={**body, "format": "latex"})
    assert r3.headers["x-cnncalc-cache"] == "miss"
    r4 = client.post("/explain", json={**body, "layer": "relu1"})
    assert r4.headers["x-cnncalc-cache"] == "miss"
    # /analyze of the same body is another answer
    assert client.post("/analyze", json=body).headers["x-cnncalc-cache"] == "miss"


def test_real_server(uvicorn: Uvicorn) -> None:
    with uvicorn({"CNNCALC_WORKERS": "1"}) as server:
        r = httpx.post(server.url + "/explain", timeout=60,
                       json={"architecture": SEED, "bindings": {"H": 32, "W": 32},
                             "layer": "conv1"})
        assert r.status_code == 200, r.text
        assert "6*6*3*12 + 12 = 1308" in r.json()["text"]
