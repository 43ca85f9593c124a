"""``POST /explain``: the working of each layer, as data and as text, Markdown or LaTeX.

The job runs in an analysis worker under the service's time limit, as ``POST /analyze`` does,
and its answers are cached the same way.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Body, Depends
from fastapi.openapi.models import Example
from fastapi.responses import Response

import cnncalc
from cnncalc.core.explain import explain as explanation
from cnncalc.report.explain import render

from ..docs import ERROR_RESPONSES
from ..models import SEED_EXAMPLE, ErrorBody, ExplainRequest
from ..service import Service
from ..worker import JSON, Reply, dumps, error_reply
from . import service
from .options import only_query

router = APIRouter(tags=["analysis"])

EXAMPLES: dict[str, Example] = {
    "lecture": {"summary": "twelve 6x6 filters at stride 2 on a 32x32x3 image",
                "value": {"architecture": SEED_EXAMPLE, "bindings": {"H": 32, "W": 32},
                          "layer": "conv1"}},
    "symbolic": {"summary": "the formulas in H and W, as Markdown",
                 "value": {"architecture": SEED_EXAMPLE, "format": "markdown"}},
}


def explain_job(canonical: str, layer: str | None, fmt: str) -> Reply:
    """The explanation's JSON (``Explanation.to_dict()``) with ``format`` and ``text``, the
    rendering in that format; an unknown ``layer`` is a 422 naming the field ``layer``."""
    req = json.loads(canonical)
    try:
        an = cnncalc.analyze(req["architecture"], req.get("bindings") or None)
    except cnncalc.CnnCalcError as e:
        return error_reply(e)
    try:
        ex = explanation(an, layer)
    except cnncalc.CnnCalcError as e:
        d = e.to_dict()
        d["path"] = ["layer"]
        return 422, JSON, dumps(d)
    return 200, JSON, dumps({**ex.to_dict(), "format": fmt, "text": render(ex, fmt)})


@router.post(
    "/explain",
    response_model=None,
    summary="The working: each layer's formulas in names, with its numbers, and the result",
    responses={
        200: {"description": "Every layer's steps (quantity, formula, textbook and substituted "
                             "forms in text and LaTeX, result, and `of`: the field of the "
                             "output JSON it equals), the conventions, and `text`: the whole "
                             "explanation in `format`.",
              "content": {"application/json": {"schema": {"type": "object"}}}},
        **{k: {"model": ErrorBody, **v} for k, v in ERROR_RESPONSES.items()},
    },
)
async def explain(
    body: ExplainRequest = Body(openapi_examples=EXAMPLES),
    _: None = Depends(only_query()),
    svc: Service = Depends(service),
) -> Response:
    """Explain an architecture (or one layer or block of it, ``layer``) under ``bindings``."""
    return await svc.analysis_job(body.architecture, body.bindings, explain_job,
                                  (body.layer, body.format),
                                  ("explain", body.format, body.layer or ""))
