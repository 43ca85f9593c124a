"""Integer arithmetic that works on Python ints and sympy expressions alike.

A *value* is either a plain ``int`` (every symbol it depends on is bound) or a sympy expression
in positive-integer symbols. Layer rules are written once over these helpers: with every symbol
bound they run on ints and no sympy work is done; otherwise symbolic values pass through
(einops-style: decide only what can be decided).

Floors are kept in one canonical form, ``floor(p/q)`` with ``p`` an integer-valued polynomial and
``q`` a positive integer, and nested floors are collapsed on construction using
``floor((floor(x) + c) / b) == floor((x + c) / b)`` (integer ``c``, positive integer ``b``) and
``ceil(a / b) == floor((a + b - 1) / b)`` for integer ``a``. This is why resnet50's last feature
map reads ``ceiling(H/32)`` and not a five-deep nest.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

import sympy

from .envvars import env_int
from .errors import CnnCalcError

Value = Union[int, sympy.Expr]

# --- a bound on symbolic work ------------------------------------------------------------------
#
# With symbolic kernels and strides some rules nest a size inside itself more than once (a
# ceil_mode window's Min of two floors of the input length), so expressions can double per
# layer and sympy's work on them grows faster still. While a layer is analysed (see
# :func:`layer_budget`, used by the engine around every ``apply``) every symbolic value the
# helpers below produce is checked against a size cap and the analysis's deadline (started by
# :func:`start_clock` when the graph is expanded); past either the layer is refused with a
# CnnCalcError (kind ``limit``) that says which symbols to bind.

BUDGET_ENV = "CNNCALC_SYMBOLIC_BUDGET"
DEFAULT_SECONDS = 20
"""Seconds of symbolic work one analysis may take (``$CNNCALC_SYMBOLIC_BUDGET`` sets it)."""
MAX_SECONDS = 86_400
MAX_EXPR_NODES = 2000
"""Nodes (as printed: shared sub-expressions count each time) one symbolic value may have.
Zoo models stay below 30 per layer; a doubling expression passes this after a few layers. The
arguments of one Min or Max (which sympy compares pairwise) may have a quarter of it together."""
MAX_RESULT_LOG10 = 300
"""Every per-layer number stays below ``10**300`` in magnitude, so any total converts to a
float and prints (``str()`` of an int stops at 4,300 digits)."""
MAX_SYMBOLIC_LOG10 = 1000
"""Every per-layer formula stays below ``10**1000`` in magnitude at every allowed binding (all
symbols up to the largest binding), so its value under any bindings prints. Looser than
:data:`MAX_RESULT_LOG10`: extreme bindings (a receptive field of 33 strides ``S`` at
``S = 10**9``) are possible in a formula long before they are asked for."""


@dataclass(frozen=True)
class _Settings:
    seconds: float | None = None
    max_nodes: int | None = None


_SETTINGS: contextvars.ContextVar[_Settings | None] = contextvars.ContextVar(
    "cnncalc_symbolic_budget", default=None)


class LayerBudget:
    """The symbolic budget of one layer being analysed: a deadline and a node cap."""

    __slots__ = ("deadline", "max_nodes", "seconds", "why")

    def __init__(self, seconds: float, max_nodes: int) -> None:
        self.seconds = seconds
        self.max_nodes = max_nodes
        self.deadline = time.monotonic() + seconds
        self.why: str | None = None

    def trip(self, why: str) -> None:
        """Record why the budget is spent and stop the layer's work."""
        if self.why is None:
            self.why = why
        raise SymbolicLimit(f"symbolic work over budget: {self.why}")


class SymbolicLimit(CnnCalcError):
    """The symbolic budget of a layer is spent (kind ``limit``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="limit")


_ACTIVE: contextvars.ContextVar[LayerBudget | None] = contextvars.ContextVar(
    "cnncalc_layer_budget", default=None)
_DEADLINE: contextvars.ContextVar[tuple[float, float, int] | None] = contextvars.ContextVar(
    "cnncalc_analysis_deadline", default=None)


@contextlib.contextmanager
def symbolic_budget(seconds: float | None = None,
                    max_nodes: int | None = None) -> Iterator[None]:
    """Library setting for the symbolic budget inside the ``with`` block (this thread or task
    only): ``seconds`` of symbolic work per analysis (default ``$CNNCALC_SYMBOLIC_BUDGET`` or
    20) and ``max_nodes`` per symbolic value (default 2000). ``None`` keeps the current value.

    ``with symbolic_budget(seconds=120): cnncalc.analyze(arch)``
    """
    cur = _SETTINGS.get() or _Settings()
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
            raise CnnCalcError(f"symbolic_budget seconds must be a number above 0 and at most "
                               f"{MAX_SECONDS}, got {seconds!r}", kind="limit")
    if max_nodes is not None:
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) \
                or not 1 <= max_nodes <= 10**7:
            raise CnnCalcError(f"symbolic_budget max_nodes must be an integer from 1 to "
                               f"10**7, got {max_nodes!r}", kind="limit")
    token = _SETTINGS.set(_Settings(cur.seconds if seconds is None else float(seconds),
                                    cur.max_nodes if max_nodes is None else max_nodes))
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def budget_settings() -> tuple[float, int]:
    """(seconds per analysis, nodes per value) in force: :func:`symbolic_budget`, else
    ``$CNNCALC_SYMBOLIC_BUDGET`` (whole seconds; an invalid value is an error naming it)."""
    cur = _SETTINGS.get() or _Settings()
    seconds = cur.seconds
    if seconds is None:
        seconds = float(env_int(BUDGET_ENV, DEFAULT_SECONDS, 1, MAX_SECONDS))
    return seconds, cur.max_nodes if cur.max_nodes is not None else MAX_EXPR_NODES


def start_clock() -> None:
    """Start the symbolic-work clock of an analysis (the graph expansion calls it): the layers
    analysed after it share one deadline and the settings in force now. Also checks
    ``$CNNCALC_SYMBOLIC_BUDGET``."""
    seconds, nodes = budget_settings()
    _DEADLINE.set((seconds, time.monotonic() + seconds, nodes))


@contextlib.contextmanager
def layer_budget() -> Iterator[LayerBudget]:
    """Check every symbolic value made inside the block against the budget in force: the
    analysis's deadline (:func:`start_clock`; without one, ``seconds`` from now)."""
    run = _DEADLINE.get()
    if run is not None:
        b = LayerBudget(run[0], run[2])
        b.deadline = run[1]
    else:
        b = LayerBudget(*budget_settings())
    token = _ACTIVE.set(b)
    try:
        yield b
    finally:
        _ACTIVE.reset(token)


def _nodes_over(roots: list[sympy.Basic], cap: int) -> bool:
    """True when the expressions ``roots`` have more than ``cap`` nodes together (stops
    counting there: cheap)."""
    stack = list(roots)
    n = 0
    while stack:
        x = stack.pop()
        n += 1
        if n > cap:
            return True
        stack.extend(x.args)
    return False


def _guard(*vals: object) -> None:
    """Inside a layer: the deadline, and the node cap on ``vals`` together."""
    b = _ACTIVE.get()
    if b is None:
        return
    if time.monotonic() > b.deadline:
        b.trip(f"more than {b.seconds:g} seconds of symbolic work in this analysis, "
               "reached in this layer")
    syms = [v for v in vals if isinstance(v, sympy.Basic)]
    if not syms:
        return
    if len(vals) > 1:  # the arguments of a Min or Max
        cap = max(b.max_nodes // 4, 1)
        if _nodes_over(syms, cap):
            b.trip(f"a Min/Max of expressions with more than {cap} nodes together (a quarter "
                   f"of the {b.max_nodes}-node cap: sympy compares them pairwise, and its work "
                   "grows much faster than their size)")
    elif _nodes_over(syms, b.max_nodes):
        b.trip(f"an expression grew past {b.max_nodes} nodes (sympy's work on such "
               "expressions grows faster than their size)")


def log10_bound(v: Value | sympy.Basic, log10_symbol: float) -> float:
    """An upper bound on ``log10`` of the magnitude of ``v`` (and of its numeric numerators
    and denominators) for symbols from 1 to ``10**log10_symbol``; ``inf`` when unknown.

    Iterative (no recursion limit), one visit per distinct sub-expression."""
    if is_num(v):
        return _ilog10(v)  # type: ignore[arg-type]
    return _log10_bound_expr(v, float(log10_symbol))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=65536)
def _log10_bound_expr(v: sympy.Basic, ls: float) -> float:
    """:func:`log10_bound` of an expression (cached: layers repeat the same sizes)."""
    memo: dict[sympy.Basic, float] = {}
    stack: list[tuple[sympy.Basic, bool]] = [(v, False)]  # type: ignore[list-item]
    while stack:
        e, ready = stack.pop()
        if e in memo:
            continue
        if not ready and e.args:
            stack.append((e, True))
            stack.extend((a, False) for a in e.args if a not in memo)
            continue
        memo[e] = _log_node(e, [memo[a] for a in e.args], ls)
    return memo[v]  # type: ignore[index]


def _ilog10(n: int) -> float:
    n = abs(n)
    if n < 10**15:
        return math.log10(n) if n > 1 else 0.0
    return n.bit_length() * math.log10(2)


def _log_node(e: sympy.Basic, args: list[float], ls: float) -> float:
    """:func:`log10_bound` of one node from the bounds of its arguments."""
    if e.is_Integer:
        return _ilog10(int(e))  # type: ignore[call-overload]
    if e.is_Rational:
        return max(_ilog10(int(e.p)), _ilog10(int(e.q)))  # type: ignore[attr-defined]
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
            return float(x) * args[0] if x.is_positive else 0.0  # type: ignore[arg-type]
        return math.inf
    # floor, ceiling (|floor(x)| <= |x| + 1), Min, Max, Mod, Abs: at most twice the largest.
    return max(args) + math.log10(2)


@functools.lru_cache(maxsize=4096)
def sym(name: str) -> sympy.Symbol:
    """The sympy symbol for a size name: a positive integer."""
    return sympy.Symbol(name, integer=True, positive=True)


def is_num(v: object) -> bool:
    """True for a plain int (not bool)."""
    return isinstance(v, int) and not isinstance(v, bool)


def norm(v: Value | sympy.Basic) -> Value:
    """Turn a sympy integer into an int; leave other expressions alone. Inside a layer's
    budget (:func:`layer_budget`) a symbolic result is checked against it."""
    if is_num(v):
        return v  # type: ignore[return-value]
    if _ACTIVE.get() is not None and not v.is_Number:  # type: ignore[union-attr]
        _guard(v)
    if isinstance(v, sympy.Integer):
        return int(v)
    if isinstance(v, sympy.Rational) and not isinstance(v, sympy.Integer):
        return v
    if isinstance(v, sympy.Expr) and v.is_Number and v == int(v):
        return int(v)
    return v  # type: ignore[return-value]


def _int_valued(e: sympy.Expr) -> bool:
    """Cheap structural test: every term is an integer coefficient times integer-valued factors."""
    for term in sympy.Add.make_args(e):
        coeff, rest = term.as_coeff_Mul()
        if not (coeff.is_Integer):
            return False
        if rest != 1 and rest.is_integer is not True:
            return False
    return True


def _den(e: sympy.Expr) -> int:
    """Least common denominator of the rational coefficients of ``e``."""
    out = 1
    for t in sympy.Add.make_args(e):
        q = int(t.as_coeff_Mul()[0].q)
        out = out * q // math.gcd(out, q)
    return out


@functools.lru_cache(maxsize=65536)
def _canon_floor(arg: sympy.Expr) -> Value:
    """``floor(arg)`` in display form: ``ceiling(P/q) + c`` when ``arg = (P + q - 1)/q + c``."""
    arg = sympy.expand(arg)
    const = arg.as_coeff_Add()[0]
    rest = arg - const
    q = _den(arg)
    if q > 1 and rest != 0 and _int_valued(sympy.expand(rest * q)):
        m = int(const * q)
        if (m + 1) % q == 0:
            return norm(sympy.ceiling(rest) + (m + 1) // q - 1)
        # floor(P/q + m/q) = floor(P/q + (m mod q)/q) + m div q: the constant in [0, 1)
        return norm(sympy.floor(rest + sympy.Rational(m % q, q)) + m // q)
    return norm(sympy.floor(arg))


def _as_floor_arg(t: sympy.Expr) -> sympy.Expr | None:
    """The argument ``a`` with ``t == floor(a)`` for a floor or an exact-rational ceiling."""
    if isinstance(t, sympy.floor):
        return t.args[0]  # type: ignore[no-any-return]
    if isinstance(t, sympy.ceiling):
        x = sympy.expand(t.args[0])
        q = _den(x)
        if not _int_valued(sympy.expand(x * q)):
            return None
        return x + sympy.Rational(q - 1, q)  # ceiling(P/q) == floor((P + q - 1)/q), P integer
    return None


@functools.lru_cache(maxsize=65536)
def _floordiv_sym(a: sympy.Expr, b: int) -> Value:
    a = sympy.expand(a)
    if b == 1 and _int_valued(a):
        return norm(a)
    special = [t for t in sympy.Add.make_args(a) if isinstance(t, (sympy.floor, sympy.ceiling))]
    if len(special) == 1:
        rest = a - special[0]
        inner = _as_floor_arg(special[0])
        if inner is not None and _int_valued(rest):
            return _canon_floor(sympy.expand(inner + rest) / b)
    return _canon_floor(a / b)


def floordiv(a: Value, b: Value) -> Value:
    """``a // b`` for a positive divisor ``b``; collapses nested floors."""
    if is_num(a) and is_num(b):
        return a // b  # type: ignore[operator]
    if is_num(b):
        return _floordiv_sym(sympy.sympify(a), int(b))  # type: ignore[arg-type]
    return norm(sympy.floor(sympy.sympify(a) / b))


def ceildiv(a: Value, b: Value) -> Value:
    """``ceil(a / b)`` for integer ``a`` and a positive divisor ``b``, as ``(a + b - 1) // b``."""
    if is_num(a) and is_num(b):
        return -((-a) // b)  # type: ignore[operator]
    if is_num(b):
        return floordiv(a + b - 1, b)  # type: ignore[operator]
    return norm(sympy.ceiling(sympy.sympify(a) / b))


def mod(a: Value, b: Value) -> Value:
    """``a % b`` (Python semantics for ints; sympy Mod otherwise)."""
    if is_num(a) and is_num(b):
        return a % b  # type: ignore[operator]
    return norm(a - b * floordiv(a, b))  # type: ignore[operator]


def vmax(*vals: Value) -> Value:
    """Maximum; numeric when all are numbers, sympy Max otherwise."""
    if all(is_num(v) for v in vals):
        return max(vals)  # type: ignore[type-var]
    _guard(*vals)  # sympy compares the arguments pairwise: bound them first
    return norm(sympy.Max(*vals))


def vmin(*vals: Value) -> Value:
    """Minimum; numeric when all are numbers, sympy Min otherwise."""
    if all(is_num(v) for v in vals):
        return min(vals)  # type: ignore[type-var]
    _guard(*vals)  # sympy compares the arguments pairwise: bound them first
    return norm(sympy.Min(*vals))


def prod(vals: Iterable[Value]) -> Value:
    """Product in one go (one sympy Mul when anything is symbolic)."""
    nums = 1
    syms: list[sympy.Expr] = []
    for v in vals:
        if is_num(v):
            nums *= v  # type: ignore[operator]
        else:
            syms.append(v)  # type: ignore[arg-type]
    if not syms:
        return nums
    return norm(sympy.Mul(nums, *syms))


def total(vals: Iterable[Value]) -> Value:
    """Sum in one go: one sympy Add, never repeated ``+=`` (quadratic in sympy)."""
    nums = 0
    syms: list[sympy.Expr] = []
    for v in vals:
        if is_num(v):
            nums += v  # type: ignore[operator]
        else:
            syms.append(v)  # type: ignore[arg-type]
    if not syms:
        return nums
    return norm(sympy.Add(nums, *syms))


def divide_exact(a: Value, b: Value) -> Value:
    """``a / b`` where the caller knows (or requires) ``b`` divides ``a``."""
    if is_num(a) and is_num(b):
        return a // b  # type: ignore[operator]
    return norm(sympy.sympify(a) / b)


def ratio(a: Value, b: Value) -> Value:
    """Exact ``a / b``: an int when it divides, a sympy Rational or expression otherwise (never
    a float). Receptive-field strides after upsampling are such ratios."""
    if is_num(a) and is_num(b):
        if a % b == 0:  # type: ignore[operator]
            return a // b  # type: ignore[operator]
        return sympy.Rational(a, b)  # type: ignore[arg-type]
    return norm(sympy.sympify(a) / b)


def same(a: Value, b: Value) -> bool | None:
    """Decide ``a == b``: True, False, or None when it depends on the free symbols."""
    if is_num(a) and is_num(b):
        return a == b
    d = sympy.expand(sympy.sympify(a) - b)
    if d == 0:
        return True
    if d.is_Number:
        return False
    return None


def free_names(v: Value | sympy.Basic) -> set[str]:
    """Names of the free symbols of a value."""
    if is_num(v):
        return set()
    return {s.name for s in v.free_symbols}  # type: ignore[union-attr]


def lcm(*vals: int) -> int:
    """Least common multiple of positive ints."""
    out = 1
    for v in vals:
        out = out * v // math.gcd(out, v)
    return out
