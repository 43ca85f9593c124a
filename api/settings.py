"""Service limits and knobs, read from environment variables (see docs/service.md).

The symbolic core reads its own limits (``CNNCALC_MAX_LAYERS``, ``CNNCALC_MAX_EXPR_LENGTH``,
``CNNCALC_MAX_EXPR_DEPTH``) when it is imported; the worker processes inherit them from the
service's environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

LIBRARY_MAX_BINDING = 10**9
"""The core refuses bindings above this whatever the service allows."""


def _env_int(name: str, default: int, lo: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        v = int(raw.replace("_", ""))
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if v < lo:
        raise ValueError(f"{name}={raw!r} must be >= {lo}")
    return v


def _env_float(name: str, default: float, lo: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        v = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not v > lo:
        raise ValueError(f"{name}={raw!r} must be > {lo}")
    return v


@dataclass(frozen=True)
class Settings:
    """Every limit of the HTTP service; :meth:`from_env` reads the ``CNNCALC_*`` variables."""

    max_body_bytes: int = 1 << 20
    max_binding: int = LIBRARY_MAX_BINDING
    time_limit_s: float = 10.0
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    queue_timeout_s: float = 30.0
    worker_memory_mb: int = 2048
    cache_size: int = 512
    cache_max_bytes: int = 64 << 20
    validate_time_limit_s: float = 60.0
    validate_max_activations: int = 50_000_000
    validate_max_params: int = 100_000_000
    validate_threads: int = 1
    validate_repeats: int = 3

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults overridden by ``CNNCALC_<FIELD NAME IN CAPITALS>``."""
        base = cls()
        values: dict[str, object] = {}
        for f in fields(cls):
            name = "CNNCALC_" + f.name.upper()
            cur = getattr(base, f.name)
            if isinstance(cur, float):
                values[f.name] = _env_float(name, cur)
            else:
                lo = 1 if f.name in ("workers", "max_binding", "validate_threads") else 0
                values[f.name] = _env_int(name, cur, lo)
        return cls(**values)  # type: ignore[arg-type]
