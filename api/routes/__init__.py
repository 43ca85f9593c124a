"""Routers of the HTTP service: thin sync functions over :class:`api.service.Service`."""

from __future__ import annotations

from fastapi import Request

from ..service import Service


async def service(request: Request) -> Service:
    """The app's service object (made by :func:`api.main.create_app`); async, so that it
    costs no thread hop."""
    svc: Service = request.app.state.service
    return svc
