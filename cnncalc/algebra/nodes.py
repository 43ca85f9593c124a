"""Exact integer evaluation nodes: each computes a value, a bound and an interval.

A node evaluates with integer arithmetic on Python ints or NumPy integer arrays (``ev``), bounds
the magnitude of *every* intermediate it computes (``bd``: sums of bounds, products of bounds,
``p // q`` the larger of the bounds of ``p`` and ``q``, every bound >= 1, non-decreasing in each
symbol), and gives an interval of its value over a box of bindings (``iv``, ``None`` when
unknown). :mod:`cnncalc.algebra.compile` builds them from sympy expressions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ..errors import CnnCalcError

Fn = Callable[[Mapping[str, Any]], Any]
Interval = tuple[int, int] | None
IvFn = Callable[[Mapping[str, int], Mapping[str, int]], Interval]

SINK = "\x00sink"   # env key: a list collecting masks of rows that fail a division check
STRICT = "\x00strict"  # env key: scalar evaluation refuses a division that is not exact


class Node(NamedTuple):
    ev: Fn      # exact value (int, int64 array or object array of ints)
    bd: Fn      # float bound >= 1 of |every intermediate|, given |symbols| as floats
    iv: IvFn    # (lo, hi) of the value over a box of bindings, None when unknown


# --- node builders -----------------------------------------------------------------------------

def fbound(k: int) -> float:
    try:
        return max(float(abs(k)), 1.0)
    except OverflowError:
        return math.inf


def const(k: int) -> Node:
    b = fbound(k)
    return Node(lambda env: k, lambda env: b, lambda lo, hi: (k, k))


def symbol(name: str) -> Node:
    return Node(lambda env: env[name], lambda env: env[name],
                lambda lo, hi: (lo[name], hi[name]))


def _imul(a: Interval, b: Interval) -> Interval:
    if a is None or b is None:
        return None
    c = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
    return min(c), max(c)


def poly(parts: list[tuple[int, list[Node]]]) -> Node:
    """Integer polynomial: sum of ``k * f1 * f2 ...``."""
    parts = [(k, fs) for k, fs in parts if k != 0]
    if not parts:
        return const(0)
    if len(parts) == 1 and parts[0][0] == 1 and len(parts[0][1]) == 1:
        return parts[0][1][0]
    if all(not fs for _, fs in parts):
        return const(sum(k for k, _ in parts))
    bparts = [(fbound(k), [f.bd for f in fs]) for k, fs in parts]
    eparts = [(k, [f.ev for f in fs]) for k, fs in parts]

    ev = _sum_of_products(eparts, 0)
    bd = _sum_of_products(bparts, 0.0)

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        acc: Interval = (0, 0)
        for k, fs in parts:
            v: Interval = (k, k)
            for f in fs:
                v = _imul(v, f.iv(lo, hi))
            if v is None or acc is None:
                return None
            acc = (acc[0] + v[0], acc[1] + v[1])
        return acc
    return Node(ev, bd, iv)


def power(b: Node, k: int) -> Node:
    if k == 0:
        return const(1)
    if k == 1:
        return b

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        r = b.iv(lo, hi)
        if r is None:
            return None
        a, c = r
        if k % 2 or a >= 0:
            return a**k, c**k
        if c <= 0:
            return c**k, a**k
        return 0, max(-a, c)**k

    def bd(env: Mapping[str, Any]) -> Any:
        x = b.bd(env)
        if isinstance(x, int):
            return x**k
        import numpy as np
        return np.power(x, k)
    return Node(lambda env: b.ev(env) ** k, bd, iv)


def _max(a: Any, b: Any) -> Any:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return max(a, b)
    import numpy as np
    return np.maximum(a, b)


def _min(a: Any, b: Any) -> Any:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return min(a, b)
    import numpy as np
    return np.minimum(a, b)


def minmax(args: list[Node], is_max: bool) -> Node:
    pick = _max if is_max else _min
    evs, bds = [a.ev for a in args], [a.bd for a in args]

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        rs = [a.iv(lo, hi) for a in args]
        if any(r is None for r in rs):
            return None
        f = max if is_max else min
        return f(r[0] for r in rs if r is not None), f(r[1] for r in rs if r is not None)
    return Node(lambda env: functools.reduce(pick, (f(env) for f in evs)),
                lambda env: functools.reduce(_max, (f(env) for f in bds)), iv)


def _flag(env: Mapping[str, Any], bad: Any, why: Callable[[], str]) -> Any:
    """Rows where ``bad`` holds: collected in the env's sink (array evaluation), else refused.
    Returns the mask (False for a scalar that passes). NumPy is imported only for arrays."""
    if isinstance(bad, bool):
        if bad:
            raise CnnCalcError(why(), kind="binding")
        return False
    import numpy as np
    if isinstance(bad, np.bool_):
        if bad:
            raise CnnCalcError(why(), kind="binding")
        return False
    if not bad.any():
        return False
    sink = env.get(SINK)
    if sink is None:
        row = int(np.flatnonzero(bad.ravel())[0])
        raise CnnCalcError(f"{why()} (row {row})", kind="binding")
    sink.append(bad)
    return bad


def div(p: Node, q: Node | int, mode: str, text: Callable[[], str]) -> Node:
    """``p / q`` rounded by ``mode``: "floor", "ceil", or "exact" (the value is an integer for
    every valid binding: a remainder marks the row invalid). A symbolic ``q`` must be >= 1."""
    pev, pbd = p.ev, p.bd

    def checked(env: Mapping[str, Any]) -> tuple[Any, Any]:
        num = pev(env)
        if isinstance(q, int):
            den: Any = q
        else:
            den = q.ev(env)
            bad = _flag(env, den < 1, lambda: f"{text()}: its denominator is not >= 1 under "
                        "these bindings (see the constraints)")
            if bad is not False:  # an array: the rows flagged divide by 1 instead
                import numpy as np
                den = np.where(bad, 1, den)
        if mode == "exact" and (SINK in env or STRICT in env):
            _flag(env, num % den != 0, lambda: f"{text()} is not an integer under these "
                  "bindings (a size does not divide; see the constraints)")
        return num, den

    if mode == "ceil":
        def ev(env: Mapping[str, Any]) -> Any:
            num, den = checked(env)
            return -((-num) // den)
    else:
        def ev(env: Mapping[str, Any]) -> Any:
            num, den = checked(env)
            return num // den

    if isinstance(q, int):
        bd: Fn = pbd
    else:
        qbd = q.bd

        def bd(env: Mapping[str, Any]) -> Any:
            return _max(pbd(env), qbd(env))

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        a = p.iv(lo, hi)
        b = (q, q) if isinstance(q, int) else q.iv(lo, hi)
        if a is None or b is None or b[0] < 1:
            return None
        if mode == "ceil":
            c = [-((-x) // y) for x in a for y in b]
        else:
            c = [x // y for x in a for y in b]
        return min(c), max(c)
    return Node(ev, bd, iv)


def checked_den(num: Node, den: Node, text: Callable[[], str]) -> Node:
    """``num``, with rows where ``den`` (which must be >= 1) is not flagged."""
    def ev(env: Mapping[str, Any]) -> Any:
        _flag(env, den.ev(env) < 1, lambda: f"{text()}: its denominator is not >= 1 under "
              "these bindings")
        return num.ev(env)

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        d = den.iv(lo, hi)
        return num.iv(lo, hi) if d is not None and d[0] >= 1 else None
    return Node(ev, lambda env: _max(num.bd(env), den.bd(env)), iv)


def modulo(a: Node, b: Node) -> Node:
    def ev(env: Mapping[str, Any]) -> Any:
        d = b.ev(env)
        _flag(env, d < 1, lambda: "a modulus is not >= 1 under these bindings")
        return a.ev(env) % d

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        r = b.iv(lo, hi)
        return None if r is None or r[0] < 1 else (0, r[1] - 1)
    return Node(ev, lambda env: _max(a.bd(env), b.bd(env)), iv)


def _sum_of_products(parts: list[tuple[Any, list[Fn]]], zero: Any) -> Fn:
    """A closure for ``sum(k * f1(env) * f2(env) ...)`` over ``parts``, starting from ``zero``
    (``0`` for exact values, ``0.0`` for float bounds)."""
    def fn(env: Mapping[str, Any]) -> Any:
        acc: Any = zero
        for k, fs in parts:
            v: Any = k
            for f in fs:
                v = v * f(env)
            acc = acc + v
        return acc
    return fn
