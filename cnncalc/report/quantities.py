"""Names of the totals a report tabulates (sweeps, comparisons, plots, ``--quantities``): the
fields of :class:`~cnncalc.core.analysis.Totals` listed in
:data:`~cnncalc.core.analysis.TOTALS`, checked in one place."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..core.analysis import TOTALS
from ..errors import CnnCalcError

QUANTITIES = ("params", "macs", "flops", "activations", "peak_activation_bytes")
"""Totals a sweep or a comparison reports by default."""


def check_quantities(names: str | Iterable[str]) -> tuple[str, ...]:
    """``names`` (a sequence, or a comma-separated string as ``--quantities`` takes it) as a
    tuple; an unknown name is an error of kind ``input`` with the closest known one."""
    if isinstance(names, str):
        out = tuple(n.strip() for n in names.split(",") if n.strip())
    else:
        out = tuple(names)
    for q in out:
        if q not in TOTALS:
            close = difflib.get_close_matches(q, TOTALS, n=1) if isinstance(q, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CnnCalcError(f"unknown quantity {q!r}{hint}; one of {', '.join(TOTALS)}",
                               kind="input")
    return out
