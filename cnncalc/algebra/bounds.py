"""Digit bounds: an upper bound on the magnitude of a value for every allowed binding.

The graph keeps every per-layer number printable and every total convertible to a float by
refusing results past these bounds (kind ``limit``); the bound of a formula is taken with every
symbol at its largest allowed binding, so it holds under any bindings given later.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sympy
else:
    from .lazy import sympy  # ints need no sympy

MAX_RESULT_LOG10 = 300
"""Every per-layer number stays below ``10**300`` in magnitude, so any total converts to a
float and prints (``str()`` of an int stops at 4,300 digits)."""
MAX_SYMBOLIC_LOG10 = 1000
"""Every per-layer formula stays below ``10**1000`` in magnitude at every allowed binding (all
symbols up to the largest binding), so its value under any bindings prints. Looser than
:data:`MAX_RESULT_LOG10`: extreme bindings (a receptive field of 33 strides ``S`` at
``S = 10**9``) are possible in a formula long before they are asked for."""


def log10_bound(v: int | sympy.Basic, log10_symbol: float) -> float:
    """An upper bound on ``log10`` of the magnitude of ``v`` (and of its numeric numerators
    and denominators) for symbols from 1 to ``10**log10_symbol``; ``inf`` when unknown.

    Iterative (no recursion limit), one visit per distinct sub-expression."""
    if isinstance(v, int):
        return _ilog10(v)
    return log10_bound_expr(v, float(log10_symbol))


@functools.lru_cache(maxsize=65536)
def log10_bound_expr(v: sympy.Basic, ls: float) -> float:
    """:func:`log10_bound` of an expression, ``ls`` a float (cached: layers repeat the same
    sizes); for callers that know ``v`` is no int."""
    memo: dict[sympy.Basic, float] = {}
    stack: list[tuple[sympy.Basic, bool]] = [(v, False)]
    while stack:
        e, ready = stack.pop()
        if e in memo:
            continue
        if not ready and e.args:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in memo)
            continue
        memo[e] = _log_node(e, [memo[a] for a in e.args], ls)
    return memo[v]


def _ilog10(n: int) -> float:
    n = abs(n)
    if n < 10**15:
        return math.log10(n) if n > 1 else 0.0
    return n.bit_length() * math.log10(2)


def _log_node(e: sympy.Basic, args: list[float], ls: float) -> float:
    """:func:`log10_bound` of one node from the bounds of its arguments."""
    if isinstance(e, sympy.Rational):
        return max(_ilog10(int(e.p)), _ilog10(int(e.q)))
    if e.is_Symbol:
        return ls
    if e.is_Number:
        return math.inf  # a float or an infinity never belongs in a size
    if not args:
        return 0.0 if not isinstance(e, sympy.Expr) else math.inf  # true/false; unknown atoms
    if e.is_Add:
        return max(args) + math.log10(len(args))
    if e.is_Mul:
        return sum(args)
    if e.is_Pow:
        x = e.args[1]
        if x.is_Rational:
            # 1/x**k of a size (an integer >= 1) is at most 1: a division adds no digits
            return float(x) * args[0] if x.is_positive else 0.0
        return math.inf
    # floor, ceiling (|floor(x)| <= |x| + 1), Min, Max, Mod, Abs: at most twice the largest.
    return max(args) + math.log10(2)
