"""``GET /health``."""

from __future__ import annotations

from fastapi import APIRouter, Depends

import cnncalc

from ..models import Health
from ..service import Service
from . import service

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health, summary="Liveness, workers and cache")
async def health(svc: Service = Depends(service)) -> Health:
    """Answered on the event loop (no thread hop): it stays fast while workers are busy."""
    return Health(status="ok", version=cnncalc.__version__, **svc.stats())
