"""Code that runs inside the worker processes: the job functions and the serve loop.

A job function takes plain arguments (the canonical request JSON as a string) and returns a
:data:`Reply` — status, media type and the encoded body — so that the parent process only
copies bytes. Every error the library raises on bad input becomes a 422 reply here; anything
unexpected is sent back as a traceback for the parent to log (never to the client).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import resource
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import cnncalc

Reply = tuple[int, str, bytes]
"""(HTTP status, media type, body)."""

JSON = "application/json"
MEDIA_TYPES: dict[str, str] = {
    "json": JSON,
    "table": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "latex": "application/x-latex; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
"""``?format=`` values of ``POST /analyze`` and the media type of each."""


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(kind: str, message: str, *, layer: str | None = None, index: int | None = None,
               path: list[str | int] | None = None) -> dict[str, Any]:
    """The service's one error shape (that of ``CnnCalcError.to_dict()``)."""
    return {"error": kind, "message": message, "detail": message, "layer": layer,
            "index": index, "path": list(path or [])}


def error_reply(exc: cnncalc.CnnCalcError) -> Reply:
    """422 naming the layer; the JSON path is made relative to the request body."""
    d = exc.to_dict()
    path = list(d.get("path") or [])
    if path[:1] != ["bindings"]:
        path = ["architecture", *path]
    d["path"] = path
    return 422, JSON, dumps(d)


def _request(canonical: str) -> tuple[dict[str, Any], dict[str, int] | None]:
    req = json.loads(canonical)
    return req["architecture"], (req.get("bindings") or None)


def analyze_job(canonical: str, fmt: str) -> Reply:
    """``POST /analyze``: DESIGN.md section 5's JSON, or a table in ``fmt``."""
    arch, bindings = _request(canonical)
    try:
        an = cnncalc.analyze(arch, bindings)
        if fmt == "json":
            return 200, JSON, dumps(an.to_dict())
        return 200, MEDIA_TYPES[fmt], an.to_table(fmt).encode()
    except cnncalc.CnnCalcError as e:
        return error_reply(e)


def _report_dict(report: Any) -> Any:
    if hasattr(report, "to_dict"):
        return report.to_dict()
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        return json.loads(json.dumps(dataclasses.asdict(report), default=str))
    return json.loads(json.dumps(report, default=str))


def _validate_fn() -> Callable[..., Any] | None:
    fn: Callable[..., Any] | None = getattr(cnncalc, "validate", None)
    return fn


def _call_validate(fn: Callable[..., Any], arch: Any, bindings: dict[str, int] | None,
                   **options: Any) -> Any:
    """``fn(arch, bindings, device="cpu", **options)``, dropping options it does not take."""
    try:
        params = inspect.signature(fn).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            options = {k: v for k, v in options.items() if k in params}
    except (TypeError, ValueError):
        options = {}
    return fn(arch, bindings, device="cpu", **options)


def validate_job(canonical: str, max_activations: int, max_params: int, threads: int,
                 repeats: int) -> Reply:
    """``POST /validate``: check the budget on the symbolic analysis, then run in torch (CPU)."""
    arch, bindings = _request(canonical)
    validate = _validate_fn()
    if validate is None:
        return 501, JSON, dumps(error_body(
            "unavailable", "this cnncalc has no validate(); /validate is not available"))
    try:
        an = cnncalc.analyze(arch, bindings)
        if an.free_symbols:
            return 422, JSON, dumps(error_body(
                "binding", "validation runs the network, so every size must be bound; free: "
                + ", ".join(an.free_symbols), path=["bindings"]))
        acts, params = an.totals.activations, an.totals.params
        if int(acts) > max_activations:  # type: ignore[call-overload]
            return 422, JSON, dumps(error_body(
                "limit", f"{acts} activations exceed this service's validation budget of "
                f"{max_activations} (CNNCALC_VALIDATE_MAX_ACTIVATIONS); bind smaller sizes",
                path=["bindings"]))
        if int(params) > max_params:  # type: ignore[call-overload]
            return 422, JSON, dumps(error_body(
                "limit", f"{params} parameters exceed this service's validation budget of "
                f"{max_params} (CNNCALC_VALIDATE_MAX_PARAMS)", path=["architecture"]))
        report = _call_validate(validate, arch, bindings, threads=threads, repeats=repeats,
                                warmup=min(repeats, 1))
        return 200, JSON, dumps(_report_dict(report))
    except cnncalc.CnnCalcError as e:
        return error_reply(e)
    except ImportError as e:
        return 501, JSON, dumps(error_body(
            "unavailable", f"validation needs PyTorch, which this server cannot import ({e.name})"))


def _limit_memory(mb: int) -> None:
    if mb > 0:
        cap = mb << 20
        try:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        except (ValueError, OSError):  # pragma: no cover - platform without RLIMIT_AS
            pass


def serve(conn: Connection, memory_mb: int, threads: int, warm: str) -> None:
    """Worker main loop: receive ``(function, args)``, send ``("reply", Reply)`` or
    ``("bug", traceback)``; exit when the parent closes the pipe."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    _limit_memory(memory_mb)
    try:
        if warm == "analyze":
            cnncalc.analyze("seed_example", {"H": 32, "W": 32}).to_dict()
        elif warm == "validate" and (fn := _validate_fn()) is not None:
            _call_validate(fn, "seed_example", {"H": 32, "W": 32}, threads=threads, repeats=0,
                           warmup=0)
    except Exception:  # warming up is best effort
        pass
    try:
        conn.send(("ready", os.getpid()))
        while True:
            try:
                fn, args = conn.recv()
            except EOFError:
                return
            out: tuple[str, Any]
            try:
                out = ("reply", fn(*args))
            except RecursionError:
                out = ("reply", (422, JSON, dumps(error_body(
                    "limit", "the architecture's formulas are nested too deeply to analyse"))))
            except MemoryError:
                out = ("reply", (422, JSON, dumps(error_body(
                    "limit", f"the analysis needs more than this service's {memory_mb} MiB "
                    "per worker (CNNCALC_WORKER_MEMORY_MB)"))))
            except Exception:  # sent to the parent, which logs it
                out = ("bug", traceback.format_exc())
            conn.send(out)
    except (KeyboardInterrupt, BrokenPipeError, EOFError, OSError):
        return
