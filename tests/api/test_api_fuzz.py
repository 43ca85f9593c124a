"""Property-based fuzzing of the service, bounded for CI (about half a minute).

1. Schemathesis generates requests from the app's own OpenAPI document (which embeds the
   architecture's JSON Schema, so most bodies look like real networks) plus negative ones;
   nothing may answer 5xx.
2. Hypothesis draws valid random architectures (tests/support/strategies.py): the service must
   answer 200 with exactly the library's analysis, and 422 (never 5xx) once a random field
   of the architecture is replaced by random JSON.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import architectures

import cnncalc
from api.main import create_app
from api.settings import Settings

APP = create_app(Settings(time_limit_s=2.0, workers=2, queue_timeout_s=30.0))
# Examples and fuzzing only: the coverage phase enumerates ~10,000 boundary cases of the
# architecture schema, minutes of CI for little more.
CONFIG = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False},
                                                   "stateful": {"enabled": False}}})
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_ONNX = importlib.util.find_spec("onnx") is not None

SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
CLIENT = TestClient(APP)  # no lifespan of its own: the fixture below runs it once
FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _pools() -> Iterator[None]:
    with TestClient(APP):  # runs the lifespan: starts the workers, stops them afterwards
        yield


@SCHEMA.parametrize()
@FUZZ
def test_no_server_errors(case: Any) -> None:
    r = case.call()
    # a server without torch cannot validate, nor import ONNX without onnx
    missing = {"/validate": not HAS_TORCH, "/import/onnx": not HAS_ONNX}
    if r.status_code == 501 and any(missing.values()):
        assert missing.get(case.path) and r.json()["error"] == "unavailable", r.text
        return
    assert r.status_code < 500, f"{case.method} {case.path}: {r.status_code} {r.text[:500]}"
    assert "Traceback" not in r.text
    if r.status_code >= 400 and "application/json" in str(r.headers.get("content-type")):
        body = r.json()
        assert {"error", "message", "layer", "index", "path"} <= set(body), body


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    out = list(obj)
    out[head] = _replace(obj[head], rest, value)
    return out


@given(drawn=architectures())
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_random_valid_architectures_match_the_library(drawn: Any) -> None:
    arch, bindings = drawn
    r = CLIENT.post("/analyze", json={"architecture": arch, "bindings": bindings})
    assert r.status_code == 200, r.text
    assert r.json() == json.loads(json.dumps(cnncalc.analyze(arch, bindings).to_dict()))


@given(drawn=architectures(), data=st.data())
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_mutated_architectures_never_fail_the_server(drawn: Any, data: Any) -> None:
    arch, bindings = drawn
    path = data.draw(st.sampled_from(_paths(arch)))
    mutated = _replace(arch, path, data.draw(JSON_VALUE))
    r = CLIENT.post("/analyze", json={"architecture": mutated, "bindings": bindings})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert r.json()["message"]
