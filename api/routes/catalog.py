"""``GET /zoo``, ``GET /zoo/{name}``, ``GET /schema``: cheap, answered on the event loop from
bytes encoded once, so they stay fast however many analyses are queued."""

from __future__ import annotations

import difflib
import functools
from typing import Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

import cnncalc

from ..errors import error_body
from ..models import ErrorBody
from ..worker import JSON, dumps

router = APIRouter(tags=["reference"])


@functools.cache
def _names() -> bytes:
    return dumps(list(cnncalc.zoo_names()))


@functools.cache
def _model(name: str) -> bytes:
    return dumps(cnncalc.zoo_json(name))


@functools.cache
def _schema() -> bytes:
    return dumps(cnncalc.json_schema())


def warm() -> None:
    """Encode the answers once (at start-up), so that no request pays for it."""
    _names()
    _schema()
    for name in cnncalc.zoo_names():
        _model(name)


@router.get("/zoo", summary="Names of the reference architectures", response_model=list[str])
async def zoo() -> Response:
    """The zoo: torchvision's classics with its layer names (use them as ``architecture``)."""
    return Response(_names(), media_type=JSON)


@router.get("/zoo/{name}", summary="The architecture JSON of a zoo model",
            response_model=dict[str, Any],
            responses={404: {"model": ErrorBody, "description": "No such zoo model."}})
async def zoo_model(name: str = Path(description="A name from GET /zoo",
                                     examples=["resnet50"])) -> Response:
    """The architecture JSON of a zoo model, ready to POST to /analyze."""
    names = cnncalc.zoo_names()
    if name not in names:
        close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        return JSONResponse(status_code=404, content=error_body(
            "not_found", f"unknown zoo model {name[:80]!r}{hint} (the zoo: {', '.join(names)})",
            path=["name"]))
    return Response(_model(name), media_type=JSON)


@router.get("/schema", summary="JSON Schema of the architecture format",
            response_model=dict[str, Any])
async def schema() -> Response:
    """The JSON Schema (draft 2020-12) of the ``architecture`` object."""
    return Response(_schema(), media_type=JSON)
