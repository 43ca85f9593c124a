"""The complete HTTP API: zoo names wherever an architecture goes, ``POST /compare``, ``POST
/sweep``, ``POST /import/onnx``, the table options (honoured or refused, never ignored), CORS,
typed totals in the OpenAPI document, and /docs and /redoc served without any other host.

Every figure is checked against the library called directly (the oracle of the service is
cnncalc itself, whose figures the library's tests check against PyTorch), or against arithmetic
written here; resnet18's 11,689,512 params are torchvision's published count.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import cnncalc
from api.main import create_app
from api.settings import Settings, SettingsError
from api.worker import MAX_SWEEP_ROWS
from tests.api.conftest import Uvicorn

BOUND = {"N": 1, "H": 224, "W": 224}
RESNET18_PARAMS = 11_689_512  # torchvision.models.resnet18: sum of p.numel()
RESNET18_MACS = 1_814_073_344
ORIGIN = "http://page.example"
UPLOAD_LIMIT = 300_000


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = create_app(Settings(workers=1, time_limit_s=20.0, queue_timeout_s=30.0,
                              max_upload_bytes=UPLOAD_LIMIT, cors_origins=(ORIGIN,)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def err(r: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    d: dict[str, Any] = r.json()
    assert set(d) == {"error", "message", "detail", "layer", "index", "path"}, d
    return d


# --- zoo names ------------------------------------------------------------------------------

def test_a_zoo_name_is_its_json(client: TestClient) -> None:
    by_name = client.post("/analyze", json={"architecture": "resnet18", "bindings": BOUND})
    assert by_name.status_code == 200, by_name.text
    t = by_name.json()["totals"]
    assert (t["params"], t["macs"]) == (RESNET18_PARAMS, RESNET18_MACS)
    by_json = client.post("/analyze", json={"architecture": cnncalc.zoo_json("resnet18"),
                                            "bindings": BOUND})
    assert by_json.content == by_name.content
    assert by_json.headers["X-Cnncalc-Cache"] == "hit"  # one request, one key


def test_zoo_names_on_every_endpoint(client: TestClient) -> None:
    ex = client.post("/explain", json={"architecture": "seed_example",
                                       "bindings": {"H": 32, "W": 32}, "layer": "conv1"})
    assert ex.status_code == 200, ex.text
    assert ex.json()["layers"][0]["name"] == "conv1"
    va = client.post("/validate", json={"architecture": "seed_example",
                                        "bindings": {"H": 32, "W": 32}})
    if importlib.util.find_spec("torch") is None:  # a server without torch cannot validate
        assert va.status_code == 501 and va.json()["error"] == "unavailable", va.text
        return
    assert va.status_code == 200, va.text
    assert va.json().get("ok") is True  # torch's shapes and counts agree


def test_unknown_zoo_name_says_which_it_meant(client: TestClient) -> None:
    d = err(client.post("/analyze", json={"architecture": "resnet19"}))
    assert d["error"] == "input" and d["path"] == ["architecture"]
    assert "did you mean 'resnet18'" in d["message"]
    d = err(client.post("/compare", json={"architectures": ["resnet18", "vgg61"]}))
    assert d["path"] == ["architectures", 1] and "'vgg16'" in d["message"]
    d = err(client.post("/sweep", json={"architecture": "/etc/passwd", "grid": {"H": [1]}}))
    assert d["path"] == ["architecture"] and "unknown zoo model" in d["message"]
    d = err(client.post("/analyze", json={"architecture": json.dumps(cnncalc.zoo_json(
        "seed_example"))}))
    assert "string holding JSON" in d["message"]


def test_zoo_model_404_says_which_it_meant(client: TestClient) -> None:
    d = err(client.get("/zoo/ResNet50"), 404)
    assert d["error"] == "not_found" and "did you mean 'resnet50'" in d["message"]


# --- compare ---------------------------------------------------------------------------------

def test_compare_equals_the_library(client: TestClient) -> None:
    r = client.post("/compare", json={"architectures": ["resnet18", "resnet50"],
                                      "bindings": BOUND})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["quantities"] == ["params", "macs", "flops", "activations",
                               "peak_activation_bytes"]
    for entry, name in zip(d["architectures"], ["resnet18", "resnet50"], strict=True):
        assert entry["label"] == name
        assert entry["totals"] == cnncalc.analyze(name, BOUND).totals.to_dict()
    r50 = cnncalc.analyze("resnet50", BOUND).totals.macs
    assert d["architectures"][1]["macs_vs_first"] == pytest.approx(int(r50) / RESNET18_MACS)
    assert d["architectures"][0]["macs_vs_first"] == 1.0


def test_compare_table_with_quantities_and_units(client: TestClient) -> None:
    body = {"architectures": ["resnet18", cnncalc.zoo_json("resnet18")], "bindings": BOUND,
            "quantities": ["params", "macs"]}
    plain = client.post("/compare?format=csv", json=body)
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/csv")
    rows = plain.text.strip().splitlines()
    assert rows[0].split(",")[:4] == ["architecture", "input", "params", "MACs"]
    assert rows[1].split(",")[2:4] == [str(RESNET18_PARAMS), str(RESNET18_MACS)]
    assert rows[2].startswith("resnet18 #2,")  # the same name twice: labels made unique
    si = client.post("/compare?format=csv&units=si", json=body)
    assert si.text.splitlines()[1].split(",")[2:4] == ["11.7M", "1.81G"]


def test_compare_symbolic_and_errors(client: TestClient) -> None:
    r = client.post("/compare", json={"architectures": ["seed_example", "seed_example"]})
    assert r.status_code == 200
    macs = r.json()["architectures"][0]["totals"]["macs"]
    assert isinstance(macs, str) and "H" in macs
    assert r.json()["architectures"][1]["macs_vs_first"] is None
    d = err(client.post("/compare", json={"architectures": ["resnet18"]}))
    assert d["error"] == "request"  # 2..8 architectures
    d = err(client.post("/compare", json={"architectures": ["resnet18", "lenet5"],
                                          "bindings": {"Q": 3}}))
    assert d["error"] == "binding"
    d = err(client.post("/compare", json={"architectures": ["resnet18", "lenet5"],
                                          "quantities": ["mac"]}))
    assert d["path"] == ["quantities"] and "'macs'" in d["message"]
    bad = {"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "conv", "name": "c",
                                                         "out_channels": "x.y",
                                                         "kernel_size": 3}]}
    d = err(client.post("/compare", json={"architectures": ["lenet5", bad]}))
    assert d["path"][:2] == ["architectures", 1] and d["layer"] == "c"


# --- sweep -----------------------------------------------------------------------------------

def test_sweep_rows_equal_bound_analyses(client: TestClient) -> None:
    r = client.post("/sweep", json={"architecture": "resnet18", "grid": {"H=W": "32:96:32"},
                                    "bindings": {"N": 2}, "quantities": ["macs", "params"]})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["columns"] == ["H", "W", "macs", "params"]
    assert [row[:2] for row in d["rows"]] == [[32, 32], [64, 64], [96, 96]]
    for h, w, macs, params in d["rows"]:
        t = cnncalc.analyze("resnet18", {"N": 2, "H": h, "W": w}).totals
        assert (macs, params) == (t.macs, t.params)


def test_sweep_columns_follow_the_grid_order(client: TestClient) -> None:
    def cols(grid: dict[str, Any]) -> list[str]:
        r = client.post("/sweep", json={"architecture": "seed_example", "grid": grid,
                                        "quantities": ["macs"]})
        assert r.status_code == 200, r.text
        c: list[str] = r.json()["columns"]
        return c
    assert cols({"H": [32], "W": [64]}) == ["H", "W", "macs"]
    assert cols({"W": [64], "H": [32]}) == ["W", "H", "macs"]  # not the cached answer above


def test_sweep_csv_and_limits(client: TestClient) -> None:
    r = client.post("/sweep?format=csv", json={"architecture": "seed_example",
                                               "grid": {"H": [32, 64], "W": "32"},
                                               "quantities": ["macs"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    # the seed example's conv: 12 filters of 6x6x3 at stride 2; output 14x14 at 32
    assert r.text.splitlines()[:2] == ["H,W,macs", f"32,32,{12 * 14 * 14 * 6 * 6 * 3}"]
    d = err(client.post("/sweep", json={"architecture": "seed_example",
                                        "grid": {"H": f"1:{MAX_SWEEP_ROWS + 1}", "W": [32]}}))
    assert d["error"] == "limit" and d["path"] == ["grid", "H"]
    d = err(client.post("/sweep", json={"architecture": "seed_example",
                                        "grid": {"H": [10**12], "W": [32]}}))
    assert d["error"] == "binding" and "CNNCALC_MAX_BINDING" in d["message"]
    d = err(client.post("/sweep", json={"architecture": "seed_example", "grid": {"Q": [1]}}))
    assert d["error"] == "binding" and d["path"] == ["grid"]
    d = err(client.post("/sweep", json={"architecture": "seed_example",
                                        "grid": {"H=W": "32:x"}}))
    assert d["error"] == "input" and d["path"] == ["grid"]
    d = err(client.post("/sweep", json={"architecture": "seed_example",
                                        "grid": {"H=W": [32]}, "quantities": ["param"]}))
    assert d["path"] == ["quantities"]


@pytest.mark.parametrize("path, text, where", [
    ("/sweep", '{"architecture": "seed_example", "grid": {"\\ud800": [1]}}', ["grid", "\\ud800"]),
    ("/sweep", '{"architecture": "seed_example", "grid": {"H=W": "\\ud800"}}', ["grid", "H=W"]),
    ("/sweep", '{"architecture": "seed_example", "grid": {"H=W": [32]}, "quantities": '
               '["\\ud800"]}', ["quantities", 0]),
    ("/compare", '{"architectures": ["lenet5", "lenet5"], "quantities": ["\\ud800"]}',
     ["quantities", 0])])
def test_lone_surrogates_in_the_new_fields_are_422(client: TestClient, path: str, text: str,
                                                   where: list[Any]) -> None:
    d = err(client.post(path, content=text.encode(),
                        headers={"content-type": "application/json"}))
    assert d["error"] == "request" and d["path"] == where, d


# --- table options ---------------------------------------------------------------------------

def test_depth_columns_units_shape_the_table(client: TestClient) -> None:
    body = {"architecture": "resnet18", "bindings": BOUND}
    r = client.post("/analyze?format=csv&depth=1&columns=name,params", json=body)
    assert r.status_code == 200, r.text
    lines = r.text.strip().splitlines()
    assert lines[0] == "layer,params"
    rows = dict(line.split(",") for line in lines[1:] if "," in line)
    an = cnncalc.analyze("resnet18", BOUND)
    layer1 = sum(int(x.params) for x in an.layers if x.name.startswith("layer1."))
    assert int(rows["layer1"]) == layer1
    assert "layer1.0.conv1" not in rows
    deeper = client.post("/analyze?format=csv&depth=2&columns=name,params", json=body)
    assert "layer1.0" in deeper.text and deeper.text != r.text  # keyed apart in the cache
    si = client.post("/analyze?format=csv&columns=name,params&units=si", json=body)
    iec = client.post("/analyze?format=csv&columns=name,memory&units=iec", json=body)
    assert "11.7M" in si.text and "MiB" in iec.text
    assert str(RESNET18_PARAMS) not in si.text


@pytest.mark.parametrize("query, option", [
    ("?depth=1", "depth"), ("?units=si", "units"), ("?columns=name", "columns"),
    ("?format=json&depth=2", "depth"), ("?format=table&columns=nope", "columns"),
    ("?format=table&columns=time", "columns"), ("?format=table&units=big", "units"),
    ("?format=table&depht=2", "depht"), ("?format=table&depth=0", "depth")])
def test_table_options_are_refused_not_ignored(client: TestClient, query: str,
                                               option: str) -> None:
    d = err(client.post("/analyze" + query, json={"architecture": "seed_example"}))
    assert d["path"] == ["query", option], d
    assert option in d["message"]


@pytest.mark.parametrize("path, body", [
    ("/compare", {"architectures": ["lenet5", "lenet5"]}),
    ("/sweep", {"architecture": "lenet5", "grid": {"H=W": [32]}, "bindings": {"N": 1}}),
    ("/explain", {"architecture": "lenet5"}),
    ("/validate", {"architecture": "lenet5"})])
@pytest.mark.parametrize("option", ["depth=1", "columns=name", "convention=torchinfo"])
def test_endpoints_without_table_options_refuse_them(client: TestClient, path: str,
                                                     body: dict[str, Any], option: str) -> None:
    name = option.partition("=")[0]
    d = err(client.post(f"{path}?format=table&{option}" if path in ("/compare", "/sweep")
                        else f"{path}?{option}", json=body))
    assert d["path"] == ["query", name] and "not taken by this endpoint" in d["message"]


def test_units_with_json_is_refused_on_compare(client: TestClient) -> None:
    d = err(client.post("/compare?units=si", json={"architectures": ["lenet5", "lenet5"]}))
    assert d["path"] == ["query", "units"] and "table formats" in d["message"]


# --- ONNX import -----------------------------------------------------------------------------

def onnx_bytes(out_channels: int = 8, kernel: int = 3, unused: bool = False) -> bytes:
    """Conv (3 -> out_channels, k x k, padding 'same' for k=3) then Relu, batch/height/width
    dynamic; ``unused``: an extra 4x4 initializer no node reads."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.zeros((out_channels, 3, kernel, kernel), np.float32), "w")
    b = numpy_helper.from_array(np.zeros((out_channels,), np.float32), "b")
    inits = [w, b] + ([numpy_helper.from_array(np.zeros((4, 4), np.float32), "spare")]
                      if unused else [])
    pad = (kernel - 1) // 2
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[kernel, kernel],
                          pads=[pad] * 4),
         helper.make_node("Relu", ["c"], ["y"])], "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out_channels, "P", "Q"])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data: bytes = model.SerializeToString()
    del onnx
    return data


def upload(c: TestClient, data: bytes, filename: str = "tiny.onnx",
           **form: str) -> httpx.Response:
    return c.post("/import/onnx", files={"file": (filename, io.BytesIO(data),
                                                  "application/octet-stream")}, data=form)


def test_import_onnx_then_analyze(client: TestClient) -> None:
    r = upload(client, onnx_bytes(unused=True))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["architecture"]["name"] == "tiny"  # the file's stem
    assert d["unused_parameters"] == [{"name": "spare", "shape": [4, 4], "params": 16}]
    an = client.post("/analyze", json={"architecture": d["architecture"],
                                       "bindings": {"N": 1, "H": 32, "W": 32}})
    t = an.json()["totals"]
    assert t["params"] == 8 * 3 * 3 * 3 + 8
    assert t["macs"] == 8 * 32 * 32 * 3 * 3 * 3
    named = upload(client, onnx_bytes(), name="mine", symbols='{"N": "B"}')
    assert named.json()["architecture"]["name"] == "mine"
    assert named.json()["architecture"]["input"]["shape"] == ["B", 3, "H", "W"]
    assert named.json()["unused_parameters"] == []
    d = err(upload(client, onnx_bytes(), symbols="[1]"))
    assert d["path"] == ["symbols"]


def test_import_refuses_what_is_not_onnx(client: TestClient) -> None:
    pytest.importorskip("onnx")
    d = err(upload(client, b"\x00\xffnot a model at all" * 10, "x.onnx"))
    assert d["error"] == "input" and d["path"] == ["file"] and "not an ONNX model" in d["message"]
    d = err(upload(client, b"", "empty.onnx"))
    assert "empty" in d["message"]
    d = err(client.post("/import/onnx", json={"file": "abc"}))
    assert d["error"] == "request"  # not a multipart form


def test_upload_limit_is_its_own(client: TestClient) -> None:
    d = err(upload(client, b"\x00" * (UPLOAD_LIMIT + 1)), 413)
    assert d["error"] == "limit" and "CNNCALC_MAX_UPLOAD_BYTES" in d["message"]
    # the other endpoints keep CNNCALC_MAX_BODY_BYTES (1 MiB), above the upload limit here
    big = {"architecture": "seed_example", "bindings": {"H": 32, "W": 32}}
    r = client.post("/analyze", content=json.dumps(big) + " " * (UPLOAD_LIMIT + 10),
                    headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text


def test_import_without_onnx_is_501(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.routes import imports
    monkeypatch.setattr(imports, "onnx_unavailable", lambda: "no onnx here")
    d = err(upload(client, onnx_bytes()), 501)
    assert d["error"] == "unavailable"


def test_multipart_upload_over_a_real_server(uvicorn: Uvicorn) -> None:
    # 256 filters of 3x26x26: 519,168 weights, 2 MB inline, over the 1 MiB body limit
    data = onnx_bytes(out_channels=256, kernel=26)
    assert len(data) > 1 << 20
    env = {"CNNCALC_WORKERS": "1", "CNNCALC_MAX_UPLOAD_BYTES": "4MiB",
           "CNNCALC_CORS_ORIGINS": ""}
    with uvicorn(env) as s:
        r = httpx.post(s.url + "/import/onnx", files={"file": ("big.onnx", data)},
                       data={"allow_opaque": "true"}, timeout=60)
        assert r.status_code == 200, r.text
        arch = r.json()["architecture"]
        an = httpx.post(s.url + "/analyze", json={"architecture": arch,
                                                  "bindings": {"N": 1, "H": 64, "W": 64}},
                        timeout=60).json()
        assert an["totals"]["params"] == 256 * 3 * 26 * 26 + 256
        r = httpx.post(s.url + "/import/onnx", files={"file": ("huge.onnx",
                                                               b"\x00" * (5 << 20))},
                       timeout=60)
        assert r.status_code == 413 and "CNNCALC_MAX_UPLOAD_BYTES" in r.json()["message"]


# --- CORS, settings --------------------------------------------------------------------------

def test_cors_allows_only_the_configured_origins(client: TestClient) -> None:
    pre = client.options("/analyze", headers={"Origin": ORIGIN,
                                              "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ORIGIN
    r = client.get("/zoo", headers={"Origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    e = client.post("/analyze", json={"architecture": "nope"}, headers={"Origin": ORIGIN})
    assert e.status_code == 422 and e.headers["access-control-allow-origin"] == ORIGIN
    other = client.get("/zoo", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers


def test_cors_is_off_by_default() -> None:
    c = TestClient(create_app(Settings(workers=1)))  # no lifespan: no worker needed here
    r = c.get("/zoo", headers={"Origin": ORIGIN})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = c.options("/zoo", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers


def test_settings_of_uploads_and_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().max_upload_bytes == 64 * 1024**2 and Settings().cors_origins == ()
    monkeypatch.setenv("CNNCALC_MAX_UPLOAD_BYTES", "2MiB")
    monkeypatch.setenv("CNNCALC_CORS_ORIGINS", "http://a.example, https://b.example:8443")
    s = Settings.from_env()
    assert s.max_upload_bytes == 2 * 1024**2
    assert s.cors_origins == ("http://a.example", "https://b.example:8443")
    for bad in ("http://a.example/path", "a.example", "ftp://x"):
        monkeypatch.setenv("CNNCALC_CORS_ORIGINS", bad)
        with pytest.raises(SettingsError, match="CNNCALC_CORS_ORIGINS"):
            Settings.from_env()
    monkeypatch.setenv("CNNCALC_CORS_ORIGINS", "*")
    monkeypatch.setenv("CNNCALC_MAX_UPLOAD_BYTES", "lots")
    with pytest.raises(SettingsError, match="CNNCALC_MAX_UPLOAD_BYTES"):
        Settings.from_env()


# --- OpenAPI, docs ---------------------------------------------------------------------------

def test_openapi_types_totals_and_names_the_new_endpoints(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    totals = schemas["Totals"]["properties"]
    seed = cnncalc.analyze("seed_example").totals.to_dict()
    assert set(totals) == set(seed) | {"incomplete"}
    assert schemas["AnalysisOut"]["properties"]["totals"] == {
        "$ref": "#/components/schemas/Totals"}
    assert {t["type"] for t in totals["macs"]["anyOf"]} == {"integer", "string"}
    assert schemas["ZooName"]["enum"] == list(cnncalc.zoo_names())
    refs = {s["$ref"] for s in schemas["AnalyzeRequest"]["properties"]["architecture"]["anyOf"]}
    assert refs == {"#/components/schemas/Architecture", "#/components/schemas/ZooName"}
    items = schemas["CompareRequest"]["properties"]["architectures"]["items"]
    assert len(items["anyOf"]) == 2
    paths = doc["paths"]
    for p in ("/compare", "/sweep"):
        assert paths[p]["post"]["requestBody"]["content"]["application/json"]["examples"]
        ok = paths[p]["post"]["responses"]["200"]["content"]
        assert ok["application/json"]["example"] and "text/csv" in ok
    assert "multipart/form-data" in paths["/import/onnx"]["post"]["requestBody"]["content"]
    example = paths["/compare"]["post"]["responses"]["200"]["content"]["application/json"]
    assert example["example"]["architectures"][0]["totals"]["params"] == 1308


def test_the_output_models_describe_real_answers(client: TestClient) -> None:
    from api.models import AnalysisOut, CompareOut, LayerOut, SweepOut, Totals
    r = client.post("/analyze", json={"architecture": "resnet18", "bindings": BOUND}).json()
    out = AnalysisOut.model_validate(r)
    assert set(r) <= set(AnalysisOut.model_fields)
    assert set(r["layers"][0]) <= set(LayerOut.model_fields)
    assert set(r["totals"]) <= set(Totals.model_fields)
    assert out.totals.params == RESNET18_PARAMS
    symbolic = client.post("/analyze", json={"architecture": "resnet18"}).json()
    assert isinstance(AnalysisOut.model_validate(symbolic).totals.macs, str)
    CompareOut.model_validate(client.post("/compare", json={
        "architectures": ["resnet18", "lenet5"]}).json())
    SweepOut.model_validate(client.post("/sweep", json={
        "architecture": "lenet5", "grid": {"H=W": [32]}, "bindings": {"N": 1}}).json())


ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.mark.parametrize("page, assets", [
    ("/docs", {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}),
    ("/redoc", {"redoc.standalone.js", "favicon.png"})])
def test_api_docs_need_no_other_host(client: TestClient, page: str, assets: set[str]) -> None:
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text and "https://" not in r.text and "//" not in re.sub(
        r"<!--.*?-->", "", r.text, flags=re.S).replace("://", "")
    urls = ASSET.findall(r.text)
    assert {u.rsplit("/", 1)[-1] for u in urls} == assets
    for u in urls:
        assert u.startswith("/static/docs/")
        a = client.get(u)
        assert a.status_code == 200, u
        kind = a.headers["content-type"]
        if u.endswith(".js"):
            assert kind.startswith("text/javascript") and len(a.content) > 100_000
            assert b"cdn.redoc.ly" not in a.content  # ReDoc's logo, left out
        elif u.endswith(".css"):
            assert kind.startswith("text/css") and b"swagger-ui" in a.content
        else:
            assert kind == "image/png" and a.content[:4] == b"\x89PNG"
    assert client.get("/static/docs/../../main.py").status_code == 404
    assert client.get("/static/docs/core.py").status_code == 404


def test_api_docs_without_their_assets_say_why(client: TestClient,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from api.routes import apidocs
    monkeypatch.setattr(apidocs, "assets_dir", lambda: None)
    for url in ("/docs", "/redoc", "/static/docs/swagger-ui.css"):
        d = err(client.get(url), 501)
        assert d["error"] == "unavailable" and "fastapi-offline" in d["message"]
    assert client.get("/openapi.json").status_code == 200


def _chromium() -> str:
    """The system Chromium, or skip saying what is missing."""
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                        "(pip install -e '.[browser]')")
    import shutil
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).is_file():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    return path


@pytest.mark.parametrize("page, ready", [
    ("/docs", ".swagger-ui .opblock-summary-path"), ("/redoc", "[data-section-id]")])
def test_api_docs_render_in_a_browser_with_no_other_host(uvicorn: Uvicorn, page: str,
                                                        ready: str) -> None:
    exe = _chromium()
    from playwright.sync_api import sync_playwright
    with uvicorn({"CNNCALC_WORKERS": "1"}) as s, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        try:
            tab = browser.new_page()
            hosts: list[str] = []
            tab.on("request", lambda r: hosts.append(r.url.split("/")[2]))
            tab.goto(s.url + page)
            tab.wait_for_selector(ready, timeout=30_000)
            text = tab.inner_text("body")
        finally:
            browser.close()
    assert set(hosts) == {f"{s.host}:{s.port}"}, hosts
    assert "/compare" in text and "/import/onnx" in text
