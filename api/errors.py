"""The service's one error shape and every ``error`` kind it can answer (docs/service.md).

The library's kinds (:data:`cnncalc.errors.ERROR_KINDS`) come through unchanged; the service
adds its own, for what only a server can get wrong: a malformed request, a timeout, a full
queue. ``ErrorBody`` (:mod:`api.models`) documents both lists.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from cnncalc.errors import ERROR_KINDS, ErrorKind

ServiceErrorKind = Literal["request", "timeout", "not_found", "method_not_allowed",
                           "unavailable", "busy", "internal"]
"""Kinds only the service answers."""

SERVICE_ERROR_KINDS: dict[str, str] = {
    "request": "the request itself is malformed: not JSON, a wrong field, a NaN, Infinity or "
               "lone surrogate",
    "timeout": "the work ran past its time limit and was stopped (CNNCALC_TIME_LIMIT_S, "
               "CNNCALC_VALIDATE_TIME_LIMIT_S), or the body did not arrive in time "
               "(CNNCALC_BODY_TIMEOUT_S)",
    "not_found": "no such endpoint or zoo model",
    "method_not_allowed": "the endpoint does not answer this HTTP method",
    "unavailable": "the endpoint needs something this server lacks (PyTorch for /validate, "
                   "onnx for /import/onnx, fastapi-offline for the API docs)",
    "busy": "no worker is free (the queue is full or the worker died); retry later",
    "internal": "a bug on the server, logged there and never shown",
}
"""Every service kind, with what it means."""

Kind = Literal[ErrorKind, ServiceErrorKind]
"""The ``error`` field of any error answer."""

KINDS: dict[str, str] = {**ERROR_KINDS, **SERVICE_ERROR_KINDS}
"""Every kind of :data:`Kind`, with what it means."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(text: str) -> str:
    """``text`` with every lone surrogate written as its escape (``\\ud800``), so that it
    can be encoded as UTF-8 (a JSON string may hold one; UTF-8 cannot)."""
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def error_body(kind: Kind, message: str, *, layer: str | None = None, index: int | None = None,
               path: list[str | int] | None = None) -> dict[str, Any]:
    """The service's one error shape (that of ``CnnCalcError.to_dict()``); strings that came
    from the request are made safe to encode."""
    message = safe_text(message)
    return {"error": kind, "message": message, "detail": message,
            "layer": None if layer is None else safe_text(layer), "index": index,
            "path": [p if isinstance(p, int) else safe_text(str(p)) for p in (path or [])]}
