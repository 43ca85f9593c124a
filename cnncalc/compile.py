"""Exact evaluation of symbolic results, without ``eval``/``exec``.

A sympy expression (integer-valued: sizes, counts) compiles into a tree of closures that
evaluate with integer arithmetic on Python ints or NumPy integer arrays: every floor/ceiling
``floor(p/q)`` becomes ``p_num // q`` over an integer numerator, and rational coefficients are
cleared by their least common denominator before one exact division. So a sweep over a million
bindings floors exactly as the layers do, with no float rounding.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import sympy

from .errors import CnnCalcError

Fn = Callable[[Mapping[str, Any]], Any]


def _lcm_den(coeffs: list[sympy.Rational]) -> int:
    out = 1
    for c in coeffs:
        q = int(sympy.Rational(c).q)
        out = out * q // math.gcd(out, q)
    return out


def _numerator(e: sympy.Expr) -> tuple[Fn, int]:
    """(closure for e * L as an integer polynomial, L)."""
    e = sympy.expand_mul(e, deep=False)
    terms = sympy.Add.make_args(e)
    split = [t.as_coeff_Mul() for t in terms]
    den = _lcm_den([c for c, _ in split])
    parts: list[tuple[int, list[Fn]]] = []
    for c, rest in split:
        k = int(c * den)
        factors = [] if rest == 1 else [_compile(f) for f in sympy.Mul.make_args(rest)]
        parts.append((k, factors))

    def num(env: Mapping[str, Any]) -> Any:
        acc: Any = 0
        for k, factors in parts:
            v: Any = k
            for f in factors:
                v = v * f(env)
            acc = acc + v
        return acc
    return num, den


def _has_symbolic_den(e: sympy.Expr) -> bool:
    return any(p.exp.is_negative for p in e.atoms(sympy.Pow))


def _ratio(e: sympy.Expr) -> tuple[Fn, Fn]:
    """Integer closures (num, den) with ``e == num / den`` (symbolic denominators, e.g. a
    stride ``S``: ``floor((H - K)/S)``)."""
    n, d = sympy.fraction(sympy.together(e))
    nn, ln = _numerator(n)
    dn, ld = _numerator(d)
    return (lambda env: nn(env) * ld), (lambda env: dn(env) * ln)


def _compile(e: sympy.Expr) -> Fn:
    if e.is_Integer:
        v = int(e)
        return lambda env: v
    if e.is_Symbol:
        name = e.name  # type: ignore[attr-defined]
        return lambda env: env[name]
    if isinstance(e, (sympy.floor, sympy.ceiling)) and _has_symbolic_den(e.args[0]):
        top, bottom = _ratio(e.args[0])
        if isinstance(e, sympy.floor):
            return lambda env: top(env) // bottom(env)
        return lambda env: -((-top(env)) // bottom(env))
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        num, den = _numerator(e.args[0])
        if isinstance(e, sympy.floor):
            return lambda env: num(env) // den
        return lambda env: -((-num(env)) // den)
    if isinstance(e, (sympy.Max, sympy.Min)):
        args = [_compile(a) for a in e.args]
        pick = _max if isinstance(e, sympy.Max) else _min
        return lambda env: functools.reduce(pick, (a(env) for a in args))
    if (e.is_Add or e.is_Mul or e.is_Pow) and _has_symbolic_den(e):
        top, bottom = _ratio(e)
        return lambda env: top(env) // bottom(env)
    if e.is_Pow:
        base, ex = e.args
        if not (ex.is_Integer and int(ex) >= 0):
            raise CnnCalcError(f"cannot evaluate {e} exactly (negative or symbolic power)")
        b, k = _compile(base), int(ex)
        return lambda env: b(env) ** k
    if e.is_Add or e.is_Mul or e.is_Rational:
        num, den = _numerator(e)
        if den == 1:
            return num
        return lambda env: num(env) // den
    raise CnnCalcError(f"cannot evaluate {type(e).__name__} exactly")


def _max(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    import numpy as np
    return np.maximum(a, b)


def _min(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    import numpy as np
    return np.minimum(a, b)


@functools.lru_cache(maxsize=16384)
def compile_int(e: sympy.Expr) -> Fn:
    """A closure evaluating integer-valued ``e`` exactly under a mapping of its symbols."""
    return _compile(sympy.sympify(e))


def pretty(e: Any) -> str:
    """Readable text of a value (floors are already in display form, see arith)."""
    if isinstance(e, int):
        return str(e)
    return _str(e)


@functools.lru_cache(maxsize=65536)
def _str(e: sympy.Expr) -> str:
    return str(e)
