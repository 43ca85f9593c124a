"""Constraints on the free symbols, derived from the symbolic analysis of an architecture.

Every condition a valid network must meet is collected: each symbolic output length >= 1, and
each note a layer recorded (``lhs >= rhs``: kernel >= 1, padding >= 0, pool padding <= k/2...;
``lhs == rhs``: merges of symbolic sizes, divisors of symbolic channels, exact ``/`` in
expressions). A condition in one symbol ``s`` is solved *exactly* over the bindings allowed,
``1 <= s <= MAX_BINDING``:

* **Monotone conditions.** When the expression is provably monotone in ``s`` (a structural
  proof: floors, ceilings, sums and products of monotone parts of known sign), its solutions are
  a half-line found by binary search: ``H >= 63`` for an input size, ``K <= 32`` for a kernel.
* **Quasi-polynomials.** Otherwise, where ``e(s)`` is a polynomial in ``t`` on every residue
  class ``s = r + P*t`` (``P`` the lcm of its denominators; proved symbolically: the ``d``-th
  difference with step ``P`` is identically 0), the polynomial of each class is interpolated
  and solved exactly: periodic merges give ``H mod 16 == 0``, a fixed-size upsample added to
  the input gives ``H in {5000}``.
* Anything else (several symbols, a symbolic divisor) is printed as the condition itself.

The solutions of all one-symbol conditions on ``s`` are intersected and described in words
(``H >= 16`` and ``H mod 16 == 0``; ``1 <= K <= 32``; ``C in {2}``); an empty intersection is
an error naming the condition that emptied it.

**Exact sizes** (advice): sizes at which no strided window leaves input rows unread,
``(in + pad - k_eff) mod stride == 0`` at every layer, solved the same way and intersected with
the required set, so the advice never names a size the network refuses; where no valid size
satisfies every layer, one line says so and names the layers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import sympy

from .arith import free_names, is_num
from .compile import compile_int, compile_sign, pretty
from .errors import CnnCalcError
from .layers.base import Note

if TYPE_CHECKING:
    from .analysis import Analysis
    from .schema import Architecture

MAX_PERIOD = 1 << 14
"""Largest residue period solved exactly (and largest lcm of two conditions' periods)."""
TOP = 10**9
"""Largest binding allowed (``engine.MAX_BINDING``): the solutions are searched in 1..TOP."""
MAX_DEGREE = 4
"""Highest degree (per residue class) of a quasi-polynomial condition solved exactly."""
LIST_MAX = 16
"""A finite solution set up to this size is listed (``H in {...}``)."""

Intervals = list[tuple[int, int]]
Sol = tuple[int, dict[int, Intervals]]
"""Solutions of a condition on one symbol: ``(P, {r: intervals})``, the values ``s`` with
``s mod P == r`` inside one of the (inclusive) intervals of ``r``."""


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


def report(an: Analysis) -> ConstraintReport:
    """The constraints of an analysis, on its free symbols only (a bound symbol's conditions
    held, or the analysis would have failed)."""
    return derive_from(an)


# --- signs and monotonicity of size expressions ---------------------------------------------

def sign_of(e: sympy.Expr, known: frozenset[sympy.Expr] = frozenset()) -> int:
    """1 when ``e >= 0`` for all positive integer symbols (and the ``known`` atoms >= 0), -1
    when ``e <= 0``, 0 when neither is proved. Structural and cheap."""
    if e.is_Number:
        return 1 if e >= 0 else -1
    if e.is_Symbol:
        return 1 if e.is_nonnegative else 0
    if e in known:
        return 1
    if e.is_Add:
        ss = {sign_of(t, known) for t in e.args}
        return ss.pop() if len(ss) == 1 else 0
    if e.is_Mul:
        out = 1
        for f in e.args:
            out *= sign_of(f, known)
        return out
    if e.is_Pow:
        b, x = e.args
        if x.is_Integer and x > 0 and x % 2 == 0:
            return 1
        sb = sign_of(b, known)
        if x.is_Integer and x > 0:
            return sb
        return 1 if sb == 1 else 0
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        # floor(x) >= 0 iff x >= 0 and floor(x) <= 0 when x <= 0; ceiling(x) >= 0 when x >= 0
        # and ceiling(x) <= 0 iff x <= 0.
        return sign_of(e.args[0], known)
    if isinstance(e, (sympy.Max, sympy.Min)):
        sl = [sign_of(a, known) for a in e.args]
        if (isinstance(e, sympy.Max) and 1 in sl) or all(x == 1 for x in sl):
            return 1
        if (isinstance(e, sympy.Min) and -1 in sl) or all(x == -1 for x in sl):
            return -1
    return 0


def _mono(e: sympy.Expr, s: sympy.Symbol) -> int | None:
    """Direction of ``e`` in ``s`` over the positive integers: 1 non-decreasing, -1
    non-increasing, 0 constant, None when not proved."""
    if not e.has(s):
        return 0
    if e == s:
        return 1
    if e.is_Add:
        ds = {_mono(t, s) for t in e.args} - {0}
        return ds.pop() if len(ds) == 1 else None
    if e.is_Mul:
        flip, dirs = 1, set()
        for f in e.args:
            d = _mono(f, s)
            if d is None:
                return None
            if d == 0:
                if f.is_Number:
                    flip *= 1 if f > 0 else -1
                    continue
            sg = sign_of(f)
            if sg == 0:
                return None
            flip *= sg
            if d:
                dirs.add(d * sg)  # the direction of |f|
        if len(dirs) > 1:
            return None
        return flip * dirs.pop() if dirs else 0
    if e.is_Pow:
        b, x = e.args
        d = _mono(b, s)
        if x.has(s) or d is None or not x.is_Integer:
            return None
        if x < 0:
            return -d if b.is_positive else None  # 1/b**k falls as b > 0 grows
        if x % 2 == 1:
            return d  # odd powers are increasing
        sb = sign_of(b)
        return d * sb if sb else None
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        return _mono(e.args[0], s)
    if isinstance(e, (sympy.Max, sympy.Min)):
        ds = {_mono(a, s) for a in e.args} - {0}
        return ds.pop() if len(ds) == 1 and None not in ds else None
    return None


# --- solving one condition in one symbol ------------------------------------------------------

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
        return type(a)(x - n) + n  # type: ignore[no-any-return]
    return e.replace(lambda a: isinstance(a, (sympy.floor, sympy.ceiling)), fix)  # type: ignore[no-any-return]


def _quasi(e: sympy.Expr, s: sympy.Symbol) -> tuple[int, int] | None:
    """``(P, d)`` when ``e(r + P*t)`` is a polynomial of degree < ``d`` in ``t`` for every
    residue ``r`` (proved: the ``d``-th difference with step ``P`` is identically 0)."""
    if e.has(sympy.Max, sympy.Min, sympy.Mod):
        return None
    for p in e.atoms(sympy.Pow):
        if p.exp.is_negative and p.base.has(s):
            return None  # a symbolic divisor
    dens = [int(r.q) for r in e.atoms(sympy.Rational)]
    for period in dict.fromkeys([math.lcm(1, *dens), _period(e)]):
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


def _period(e: sympy.Expr) -> int:
    """A period for the residue classes: each floor ``floor(x)`` needs the period of the floors
    inside ``x`` times the denominators of ``x``'s coefficients (nested floors multiply)."""
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        x = sympy.expand(e.args[0])
        den = math.lcm(1, *(int(c.q) for c in x.as_coefficients_dict().values()
                            if isinstance(c, sympy.Rational)))
        return _period(x) * den
    if e.args:
        return math.lcm(1, *(_period(a) for a in e.args))
    return int(e.q) if isinstance(e, sympy.Rational) else 1


Affine = list[tuple[int, int]]


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


def _affine_solutions(aff: Affine, period: int, kind: str) -> Sol:
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


def _tile_solutions(span: sympy.Expr, s: sympy.Symbol, stride: int) -> Sol | None:
    """The values of ``s`` with ``span mod stride == 0``, for a quasi-affine ``span``."""
    period = _period(span)
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


def _poly_solutions(vals: list[int], tmax: int, kind: str) -> Intervals:
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


def _solve_one(e: sympy.Expr, s: str, kind: str) -> Sol | None:
    """The values ``1 <= s <= TOP`` with ``e >= 0`` ('ge') or ``e == 0`` ('eq'); None when
    the condition is not of a form solved exactly."""
    x = sympy.Symbol(s, integer=True, positive=True)
    at = _evaluator(e, s)

    def ok(v: int) -> bool:
        r = at(v)
        return r is not None and (r >= 0 if kind == "ge" else r == 0)

    d = _mono(e, x)
    if kind == "eq":
        if d in (1, -1):  # the zeros of a monotone function: between two half-lines
            above, below = _solve_one(e, s, "ge"), _solve_one(-e, s, "ge")
            return _meet(above, below) if above is not None and below is not None else None
        d = None
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
    if d == -1:
        if not ok(1):
            return 1, {}
        lo, hi = 1, TOP
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if ok(mid) else (lo, mid - 1)
        return 1, {0: [(1, lo)]}
    period = _period(e)
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
        if any(v is None for v in vals):
            return None
        got = _poly_solutions(vals, tmax, kind)  # type: ignore[arg-type]
        if got:
            out[r] = [(first + period * a, first + period * b) for a, b in got]
    return period, out


# --- sets of solutions ------------------------------------------------------------------------

def _cut(a: Intervals, b: Intervals) -> Intervals:
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


def _tight(ivs: Intervals, r: int, p: int) -> Intervals:
    """The intervals shrunk to their first and last value ``== r (mod p)``."""
    out = []
    for lo, hi in ivs:
        lo2 = lo + (r - lo) % p
        hi2 = hi - (hi - r) % p
        if lo2 <= hi2:
            out.append((lo2, hi2))
    return out


def _meet(a: Sol, b: Sol) -> Sol | None:
    """The intersection; None when the joint period exceeds :data:`MAX_PERIOD`."""
    p = math.lcm(a[0], b[0])
    if p > MAX_PERIOD:
        return None
    out: dict[int, Intervals] = {}
    for r in range(p):
        ia, ib = a[1].get(r % a[0]), b[1].get(r % b[0])
        if ia and ib:
            got = _tight(_cut(ia, ib), r, p)
            if got:
                out[r] = got
    return p, out


def _join(a: Sol, b: Sol) -> Sol | None:
    """The union; None when the joint period exceeds :data:`MAX_PERIOD`."""
    p = math.lcm(a[0], b[0])
    if p > MAX_PERIOD:
        return None
    out: dict[int, Intervals] = {}
    for r in range(p):
        ivs = sorted(_tight(a[1].get(r % a[0], []), r, p) + _tight(b[1].get(r % b[0], []), r, p))
        merged: Intervals = []
        for lo, hi in ivs:
            if merged and lo <= merged[-1][1] + p:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        if merged:
            out[r] = merged
    return p, out


def _count(sol: Sol) -> int:
    p = sol[0]
    return sum((hi - lo) // p + 1 for ivs in sol[1].values() for lo, hi in ivs)


def _values(sol: Sol) -> list[int]:
    p = sol[0]
    return sorted(v for ivs in sol[1].values() for lo, hi in ivs for v in range(lo, hi + 1, p))


def _empty(sol: Sol) -> bool:
    return not any(sol[1].values())


def _shape(sol: Sol) -> tuple[int, int, set[int]] | None:
    """``(lo, hi, residues)`` with the solutions == ``lo..hi`` and ``s mod P`` in
    ``residues``, when they have that form."""
    p, res = sol
    lo = min(ivs[0][0] for ivs in res.values())
    hi = max(ivs[-1][1] for ivs in res.values())
    for r, ivs in res.items():
        if ivs != _tight([(lo, hi)], r, p):
            return None
    return lo, hi, set(res)


def _sol_of(lo: int, hi: int) -> Sol:
    return 1, {0: [(lo, hi)]} if lo <= hi else {}


# --- deriving and describing ------------------------------------------------------------------

@dataclass
class _Cond:
    expr: sympy.Expr   # condition: expr >= 0 ('ge') or expr == 0 ('eq')
    kind: str
    text: str          # the condition in words, when printed as it is
    note: Note | None  # where it comes from (None: an output length)
    alts: tuple[sympy.Expr, ...] = ()  # 'eq': other expressions whose zeros also satisfy it


def _conditions(an: Analysis) -> list[_Cond]:
    out: dict[str, _Cond] = {}
    for r in an.layers:
        for v in r.output_shape:
            if not is_num(v):
                # A size that is a product of sizes (after a flatten) is >= 1 when each is.
                for f in sympy.Mul.make_args(v):
                    if not f.is_Number:
                        out.setdefault(f"{pretty(f)} >= 1", _Cond(f - 1, "ge",
                                                                  f"{pretty(f)} >= 1", None))
    for n in an.notes:
        if n.kind not in ("ge", "eq"):
            continue
        lhs, rhs = sympy.sympify(n.lhs), sympy.sympify(n.rhs)
        e = sympy.expand(lhs - rhs)
        if not free_names(e):
            if (e >= 0) if n.kind == "ge" else (e == 0):
                continue
            raise CnnCalcError(f"{n.text}: {pretty(n.lhs)} {'>=' if n.kind == 'ge' else '=='} "
                               f"{pretty(n.rhs)} does not hold", layer=n.layer,
                               index=n.layer_index, kind="constraint")
        if n.kind == "ge":
            text = f"{pretty(n.lhs)} >= {pretty(n.rhs)}"
        else:
            text = f"{pretty(n.lhs)} == {pretty(n.rhs)} ({n.layer}: {n.text})"
        # A merge of sizes that differ still works where one of them is 1 (it broadcasts).
        alts = (sympy.expand(lhs - 1), sympy.expand(rhs - 1)) if "broadcast" in n.text else ()
        out.setdefault(f"{n.kind} {text}", _Cond(e, n.kind, text, n, alts))
    return list(out.values())


def _fail(c: _Cond, s: str, alone: bool) -> CnnCalcError:
    if c.note is None:
        return CnnCalcError(f"no value of {s} gives every layer an output ({pretty(c.expr + 1)} "
                            "stays below 1)" if alone else
                            f"no value of {s} gives every layer an output ({pretty(c.expr + 1)} "
                            "is below 1 wherever the other conditions hold)", kind="constraint")
    n = c.note
    op = ">=" if c.kind == "ge" else "=="
    msg = (f"{n.text}: {pretty(n.lhs)} {op} {pretty(n.rhs)} holds for no value of {s}" if alone
           else f"{n.text}: no value of {s} satisfies this together with the other conditions")
    return CnnCalcError(msg, layer=n.layer, index=n.layer_index, kind="constraint")


def derive_from(an: Analysis) -> ConstraintReport:
    """Constraints on the free symbols of a (symbolic) analysis."""
    conds = _conditions(an)
    sols: dict[str, Sol] = {}
    ranges: dict[str, Sol] = {}   # from the monotone ('ge') conditions alone
    multi: list[str] = []
    loose: list[str] = []         # one-symbol conditions not solved exactly
    for c in sorted(conds, key=lambda c: c.kind != "ge"):  # stable: sizes and 'ge' first
        names = free_names(c.expr)
        if len(names) != 1:
            (multi if c.kind == "ge" else loose).append(c.text)
            continue
        (s,) = names
        got = _solve_one(c.expr, s, c.kind)
        for alt in c.alts:
            if got is None:
                break
            if not free_names(alt):
                if alt == 0:
                    got = _sol_of(1, TOP)
                continue
            other = _solve_one(alt, s, "eq") if free_names(alt) == {s} else None
            got = _join(got, other) if other is not None else None
        if got is None:
            loose.append(c.text)
            continue
        if _empty(got):
            raise _fail(c, s, alone=True)
        both = _meet(sols.get(s, _sol_of(1, TOP)), got)
        if both is None:
            loose.append(c.text)
            continue
        if _empty(both):
            raise _fail(c, s, alone=False)
        sols[s] = both
        if c.kind == "ge" and got[0] == 1:
            ranges[s] = _meet(ranges.get(s, _sol_of(1, TOP)), got) or got

    bounds: list[str] = []
    others: list[str] = []
    for s, sol in sorted(sols.items()):
        b, o = _describe_sol(s, sol, ranges.get(s))
        bounds.extend(b)
        others.extend(o)
    required = [*bounds, *dict.fromkeys(multi), *others, *dict.fromkeys(loose)]
    return ConstraintReport(tuple(required), tuple(_advice(an, sols)))


def _describe_sol(s: str, sol: Sol, rng: Sol | None) -> tuple[list[str], list[str]]:
    """Lines for the solutions of ``s``: bounds (``H >= 16``, ``K <= 32``) and the rest
    (``H mod 16 == 0``, ``H in {5000}``)."""
    p = sol[0]
    n = _count(sol)
    shape = _shape(sol)
    if shape is None or n == 1 or (n <= LIST_MAX and
                                   not _describe(s, p, shape[2]).endswith("any value")):
        if n <= LIST_MAX:
            return [], [f"{s} in {{{', '.join(map(str, _values(sol)))}}}"]
        return [], [_with_exceptions(s, sol, rng)]
    lo, hi, res = shape
    # The widest bounds that describe the same set together with the residues, narrowed to
    # the bounds of the range conditions (so ``H >= 16`` stays next to ``H mod 16 == 0``).
    below = [v for v in range(max(1, lo - p), lo) if v % p in res]
    lo_p = below[-1] + 1 if below else 1
    above = [v for v in range(hi + 1, min(TOP, hi + p) + 1) if v % p in res]
    hi_p = above[0] - 1 if above else TOP
    if rng is not None and not _empty(rng):
        lo_p = max(lo_p, min(ivs[0][0] for ivs in rng[1].values()))
        hi_p = min(hi_p, max(ivs[-1][1] for ivs in rng[1].values()))
    lo_p, hi_p = min(lo_p, lo), max(hi_p, hi)
    bounds = []
    if lo_p > 1 and hi_p < TOP:
        bounds.append(f"{lo_p} <= {s} <= {hi_p}")
    elif lo_p > 1:
        bounds.append(f"{s} >= {lo_p}")
    elif hi_p < TOP:
        bounds.append(f"{s} <= {hi_p}")
    rest = _describe(s, p, res)
    return bounds, ([] if rest.endswith("any value") else [rest])


def _advice(an: Analysis, sols: Mapping[str, Sol]) -> list[str]:
    """The 'exact sizes' lines: tile notes solved and intersected with the required sets."""
    exact: list[str] = []
    tiles: dict[str, Sol] = {}
    clash: dict[str, list[str]] = {}
    for note in an.notes:
        span, stride, text = note.lhs, note.rhs, f"{note.layer}: {note.text}"
        if note.kind != "tile":
            continue
        if is_num(span) and is_num(stride):
            if span % stride:  # type: ignore[operator]
                exact.append(f"{text}: {span % stride} input row(s) are never read")  # type: ignore[operator]
            continue
        names = free_names(span) | free_names(stride)
        got = None
        if len(names) == 1 and is_num(stride):
            x = sympy.Symbol(next(iter(names)), integer=True, positive=True)
            got = _tile_solutions(sympy.sympify(span), x, int(stride))  # type: ignore[arg-type]
            if got is None:
                e = sympy.sympify(span) - stride * sympy.floor(sympy.sympify(span) / stride)
                got = _solve_one(sympy.expand(e), str(x), "eq")
        if got is None:
            exact.append(f"{pretty(span)} mod {pretty(stride)} == 0 ({text})")
            continue
        (s,) = names
        base = tiles.get(s, sols.get(s, _sol_of(1, TOP)))
        both = _meet(base, got)
        if both is None or _empty(both):
            clash.setdefault(s, []).append(text)
            continue
        tiles[s] = both
    for s in sorted(tiles.keys() | clash.keys()):
        if s in clash:
            exact.append(f"no valid value of {s} avoids unread input rows at every layer: "
                         f"{'; '.join(dict.fromkeys(clash[s]))} leave(s) rows unread at every "
                         "valid size at which the other layers read them all")
            continue
        sol = tiles[s]
        if _same(sols.get(s, _sol_of(1, TOP)), sol):
            line = _describe(s, sol[0], set(sol[1]))
        elif _count(sol) <= LIST_MAX:
            line = f"{s} in {{{', '.join(map(str, _values(sol)))}}}"
        else:
            line = _pieces(s, sol)
        exact.append(f"{line} (no layer leaves input pixels unread)")
    return exact


def _same(req: Sol, sol: Sol) -> bool:
    """``sol`` (a subset of ``req``) == ``req`` restricted to the residues of ``sol``."""
    p = sol[0]
    lifted = _meet(req, (p, {r: [(1, TOP)] for r in sol[1]}))
    return lifted is not None and lifted[0] == p and lifted[1] == sol[1]


def _with_exceptions(s: str, sol: Sol, rng: Sol | None) -> str:
    """One line for solutions that are a regular set (bounds and residues) plus a few values
    outside its residues (a merge that broadcasts a size 1): ``H in {3} or H mod 2 == 0``."""
    p, res = sol
    first = sorted(ivs[0][0] for ivs in res.values())
    for x in first[:LIST_MAX]:
        tail = (p, {r: got for r, ivs in res.items()
                    if (got := _tight(_cut(ivs, [(x, TOP)]), r, p))})
        tshape = _shape(tail) if not _empty(tail) else None
        if tshape is None:
            continue
        keep = (p, {r: ivs for r, ivs in res.items() if r in tshape[2]})
        if _shape(keep) is None:
            continue
        outside = (p, {r: ivs for r, ivs in res.items() if r not in tshape[2]})
        if _count(outside) > LIST_MAX:
            continue
        extra = _values(outside)
        bounds, rest = _describe_sol(s, keep, rng)
        regular = " and ".join([*bounds, *rest]) or f"{s} >= 1"
        return f"{s} in {{{', '.join(map(str, sorted(extra)))}}} or {regular}"
    return _pieces(s, sol)


def _pieces(s: str, sol: Sol) -> str:
    p = sol[0]
    return " or ".join(f"{lo} <= {s} <= {hi} and {s} mod {p} == {r}"
                       for r, ivs in sorted(sol[1].items()) for lo, hi in ivs)


def _describe(s: str, p: int, res: Iterable[int]) -> str:
    """The shortest modulus describing the residue set, in words."""
    res = set(res)
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
