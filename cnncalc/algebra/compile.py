"""Exact evaluation of symbolic results, without ``eval``/``exec``.

A sympy expression (integer-valued: sizes, counts) compiles into a tree of nodes
(:mod:`cnncalc.algebra.nodes`) that evaluate with integer arithmetic on Python ints or NumPy
integer arrays: every floor/ceiling ``floor(p/q)`` becomes ``p_num // q`` over an integer
numerator, rational coefficients are cleared by their least common denominator before one exact
division, and a symbolic denominator (a stride ``S``, groups ``G``) becomes an integer division
by its integer polynomial. So a sweep over a million bindings floors exactly as the layers do,
with no float rounding.

Each node bounds every intermediate it computes, non-decreasing in each symbol, so its value at
the largest bindings bounds every row: when that is below :data:`SAFE` the whole array is
computed in int64; otherwise the rows over it are recomputed exactly with Python ints
(:func:`evaluate_rows`). An interval of each node's value over a box of bindings lets a caller
skip checks that hold everywhere (:func:`holds_everywhere`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import sympy

from ..errors import CnnCalcError
from .nodes import (
    SINK,
    STRICT,
    Fn,
    Node,
    checked_den,
    const,
    div,
    minmax,
    modulo,
    poly,
    power,
    symbol,
)

# Re-exported: the analysis prints its formulas with it (it lives in printing).
from .printing import pretty as pretty

SAFE = float(2**62)
"""Rows whose intermediate bound is below this are computed in int64 (a factor 2 below 2**63
covers the float rounding of the bound many times over)."""


# --- sympy to nodes ----------------------------------------------------------------------------

def _top_den(e: sympy.Expr) -> bool:
    """A symbolic denominator outside any function (floor, Max...) of ``e``."""
    if e.is_Pow:
        return bool(e.exp.is_negative) or _top_den(e.base)
    if e.is_Add or e.is_Mul:
        return any(_top_den(a) for a in e.args)
    return False


def _int_exp(e: sympy.Expr) -> int:
    ex = e.exp
    if not (ex.is_Integer and int(ex) >= 0):
        raise CnnCalcError(f"cannot evaluate {pretty(e)} exactly (negative or symbolic power)")
    return int(ex)


def _int_poly(e: sympy.Expr) -> tuple[Node, int]:
    """(node for ``e * L`` as an integer polynomial, ``L``); ``e`` has no symbolic denominator."""
    e = sympy.expand_mul(e, deep=False)
    items: list[tuple[int, int, list[Node]]] = []
    for t in sympy.Add.make_args(e):
        c, rest = t.as_coeff_Mul()
        c = sympy.Rational(c)
        num, den = int(c.p), int(c.q)
        fs: list[Node] = []
        for f in ([] if rest == 1 else sympy.Mul.make_args(rest)):
            if f.is_Pow:
                k = _int_exp(f)
                base = f.base
                if base.is_Add or base.is_Mul:
                    node, lb = _int_poly(base)
                    den *= lb**k
                else:
                    node = _node(base)
                fs.append(power(node, k))
            elif f.is_Add:
                node, lf = _int_poly(f)
                den *= lf
                fs.append(node)
            else:
                fs.append(_node(f))
        items.append((num, den, fs))
    lcm = 1
    for _, d, _ in items:
        lcm = math.lcm(lcm, d)
    return poly([(n * (lcm // d), fs) for n, d, fs in items]), lcm


def _scale(node: Node, k: int) -> Node:
    return node if k == 1 else poly([(k, [node])])


def _ratio(e: sympy.Expr) -> tuple[Node, Node | int]:
    """(integer numerator node, positive integer or integer node denominator) of ``e``."""
    if not _top_den(e):
        return _int_poly(e)
    n, d = sympy.fraction(sympy.together(e))
    if _top_den(n) or _top_den(d):
        raise CnnCalcError(f"cannot evaluate {e} exactly (nested denominators)")
    nn, ln = _int_poly(n)
    dn, ld = _int_poly(d)
    return _scale(nn, ld), _scale(dn, ln)


@functools.lru_cache(maxsize=65536)
def _node(e: sympy.Expr) -> Node:
    if e.is_Integer:
        return const(int(e))
    if isinstance(e, sympy.Symbol):
        return symbol(e.name)
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        num, den = _ratio(e.args[0])
        if isinstance(den, int) and den == 1:
            return num
        return div(num, den, "floor" if isinstance(e, sympy.floor) else "ceil",
                    lambda: pretty(e))
    if isinstance(e, (sympy.Max, sympy.Min)):
        return minmax([_node(a) for a in e.args], isinstance(e, sympy.Max))
    if isinstance(e, sympy.Mod):
        return modulo(_node(e.args[0]), _node(e.args[1]))
    if e.is_Pow and not _top_den(e):
        k = _int_exp(e)
        if not (e.base.is_Add or e.base.is_Mul):
            return power(_node(e.base), k)
    if e.is_Add or e.is_Mul or e.is_Pow or e.is_Rational:
        num, den = _ratio(e)
        if isinstance(den, int) and den == 1:
            return num
        return div(num, den, "exact", lambda: pretty(e))
    raise CnnCalcError(f"cannot evaluate {type(e).__name__} exactly")


@functools.lru_cache(maxsize=16384)
def compile_node(e: sympy.Expr) -> Node:
    """The node tree of integer-valued ``e``."""
    return _node(sympy.sympify(e))


@functools.lru_cache(maxsize=16384)
def compile_sign(e: sympy.Expr) -> Node:
    """A node whose value is an integer with the sign of (possibly rational) ``e``: its
    numerator over a denominator that must be >= 1 (rows where it is not are flagged)."""
    e = sympy.sympify(e)
    num, den = _ratio(e)
    if isinstance(den, int):
        return num
    return checked_den(num, den, lambda: pretty(e))


@functools.lru_cache(maxsize=16384)
def compile_int(e: sympy.Expr) -> Fn:
    """A closure evaluating integer-valued ``e`` exactly under a mapping of its symbols (a
    division by a symbolic denominator that is not >= 1 is a :class:`CnnCalcError`)."""
    return compile_node(e).ev


@functools.lru_cache(maxsize=16384)
def compile_exact(e: sympy.Expr) -> Fn:
    """Like :func:`compile_int`, and also refuses bindings under which ``e`` is not an integer
    (a size that must divide another does not)."""
    ev = compile_node(e).ev
    return lambda env: ev({**env, STRICT: True})


# --- vectorised evaluation ---------------------------------------------------------------------

def bound_at(node: Node, hi: Mapping[str, float]) -> float:
    """The node's intermediate bound at the given (largest) bindings."""
    import numpy as np
    with np.errstate(over="ignore", invalid="ignore"):
        b = float(node.bd({k: np.float64(v) for k, v in hi.items()}))
    return b if b == b else math.inf


def evaluate_rows(node: Node, cols: Mapping[str, Any], n: int) -> tuple[Any, Any]:
    """``node`` at every row of the 1-D int64 columns ``cols`` (length ``n``), exactly: an int64
    array when every value fits, else an object array of Python ints; and the mask of rows where
    a division check failed (denominator not >= 1, or an exact division with a remainder)."""
    import numpy as np
    bad = np.zeros(n, dtype=bool)
    hi = {k: float(c.max()) if n else 1.0 for k, c in cols.items()}
    if bound_at(node, hi) < SAFE:
        sink: list[Any] = []
        vals = np.broadcast_to(np.asarray(node.ev({**cols, SINK: sink}), dtype=np.int64), (n,))
        for m in sink:
            bad |= m
        return vals, bad
    with np.errstate(over="ignore", invalid="ignore"):
        bvec = np.broadcast_to(np.asarray(
            node.bd({k: c.astype(np.float64) for k, c in cols.items()}), dtype=np.float64), (n,))
    small = bvec < SAFE  # nan/inf count as over
    idx_s, idx_b = np.flatnonzero(small), np.flatnonzero(~small)
    sink_s: list[Any] = []
    sink_b: list[Any] = []
    vs: Any = np.zeros(0, dtype=np.int64)
    vb: Any = np.zeros(0, dtype=object)
    if len(idx_s):
        vs = np.broadcast_to(np.asarray(node.ev({**{k: c[idx_s] for k, c in cols.items()},
                                                 SINK: sink_s}), dtype=np.int64), idx_s.shape)
    if len(idx_b):
        vb = np.broadcast_to(np.asarray(node.ev(
            {**{k: c[idx_b].astype(object) for k, c in cols.items()}, SINK: sink_b}),
            dtype=object), idx_b.shape)
    for m in sink_s:
        bad[idx_s[m]] = True
    for m in sink_b:
        bad[idx_b[np.asarray(m, dtype=bool)]] = True
    big = [int(x) for x in vb]
    if all(-2**63 <= x < 2**63 for x in big):
        out: Any = np.empty(n, dtype=np.int64)
        out[idx_b] = np.asarray(big, dtype=np.int64) if big else 0
    else:
        out = np.empty(n, dtype=object)
        for i, x in zip(idx_b.tolist(), big, strict=True):
            out[i] = x
    out[idx_s] = vs
    return out, bad


def holds_everywhere(node: Node, lo: Mapping[str, int], hi: Mapping[str, int],
                     kind: str) -> bool:
    """True when ``node``'s value provably satisfies ``kind`` ("ge": >= 0, "eq": == 0) for
    every binding in the box ``lo..hi``."""
    try:
        r = node.iv(lo, hi)
    except (ZeroDivisionError, OverflowError):
        return False
    if r is None:
        return False
    return r[0] >= 0 if kind == "ge" else r == (0, 0)
