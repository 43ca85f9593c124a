"""``POST /validate``."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends
from fastapi.openapi.models import Example
from fastapi.responses import Response

from ..docs import ERROR_RESPONSES
from ..models import SEED_EXAMPLE, ErrorBody, ValidateRequest
from ..service import Service
from . import service
from .options import only_query

router = APIRouter(tags=["analysis"])

EXAMPLES: dict[str, Example] = {
    "seed": {"summary": "build the seed example in torch at 32x32 and compare",
             "value": {"architecture": SEED_EXAMPLE, "bindings": {"H": 32, "W": 32}}},
}


@router.post(
    "/validate",
    response_model=None,
    summary="Build the network in PyTorch (CPU), run it, compare with the formulas",
    responses={
        200: {"description": "cnncalc.validate's report (shapes, params, FLOPs, timing and "
                             "any mismatch)",
              "content": {"application/json": {"schema": {"type": "object"}}}},
        501: {"model": ErrorBody, "description": "PyTorch is not installed on this server."},
        **{k: {"model": ErrorBody, **v} for k, v in ERROR_RESPONSES.items()},
    },
)
async def validate(
    body: ValidateRequest = Body(openapi_examples=EXAMPLES),
    _: None = Depends(only_query()),
    svc: Service = Depends(service),
) -> Response:
    """Every size must be bound; the analysis must fit the validation budget
    (CNNCALC_VALIDATE_MAX_ACTIVATIONS, CNNCALC_VALIDATE_MAX_PARAMS). Runs on the CPU."""
    return await svc.validate(body.architecture, body.bindings)
