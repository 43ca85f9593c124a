"""Bindings: the sizes a user fixes (``{"H": 224, "W": 224}``), checked and printed in one place.

A binding names a symbol of the architecture and is an integer in ``1..MAX_BINDING``, or in the
range the architecture declares for it (``"symbols": {"P": {"min": 0, "max": 11}}``); anything
else is a :class:`~cnncalc.errors.CnnCalcError` of kind ``binding`` naming it (JSON path
``bindings.NAME``). :func:`require_bound` is the one "bind every size first" error of the
commands that need numbers (torch builds, validation, time prediction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import CnnCalcError

MAX_BINDING = 10**9
"""Largest value a size may be bound to (constraints are solved over ``1..MAX_BINDING``)."""


def format_bindings(bindings: Mapping[str, object], empty: str = "") -> str:
    """``{"H": 224, "W": 224}`` as ``H=224, W=224`` (``empty`` when there are none)."""
    return ", ".join(f"{k}={v}" for k, v in bindings.items()) or empty


def require_bound(free: Sequence[str], what: str) -> None:
    """Refuse to ``what`` (``"validate in torch"``) while any size in ``free`` is unbound."""
    if free:
        raise CnnCalcError(f"bind every size to {what}; unbound: {', '.join(free)} "
                           f"(e.g. --bind {free[0]}=...)", kind="binding")


Ranges = Mapping[str, tuple[int, int]]
"""Declared ranges of sizes, by name (inclusive); a size not in it takes ``1..MAX_BINDING``."""


def in_range(name: str, value: int, ranges: Ranges | None) -> str | None:
    """Why ``value`` is not a valid value of size ``name`` (None when it is)."""
    lo, hi = (ranges or {}).get(name, (1, MAX_BINDING))
    if lo <= value <= hi:
        return None
    if (lo, hi) != (1, MAX_BINDING):
        return f"outside the range {name} is declared with, {lo}..{hi}"
    return f"outside 1..{MAX_BINDING}"


def check_bindings(symbols: Sequence[str], bindings: Mapping[str, object] | None,
                   ranges: Ranges | None = None) -> dict[str, int]:
    """Bindings as ints: every name one of ``symbols`` (the architecture's), every value an
    integer in its declared range (``ranges``), by default ``1..MAX_BINDING``."""
    if not bindings:
        return {}
    if not isinstance(bindings, Mapping):
        raise CnnCalcError(f"bindings must be a mapping of names to integers, got "
                           f"{type(bindings).__name__}", path=["bindings"], kind="binding")
    out: dict[str, int] = {}
    for k, v in bindings.items():
        if k not in symbols:
            raise CnnCalcError(f"binding for {k!r}, but the architecture's symbols are "
                               f"{', '.join(symbols) or 'none (every size is a number)'}",
                               path=["bindings", k], kind="binding")
        if isinstance(v, bool) or not isinstance(v, int):
            raise CnnCalcError(f"binding {k} must be an integer, got {v!r}", path=["bindings", k],
                               kind="binding")
        why = in_range(k, v, ranges)
        if why:
            raise CnnCalcError(f"binding {k}={v} is {why}", path=["bindings", k],
                               kind="binding")
        out[k] = int(v)  # a plain int (an int subclass would pass the checks above)
    return out


def check_free(free: Sequence[str], names: Mapping[str, object]) -> None:
    """Every name bound anew must be one of the ``free`` symbols of an analysis."""
    for k in names:
        if k not in free:
            raise CnnCalcError(f"binding for {k!r}, but the free symbols are "
                               f"{', '.join(free) or 'none'}", path=["bindings", k],
                               kind="binding")


def check_binding_arrays(free: Sequence[str], arrays: Mapping[str, Any],
                         ranges: Ranges | None = None
                         ) -> tuple[list[str], dict[str, Any], tuple[int, ...]]:
    """Arrays of bindings, one per free symbol, each an array of integers in its range
    (``ranges``, by default ``1..MAX_BINDING``): their names, the arrays broadcast together
    and flattened to 1-D int64 columns, and their common shape."""
    import numpy as np

    check_free(free, arrays)
    if set(arrays) != set(free):
        raise CnnCalcError(f"evaluate_many needs arrays for every free symbol: "
                           f"{', '.join(sorted(free))}", kind="binding")
    raw: dict[str, Any] = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype.kind == "O":
            if any(isinstance(x, bool) or not isinstance(x, (int, np.integer))
                   for x in a.ravel().tolist()):
                raise CnnCalcError(f"{k} must be an array of integers", path=["bindings", k],
                                   kind="binding")
        elif a.dtype.kind not in "iu":
            raise CnnCalcError(f"{k} must be an array of integers, got {a.dtype} values",
                               path=["bindings", k], kind="binding")
        if a.size:
            lo, hi = (ranges or {}).get(k, (1, MAX_BINDING))
            out_of_range = (a < lo) | (a > hi)
            if out_of_range.any():
                i = int(np.flatnonzero(out_of_range.ravel())[0])
                v = int(a.ravel()[i])
                raise CnnCalcError(f"binding {k}={v} (row {i}) is {in_range(k, v, ranges)}",
                                   path=["bindings", k], kind="binding")
        raw[k] = a.astype(np.int64)
    shape = tuple(np.broadcast_shapes(*(a.shape for a in raw.values()))) if raw else ()
    cols = {k: np.broadcast_to(a, shape).ravel() for k, a in raw.items()}
    return list(arrays), cols, shape
