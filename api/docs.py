"""The OpenAPI document: FastAPI's, plus the architecture's JSON Schema and worked examples.

Requests carry the architecture as a plain object (cnncalc validates it and names the layer in
its errors); the document still shows the full schema of ``GET /schema`` for it, so that
``/docs`` and generated clients know every layer type.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import cnncalc
from cnncalc.report.compare import compare
from cnncalc.report.sweep import sweep

from .models import SEED_EXAMPLE

log = logging.getLogger("cnncalc.api")

DESCRIPTION = """\
Closed-form shapes, parameters, MACs, memory and receptive fields of CNNs.

POST an architecture (the JSON of `GET /schema`) with the sizes you want bound; get every
layer's formulas, evaluated to numbers where the sizes are bound. Invalid input answers 422
with the layer's name, index and JSON path; limits answer 413 (body size) or 422 (layers,
expressions, bindings, time). See docs/service.md for the limits and their variables.

Wherever a request takes an `architecture`, a zoo model's name (`"resnet50"`, GET /zoo) may
stand in for its JSON. `POST /compare` and `POST /sweep` tabulate totals; `POST /explain`
shows the working; `POST /import/onnx` turns an uploaded ONNX file into an architecture.
"""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"description": "Request body larger than CNNCALC_MAX_BODY_BYTES (an upload: "
                         "CNNCALC_MAX_UPLOAD_BYTES)."},
    422: {"description": "Invalid architecture, expression or bindings, an unknown zoo name or "
                         "query option, or a limit (layers, expression size, binding "
                         "magnitude, time): names the layer or the field."},
    503: {"description": "No worker free within CNNCALC_QUEUE_TIMEOUT_S; retry later."},
}


def openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document: FastAPI's, with the architecture schema and examples."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    arch = json.loads(json.dumps(cnncalc.json_schema()).replace(
        '"#/$defs/', '"#/components/schemas/'))
    for name, d in arch.pop("$defs", {}).items():
        if name in comps:  # never shadow one of ours
            log.warning("OpenAPI: schema name %s already used", name)
            continue
        comps[name] = d
    comps["Architecture"] = arch
    comps["ZooName"] = {"title": "ZooName", "type": "string", "enum": list(cnncalc.zoo_names()),
                        "description": "The name of a zoo model (GET /zoo), in place of its "
                                       "JSON."}
    either = {"anyOf": [{"$ref": "#/components/schemas/Architecture"},
                        {"$ref": "#/components/schemas/ZooName"}]}
    for req in ("AnalyzeRequest", "ValidateRequest", "ExplainRequest", "SweepRequest"):
        props = comps[req]["properties"]
        props["architecture"] = {**either, "description": props["architecture"].get(
            "description", "")}
    many = comps["CompareRequest"]["properties"]["architectures"]
    many["items"] = either
    _examples(schema)
    return schema


def _compare_example() -> dict[str, Any]:
    cmp = compare(["seed_example", "lenet5"], {"N": 1, "H": 32, "W": 32},
                  ("params", "macs"))
    entries = cmp.to_dict()
    for i, e in enumerate(entries):
        e["macs_vs_first"] = cmp.ratio(i)
    return {"quantities": list(cmp.quantities), "architectures": entries}


def _examples(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})

    def content(path: str, method: str, status: str = "200") -> dict[str, Any]:
        op = paths.get(path, {}).get(method, {})
        res: dict[str, Any] = op.get("responses", {}).get(status, {})
        out: dict[str, Any] = res.setdefault("content", {}).setdefault("application/json", {})
        return out

    content("/analyze", "post")["example"] = cnncalc.analyze(
        SEED_EXAMPLE, {"H": 32, "W": 32}).to_dict()
    content("/compare", "post")["example"] = _compare_example()
    content("/sweep", "post")["example"] = {
        "columns": ["H", "W", "params", "macs"],
        "rows": [[r["H"], r["W"], r["params"], r["macs"]] for r in sweep(
            "seed_example", {"H=W": [32, 64]}, quantities=("params", "macs"), as_frame=False)]}
    content("/import/onnx", "post")["example"] = {
        "architecture": SEED_EXAMPLE, "unused_parameters": []}
    content("/zoo", "get")["example"] = list(cnncalc.zoo_names())
    content("/zoo/{name}", "get")["example"] = SEED_EXAMPLE
    content("/health", "get")["example"] = {
        "status": "ok", "version": cnncalc.__version__,
        "pools": {"analysis": {"workers": 2, "idle": 2, "restarts": 0}},
        "cache": {"entries": 1, "bytes": 1380, "hits": 3, "misses": 1}}
    content("/schema", "get")["example"] = {
        "title": "Architecture", "type": "object", "required": ["input", "layers"],
        "properties": {"input": {"$ref": "#/$defs/InputSpec"}, "layers": {"type": "array"}}}
    content("/validate", "post", "501")["example"] = {
        "error": "unavailable", "message": "validation builds the network in PyTorch, which is "
        "not installed on this server", "detail": "...", "layer": None, "index": None,
        "path": []}
