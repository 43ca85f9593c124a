"""Routers of the HTTP service: thin async functions over :class:`api.service.Service`.

Every route is async and cheap on the event loop (cached bytes, a cache look-up); the only
waiting, for a worker process, is on the loop too and bounded per pool (503 past
``CNNCALC_WORKERS + CNNCALC_MAX_QUEUE``), so no queue of slow requests can take the threads or
the loop that the other answers need."""

from __future__ import annotations

from fastapi import Request

from ..service import Service


async def service(request: Request) -> Service:
    """The app's service object (made by :func:`api.main.create_app`); async, so that it
    costs no thread hop."""
    svc: Service = request.app.state.service
    return svc
