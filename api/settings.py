"""Service limits and knobs, read from environment variables (see docs/service.md).

The symbolic core reads its own limits (``CNNCALC_MAX_LAYERS``, ``CNNCALC_MAX_EXPR_LENGTH``,
``CNNCALC_MAX_EXPR_DEPTH``) when it is imported; the worker processes inherit them from the
service's environment. An invalid value of any ``CNNCALC_*`` variable read here raises
:class:`SettingsError`, one line naming the variable, and the service does not start.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from cnncalc import envvars
from cnncalc.core.bindings import MAX_BINDING
from cnncalc.errors import CnnCalcError
from cnncalc.pytorch.budget import parse_bytes

MAX_SECONDS = 10**6
"""Upper bound of every time setting (about 11 days; beyond, timeouts overflow)."""
MAX_COUNT = 10**15
"""Upper bound of every count or byte setting."""
DEFAULT_VALIDATE_MAX_BYTES = 2 * 1024**3
"""Default memory budget of ``/validate`` (as ``cnncalc validate``'s), bytes."""
DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024**2
"""Default size limit of an upload (``POST /import/onnx``), bytes."""
_ORIGIN = re.compile(r"\*|https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
"""An origin of ``CNNCALC_CORS_ORIGINS``: ``*``, or scheme, host and optional port."""


class SettingsError(ValueError):
    """An invalid ``CNNCALC_*`` environment variable (the message names it)."""


def _env_int(name: str, default: int, lo: int = 0, hi: int = MAX_COUNT) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip().replace("_", "")
    if len(text) > 20 or not re.fullmatch(r"[+-]?[0-9]+", text):
        raise SettingsError(f"{name}={raw[:40]!r} is not an integer")
    v = int(text)
    if v < lo:
        raise SettingsError(f"{name}={raw!r} must be >= {lo}")
    if v > hi:
        raise SettingsError(f"{name}={raw!r} must be <= {hi}")
    return v


def _env_float(name: str, default: float, lo: float = 0.0, hi: float = MAX_SECONDS) -> float:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        v = float(raw[:40])
    except ValueError:
        raise SettingsError(f"{name}={raw[:40]!r} is not a number") from None
    if not math.isfinite(v):
        raise SettingsError(f"{name}={raw[:40]!r} must be a finite number of seconds")
    if not v > lo:
        raise SettingsError(f"{name}={raw!r} must be > {lo:g}")
    if v > hi:
        raise SettingsError(f"{name}={raw!r} must be <= {hi:g}")
    return v


def _env_origins(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma list of origins (``https://host[:port]``, or ``*`` for any), as CORS compares
    them: scheme and host, no path, no trailing slash."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    out = tuple(o.strip() for o in raw.split(",") if o.strip())
    for o in out:
        if not _ORIGIN.fullmatch(o):
            raise SettingsError(f"{name}: {o[:60]!r} is not an origin (scheme://host[:port], "
                                "no path, or * for any)")
    return out


def _env_bytes(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        v = parse_bytes(raw[:40])
    except (CnnCalcError, ValueError, OverflowError):
        raise SettingsError(f"{name}={raw[:40]!r} is not a byte count (e.g. 2147483648, "
                            "2GiB, 500MB)") from None
    if v > MAX_COUNT:
        raise SettingsError(f"{name}={raw!r} must be <= {MAX_COUNT}")
    return v


_LOWER = {"workers": 1, "max_binding": 1, "validate_threads": 1}
_UPPER = {"max_binding": MAX_BINDING, "workers": 1024, "validate_threads": 1024,
          "max_queue": 100_000}


@dataclass(frozen=True)
class Settings:
    """Every limit of the HTTP service; :meth:`from_env` reads the ``CNNCALC_*`` variables."""

    max_body_bytes: int = 1 << 20
    body_timeout_s: float = 30.0
    max_binding: int = MAX_BINDING
    time_limit_s: float = 10.0
    workers: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    queue_timeout_s: float = 30.0
    max_queue: int = 64
    worker_memory_mb: int = 2048
    cache_size: int = 512
    cache_max_bytes: int = 64 << 20
    validate_time_limit_s: float = 60.0
    validate_max_activations: int = 50_000_000
    validate_max_params: int = 100_000_000
    validate_max_bytes: int = DEFAULT_VALIDATE_MAX_BYTES
    validate_threads: int = 1
    validate_repeats: int = 3
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> Settings:
        """Defaults overridden by ``CNNCALC_<FIELD NAME IN CAPITALS>``; raises
        :class:`SettingsError` naming the first invalid variable (the library's own limits,
        such as ``CNNCALC_MAX_LAYERS``, included)."""
        try:
            envvars.check()
        except CnnCalcError as e:
            raise SettingsError(e.message) from None
        base = cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = "CNNCALC_" + f.name.upper()
            cur = getattr(base, f.name)
            if f.name == "cors_origins":
                values[f.name] = _env_origins(name, cur)
            elif f.name.endswith("_bytes") and (f.name.startswith("validate")
                                                or f.name == "max_upload_bytes"):
                values[f.name] = _env_bytes(name, cur)
            elif isinstance(cur, float):
                values[f.name] = _env_float(name, cur)
            else:
                values[f.name] = _env_int(name, cur, _LOWER.get(f.name, 0),
                                          _UPPER.get(f.name, MAX_COUNT))
        return cls(**values)
