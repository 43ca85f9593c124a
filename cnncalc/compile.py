"""Exact evaluation of symbolic results, without ``eval``/``exec``.

A sympy expression (integer-valued: sizes, counts) compiles into a tree of nodes that evaluate
with integer arithmetic on Python ints or NumPy integer arrays: every floor/ceiling
``floor(p/q)`` becomes ``p_num // q`` over an integer numerator, rational coefficients are
cleared by their least common denominator before one exact division, and a symbolic denominator
(a stride ``S``, groups ``G``) becomes an integer division by its integer polynomial. So a sweep
over a million bindings floors exactly as the layers do, with no float rounding.

Each node also knows, for overflow safety, an upper bound of the magnitude of *every*
intermediate it computes (sums: sums of bounds, products: products, ``p // q``: the larger of the
bounds of ``p`` and ``q``, every bound >= 1). The bound is non-decreasing in each symbol, so its
value at the largest bindings bounds every row: when that is below :data:`SAFE` the whole array is
computed in int64; otherwise the rows over it are recomputed exactly with Python ints
(:func:`evaluate_rows`). An interval of each node's value over a box of bindings lets a caller
skip checks that hold everywhere (:func:`holds_everywhere`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import sympy

from .errors import CnnCalcError

Fn = Callable[[Mapping[str, Any]], Any]
Interval = tuple[int, int] | None
IvFn = Callable[[Mapping[str, int], Mapping[str, int]], Interval]

SAFE = float(2**62)
"""Rows whose intermediate bound is below this are computed in int64 (a factor 2 below 2**63
covers the float rounding of the bound many times over)."""

_SINK = "\x00sink"   # env key: a list collecting masks of rows that fail a division check
_STRICT = "\x00strict"  # env key: scalar evaluation refuses a division that is not exact


class Node(NamedTuple):
    ev: Fn      # exact value (int, int64 array or object array of ints)
    bd: Fn      # float bound >= 1 of |every intermediate|, given |symbols| as floats
    iv: IvFn    # (lo, hi) of the value over a box of bindings, None when unknown


# --- node builders -----------------------------------------------------------------------------

def _fbound(k: int) -> float:
    try:
        return max(float(abs(k)), 1.0)
    except OverflowError:
        return math.inf


def _const(k: int) -> Node:
    b = _fbound(k)
    return Node(lambda env: k, lambda env: b, lambda lo, hi: (k, k))


def _sym(name: str) -> Node:
    return Node(lambda env: env[name], lambda env: env[name],
                lambda lo, hi: (lo[name], hi[name]))


def _imul(a: Interval, b: Interval) -> Interval:
    if a is None or b is None:
        return None
    c = (a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1])
    return min(c), max(c)


def _poly(parts: list[tuple[int, list[Node]]]) -> Node:
    """Integer polynomial: sum of ``k * f1 * f2 ...``."""
    parts = [(k, fs) for k, fs in parts if k != 0]
    if not parts:
        return _const(0)
    if len(parts) == 1 and parts[0][0] == 1 and len(parts[0][1]) == 1:
        return parts[0][1][0]
    if all(not fs for _, fs in parts):
        return _const(sum(k for k, _ in parts))
    bparts = [(_fbound(k), [f.bd for f in fs]) for k, fs in parts]
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


def _pow(b: Node, k: int) -> Node:
    if k == 0:
        return _const(1)
    if k == 1:
        return b
    import numpy as np

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
    return Node(lambda env: b.ev(env) ** k, lambda env: np.power(b.bd(env), k), iv)


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


def _minmax(args: list[Node], is_max: bool) -> Node:
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
    Returns the mask (False for a scalar that passes)."""
    import numpy as np
    if isinstance(bad, (bool, np.bool_)):
        if bad:
            raise CnnCalcError(why(), kind="binding")
        return False
    if not bad.any():
        return False
    sink = env.get(_SINK)
    if sink is None:
        row = int(np.flatnonzero(bad.ravel())[0])
        raise CnnCalcError(f"{why()} (row {row})", kind="binding")
    sink.append(bad)
    return bad


def _div(p: Node, q: Node | int, mode: str, text: Callable[[], str]) -> Node:
    """``p / q`` rounded by ``mode``: "floor", "ceil", or "exact" (the value is an integer for
    every valid binding: a remainder marks the row invalid). A symbolic ``q`` must be >= 1."""
    import numpy as np
    pev, pbd = p.ev, p.bd

    def checked(env: Mapping[str, Any]) -> tuple[Any, Any]:
        num = pev(env)
        if isinstance(q, int):
            den: Any = q
        else:
            den = q.ev(env)
            bad = _flag(env, den < 1, lambda: f"{text()}: its denominator is not >= 1 under "
                        "these bindings (see the constraints)")
            if bad is not False:
                den = np.where(bad, 1, den)
        if mode == "exact" and (_SINK in env or _STRICT in env):
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


def _checked_den(num: Node, den: Node, text: Callable[[], str]) -> Node:
    """``num``, with rows where ``den`` (which must be >= 1) is not flagged."""
    def ev(env: Mapping[str, Any]) -> Any:
        _flag(env, den.ev(env) < 1, lambda: f"{text()}: its denominator is not >= 1 under "
              "these bindings")
        return num.ev(env)

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        d = den.iv(lo, hi)
        return num.iv(lo, hi) if d is not None and d[0] >= 1 else None
    return Node(ev, lambda env: _max(num.bd(env), den.bd(env)), iv)


def _mod(a: Node, b: Node) -> Node:
    def ev(env: Mapping[str, Any]) -> Any:
        d = b.ev(env)
        _flag(env, d < 1, lambda: "a modulus is not >= 1 under these bindings")
        return a.ev(env) % d

    def iv(lo: Mapping[str, int], hi: Mapping[str, int]) -> Interval:
        r = b.iv(lo, hi)
        return None if r is None or r[0] < 1 else (0, r[1] - 1)
    return Node(ev, lambda env: _max(a.bd(env), b.bd(env)), iv)


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
        raise CnnCalcError(f"cannot evaluate {e} exactly (negative or symbolic power)")
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
                fs.append(_pow(node, k))
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
    return _poly([(n * (lcm // d), fs) for n, d, fs in items]), lcm


def _scale(node: Node, k: int) -> Node:
    return node if k == 1 else _poly([(k, [node])])


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
        return _const(int(e))
    if e.is_Symbol:
        return _sym(e.name)  # type: ignore[attr-defined]
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        num, den = _ratio(e.args[0])
        if isinstance(den, int) and den == 1:
            return num
        return _div(num, den, "floor" if isinstance(e, sympy.floor) else "ceil",
                    lambda: str(e))
    if isinstance(e, (sympy.Max, sympy.Min)):
        return _minmax([_node(a) for a in e.args], isinstance(e, sympy.Max))
    if isinstance(e, sympy.Mod):
        return _mod(_node(e.args[0]), _node(e.args[1]))
    if e.is_Pow and not _top_den(e):
        k = _int_exp(e)
        if not (e.base.is_Add or e.base.is_Mul):
            return _pow(_node(e.base), k)
    if e.is_Add or e.is_Mul or e.is_Pow or e.is_Rational:
        num, den = _ratio(e)
        if isinstance(den, int) and den == 1:
            return num
        return _div(num, den, "exact", lambda: str(e))
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
    return _checked_den(num, den, lambda: str(e))


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
    return lambda env: ev({**env, _STRICT: True})


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
        vals = np.broadcast_to(np.asarray(node.ev({**cols, _SINK: sink}), dtype=np.int64), (n,))
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
                                                 _SINK: sink_s}), dtype=np.int64), idx_s.shape)
    if len(idx_b):
        vb = np.broadcast_to(np.asarray(node.ev(
            {**{k: c[idx_b].astype(object) for k, c in cols.items()}, _SINK: sink_b}),
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


def pretty(e: Any) -> str:
    """Readable text of a value (floors are already in display form, see arith)."""
    if isinstance(e, int):
        return str(e)
    return _str(e)


@functools.lru_cache(maxsize=65536)
def _str(e: sympy.Expr) -> str:
    return str(e)


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
