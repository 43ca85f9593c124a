"""``POST /analyze``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.openapi.models import Example
from fastapi.responses import Response

from cnncalc.report.conventions import names
from cnncalc.report.tables import ALL_COLUMNS

from ..docs import ERROR_RESPONSES
from ..models import SEED_EXAMPLE, AnalysisOut, AnalyzeRequest, ErrorBody, Format
from ..service import Service
from ..worker import MEDIA_TYPES
from . import service
from .options import UNITS_HELP, only_query, table_only, table_options

if TYPE_CHECKING:
    Convention = str
else:  # a Literal, so that OpenAPI lists the choices and an unknown one is a 422 naming them
    Convention = Literal[names()]

router = APIRouter(tags=["analysis"])

TEXT = {"schema": {"type": "string"}}
TABLES = {f: media.partition(";")[0] for f, media in MEDIA_TYPES.items() if f != "json"}
"""Each table format and its media type (without the charset)."""

EXAMPLES: dict[str, Example] = {
    "seed": {"summary": "two layers, H and W bound",
             "value": {"architecture": SEED_EXAMPLE, "bindings": {"H": 32, "W": 32}}},
    "symbolic": {"summary": "formulas in H and W (no bindings)",
                 "value": {"architecture": SEED_EXAMPLE}},
    "zoo": {"summary": "a zoo model by name, bound at 224x224",
            "value": {"architecture": "resnet50", "bindings": {"N": 1, "H": 224, "W": 224}}},
    "tiny": {"summary": "a small classifier, bound at 224x224",
            "value": {"architecture": {"name": "tiny", "input": {"shape": ["N", 3, "H", "W"]},
                                       "layers": [{"type": "conv", "out_channels": 8,
                                                   "kernel_size": 3, "padding": "same"},
                                                  {"type": "global_avg_pool"},
                                                  {"type": "flatten"},
                                                  {"type": "linear", "out_features": 10}]},
                      "bindings": {"N": 1, "H": 224, "W": 224}}},
    "invalid": {"summary": "an invalid expression: 422 naming layer c2",
                "value": {"architecture": {"input": {"shape": [1, 3, 8, 8]}, "layers": [
                    {"type": "conv", "out_channels": 4, "kernel_size": 3},
                    {"type": "conv", "name": "c2", "out_channels": "x.y", "kernel_size": 3}]}}},
}


@router.post(
    "/analyze",
    response_model=None,
    summary="Shapes, params, MACs, memory and receptive fields of every layer",
    responses={
        200: {"model": AnalysisOut,
              "description": "The output JSON (docs/output.md), or the table in `format`. "
                             "Header X-Cnncalc-Cache: hit, miss (or off).",
              "content": {media: TEXT for media in TABLES.values()}},
        **{k: {"model": ErrorBody, **v} for k, v in ERROR_RESPONSES.items()},
    },
)
async def analyze(
    body: AnalyzeRequest = Body(openapi_examples=EXAMPLES),
    fmt: Format = Query("json", alias="format",
                        description="json (default), or a table: " + ", ".join(
                            f"{f} ({media})" for f, media in TABLES.items()) + "."),
    convention: Convention = Query(
        "cnncalc", description="Also report the totals another tool would print for this "
        "network (`convention` in the JSON, a line under the table's totals): "
        + ", ".join(names()) + " (docs/conventions.md). cnncalc's own totals are unchanged."),
    depth: int | None = Query(
        None, ge=1, le=64, description="One row per group of layers sharing the first `depth` "
        "parts of their dotted names, summed (`layer1.0.conv1` is in `layer1` at depth 1). "
        "Table formats only."),
    units: str | None = Query(None, description=UNITS_HELP),
    columns: str | None = Query(
        None, max_length=400, description="Comma-separated columns of the table, from: "
        + ", ".join(ALL_COLUMNS) + ". Table formats only."),
    _: None = Depends(only_query("format", "convention", "depth", "units", "columns")),
    svc: Service = Depends(service),
) -> Response:
    """Analyse an architecture (its JSON or a zoo name): numbers where ``bindings`` bind the
    sizes, formulas elsewhere.

    Identical requests (same JSON up to key order and whitespace) are answered from a cache;
    a zoo name and its JSON are the same request.
    """
    table_only(fmt, depth=depth, units=units, columns=columns)
    return await svc.analyze(body.architecture, body.bindings, fmt, convention,
                             table_options(columns, depth, units))
