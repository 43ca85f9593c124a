"""``Analysis.evaluate`` of every free size by the compiled program
(:func:`cnncalc.algebra.compile.compile_function`) against a fresh bound analysis.

The compiled path computes the totals, the input shape and the last receptive field from one
straight-line program, after the checks that decide validity (every 'ge'/'eq' note, every output
length >= 1); the per-layer results are bound when first read. The reference is
``analyze(arch, b)``: the same numbers everywhere (``to_dict``), or the same error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import sympy
from hypothesis import HealthCheck, given, settings

import cnncalc
from cnncalc.algebra.compile import NotExact, compile_function, compile_int
from cnncalc.core.analysis import TOTALS
from cnncalc.zoo import zoo_names

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))
from strategies_symbolic import SymCase, symbolic_cases  # noqa: E402

H, W, N, K = (sympy.Symbol(s, integer=True, positive=True) for s in "HWNK")


def _outcome(step: Any) -> tuple[str, Any]:
    try:
        return "ok", step()
    except cnncalc.CnnCalcError as e:
        return "error", (e.kind, str(e))


def _json(an: cnncalc.Analysis) -> dict[str, Any]:
    """The output JSON without the warnings: an evaluated analysis keeps the symbolic one's
    warning texts (an adaptive pool's windows "not uniform unless ..."), where a bound analysis
    decides them (as before the compiled path)."""
    d = an.to_dict()
    del d["warnings"]
    return d


def _bound_dict(arch: Any, b: dict[str, int]) -> tuple[str, Any]:
    return _outcome(lambda: _json(cnncalc.analyze(arch, b)))


def _evaluated(an: cnncalc.Analysis, b: dict[str, int]) -> tuple[str, Any]:
    return _outcome(lambda: _json(an.evaluate(**b)))


# --- the program itself ------------------------------------------------------------------------

def test_program_values_and_refusals() -> None:
    """Each value as compile_int gives it; shared sub-expressions computed once; a failed
    condition, a symbolic denominator below 1 or an exact division with a remainder refuse."""
    exprs = [sympy.floor(H / 2) + 3 * W, sympy.ceiling(H / 32) * N, sympy.Max(H, W / 2 + 1), 7,
             H * W / 4, sympy.ceiling((H - 5) / 3), sympy.floor(H / K), (H - K) ** 2]
    fn = compile_function(exprs, [("ge", H, 3), ("eq", sympy.Mod(W, 2), 0)])
    env = {"H": 224, "W": 226, "N": 2, "K": 5}
    # written out: 112 + 678, 7 * 2, max(224, 114), 7, 224*226/4, ceil(219/3), 224 // 5, 219**2
    assert fn(env) == (112 + 678, 14, 224, 7, 12656, 73, 44, 219**2)
    assert fn(env) == tuple(x if isinstance(x, int) else compile_int(x)(env) for x in exprs)
    for bad in ({**env, "H": 2},           # H >= 3 fails
                {**env, "W": 225},         # W mod 2 == 0 fails
                {**env, "W": 222, "H": 225}):  # 225*222/4 has a remainder
        with pytest.raises(NotExact):
            fn(bad)
    with pytest.raises(KeyError):
        fn({"H": 224})


def test_program_never_compiles_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The program is closures: building and running it calls no eval, exec or compile."""
    import builtins

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("eval/exec/compile called")

    an = cnncalc.analyze("resnet18")
    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(builtins, "compile", boom)
    got = an.evaluate(N=2, H=160, W=192).totals
    monkeypatch.undo()
    want = cnncalc.analyze("resnet18", {"N": 2, "H": 160, "W": 192}).totals
    assert got == want


# --- zoo models over many bindings -------------------------------------------------------------

BINDINGS = [{"N": 1, "H": 224, "W": 224}, {"N": 3, "H": 97, "W": 131}, {"N": 1, "H": 1, "W": 1},
            {"N": 2, "H": 33, "W": 32}, {"N": 1, "H": 7, "W": 300}, {"N": 5, "H": 64, "W": 2},
            {"N": 1, "H": 1000, "W": 999}]


@pytest.mark.parametrize("model", zoo_names())
def test_zoo_compiled_evaluate_equals_bound_analysis(model: str) -> None:
    arch = cnncalc.load(model)
    sym = cnncalc.analyze(arch)
    free = sym.free_symbols
    for b0 in BINDINGS:
        b = {k: v for k, v in b0.items() if k in free}
        for k in free:
            b.setdefault(k, 4)
        got, want = _evaluated(sym, b), _bound_dict(arch, b)
        assert got == want, (model, b)
        if want[0] == "ok":  # totals alone (the layers stay unbound) agree too
            t = sym.evaluate(**b).totals
            assert t.to_dict() == want[1]["totals"]
            assert all(isinstance(getattr(t, q), int) for q in TOTALS)


def test_totals_first_then_layers() -> None:
    """Totals read before the layers, then the layers, constraints, table and JSON."""
    sym = cnncalc.analyze("resnet50")
    b = {"N": 2, "H": 200, "W": 150}
    ref = cnncalc.analyze("resnet50", b)
    ev = sym.evaluate(**b)
    assert ev.totals == ref.totals
    assert ev.totals.macs == ref.totals.macs == sum(r.macs for r in ref.layers)
    assert [r.to_dict() for r in ev.layers] == [r.to_dict() for r in ref.layers]
    assert ev.layer("fc").output_shape == (2, 1000)
    assert ev.constraints == ref.constraints
    assert ev.warnings == ref.warnings  # resnet50 has no warning that depends on the sizes
    assert ev.to_table() == ref.to_table()
    assert ev.to_dict() == ref.to_dict()
    assert ev.input_shape == (2, 3, 200, 150)


def test_invalid_binding_is_the_bound_analysis_error() -> None:
    sym = cnncalc.analyze("resnet50")
    got, want = _evaluated(sym, {"N": 1, "H": 1, "W": 1}), _bound_dict("resnet50", {
        "N": 1, "H": 1, "W": 1})
    assert got == want
    arch = {"input": {"shape": ["N", 3, "H", "W"]}, "layers": [
        {"type": "conv", "out_channels": 8, "kernel_size": 5},
        {"type": "max_pool", "kernel_size": 2, "stride": 2}]}
    sym = cnncalc.analyze(arch)
    for h in (1, 4, 5, 6, 7):  # a 5x5 kernel needs 5 rows; the pool then needs 2 more
        got, want = _evaluated(sym, {"N": 1, "H": h, "W": 9}), _bound_dict(arch, {
            "N": 1, "H": h, "W": 9})
        assert got == want
        assert (got[0] == "ok") == (h >= 6)


def test_merge_that_broadcasts_is_analysed_again() -> None:
    """An 'eq' note (merged sizes equal) that fails where a size is 1: the bound analysis's
    numbers (it broadcasts), never the symbolic formulas'."""
    arch = {"input": {"shape": ["N", 4, "H", "W"]}, "layers": [
        {"type": "adaptive_avg_pool", "name": "p", "output_size": ["A", "A"]},
        {"type": "identity", "name": "i", "inputs": ["input"]},
        {"type": "add", "inputs": ["p", "i"]}], "symbols": {"A": {}}}
    sym = cnncalc.analyze(arch)
    for b in ({"N": 1, "H": 6, "W": 6, "A": 6}, {"N": 1, "H": 6, "W": 6, "A": 1},
              {"N": 1, "H": 6, "W": 6, "A": 3}):
        assert _evaluated(sym, b) == _bound_dict(arch, b), b


def test_partial_binding_keeps_formulas() -> None:
    """Binding only some sizes is not the compiled path: formulas in the rest stay."""
    sym = cnncalc.analyze("resnet50")
    part = sym.evaluate(H=224, W=224)
    assert part.free_symbols == ["N"]
    one = cnncalc.analyze("resnet50", {"N": 1, "H": 224, "W": 224}).totals.macs
    assert sympy.expand(part.totals.macs - N * one) == 0
    assert part.evaluate(N=3).totals == cnncalc.analyze("resnet50", {
        "N": 3, "H": 224, "W": 224}).totals


# --- random symbolic architectures -------------------------------------------------------------

@settings(max_examples=int(__import__("os").environ.get("CNNCALC_HYPOTHESIS_EXAMPLES", "40")),
          deadline=None, suppress_health_check=list(HealthCheck))
@given(symbolic_cases())
def test_random_symbolic_compiled_evaluate_equals_bound(case: SymCase) -> None:
    """Every drawn binding: the same JSON as a fresh bound analysis, or the same error."""
    fixed = {k: case.bindings[0][k] for k in case.structural}
    try:
        sym = cnncalc.analyze(case.arch, fixed or None)
    except cnncalc.CnnCalcError:
        return  # refused symbolically (a limit, or no size fits): nothing to evaluate
    for b in case.bindings:
        rest = {k: v for k, v in b.items() if k not in fixed and k in sym.free_symbols}
        if len(rest) != len(sym.free_symbols):
            continue
        got = _evaluated(sym, rest)
        want = _bound_dict(case.arch, {**fixed, **rest})
        if got[0] == want[0] == "ok":
            assert got[1]["totals"] == want[1]["totals"], case.describe()
            assert got[1]["layers"] == want[1]["layers"], case.describe()
        else:
            assert got == want, case.describe()
