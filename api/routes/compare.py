"""``POST /compare``: architectures side by side (``cnncalc compare``), as JSON or a table."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query
from fastapi.openapi.models import Example
from fastapi.responses import Response

from cnncalc.report.quantities import QUANTITIES

from ..cache import canonical
from ..docs import ERROR_RESPONSES
from ..models import SEED_EXAMPLE, CompareOut, CompareRequest, ErrorBody, Format
from ..service import Service
from ..worker import compare_job
from . import service
from .analyze import TABLES, TEXT
from .options import UNITS_HELP, only_query, table_only, units_of

router = APIRouter(tags=["analysis"])

EXAMPLES: dict[str, Example] = {
    "zoo": {"summary": "resnet18 and resnet50 at 224x224",
            "value": {"architectures": ["resnet18", "resnet50"],
                      "bindings": {"N": 1, "H": 224, "W": 224}}},
    "symbolic": {"summary": "a zoo model and a JSON one, in H and W",
                 "value": {"architectures": ["seed_example", SEED_EXAMPLE],
                           "quantities": ["params", "macs"]}},
}


@router.post(
    "/compare",
    response_model=None,
    summary="Architectures side by side: their totals under shared bindings",
    responses={
        200: {"model": CompareOut,
              "description": "Each architecture's totals (numbers where bound, formulas "
                             "elsewhere) and its MACs over the first's, or the comparison "
                             "table in `format` (columns: `quantities`).",
              "content": {media: TEXT for media in TABLES.values()}},
        **{k: {"model": ErrorBody, **v} for k, v in ERROR_RESPONSES.items()},
    },
)
async def compare(
    body: CompareRequest = Body(openapi_examples=EXAMPLES),
    fmt: Format = Query("json", alias="format", description="json (default), or a table: "
                        + ", ".join(TABLES) + "."),
    units: str | None = Query(None, description=UNITS_HELP),
    _: None = Depends(only_query("format", "units")),
    svc: Service = Depends(service),
) -> Response:
    """Compare two to eight architectures (JSON objects or zoo names). A binding applies to
    every architecture that uses the size; one that none uses is an error. ``depth``,
    ``columns`` and ``convention`` are refused (422): the table's columns are `quantities`."""
    table_only(fmt, units=units)
    qs = body.quantities
    u = units_of(units)
    return await svc.analysis_job(
        body.architectures, body.bindings, compare_job, (fmt, qs, u),
        ("compare", fmt, canonical(list(QUANTITIES) if qs is None else qs), str(u)),
        {"quantities": qs})
