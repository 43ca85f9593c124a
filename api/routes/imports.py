"""``POST /import/onnx``: the architecture JSON of an uploaded ONNX file.

The upload is a multipart form (field ``file``), limited by ``CNNCALC_MAX_UPLOAD_BYTES``
(:class:`api.limits.BodyLimit`). Its bytes are parsed in an analysis worker under the time
limit, as protobuf only: nothing in the file is executed and no custom-op library is loaded.
Answers are not cached.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from ..docs import ERROR_RESPONSES
from ..errors import error_body
from ..models import ErrorBody, ImportOut
from ..service import Service, onnx_unavailable, reply_response
from ..worker import JSON, Reply, dumps, onnx_job
from . import service
from .options import only_query

router = APIRouter(tags=["import"])


@router.post(
    "/import/onnx",
    response_model=None,
    summary="The architecture JSON of an ONNX file (uploaded, parsed, never run)",
    responses={
        200: {"model": ImportOut, "description": "The architecture, ready for /analyze, and "
                                                 "the initializers no node reads."},
        501: {"model": ErrorBody, "description": "The onnx package is not installed on this "
                                                 "server."},
        **{k: {"model": ErrorBody, **v} for k, v in ERROR_RESPONSES.items()},
        413: {"model": ErrorBody,
              "description": "Upload larger than CNNCALC_MAX_UPLOAD_BYTES."},
    },
)
async def import_onnx(
    file: UploadFile = File(description="The .onnx file (weights inline or external: only "
                                        "their shapes are read)."),
    name: str | None = Form(None, max_length=200,
                            description="The architecture's name (default: the file's stem)."),
    allow_opaque: bool = Form(False, description="Record an op cnncalc does not support as "
                                                 "an `opaque` layer instead of failing."),
    symbols: str | None = Form(None, max_length=4000, description="A JSON object renaming the "
                               "input's named axes, e.g. {\"batch_size\": \"N\"}."),
    _: None = Depends(only_query()),
    svc: Service = Depends(service),
) -> Response:
    """Upload an ONNX model as multipart/form-data; its dynamic axes (``dim_param``) become
    size symbols. Not an ONNX model: 422 (kind ``input``, path ``["file"]``)."""
    why = onnx_unavailable()
    if why:
        return reply_response((501, JSON, dumps(error_body("unavailable", why))))
    renames = _renames(symbols)
    if isinstance(renames, tuple):
        return reply_response(renames)
    data = await file.read()
    return await svc.uncached_job(onnx_job, (data, file.filename, name or None, allow_opaque,
                                             renames))


def _renames(text: str | None) -> dict[str, str] | None | Reply:
    """The ``symbols`` field: a JSON object of axis name -> size name, or a 422."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return 422, JSON, dumps(error_body(
            "input", "symbols must be a JSON object of strings, e.g. {\"batch_size\": \"N\"}",
            path=["symbols"]))
    return value
