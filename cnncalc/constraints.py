"""Constraints on the free symbols, derived from the symbolic analysis of an architecture.

* **Minimum sizes.** Every output length must be >= 1. Output lengths are non-decreasing in each
  input size (floors and ceilings of increasing affine maps, composed), so the smallest valid
  value of a symbol is found exactly by an exponential then binary search: ``H >= 63``.
* **Equalities.** Where a merge joins two symbolic sizes that are not identically equal (or a
  divisor must divide a symbolic channel count), their difference is periodic in the symbol
  with period the product of the divisors involved; checking one period gives the residues that
  work: ``H mod 16 == 0`` for a padding-1 U-Net. No residue: an error.
* **Exact sizes** (advice): sizes at which no strided window leaves input rows unread,
  ``(in + pad - k_eff) mod stride == 0`` at every layer, combined per symbol.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sympy

from .arith import Value, free_names, is_num
from .compile import compile_int, pretty
from .errors import CnnCalcError
from .layers.base import Note

if TYPE_CHECKING:
    from .analysis import Analysis
    from .schema import Architecture

MAX_PERIOD = 1 << 14
SEARCH_LIMIT = 1 << 40


@dataclass(frozen=True)
class ConstraintReport:
    """``required``: conditions for a valid network; ``exact``: sizes that drop no pixel."""

    required: tuple[str, ...]
    exact: tuple[str, ...]


def derive(arch: Architecture, fixed: Mapping[str, int] | None = None) -> ConstraintReport:
    """Constraints of ``arch`` with the symbols in ``fixed`` bound (cached per architecture)."""
    key = tuple(sorted((fixed or {}).items()))
    return _derive(arch.canonical_json(), key)


@functools.lru_cache(maxsize=256)
def _derive(arch_json: str, fixed: tuple[tuple[str, int], ...]) -> ConstraintReport:
    from .engine import run
    from .schema import Architecture
    return derive_from(run(Architecture.model_validate_json(arch_json), dict(fixed),
                           constraints=False))


def derive_from(an: Analysis) -> ConstraintReport:
    """Constraints on the free symbols of a (symbolic) analysis."""
    ge: list[Value] = []
    for r in an.layers:
        for v in r.output_shape:
            if not is_num(v):
                # A size that is a product of sizes (after a flatten) is >= 1 when each is.
                ge.extend(f for f in sympy.Mul.make_args(v) if not f.is_Number)
    ge.extend(n.lhs - n.rhs + 1 for n in an.notes if n.kind == "ge")  # type: ignore[operator]
    required: list[str] = []
    minimum: dict[str, int] = {}
    multi: list[str] = []
    for e in dict.fromkeys(ge):
        names = free_names(e)
        if len(names) == 1:
            (s,) = names
            m = _min_valid(compile_int(e), s)
            if m is None:
                raise CnnCalcError(f"no value of {s} gives every layer an output "
                                   f"({pretty(e)} stays below 1)", kind="constraint")
            minimum[s] = max(minimum.get(s, 1), m)
        elif names:
            multi.append(f"{pretty(e)} >= 1")
    required.extend(f"{s} >= {m}" for s, m in sorted(minimum.items()) if m > 1)
    required.extend(dict.fromkeys(multi))

    residues: dict[str, tuple[int, set[int]]] = {}
    for note in an.notes:
        if note.kind != "eq":
            continue
        lhs, rhs, text = note.lhs, note.rhs, f"{note.layer}: {note.text}"
        d = sympy.expand(sympy.sympify(lhs) - rhs)
        names = free_names(d)
        if len(names) != 1:
            required.append(f"{pretty(lhs)} == {pretty(rhs)} ({text})")
            continue
        (s,) = names
        got = _solve(compile_int(d), s, _period(d), minimum.get(s, 1), lambda v: v == 0)
        if got is None:
            raise CnnCalcError(f"{note.text}: {pretty(lhs)} == {pretty(rhs)} holds for no value "
                               f"of {s}", layer=note.layer, index=note.layer_index,
                               kind="constraint")
        if isinstance(got, list):
            required.append(f"{s} in {{{', '.join(map(str, got))}}} ({text})")
            continue
        residues[s] = _meet(residues.get(s), got, s, note)
    required.extend(_describe(s, p, r) for s, (p, r) in sorted(residues.items()))

    exact: list[str] = []
    tiles: dict[str, tuple[int, set[int]]] = {}
    for note in an.notes:
        span, stride, text = note.lhs, note.rhs, f"{note.layer}: {note.text}"
        if note.kind != "tile" or not is_num(stride):
            continue
        if is_num(span):
            if span % stride:  # type: ignore[operator]
                exact.append(f"{text}: {span % stride} input row(s) are never read")  # type: ignore[operator]
            continue
        names = free_names(span)
        if len(names) != 1:
            continue
        (s,) = names
        st = int(stride)  # type: ignore[arg-type]
        fn = compile_int(span)
        got = _solve(lambda env, fn=fn, st=st: fn(env) % st, s, _period(span) * st,
                     minimum.get(s, 1), lambda v: v == 0)
        if isinstance(got, tuple):
            try:
                tiles[s] = _meet(tiles.get(s), got, s, note)
            except CnnCalcError:
                exact.append(f"no value of {s} avoids unread input rows at every layer")
    exact.extend(f"{_describe(s, p, r)} (no layer leaves input pixels unread)"
                 for s, (p, r) in sorted(tiles.items()))
    return ConstraintReport(tuple(required), tuple(exact))


def _min_valid(fn: Callable, s: str) -> int | None:
    """Smallest positive value of ``s`` with ``fn >= 1`` (``fn`` non-decreasing in ``s``)."""
    hi = 1
    while fn({s: hi}) < 1:
        hi *= 2
        if hi > SEARCH_LIMIT:
            return None
    lo = hi // 2 + 1 if hi > 1 else 1
    while lo < hi:
        mid = (lo + hi) // 2
        if fn({s: mid}) >= 1:
            hi = mid
        else:
            lo = mid + 1
    return hi


def _period(e: sympy.Expr) -> int:
    """A multiple of the period of the non-linear part of ``e``: the lcm of its denominators."""
    p = 1
    for r in sympy.sympify(e).atoms(sympy.Rational):
        p = math.lcm(p, int(r.q))
    return p


def _solve(fn: Callable, s: str, period: int, start: int,
           ok: Callable[[int], bool]) -> tuple[int, set[int]] | list[int] | None:
    """Values of ``s >= start`` where ``ok(fn)``: residues mod ``period`` when the function is
    periodic, an explicit list when it holds at finitely many points, None when never."""
    if period > MAX_PERIOD:
        return None
    vals = [fn({s: start + i}) for i in range(2 * period)]
    if all(vals[i] == vals[i + period] for i in range(period)):
        good = {(start + i) % period for i in range(period) if ok(vals[i])}
        return (period, good) if good else None
    hits = [start + i for i in range(4096) if ok(fn({s: start + i}))]
    return hits or None


def _meet(old: tuple[int, set[int]] | None, new: tuple[int, set[int]], s: str,
          note: Note) -> tuple[int, set[int]]:
    """Intersect two residue conditions on ``s``."""
    if old is None:
        return new
    p = math.lcm(old[0], new[0])
    if p > MAX_PERIOD:
        return old
    both = {r for r in range(p) if r % old[0] in old[1] and r % new[0] in new[1]}
    if not both:
        raise CnnCalcError(f"{note.text}: no value of {s} satisfies this together with the "
                           "other conditions", layer=note.layer, index=note.layer_index,
                           kind="constraint")
    return p, both


def _describe(s: str, p: int, res: set[int]) -> str:
    """The shortest modulus describing the residue set, in words."""
    for q in range(1, p + 1):
        if p % q:
            continue
        small = {r % q for r in res}
        if all((r % q in small) == (r in res) for r in range(p)):
            if q == 1:
                return f"{s}: any value"
            if len(small) == 1:
                return f"{s} mod {q} == {next(iter(small))}"
            return f"{s} mod {q} in {{{', '.join(map(str, sorted(small)))}}}"
    return f"{s} mod {p} in {sorted(res)}"  # pragma: no cover
