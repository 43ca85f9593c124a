"""The FastAPI app: routers, the body-size limit, and error handlers that never leak a traceback.

Run with ``uvicorn api.main:app`` (``scripts/serve.sh``). Limits come from ``CNNCALC_*``
environment variables (:class:`api.settings.Settings`, docs/service.md). The service keeps no
state between requests except a cache, so several uvicorn workers (or hosts behind a load
balancer) can serve the same clients.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import cnncalc

from .body import bad_value_message, first_bad_value
from .docs import DESCRIPTION, openapi
from .errors import Kind, error_body
from .fastpath import AnalyzeFastPath
from .limits import BodyLimit
from .routes import (
    analyze,
    apidocs,
    catalog,
    compare,
    explain,
    health,
    imports,
    page,
    sweep,
    validate,
)
from .service import CACHE_HEADER, Service
from .settings import Settings, SettingsError

log = logging.getLogger("cnncalc.api")

UPLOAD_PATH = "/import/onnx"
"""The one path whose body limit is CNNCALC_MAX_UPLOAD_BYTES (every other:
CNNCALC_MAX_BODY_BYTES)."""

HTTP_KINDS: dict[int, Kind] = {404: "not_found", 405: "method_not_allowed", 408: "timeout",
                               413: "limit"}
"""The ``error`` kind of an HTTP error Starlette raises (any other status: ``request``)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app with its own worker pools and cache (``settings`` default: the environment)."""
    settings = settings or Settings.from_env()
    svc = Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc.start()
        catalog.warm()
        if not await asyncio.to_thread(svc.analysis.wait_ready, 120.0):
            log.warning("analysis workers not ready after 120 s; serving anyway")
        try:
            yield
        finally:
            svc.close()

    # /docs and /redoc are routes of apidocs, with assets served here (no CDN)
    app = _App(title="cnncalc", version=cnncalc.__version__, description=DESCRIPTION,
               lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = svc
    # apidocs before page: /static/docs/... is matched before the page's /static files
    for r in (analyze.router, explain.router, compare.router, sweep.router, imports.router,
              validate.router, catalog.router, health.router, apidocs.router, page.router):
        app.include_router(r)
    # the decorator form, which takes a handler of one exception class (add_exception_handler
    # is typed for handlers of any Exception)
    app.exception_handler(RequestValidationError)(_request_error)
    app.exception_handler(StarletteHTTPException)(_http_error)
    app.exception_handler(cnncalc.CnnCalcError)(_cnncalc_error)
    app.exception_handler(Exception)(_internal_error)
    app.add_middleware(AnalyzeFastPath, service=svc)  # inside BodyLimit: the body is whole
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                       timeout_s=settings.body_timeout_s,
                       uploads={UPLOAD_PATH: settings.max_upload_bytes})
    if settings.cors_origins:  # added last, so outermost: error answers carry its headers too
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["Content-Type"],
                           expose_headers=[CACHE_HEADER], max_age=600)
    return app


class _App(FastAPI):
    """FastAPI with the OpenAPI document of :func:`api.docs.openapi` (computed once)."""

    def openapi(self) -> dict[str, Any]:
        if not self.openapi_schema:
            self.openapi_schema = openapi(self)
        return self.openapi_schema


def _loc(loc: Any) -> list[str | int]:
    parts = [p if isinstance(p, int) else str(p) for p in (loc or [])]
    return parts[1:] if parts[:1] == ["body"] else parts


def _request_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    body = getattr(exc, "body", None)
    if body is not None:  # NaN or a lone surrogate: say so, whatever else pydantic found
        bad = first_bad_value(body)
        if bad is not None:
            return JSONResponse(status_code=422, content=error_body(
                "request", bad_value_message(*bad), path=bad[0]))
    errs = list(exc.errors())
    first: dict[str, Any] = dict(errs[0]) if errs else {"loc": [], "msg": "invalid request"}
    path = _loc(first.get("loc"))
    msg = str(first.get("msg", "invalid request"))
    ctx = first.get("ctx") or {}
    if first.get("type") == "json_invalid":
        msg = f"the body is not valid JSON: {ctx.get('error', msg)}"
        path = []
    where = "/".join(map(str, path))
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return JSONResponse(status_code=422, content=error_body(
        "request", f"{where + ': ' if where else ''}{msg}{more}", path=path))


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    if status == 400:  # FastAPI could not parse the body (too deep, a huge integer, ...)
        return JSONResponse(status_code=422, content=error_body(
            "request", "the body could not be parsed as JSON (invalid, nested too deeply, or an "
                       "integer with too many digits)"))
    kind = HTTP_KINDS.get(status, "request")
    return JSONResponse(status_code=status, content=error_body(kind, str(exc.detail)),
                        headers=getattr(exc, "headers", None))


def _cnncalc_error(request: Request, exc: cnncalc.CnnCalcError) -> JSONResponse:
    return JSONResponse(status_code=422, content=exc.to_dict())


def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(status_code=500, content=error_body(
        "internal", "internal error (logged on the server)"))


def _app_from_env() -> FastAPI:
    """The app of ``uvicorn api.main:app``; an invalid ``CNNCALC_*`` variable stops the
    process with one line naming it (no traceback)."""
    try:
        return create_app()
    except SettingsError as e:
        raise SystemExit(f"cnncalc service cannot start: {e}") from None


app = _app_from_env()
