"""``GET /zoo``, ``GET /zoo/{name}``, ``GET /schema``: cheap, answered in the server process."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

import cnncalc

from ..models import ErrorBody
from ..worker import error_body

router = APIRouter(tags=["reference"])


@router.get("/zoo", summary="Names of the reference architectures")
def zoo() -> list[str]:
    """The zoo: torchvision's classics with its layer names (use them as ``architecture``)."""
    return list(cnncalc.zoo_names())


@router.get("/zoo/{name}", summary="The architecture JSON of a zoo model",
            response_model=dict[str, Any],
            responses={404: {"model": ErrorBody, "description": "No such zoo model."}})
def zoo_model(name: str = Path(description="A name from GET /zoo",
                               examples=["resnet50"])) -> Any:
    """The architecture JSON of a zoo model, ready to POST to /analyze."""
    if name not in cnncalc.zoo_names():
        return JSONResponse(status_code=404, content=error_body(
            "not_found", f"unknown zoo model {name!r}; one of {', '.join(cnncalc.zoo_names())}",
            path=["name"]))
    return cnncalc.zoo_json(name)


@functools.cache
def _schema() -> dict[str, Any]:
    return cnncalc.json_schema()


@router.get("/schema", summary="JSON Schema of the architecture format",
            response_model=dict[str, Any])
def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the ``architecture`` object."""
    return _schema()
