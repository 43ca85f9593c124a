"""Solution sets of one symbol ``s`` in ``1..TOP``: per residue class ``s mod P``, intervals.

``(P, {r: [(lo, hi), ...]})`` holds the values ``s`` with ``s mod P == r`` inside one of the
inclusive intervals of ``r``; every interval starts and ends on its residue class.
"""

from __future__ import annotations

import math
from typing import Literal

from ..bindings import MAX_BINDING

TOP = MAX_BINDING
"""Largest binding allowed: the solutions are searched in ``1..TOP``."""
MAX_PERIOD = 1 << 14
"""Largest residue period solved exactly (and largest lcm of two conditions' periods)."""

ConstraintKind = Literal["ge", "eq"]
"""A required condition: ``expr >= 0`` ('ge') or ``expr == 0`` ('eq')."""

Intervals = list[tuple[int, int]]
Sol = tuple[int, dict[int, Intervals]]
"""Solutions of a condition on one symbol: ``(P, {r: intervals})``."""


def cut(a: Intervals, b: Intervals) -> Intervals:
    """The intersection of two sorted lists of intervals."""
    out: Intervals = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def tight(ivs: Intervals, r: int, p: int) -> Intervals:
    """The intervals shrunk to their first and last value ``== r (mod p)``."""
    out = []
    for lo, hi in ivs:
        lo2 = lo + (r - lo) % p
        hi2 = hi - (hi - r) % p
        if lo2 <= hi2:
            out.append((lo2, hi2))
    return out


def meet(a: Sol, b: Sol) -> Sol | None:
    """The intersection; None when the joint period exceeds :data:`MAX_PERIOD`."""
    p = math.lcm(a[0], b[0])
    if p > MAX_PERIOD:
        return None
    (pa, ra), (pb, rb) = a, b
    # The residues r mod p that both sides hold lift one side's residues (r mod pa, or mod
    # pb): walk the lifts of the side with fewer, in increasing order (as range(p) would).
    if len(ra) * (p // pa) <= len(rb) * (p // pb):
        lifts = [x + k * pa for x in ra if 0 <= x < pa for k in range(p // pa)]
    else:
        lifts = [x + k * pb for x in rb if 0 <= x < pb for k in range(p // pb)]
    lifts.sort()
    out: dict[int, Intervals] = {}
    for r in lifts:
        ia, ib = ra.get(r % pa), rb.get(r % pb)
        if ia and ib:
            got = tight(cut(ia, ib), r, p)
            if got:
                out[r] = got
    return p, out


def join(a: Sol, b: Sol) -> Sol | None:
    """The union; None when the joint period exceeds :data:`MAX_PERIOD`."""
    p = math.lcm(a[0], b[0])
    if p > MAX_PERIOD:
        return None
    out: dict[int, Intervals] = {}
    for r in range(p):
        ivs = sorted(tight(a[1].get(r % a[0], []), r, p) + tight(b[1].get(r % b[0], []), r, p))
        merged: Intervals = []
        for lo, hi in ivs:
            if merged and lo <= merged[-1][1] + p:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        if merged:
            out[r] = merged
    return p, out


def count(sol: Sol) -> int:
    """How many values the set holds."""
    p = sol[0]
    return sum((hi - lo) // p + 1 for ivs in sol[1].values() for lo, hi in ivs)


def values(sol: Sol) -> list[int]:
    """The values of the set, sorted (for small sets)."""
    p = sol[0]
    return sorted(v for ivs in sol[1].values() for lo, hi in ivs for v in range(lo, hi + 1, p))


def empty(sol: Sol) -> bool:
    return not any(sol[1].values())


def shape(sol: Sol) -> tuple[int, int, set[int]] | None:
    """``(lo, hi, residues)`` with the solutions == ``lo..hi`` and ``s mod P`` in
    ``residues``, when they have that form."""
    p, res = sol
    lo = min(ivs[0][0] for ivs in res.values())
    hi = max(ivs[-1][1] for ivs in res.values())
    for r, ivs in res.items():
        if ivs != tight([(lo, hi)], r, p):
            return None
    return lo, hi, set(res)


def between(lo: int = 1, hi: int = TOP) -> Sol:
    """The values ``lo..hi`` (by default every allowed value)."""
    return 1, {0: [(lo, hi)]} if lo <= hi else {}
