"""``POST /sweep``: an architecture's totals over a grid of sizes (``cnncalc sweep``)."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query
from fastapi.openapi.models import Example
from fastapi.responses import Response

from cnncalc.report.quantities import QUANTITIES

from ..cache import canonical
from ..docs import ERROR_RESPONSES
from ..models import ErrorBody, Format, SweepOut, SweepRequest
from ..service import Service
from ..worker import MAX_SWEEP_ROWS, sweep_job
from . import service
from .analyze import TABLES, TEXT
from .options import UNITS_HELP, only_query, table_only, units_of

router = APIRouter(tags=["analysis"])

EXAMPLES: dict[str, Example] = {
    "square": {"summary": "resnet18 at square sizes 32..256, batch 1",
               "value": {"architecture": "resnet18", "grid": {"H=W": "32:256:32"},
                         "bindings": {"N": 1}}},
    "two axes": {"summary": "the seed example over H and W separately",
                 "value": {"architecture": "seed_example", "grid": {"H": [32, 64], "W": "32,64"},
                           "quantities": ["macs", "params"]}},
}


@router.post(
    "/sweep",
    response_model=None,
    summary="Totals over a grid of sizes, one row per combination",
    responses={
        200: {"model": SweepOut,
              "description": "`columns` (the swept sizes, then the quantities) and one row of "
                             f"integers per combination (at most {MAX_SWEEP_ROWS}), or the "
                             "table in `format` (csv for a spreadsheet).",
              "content": {media: TEXT for media in TABLES.values()}},
        **{k: {"model": ErrorBody, **v} for k, v in ERROR_RESPONSES.items()},
    },
)
async def sweep(
    body: SweepRequest = Body(openapi_examples=EXAMPLES),
    fmt: Format = Query("json", alias="format", description="json (default), or a table: "
                        + ", ".join(TABLES) + "."),
    units: str | None = Query(None, description=UNITS_HELP),
    _: None = Depends(only_query("format", "units")),
    svc: Service = Depends(service),
) -> Response:
    """Sweep an architecture (JSON object or zoo name): every size must be swept or bound.
    The symbolic analysis is done once and evaluated at every combination. ``depth``,
    ``columns`` and ``convention`` are refused (422): the columns are `quantities`."""
    table_only(fmt, units=units)
    qs = body.quantities
    u = units_of(units)
    return await svc.analysis_job(
        body.architecture, body.bindings, sweep_job,
        (body.grid, fmt, qs, u, svc.settings.max_binding),
        # the grid's order is the columns' order: keyed as a list of pairs, not sorted
        ("sweep", fmt, canonical(list(body.grid.items())),
         canonical(list(QUANTITIES) if qs is None else qs), str(u)),
        {"grid": body.grid, "quantities": qs})
