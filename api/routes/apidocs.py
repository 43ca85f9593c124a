"""``GET /docs`` (Swagger UI) and ``GET /redoc`` (ReDoc), whose scripts, styles and icon are
served by the service itself from ``/static/docs/`` (the files fastapi-offline ships), so
that the API docs render on a machine without internet."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response

from ..errors import error_body

router = APIRouter(include_in_schema=False)

ASSETS_URL = "/static/docs"
ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
          "swagger-ui.css": "text/css; charset=utf-8",
          "redoc.standalone.js": "text/javascript; charset=utf-8",
          "favicon.png": "image/png"}
"""The files served, each with its media type (nothing else of the directory is)."""


@functools.cache
def assets_dir() -> Path | None:
    """fastapi-offline's directory of Swagger UI and ReDoc assets, or None where it is not
    installed (then /docs says so)."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    d = Path(fastapi_offline.__file__).resolve().parent / "static"
    return d if all((d / f).is_file() for f in ASSETS) else None


REMOTE = {"redoc.standalone.js": (b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"")}
"""What an asset would fetch from another host, and what it is replaced with: ReDoc's sidebar
logo (an empty ``src`` is an image that fails without a request, which ReDoc then hides)."""


@functools.cache
def _patched(name: str) -> bytes:
    """The asset's bytes with :data:`REMOTE`'s replacement made (read once)."""
    d = assets_dir()
    assert d is not None
    old, new = REMOTE[name]
    return (d / name).read_bytes().replace(old, new)


def _missing() -> JSONResponse:
    return JSONResponse(status_code=501, content=error_body(
        "unavailable", "the API docs' assets come from the fastapi-offline package, which is "
        "not installed on this server; pip install 'cnncalc[service]' (GET /openapi.json "
        "works without it)"))


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs")
async def swagger(request: Request) -> Response:
    """Swagger UI over ``/openapi.json``, with no request to another host."""
    if assets_dir() is None:
        return _missing()
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - API",
        swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png", oauth2_redirect_url=None,
        # no badge fetched from validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None})


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    """ReDoc over ``/openapi.json``, without web fonts."""
    if assets_dir() is None:
        return _missing()
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}", title=f"{request.app.title} - API",
        redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png", with_google_fonts=False)


@router.get(ASSETS_URL + "/{name}")
async def asset(name: str = PathParam()) -> Response:
    """One of :data:`ASSETS` (cached by browsers for a day)."""
    d = assets_dir()
    if name not in ASSETS:
        return JSONResponse(status_code=404, content=error_body(
            "not_found", f"no such asset {name[:80]!r}", path=["name"]))
    if d is None:
        return _missing()
    cache = {"Cache-Control": "public, max-age=86400"}
    if name in REMOTE:
        return Response(_patched(name), media_type=ASSETS[name], headers=cache)
    return FileResponse(d / name, media_type=ASSETS[name], headers=cache)

