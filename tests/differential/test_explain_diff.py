"""Explain mode agrees with the analysis: every explained result is the analysis's own number,
and every formula with its values substituted, read back by the expression grammar
(``compile_formula``: cnncalc's printed formulas), gives that
result (at the bindings, where sizes are free). Over every zoo model (bound and symbolic) and
random architectures (tests/support/strategies.py, strategies_symbolic.py)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from strategies import architectures
from strategies_symbolic import SymCase, symbolic_cases

import cnncalc
from cnncalc.algebra.arith import is_num
from cnncalc.algebra.expr import compile_formula
from cnncalc.core.explain import explain
from cnncalc.errors import CnnCalcError
from cnncalc.report.explain import FORMATS, render

EXAMPLES = int(os.environ.get("CNNCALC_HYPOTHESIS_EXAMPLES", "60"))
HYPOTHESIS: dict[str, Any] = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


def reported(r: cnncalc.LayerResult, of: str) -> Any:
    """The number the analysis reports for a step's ``of`` (``output_shape.2``,
    ``receptive_field.size.0``, ``macs``...)."""
    parts = of.split(".")
    if parts[0] == "output_shape":
        return tuple(r.output_shape) if len(parts) == 1 else r.output_shape[int(parts[1])]
    if parts[0] == "receptive_field":
        return getattr(r.receptive_field, parts[1])[int(parts[2])]
    return getattr(r, parts[0])


def _at(v: Any, env: dict[str, int]) -> Any:
    if is_num(v):
        return v
    return sympy.sympify(v).xreplace({sympy.Symbol(k, integer=True, positive=True): x
                                      for k, x in env.items()})


def same(a: Any, b: Any, envs: list[dict[str, int]]) -> bool:
    """Equal as formulas, or at every binding of ``envs`` (floors and mins may be written in
    different but equal forms)."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b) and all(
            same(x, y, envs) for x, y in zip(a, b, strict=True))
    if a == b or sympy.sympify(a) == sympy.sympify(b):
        return True
    return bool(envs) and all(_at(a, e) == _at(b, e) for e in envs)


def check(an: cnncalc.Analysis, envs: list[dict[str, int]]) -> int:
    """Assert every explained result equals the analysis's number and every substituted
    formula reads back as its result; the number of formulas read back."""
    ex = explain(an)
    assert [lx.name for lx in ex.layers] == [r.name for r in an.layers]
    read = 0
    for lx, r in zip(ex.layers, an.layers, strict=True):
        ofs = [s.of for s in lx.steps if s.of]
        for q in ("output_shape", "params", "macs", "activations", "activation_bytes"):
            assert q in ofs, (r.name, q)
        for s in lx.steps:
            where = f"{r.name} ({r.type}) {s.label}: {s.line()}"
            if s.of is not None:
                assert same(s.result, reported(r, s.of), envs), where
            if s.formula is None or isinstance(s.result, tuple):
                continue
            text = s.substituted()
            try:
                back = compile_formula(text)({})
            except CnnCalcError:
                # a rational receptive-field stride (after upsampling), outside the integer
                # grammar
                assert not all(sympy.sympify(v).is_integer
                               for v in [s.result, *s.values.values()]), where
                continue
            assert same(back, s.result, envs), f"{where}: reads back as {back}"
            read += 1
    d = ex.to_dict()
    assert len(d["layers"]) == len(an.layers) and d["conventions"]
    json.dumps(d)
    for fmt in FORMATS:
        out = render(ex, fmt)
        assert out.count("\n\n") >= len(an.layers), fmt
    tex = render(ex, "latex")
    assert tex.count(r"\left") == tex.count(r"\right")
    return read


ZOO = cnncalc.zoo_names()


@pytest.mark.parametrize("name", ZOO)
def test_zoo_explained_results_are_the_analysis(name: str) -> None:
    b = {"N": 2, "H": 224, "W": 224}
    an = cnncalc.analyze(name, {k: v for k, v in b.items() if k in cnncalc.analyze(name).symbols})
    assert check(an, []) > 0
    sym = cnncalc.analyze(name)
    envs = [{k: v for k, v in b.items() if k in sym.symbols},
            {k: v for k, v in {"N": 1, "H": 299, "W": 320}.items() if k in sym.symbols}]
    assert check(sym, envs) > 0


@settings(max_examples=EXAMPLES, **HYPOTHESIS)
@given(architectures())
def test_random_architectures_explained(case: tuple[dict[str, Any], dict[str, int]]) -> None:
    arch, bindings = case
    check(cnncalc.analyze(arch, bindings), [])
    if bindings:
        try:
            sym = cnncalc.analyze(arch)
        except CnnCalcError:
            return  # refused symbolically (the work budget, a split of a free size...)
        check(sym, [bindings])


@settings(max_examples=max(EXAMPLES // 2, 10), **HYPOTHESIS)
@given(symbolic_cases())
def test_symbolic_fields_explained(case: SymCase) -> None:
    """Kernel sizes, strides, paddings, channels... as symbols: the formulas hold there too."""
    try:
        an = cnncalc.analyze(case.arch)
    except CnnCalcError as e:
        assert e.kind in ("limit", "invalid", "constraint")
        return
    valid = []
    for b in case.bindings:
        try:
            cnncalc.analyze(case.arch, b)
        except CnnCalcError:
            continue
        valid.append(b)
    check(an, valid)
    if valid:
        check(cnncalc.analyze(case.arch, valid[0]), [])
