"""Formulas print in the grammar cnncalc reads: ``ceil``/``min``/``max``/``%``,
never sympy's ``ceiling``/``Max``/``Min``/``Mod``, and a printed formula parsed back gives the same
value at every valid binding (a value that is not an integer there is refused, never rounded).

Expected texts are written out; expected values come from sympy's exact substitution or from a
bound ``cnncalc.analyze`` (exact Python ints), never from the printer under test.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.algebra.arith import ceildiv, floordiv, mod, prod, ratio, sym, total, vmax, vmin
from cnncalc.algebra.expr import compile_expr, compile_formula
from cnncalc.algebra.printing import pretty
from cnncalc.errors import CnnCalcError

EXAMPLES = int(os.environ.get("CNNCALC_HYPOTHESIS_EXAMPLES", "60"))
H, W, N, S, K = (sym(n) for n in "HWNSK")
R = sympy.Rational

CASES: list[tuple[Any, str]] = [
    (7, "7"),
    (-3, "-3"),
    (sympy.Integer(5), "5"),
    (R(32, 3), "32/3"),
    (sympy.ceiling(H / 2), "ceil(H/2)"),
    (9408 * N * sympy.ceiling(H / 2) * sympy.ceiling(W / 2), "9408*N*ceil(H/2)*ceil(W/2)"),
    (sympy.floor(H / 4 + R(1, 4)) - 1, "floor((H + 1)/4) - 1"),
    (sympy.floor(H / 2) + 1, "floor(H/2) + 1"),
    # together() cancels S and distributes: the argument is put over one denominator again
    (sympy.floor((H * S - 2 * S * sympy.floor(H / 2)) / (2 * S), evaluate=False),
     "floor((H - 2*floor(H/2))/2)"),
    (sympy.floor(R(7, 2) - H / 2), "floor((7 - H)/2)"),
    (sympy.floor(H / (2 * S)), "floor(H/(2*S))"),
    (sympy.floor((H - K) / S) + 1, "floor((H - K)/S) + 1"),
    (sympy.ceiling(H / S - K / S), "ceil((H - K)/S)"),
    (sympy.floor(H / S**2), "floor(H/S**2)"),
    ((sympy.ceiling(H / 2) - 3) * (sympy.ceiling(W / 2) - 3), "(ceil(H/2) - 3)*(ceil(W/2) - 3)"),
    (sympy.Max(H, 3 * W), "max(H, 3*W)"),
    (sympy.Min(H, W), "min(H, W)"),
    (4 * sympy.Max(3 * H, H * sympy.ceiling(W / 2)), "4*max(3*H, H*ceil(W/2))"),
    (sympy.Mod(H, 2 * S), "H % (2*S)"),
    (2 * sympy.Mod(H, 3), "2*(H % 3)"),
    (sympy.Mod(2 * H, 3) + 1, "2*H % 3 + 1"),
    (sympy.Mod(H, sympy.Mod(W, 3) + 1), "H % (W % 3 + 1)"),
    # exact divisions: one fractional term as sympy writes it, several over one denominator
    (H / 2 + 1, "H/2 + 1"),
    (-H / 2, "-H/2"),
    (32 * sympy.floor(H / 32) / 7, "32*floor(H/32)/7"),
    (H / 2 + W / 2, "(H + W)/2"),
    (16 * sympy.floor(H / 32 + R(1, 32)) / 3 - R(16, 3), "(16*floor((H + 1)/32) - 16)/3"),
    ((H / 2 + R(1, 2)) * W, "W*(H + 1)/2"),
    (H**2 * W, "H**2*W"),
    # what the layers build: resnet50's stem collapses to one ceiling
    (floordiv(floordiv(H - 1, 2), 2) + 1, "ceil(H/4)"),
    (ceildiv(H, 32), "ceil(H/32)"),
    (vmax(H, W, 3), "max(3, H, W)"),
]
BINDINGS = [{"H": 1, "W": 1, "N": 1, "S": 1, "K": 1}, {"H": 224, "W": 225, "N": 3, "S": 2, "K": 3},
            {"H": 97, "W": 31, "N": 2, "S": 5, "K": 7}, {"H": 12, "W": 18, "N": 1, "S": 3, "K": 2}]


def _exact(e: Any, b: dict[str, int]) -> sympy.Expr:
    """``e`` at ``b`` by sympy's exact substitution (an Integer or a Rational)."""
    return sympy.sympify(e).xreplace({sym(k): sympy.Integer(v) for k, v in b.items()})


def _check_round_trip(e: Any, b: dict[str, int], text: str | None = None) -> None:
    """``pretty(e)`` read back is ``e`` at ``b``, or refused where ``e`` is not an integer."""
    text = pretty(e) if text is None else text
    want = _exact(e, b)
    f = compile_formula(text)
    if want.is_Integer:
        assert f(b) == int(want), (text, b)
    else:
        with pytest.raises(CnnCalcError, match="is not an integer"):
            f(b)


@pytest.mark.parametrize(("e", "text"), CASES, ids=[t for _, t in CASES])
def test_pretty_writes_the_grammar(e: Any, text: str) -> None:
    assert pretty(e) == text
    for b in BINDINGS:
        _check_round_trip(e, b)
    compile_expr(text)  # short formulas are within a user's expression limits too


def test_non_integer_is_refused_not_rounded() -> None:
    # H/2 + W/2 is an integer for odd H and W although neither term is
    assert compile_formula(pretty(H / 2 + W / 2))({"H": 3, "W": 5}) == 4
    with pytest.raises(CnnCalcError, match="is not an integer"):
        compile_formula(pretty(H / 2 + W / 2))({"H": 3, "W": 4})
    with pytest.raises(CnnCalcError, match="is not an integer"):
        compile_formula(pretty(R(32, 3)))({})


# --- random expressions, built with the layers' helpers ---------------------------------------

_SYMS = (H, W, S)


@st.composite
def _integer_valued(draw: Any, depth: int = 3) -> Any:
    """An integer-valued value: sizes, sums, products, rounded divisions, min/max, mod."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(_SYMS) | st.integers(-6, 40))
    op = draw(st.sampled_from(["add", "sub", "mul", "floor", "ceil", "max", "min", "mod",
                               "floor_rat"]))
    a = draw(_integer_valued(depth - 1))
    if op in ("floor", "ceil", "mod"):
        d = draw(st.sampled_from([S, S + 1, 2 * S]) | st.integers(1, 9))
        return {"floor": floordiv, "ceil": ceildiv, "mod": mod}[op](a, d)
    if op == "floor_rat":  # a floor of a sum with fractions: floor(a/3 + b/2)
        b = draw(_integer_valued(depth - 1))
        p, q = draw(st.integers(-4, 4)), draw(st.integers(1, 6))
        return floordiv(total([prod([2 * q, a]), prod([6 * p, b])]), 12 * q)
    b = draw(_integer_valued(depth - 1))
    if op == "add":
        return total([a, b])
    if op == "sub":
        return total([a, prod([-1, b])])
    if op == "mul":
        return prod([a, b])
    return (vmax if op == "max" else vmin)(a, b)


@st.composite
def _values(draw: Any) -> Any:
    """A value that may be a fraction: integer-valued pieces with rational coefficients."""
    parts = draw(st.lists(_integer_valued(), min_size=1, max_size=3))
    return total([ratio(prod([draw(st.integers(-5, 5)), x]), draw(st.integers(1, 4)))
                  for x in parts])


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(_values(), st.integers(1, 60), st.integers(1, 60), st.integers(1, 7))
def test_random_formulas_read_back(e: Any, h: int, w: int, s: int) -> None:
    text = pretty(e)
    assert not re.search(r"ceiling|Max|Min|Mod", text), text
    _check_round_trip(e, {"H": h, "W": w, "S": s}, text)


# --- every zoo model's JSON, read back --------------------------------------------------------

_NOT_FORMULAS = {"name", "type", "inputs", "symbols", "bindings", "constraints", "exact_sizes",
                 "warnings"}


def _formulas(d: Any, ref: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, formula, the bound analysis's value there) for every formula in ``to_dict()``."""
    if isinstance(d, dict):
        for k, v in d.items():
            if k not in _NOT_FORMULAS:
                yield from _formulas(v, ref[k], f"{path}.{k}")
    elif isinstance(d, list):
        assert len(d) == len(ref), path
        for i, (v, r) in enumerate(zip(d, ref, strict=True)):
            yield from _formulas(v, r, f"{path}[{i}]")
    elif isinstance(d, str):
        yield path, d, ref
    else:
        assert d == ref, path  # a number already: the bound analysis agrees


def _bindings(an: cnncalc.Analysis, rng: random.Random, want: int) -> list[dict[str, int]]:
    """Up to ``want`` bindings of the free symbols that the analysis accepts."""
    out: list[dict[str, int]] = []
    for _ in range(40):
        b = {}
        for s in an.free_symbols:
            if s == "N":
                b[s] = rng.randint(1, 4)
            else:
                b[s] = rng.choice([rng.randint(1, 320), 32 * rng.randint(1, 10),
                                   32 * rng.randint(1, 10) + 1, 16 * rng.randint(1, 20)])
        try:
            an.evaluate(**b)
        except CnnCalcError:
            continue
        out.append(b)
        if len(out) == want:
            break
    return out


@pytest.mark.parametrize("name", cnncalc.zoo_names())
def test_zoo_formulas_read_back(name: str) -> None:
    an = cnncalc.analyze(name)
    d = an.to_dict()
    rng = random.Random(f"printing-{name}")
    bindings = _bindings(an, rng, 2)
    assert bindings, "no binding accepted"
    texts = {t for _, t, _ in _formulas(d, d)}
    for t in texts:
        assert not re.search(r"ceiling|Max|Min|Mod", t), t
        try:  # a user's compile_expr reads it too, unless it passes a user's size limits
            compile_expr(t)
        except CnnCalcError as e:
            assert re.search(r"longer than|more than \d+ operations|nested", e.message), e
    for b in bindings:
        ref = cnncalc.analyze(name, b).to_dict()
        for path, text, want in _formulas(d, ref):
            f = compile_formula(text)
            if isinstance(want, int):
                assert f(b) == want, (path, text, b)
            else:  # a receptive-field stride that is not an integer here, e.g. "32/3"
                assert re.fullmatch(r"-?\d+/\d+", want), (path, want)
                with pytest.raises(CnnCalcError, match="is not an integer"):
                    f(b)
