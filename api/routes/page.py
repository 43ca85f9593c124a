"""The page at ``/``: a static single-page app served from ``api/static`` (no CDN, no build
step), which calls the service's own endpoints (docs/page.md)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from ..errors import error_body

STATIC = Path(__file__).resolve().parent.parent / "static"
"""The page's files (index.html, scripts, styles)."""

MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml",
               ".png": "image/png", ".ico": "image/x-icon"}
"""The page's file types (anything else under ``api/static`` is not served)."""

NO_CACHE = {"Cache-Control": "no-cache"}
"""Revalidate on each load (ETag), so that an upgraded service serves its new page."""

router = APIRouter(tags=["page"])


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The page."""
    return FileResponse(STATIC / "index.html", media_type=MEDIA_TYPES[".html"],
                        headers=NO_CACHE)


def static_file(name: str) -> Path | None:
    """The file of ``/static/{name}`` under :data:`STATIC`, or None: a name that leaves the
    folder (``..``, an absolute path, a link outward), a folder, or a type not served."""
    if "\\" in name or "\x00" in name:
        return None
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file() or path.suffix not in MEDIA_TYPES:
        return None
    return path


@router.get("/static/{name}", include_in_schema=False)
async def static(name: str) -> Response:
    """A file of the page (``/static/app.js``; one level: ``/static/docs/`` is the API
    docs' assets)."""
    path = static_file(name)
    if path is None:
        return JSONResponse(status_code=404, content=error_body(
            "not_found", f"no page file {name!r}"))
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=NO_CACHE)
