"""Warnings and beginner hints over HTTP: ``POST /analyze`` carries the warnings and the
exact-sizes state in its JSON and in every table format, and the hints of a channels-last or
featureless input in its 422 body, as the library gives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import cnncalc
from api.main import create_app
from api.settings import Settings

SEED = cnncalc.zoo_json("seed_example")
ONE_ROW = "conv1: the last row of its input is never read (it lies past the last window)"
STATE = ("H=33, W=32: not every strided window tiles its input exactly: 1 row past the last "
         "window at conv1")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(time_limit_s=5.0, workers=1, queue_timeout_s=20.0))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def post(c: TestClient, arch: Any, bindings: dict[str, int] | None = None,
         fmt: str | None = None) -> Any:
    body: dict[str, Any] = {"architecture": arch}
    if bindings is not None:
        body["bindings"] = bindings
    return c.post("/analyze" + (f"?format={fmt}" if fmt else ""), json=body)


def test_json_carries_warnings_and_the_exact_state(client: TestClient) -> None:
    """H = 33, K = 6, S = 2: (33 - 6) mod 2 = 1 row never read."""
    r = post(client, SEED, {"H": 33, "W": 32})
    assert r.status_code == 200
    d = r.json()
    assert d["warnings"] == [ONE_ROW]
    assert d["exact_sizes"] == [STATE]
    assert d == json.loads(json.dumps(cnncalc.analyze(SEED, {"H": 33, "W": 32}).to_dict()))


def test_symbolic_json_gives_the_advice(client: TestClient) -> None:
    d = post(client, SEED).json()
    assert d["exact_sizes"] == ["H mod 2 == 0 tiles every stride exactly",
                                "W mod 2 == 0 tiles every stride exactly"]
    assert d["warnings"] == []


@pytest.mark.parametrize(("fmt", "line"), [
    ("table", f"warning: {ONE_ROW}"), ("markdown", f"- *warning: {ONE_ROW}*")])
def test_tables_carry_the_warning(client: TestClient, fmt: str, line: str) -> None:
    r = post(client, SEED, {"H": 33, "W": 32}, fmt)
    assert r.status_code == 200
    assert line in r.text.splitlines()
    if fmt == "table":
        assert f"exact sizes: {STATE}" in r.text.splitlines()


def test_channels_last_422_has_the_hint(client: TestClient) -> None:
    arch = {"input": {"shape": [1, 32, 32, 3]},
            "layers": [{"type": "conv", "out_channels": 12, "kernel_size": 6, "stride": 2}]}
    r = post(client, arch)
    assert r.status_code == 422 and "Traceback" not in r.text
    d = r.json()
    assert d["error"] == "invalid" and d["layer"] == "conv0" and d["index"] == 0
    assert d["message"].endswith(
        "the input [1, 32, 32, 3] looks channels-last (NHWC); cnncalc shapes are "
        "channels-first [N, C, H, W]: give [1, 3, 32, 32]")
    assert d["path"] == ["architecture", "layers", 0]


def test_conv_on_features_422(client: TestClient) -> None:
    arch = {"input": {"shape": ["N", 784]},
            "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3}]}
    d = post(client, arch).json()
    assert d["detail"] == ("conv needs [N, C, L], [N, C, H, W] or [N, C, D, H, W]; its input "
                           "[N, 784] is [N, features], without spatial axes: give the network "
                           "input its spatial axes (an image is [N, C, H, W])")


def test_mlp_over_http(client: TestClient) -> None:
    arch = {"input": {"shape": ["N", 784]},
            "layers": [{"type": "linear", "out_features": 128}, {"type": "relu"},
                       {"type": "linear", "out_features": 10}]}
    d = post(client, arch, {"N": 2}).json()
    assert d["totals"]["params"] == 784 * 128 + 128 + 128 * 10 + 10
    assert d["totals"]["receptive_field"] == {"size": [], "stride": [], "start": []}
