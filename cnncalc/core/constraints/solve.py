"""Solving one condition ``e(s) >= 0`` or ``e(s) == 0`` in one symbol, exactly, over ``1..TOP``.

* **Monotone** ``e`` (proved by :func:`~cnncalc.core.constraints.signs.mono`): a half-line found
  by binary search (``H >= 63``, ``K <= 32``).
* **Quasi-affine** ``e`` (affine in ``t`` on every residue class ``s = r + P*t``, proved
  structurally): each class solved in closed form.
* **Quasi-polynomial** ``e`` (the ``d``-th difference with step ``P`` is identically 0): the
  polynomial of each class is interpolated and its real roots isolated (``H in {5000}``).

Anything else is not solved (None): the caller prints the condition as it is.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from ...algebra.compile import compile_int, compile_sign
from ...errors import CnnCalcError
from .sets import MAX_PERIOD, TOP, ConstraintKind, Intervals, Sol, meet
from .signs import mono

if TYPE_CHECKING:
    import sympy
else:
    from ...algebra.lazy import sympy  # imported on first symbolic use

MAX_DEGREE = 4
"""Highest degree (per residue class) of a quasi-polynomial condition solved exactly."""

Affine = list[tuple[int, int]]


def _evaluator(e: sympy.Expr, s: str, integer: bool = False) -> Callable[[int], int | None]:
    """An exact integer with the sign of ``e`` at ``s = v`` (None where it cannot be evaluated,
    e.g. a divisor that is not >= 1); with ``integer``, the value of integer-valued ``e``."""
    ev = compile_int(e) if integer else compile_sign(e).ev

    def at(v: int) -> int | None:
        try:
            return int(ev({s: v}))
        except (CnnCalcError, ZeroDivisionError, OverflowError):
            return None
    return at


def _norm_rounding(e: sympy.Expr) -> sympy.Expr:
    """Pull the integer part of the constant term out of every floor and ceiling."""
    def fix(a: sympy.Expr) -> sympy.Expr:
        x = sympy.expand(a.args[0])
        c = x.as_coeff_Add()[0]
        n = sympy.floor(c)
        rounding = sympy.floor if isinstance(a, sympy.floor) else sympy.ceiling
        return rounding(x - n) + n
    return e.replace(lambda a: isinstance(a, (sympy.floor, sympy.ceiling)), fix)


def _quasi(e: sympy.Expr, s: sympy.Symbol) -> tuple[int, int] | None:
    """``(P, d)`` when ``e(r + P*t)`` is a polynomial of degree < ``d`` in ``t`` for every
    residue ``r`` (proved: the ``d``-th difference with step ``P`` is identically 0)."""
    if e.has(sympy.Max, sympy.Min, sympy.Mod):
        return None
    for p in e.atoms(sympy.Pow):
        if p.exp.is_negative and p.base.has(s):
            return None  # a symbolic divisor
    dens = [int(r.q) for r in e.atoms(sympy.Rational)]
    for period in dict.fromkeys([math.lcm(1, *dens), period_of(e)]):
        if period > MAX_PERIOD:
            continue
        d = sympy.expand(e)
        for k in range(1, MAX_DEGREE + 2):
            d = sympy.expand(_norm_rounding(d.xreplace({s: s + period})) - _norm_rounding(d))
            if d == 0:
                return period, k
            if d.is_Number:
                continue
    return None


def period_of(e: sympy.Expr) -> int:
    """A period for the residue classes: each floor ``floor(x)`` needs the period of the floors
    inside ``x`` times the denominators of ``x``'s coefficients (nested floors multiply)."""
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        x = sympy.expand(e.args[0])
        den = math.lcm(1, *(int(c.q) for c in x.as_coefficients_dict().values()
                            if isinstance(c, sympy.Rational)))
        return period_of(x) * den
    if e.args:
        return math.lcm(1, *(period_of(a) for a in e.args))
    return int(e.q) if isinstance(e, sympy.Rational) else 1


@functools.lru_cache(maxsize=4096)
def _slope(e: sympy.Expr, s: sympy.Symbol, period: int) -> Fraction | None:
    """The slope of ``e`` in ``s`` when ``e`` is affine in ``t`` on every residue class
    ``s = f + period*t`` (``t >= 0`` integer), else None. Proved structurally: a floor or
    ceiling keeps the slope of its argument when ``period * slope`` is an integer, because
    ``floor(y + k*t) == floor(y) + k*t`` for integers ``k``, ``t``."""
    if e.is_Number:
        return Fraction(0) if isinstance(e, sympy.Rational) else None
    if e == s:
        return Fraction(1)
    if e.is_Add:
        total = Fraction(0)
        for t in e.args:
            d = _slope(t, s, period)
            if d is None:
                return None
            total += d
        return total
    if e.is_Mul:
        c, rest = e.as_coeff_Mul()
        if rest == e or not isinstance(c, sympy.Rational):
            return None
        d = _slope(rest, s, period)
        return None if d is None else Fraction(int(c.p), int(c.q)) * d
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        d = _slope(sympy.expand(e.args[0]), s, period)
        return d if d is not None and (d * period).denominator == 1 else None
    return None


def _affine(e: sympy.Expr, s: sympy.Symbol, period: int, integer: bool = False
            ) -> Affine | None:
    """``[(a_i, b_i)]`` with ``L*e(f_i + period*t) == a_i*t + b_i`` for every integer
    ``t >= 0`` (``f_i`` the first positive value ``== i (mod period)``, ``L > 0`` a constant
    scale; ``L == 1`` with ``integer``, for integer-valued ``e``), or None when ``e`` is not of
    that form."""
    e = sympy.expand(e)
    if _slope(e, s, period) is None:
        return None
    at = _evaluator(e, str(s), integer)
    out: Affine = []
    for i in range(period):
        first = i if i >= 1 else period
        v0, v1 = at(first), at(first + period)
        if v0 is None or v1 is None:
            return None
        out.append((v1 - v0, v0))
    return out


def _affine_solutions(aff: Affine, period: int, kind: ConstraintKind) -> Sol:
    """Solve ``a_i*t + b_i >= 0`` ('ge') or ``== 0`` ('eq') on every residue class."""
    out: dict[int, Intervals] = {}
    for i, (a, b) in enumerate(aff):
        first = i if i >= 1 else period
        tmax = (TOP - first) // period
        if a == 0:
            good = (b >= 0) if kind == "ge" else (b == 0)
            got = [(0, tmax)] if good else []
        elif kind == "eq":
            t = -b // a
            got = [(t, t)] if t * a == -b and 0 <= t <= tmax else []
        elif a > 0:  # t >= -b/a
            lo = max(0, -(b // a))
            got = [(lo, tmax)] if lo <= tmax else []
        else:  # t <= -b/a
            hi = min(tmax, b // -a)
            got = [(0, hi)] if hi >= 0 else []
        if got:
            out[i] = [(first + period * lo, first + period * hi) for lo, hi in got]
    return period, out


def _copy(sol: Sol | None) -> Sol | None:
    """A solution set of one's own (the cached ones are shared)."""
    return None if sol is None else (sol[0], {r: list(iv) for r, iv in sol[1].items()})


def tile_solutions(span: sympy.Expr, s: sympy.Symbol, stride: int, *,
                   shared: bool = False) -> Sol | None:
    """The values of ``s`` with ``span mod stride == 0``, for a quasi-affine ``span``
    (solved once per condition: the same strides recur in every analysis of a network).
    ``shared``: the kept set itself, for a caller that only reads it (else a copy)."""
    got = _tile_solutions(span, s, stride)
    return got if shared else _copy(got)


@functools.lru_cache(maxsize=4096)
def _tile_solutions(span: sympy.Expr, s: sympy.Symbol, stride: int) -> Sol | None:
    period = period_of(span)
    if period * stride > MAX_PERIOD:
        return None
    aff = _affine(span, s, period, integer=True)
    if aff is None:
        return None
    big = period * stride
    out: dict[int, Intervals] = {}
    for i, (a, b) in enumerate(aff):
        first = i if i >= 1 else period
        for t in range(stride):
            if (a * t + b) % stride == 0:
                v = first + period * t
                out[v % big] = [(v, TOP - (TOP - v) % big)]
    return big, out


def _poly_solutions(vals: list[int], tmax: int, kind: ConstraintKind) -> Intervals:
    """Integer ``t`` in ``0..tmax`` where the polynomial through ``(i, vals[i])`` is >= 0
    ('ge') or == 0 ('eq'), as inclusive intervals."""
    def ok(v: Fraction | int) -> bool:
        return v >= 0 if kind == "ge" else v == 0

    n = len(vals)
    if all(v == vals[0] for v in vals):
        return [(0, tmax)] if ok(vals[0]) else []
    t = sympy.Symbol("t")
    poly = sympy.Poly(sympy.interpolate(list(zip(range(n), vals, strict=True)), t), t)

    def at(x: int) -> Fraction:
        return Fraction(str(poly.eval(x)))

    marks = {0, tmax}
    for (a, b), _ in poly.intervals(eps=sympy.Rational(1, 4)):
        lo, hi = math.floor(a) - 1, math.ceil(b) + 1
        marks.update(x for x in range(lo, hi + 1) if 0 <= x <= tmax)
    pts = sorted(marks)
    out: Intervals = []

    def add(lo: int, hi: int) -> None:
        if out and out[-1][1] == lo - 1:
            out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))

    for i, x in enumerate(pts):
        if ok(at(x)):
            add(x, x)
        if i + 1 < len(pts) and pts[i + 1] > x + 1 and ok(at(x + 1)):
            add(x + 1, pts[i + 1] - 1)  # no root strictly between marks: the sign is constant
    return out


def _half_line(ok: Callable[[int], bool], d: int) -> Sol:
    """The values where a monotone condition holds (``d`` its direction): a binary search."""
    if d == 0:
        return (1, {0: [(1, TOP)]}) if ok(1) else (1, {})
    if d == 1:
        if not ok(TOP):
            return 1, {}
        lo, hi = 1, TOP
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
        return 1, {0: [(lo, TOP)]}
    if not ok(1):
        return 1, {}
    lo, hi = 1, TOP
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
    return 1, {0: [(1, lo)]}


def solve_one(e: sympy.Expr, s: str, kind: ConstraintKind) -> Sol | None:
    """The values ``1 <= s <= TOP`` with ``e >= 0`` ('ge') or ``e == 0`` ('eq'); None when
    the condition is not of a form solved exactly (solved once per condition)."""
    return _copy(_solve_one(e, s, kind))


@functools.lru_cache(maxsize=4096)
def _solve_one(e: sympy.Expr, s: str, kind: ConstraintKind) -> Sol | None:
    x = sympy.Symbol(s, integer=True, positive=True)
    at = _evaluator(e, s)

    def ok(v: int) -> bool:
        r = at(v)
        return r is not None and (r >= 0 if kind == "ge" else r == 0)

    d = mono(e, x)
    if kind == "eq":
        if d in (1, -1):  # the zeros of a monotone function: between two half-lines
            above, below = _solve_one(e, s, "ge"), _solve_one(-e, s, "ge")
            return meet(above, below) if above is not None and below is not None else None
        d = None
    if d is not None:
        return _half_line(ok, d)
    period = period_of(e)
    if period <= MAX_PERIOD:
        aff = _affine(e, x, period)
        if aff is not None:
            return _affine_solutions(aff, period, kind)
    q = _quasi(e, x)
    if q is None:
        return None
    period, n = q
    out: dict[int, Intervals] = {}
    for r in range(period):
        first = r if r >= 1 else period
        tmax = (TOP - first) // period
        vals = [at(first + period * i) for i in range(n)]
        known = [v for v in vals if v is not None]
        if len(known) != len(vals):
            return None
        got = _poly_solutions(known, tmax, kind)
        if got:
            out[r] = [(first + period * a, first + period * b) for a, b in got]
    return period, out
