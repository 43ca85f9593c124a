"""``CNNCALC_*`` environment variables of the library, read and checked in one place.

Every variable is an integer with a documented range; a value that is not an ASCII integer in
that range is a :class:`~cnncalc.errors.CnnCalcError` naming the variable, the value and the
range (never a bare ``ValueError``).

Limits read when a module is imported (:func:`limit`) must not break ``import cnncalc``: an
invalid value is recorded, the default is used meanwhile, and :func:`check` raises the recorded
error. :func:`cnncalc.load` (so every analysis, sweep, comparison and validation) and the
``cnncalc`` command call :func:`check` first, so nothing is computed under a limit the user
did not ask for.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from .errors import CnnCalcError

_INT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")
_MAX_DIGITS = 30

_PROBLEMS: dict[str, CnnCalcError] = {}
"""Invalid variables found by :func:`limit`, by name (raised by :func:`check`)."""


def _range(name: str, default: int, minimum: int, maximum: int) -> str:
    return (f"set {name} to an integer from {minimum} to {maximum}, or unset it for the "
            f"default {default}")


def env_int(name: str, default: int, minimum: int, maximum: int,
            environ: Mapping[str, str] | None = None) -> int:
    """The integer in ``$name`` (``default`` when unset or blank), in ``minimum..maximum``.

    Raises :class:`CnnCalcError` (kind ``limit``) naming the variable and the accepted range
    when the value is not an ASCII integer (``10000`` or ``10_000``) or is out of range."""
    raw = (os.environ if environ is None else environ).get(name)
    if raw is None or not raw.strip():
        return default
    text = raw.strip()
    if not _INT.fullmatch(text) or len(text) > _MAX_DIGITS:
        raise CnnCalcError(f"environment variable {name}={raw[:40]!r} is not an integer; "
                           + _range(name, default, minimum, maximum), kind="limit")
    value = int(text)
    if not minimum <= value <= maximum:
        raise CnnCalcError(f"environment variable {name}={text} is out of range; "
                           + _range(name, default, minimum, maximum), kind="limit")
    return value


def limit(name: str, default: int, minimum: int, maximum: int) -> int:
    """:func:`env_int` for a limit read at import time: an invalid value is recorded for
    :func:`check` (and ``default`` returned) instead of breaking the import."""
    try:
        value = env_int(name, default, minimum, maximum)
    except CnnCalcError as e:
        _PROBLEMS[name] = e
        return default
    _PROBLEMS.pop(name, None)
    return value


def check() -> None:
    """Raise the first invalid ``CNNCALC_*`` variable recorded at import time, if any."""
    for e in _PROBLEMS.values():
        raise CnnCalcError(e.message, kind=e.kind)
