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

:func:`compile_function` turns many formulas and the conditions they need into one
straight-line program of small closures, each distinct sub-expression computed once
(``Analysis.evaluate`` of every free size: resnet50's totals in tens of microseconds).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

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

if TYPE_CHECKING:
    import sympy
else:
    from .lazy import sympy  # imported on first symbolic use

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


def _int_poly(e: sympy.Expr, b: Any = None) -> tuple[Any, int]:
    """(node for ``e * L`` as an integer polynomial, ``L``); ``e`` has no symbolic denominator.
    ``b`` builds the nodes (:data:`_NODES`, or a :class:`_Source`)."""
    b = b or _NODES
    e = sympy.expand_mul(e, deep=False)
    items: list[tuple[int, int, list[Any]]] = []
    for t in sympy.Add.make_args(e):
        c, rest = t.as_coeff_Mul()
        c = sympy.Rational(c)
        num, den = int(c.p), int(c.q)
        fs: list[Any] = []
        for f in ([] if rest == 1 else sympy.Mul.make_args(rest)):
            if f.is_Pow:
                k = _int_exp(f)
                base = f.base
                if base.is_Add or base.is_Mul:
                    node, lb = _int_poly(base, b)
                    den *= lb**k
                else:
                    node = b.sub(base)
                fs.append(b.power(node, k))
            elif f.is_Add:
                node, lf = _int_poly(f, b)
                den *= lf
                fs.append(node)
            else:
                fs.append(b.sub(f))
        items.append((num, den, fs))
    lcm = 1
    for _, d, _ in items:
        lcm = math.lcm(lcm, d)
    return b.poly([(n * (lcm // d), fs) for n, d, fs in items]), lcm


def _scale(node: Any, k: int, b: Any) -> Any:
    return node if k == 1 else b.poly([(k, [node])])


def _ratio(e: sympy.Expr, b: Any = None) -> tuple[Any, Any]:
    """(integer numerator node, positive integer or integer node denominator) of ``e``."""
    b = b or _NODES
    if not _top_den(e):
        return _int_poly(e, b)
    n, d = sympy.fraction(sympy.together(e))
    if _top_den(n) or _top_den(d):
        raise CnnCalcError(f"cannot evaluate {e} exactly (nested denominators)")
    nn, ln = _int_poly(n, b)
    dn, ld = _int_poly(d, b)
    return _scale(nn, ld, b), _scale(dn, ln, b)


def _build(e: sympy.Expr, b: Any) -> Any:
    """The node of ``e`` made by builder ``b`` (its sub-expressions by ``b.sub``)."""
    if e.is_Integer:
        return b.const(int(e))
    if isinstance(e, sympy.Symbol):
        return b.symbol(e.name)
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        num, den = _ratio(e.args[0], b)
        if isinstance(den, int) and den == 1:
            return num
        return b.div(num, den, "floor" if isinstance(e, sympy.floor) else "ceil",
                     lambda: pretty(e))
    if isinstance(e, (sympy.Max, sympy.Min)):
        return b.minmax([b.sub(a) for a in e.args], isinstance(e, sympy.Max))
    if isinstance(e, sympy.Mod):
        return b.modulo(b.sub(e.args[0]), b.sub(e.args[1]))
    if e.is_Pow and not _top_den(e):
        k = _int_exp(e)
        if not (e.base.is_Add or e.base.is_Mul):
            return b.power(b.sub(e.base), k)
    if e.is_Add or e.is_Mul or e.is_Pow or e.is_Rational:
        num, den = _ratio(e, b)
        if isinstance(den, int) and den == 1:
            return num
        return b.div(num, den, "exact", lambda: pretty(e))
    raise CnnCalcError(f"cannot evaluate {type(e).__name__} exactly")


class _NodeBuilder:
    """Builds :class:`~cnncalc.algebra.nodes.Node` trees (each sub-expression's node cached)."""

    const = staticmethod(const)
    symbol = staticmethod(symbol)
    poly = staticmethod(poly)
    power = staticmethod(power)
    minmax = staticmethod(minmax)
    div = staticmethod(div)
    modulo = staticmethod(modulo)

    @staticmethod
    def sub(e: sympy.Expr) -> Node:
        return _node(e)


_NODES = _NodeBuilder()


@functools.lru_cache(maxsize=65536)
def _node(e: sympy.Expr) -> Node:
    return _build(e, _NODES)


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


# --- many formulas as one straight-line program -----------------------------------------------

class NotExact(ArithmeticError):
    """A compiled program's bindings make a division invalid: a symbolic denominator or modulus
    below 1, or a ``/`` that leaves a remainder; or one of its conditions fails (the caller
    asks a bound analysis)."""


class _Reg(NamedTuple):
    """A register of a :class:`_Program`: where one sub-expression's value is kept."""

    i: int


Op = Callable[[list[Any]], None]


class _Program:
    """Builds one straight-line program from sympy expressions the analysis made: every
    distinct sub-expression is computed once, by one small closure, into a register of a list
    (the symbols are read into the first registers, constants are preloaded). Nothing is
    generated as text: no ``eval``, ``exec`` or ``compile``."""

    def __init__(self) -> None:
        self.symbols: dict[str, _Reg] = {}
        self.consts: dict[int, _Reg] = {}
        self.ops: list[Op] = []
        self.size = 0
        self.done: dict[tuple[Any, ...], _Reg] = {}
        self.exprs: dict[sympy.Expr, _Reg] = {}

    def _new(self) -> _Reg:
        self.size += 1
        return _Reg(self.size - 1)

    def _op(self, key: tuple[Any, ...], make: Callable[[int], Op]) -> _Reg:
        reg = self.done.get(key)
        if reg is None:
            reg = self.done[key] = self._new()
            self.ops.append(make(reg.i))
        return reg

    def sub(self, e: sympy.Expr) -> _Reg:
        out = self.exprs.get(e)
        if out is None:
            out = self.exprs[e] = _build(e, self)
        return out

    def const(self, k: int) -> _Reg:
        k = int(k)
        if k not in self.consts:
            self.consts[k] = self._new()
        return self.consts[k]

    def symbol(self, name: str) -> _Reg:
        if name not in self.symbols:
            self.symbols[name] = self._new()
        return self.symbols[name]

    def check(self, test: Callable[[list[Any]], bool]) -> None:
        def op(r: list[Any]) -> None:
            if test(r):
                raise NotExact
        self.ops.append(op)

    def poly(self, parts: list[tuple[int, list[_Reg]]]) -> _Reg:
        parts = [(k, fs) for k, fs in parts if k != 0]  # as nodes.poly
        if not parts:
            return self.const(0)
        if len(parts) == 1 and parts[0][0] == 1 and len(parts[0][1]) == 1:
            return parts[0][1][0]
        if all(not fs for _, fs in parts):
            return self.const(sum(k for k, _ in parts))
        terms = tuple((k, tuple(f.i for f in fs)) for k, fs in parts)

        def make(d: int) -> Op:
            def op(r: list[Any]) -> None:
                acc = 0
                for k, idx in terms:
                    for i in idx:
                        k = k * r[i]
                    acc += k
                r[d] = acc
            return op
        return self._op(("poly", terms), make)

    def power(self, b: _Reg, k: int) -> _Reg:
        if k == 0:
            return self.const(1)
        if k == 1:
            return b

        def make(d: int) -> Op:
            def op(r: list[Any]) -> None:
                r[d] = r[b.i] ** k
            return op
        return self._op(("pow", b.i, k), make)

    def minmax(self, args: list[_Reg], is_max: bool) -> _Reg:
        idx = tuple(a.i for a in args)
        pick = max if is_max else min

        def make(d: int) -> Op:
            def op(r: list[Any]) -> None:
                r[d] = pick([r[i] for i in idx])
            return op
        return self._op(("max" if is_max else "min", idx), make)

    def div(self, p: _Reg, q: _Reg | int, mode: str, text: object) -> _Reg:
        qi = self.const(q).i if isinstance(q, int) else q.i
        pi = p.i
        if not isinstance(q, int):
            self.check(lambda r: r[qi] < 1)
        if mode == "exact":  # stricter than compile_int: a remainder is no value
            self.check(lambda r: r[pi] % r[qi] != 0)

        def make(d: int) -> Op:
            if mode == "ceil":
                def op(r: list[Any]) -> None:
                    r[d] = -((-r[pi]) // r[qi])
            else:
                def op(r: list[Any]) -> None:
                    r[d] = r[pi] // r[qi]
            return op
        return self._op((mode, pi, qi), make)

    def modulo(self, a: _Reg, b: _Reg) -> _Reg:
        self.check(lambda r: r[b.i] < 1)

        def make(d: int) -> Op:
            def op(r: list[Any]) -> None:
                r[d] = r[a.i] % r[b.i]
            return op
        return self._op(("mod", a.i, b.i), make)


Checks = Sequence[tuple[str, "sympy.Expr | int", "sympy.Expr | int"]]


def compile_function(values: Sequence[sympy.Expr | int], checks: Checks = ()
                     ) -> Callable[[Mapping[str, int]], tuple[int, ...]]:
    """One function computing every value of ``values`` exactly under a mapping of all their
    symbols to ints (integer-valued formulas: sizes, counts), after the conditions ``checks``:
    ``("ge", a, b)`` is ``a >= b``, ``("eq", a, b)`` is ``a == b``.

    It raises :class:`NotExact` when a condition fails or a division is invalid at those
    bindings (a denominator below 1, a ``/`` with a remainder), and ``KeyError`` for a symbol
    left out. Shared sub-expressions are computed once: the formulas become one straight-line
    program of small closures (:class:`_Program`), built once.
    """
    prog = _Program()

    def reg(v: sympy.Expr | int) -> _Reg:
        return prog.const(v) if isinstance(v, int) else prog.sub(sympy.sympify(v))

    def fails(kind: str, x: int, y: int) -> Callable[[list[Any]], bool]:
        if kind == "ge":
            return lambda r: bool(r[x] < r[y])
        return lambda r: bool(r[x] != r[y])

    for kind, a, b in checks:
        prog.check(fails(kind, reg(a).i, reg(b).i))
    outs = tuple(reg(v).i for v in values)
    template: list[Any] = [0] * prog.size
    for k, c in prog.consts.items():
        template[c.i] = k
    names = tuple((name, r.i) for name, r in prog.symbols.items())
    ops = tuple(prog.ops)

    def run(env: Mapping[str, int]) -> tuple[int, ...]:
        r = template.copy()
        for name, i in names:
            r[i] = env[name]
        for op in ops:
            op(r)
        return tuple([r[i] for i in outs])
    return run


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
