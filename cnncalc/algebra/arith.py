"""Integer arithmetic that works on Python ints and sympy expressions alike.

A *value* is either a plain ``int`` (every symbol it depends on is bound) or a sympy expression
in positive-integer symbols. Layer rules are written once over these helpers: with every symbol
bound they run on ints and no sympy work is done; otherwise symbolic values pass through
(einops-style: decide only what can be decided). Inside a layer every symbolic value made here
is checked against the symbolic budget (:mod:`cnncalc.algebra.budget`).

Floors are kept in one canonical form, ``floor(p/q)`` with ``p`` an integer-valued polynomial and
``q`` a positive integer, and nested floors are collapsed on construction using
``floor((floor(x) + c) / b) == floor((x + c) / b)`` (integer ``c``, positive integer ``b``) and
``ceil(a / b) == floor((a + b - 1) / b)`` for integer ``a``. This is why resnet50's last feature
map reads ``ceil(H/32)`` and not a five-deep nest.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Union

# Re-exported: the graph imports these from here, and the symbolic-budget error message
# tells users of cnncalc.algebra.arith.symbolic_budget.
from .bounds import MAX_RESULT_LOG10 as MAX_RESULT_LOG10
from .bounds import MAX_SYMBOLIC_LOG10 as MAX_SYMBOLIC_LOG10
from .bounds import log10_bound as log10_bound
from .budget import BUDGET_ENV as BUDGET_ENV
from .budget import SymbolicLimit as SymbolicLimit
from .budget import guard, guard1
from .budget import layer_budget as layer_budget
from .budget import start_clock as start_clock
from .budget import symbolic_budget as symbolic_budget
from .printing import pretty

if TYPE_CHECKING:
    import sympy
    from typing_extensions import TypeIs

    Value = Union[int, sympy.Expr]
else:
    from .lazy import sympy  # a bound analysis never imports sympy

    Value = Union[int, "sympy.Expr"]


@functools.lru_cache(maxsize=4096)
def sym(name: str) -> sympy.Symbol:
    """The sympy symbol for a size name: a positive integer."""
    return sympy.Symbol(name, integer=True, positive=True)


def is_num(v: object) -> TypeIs[int]:
    """True for a plain int: narrows a :data:`Value` to ``int``. False for a bool, a Fraction,
    a float and every sympy number (sizes reach the rules as plain ints: the bindings and the
    evaluator make them so)."""
    return type(v) is int


_INT = frozenset((int,))
"""``_INT.issuperset(map(type, vals))``: every value a plain int (the test in C, no loop)."""


def all_ints(vals: Iterable[object]) -> bool:
    """True when every value is a plain int (:func:`is_num`); True for none."""
    return _INT.issuperset(map(type, vals))


def as_int(v: Value | sympy.Basic) -> int:
    """``v`` as an int, where it is already known to be a number (every symbol it uses is
    bound). A formula here is a bug in cnncalc, not bad input: AssertionError."""
    if is_num(v):
        return v
    if isinstance(v, sympy.Integer):
        return int(v)
    raise AssertionError(f"expected a number, got the formula {pretty(v)}")


def norm(v: Value) -> Value:
    """Turn a sympy integer into an int; leave other expressions alone. Inside a layer's
    budget (:func:`layer_budget`) a symbolic result is checked against it."""
    if type(v) is int:  # is_num, without a call (norm runs on every formula a rule makes)
        return v
    e: sympy.Expr = v  # type: ignore[assignment]
    if not e.is_Number:  # a formula (the common case): neither an Integer nor a float
        guard1(e)  # nothing outside a layer's budget
        return e
    if isinstance(e, sympy.Integer):
        return int(e)
    if not isinstance(e, sympy.Rational) and e == int(e):
        return int(e)  # a float that is a whole number
    return e


def _int_valued(e: sympy.Expr) -> bool:
    """Cheap structural test: every term is an integer coefficient times integer-valued factors."""
    for term in sympy.Add.make_args(e):
        coeff, rest = term.as_coeff_Mul()
        if not coeff.is_Integer:
            return False
        if rest != 1 and rest.is_integer is not True:
            return False
    return True


def _den(e: sympy.Expr) -> int:
    """Least common denominator of the rational coefficients of ``e``."""
    out = 1
    for t in sympy.Add.make_args(e):
        c = t.as_coeff_Mul()[0]
        q = int(c.q) if isinstance(c, sympy.Rational) else 1
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
        return t.args[0]
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
    if type(a) is int and type(b) is int:
        return a // b
    if is_num(b):
        return _floordiv_sym(sympy.sympify(a), b)
    return norm(sympy.floor(sympy.sympify(a) / b))


def ceildiv(a: Value, b: Value) -> Value:
    """``ceil(a / b)`` for integer ``a`` and a positive divisor ``b``, as ``(a + b - 1) // b``."""
    if type(a) is int and type(b) is int:
        return -((-a) // b)
    if is_num(b):
        return floordiv(a + b - 1, b)
    return norm(sympy.ceiling(sympy.sympify(a) / b))


def mod(a: Value, b: Value) -> Value:
    """``a % b`` (Python semantics for ints; sympy Mod otherwise)."""
    if type(a) is int and type(b) is int:
        return a % b
    return norm(a - b * floordiv(a, b))


def vmax(*vals: Value) -> Value:
    """Maximum; numeric when all are numbers, sympy Max otherwise."""
    if _INT.issuperset(map(type, vals)):
        return max(vals)
    guard(*vals)  # sympy compares the arguments pairwise: bound them first
    return norm(sympy.Max(*vals))


def vmin(*vals: Value) -> Value:
    """Minimum; numeric when all are numbers, sympy Min otherwise."""
    if _INT.issuperset(map(type, vals)):
        return min(vals)
    guard(*vals)  # sympy compares the arguments pairwise: bound them first
    return norm(sympy.Min(*vals))


def prod(vals: Iterable[Value]) -> Value:
    """Product in one go (one sympy Mul when anything is symbolic)."""
    if not isinstance(vals, (tuple, list)):
        vals = tuple(vals)
    for v in vals:  # a loop: quicker than all_ints on the few factors of a product
        if type(v) is not int:
            break
    else:  # every size bound: integer work only
        return math.prod(vals)
    nums = 1
    syms: list[Value] = []
    for v in vals:
        if type(v) is int:  # is_num, without a call
            nums *= v
        else:
            syms.append(v)
    return norm(sympy.Mul(nums, *syms))  # some value is a formula (the loop above)


def total(vals: Iterable[Value]) -> Value:
    """Sum in one go: one sympy Add, never repeated ``+=`` (quadratic in sympy)."""
    if not isinstance(vals, (tuple, list)):
        vals = tuple(vals)
    if _INT.issuperset(map(type, vals)):  # every size bound: integer work only
        return sum(vals)
    nums = 0
    syms: list[Value] = []
    for v in vals:
        if type(v) is int:  # is_num, without a call (totals run over every layer)
            nums += v
        else:
            syms.append(v)
    if not syms:
        return nums
    return norm(sympy.Add(nums, *syms))


def divide_exact(a: Value, b: Value) -> Value:
    """``a / b`` where the caller knows (or requires) ``b`` divides ``a``."""
    if type(a) is int and type(b) is int:
        return a // b
    return norm(sympy.sympify(a) / b)


def ratio(a: Value, b: Value) -> Value:
    """Exact ``a / b``: an int when it divides, a sympy Rational or expression otherwise (never
    a float). Receptive-field strides after upsampling are such ratios."""
    if type(a) is int and type(b) is int:
        if a % b == 0:
            return a // b
        return sympy.Rational(a, b)
    return norm(sympy.sympify(a) / b)


def same(a: Value, b: Value) -> bool | None:
    """Decide ``a == b``: True, False, or None when it depends on the free symbols."""
    if type(a) is int and type(b) is int:
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
    try:
        return set(_free_names(v))
    except TypeError:  # unhashable: not cached
        return {s.name for s in v.free_symbols}


@functools.lru_cache(maxsize=16384)
def _free_names(v: sympy.Basic) -> frozenset[str]:
    """:func:`free_names` of a formula, cached (a network's conditions recur from one analysis
    to the next; sympy walks the whole expression for its free symbols)."""
    return frozenset(s.name for s in v.free_symbols)


def lcm(*vals: int) -> int:
    """Least common multiple of positive ints."""
    out = 1
    for v in vals:
        out = out * v // math.gcd(out, v)
    return out
