"""The safe expression parser: what it accepts, what it computes, and what it refuses.

``cnncalc.compile_expr(text)`` returns a compiled expression; calling it with an environment
(name -> int or sympy value) evaluates it. Names missing from the environment stay symbolic.
Every refusal is a ``CnnCalcError`` raised quickly, and no user text ever reaches ``eval``,
``exec`` or ``sympy.sympify``.
"""

from __future__ import annotations

import ast
import builtins
import time

import pytest
import sympy

import cnncalc
import cnncalc.core.constraints
from cnncalc import CnnCalcError, compile_expr
from cnncalc.algebra.expr import _compile_limited

H, W, C = (sympy.Symbol(n, integer=True, positive=True) for n in ("H", "W", "C"))


def ev(text: str, **env: object) -> object:
    return compile_expr(text)(env)


# --- valid forms on integers -------------------------------------------------------------------

@pytest.mark.parametrize("text, env, want", [
    ("7", {}, 7),
    ("0", {}, 0),
    ("H", {"H": 5}, 5),
    ("H + 3", {"H": 5}, 8),
    ("H - 3", {"H": 5}, 2),
    ("-H", {"H": 5}, -5),
    ("+H", {"H": 5}, 5),
    ("2*W + 1", {"W": 7}, 15),
    ("H/4", {"H": 32}, 8),
    ("H//4", {"H": 31}, 7),
    ("H % 4", {"H": 31}, 3),
    ("H**2", {"H": 9}, 81),
    ("(H + 1)**3", {"H": 2}, 27),
    ("H**0", {"H": 9}, 1),
    ("floor(H/32)", {"H": 225}, 7),
    ("ceil(H/32)", {"H": 225}, 8),
    ("ceil(H/32)", {"H": 224}, 7),
    ("floor(H)", {"H": 5}, 5),
    ("ceil(H)", {"H": 5}, 5),
    ("min(H, W)", {"H": 5, "W": 3}, 3),
    ("max(H, W, 4)", {"H": 5, "W": 3}, 5),
    ("(H + 2*1 - 3)//2 + 1", {"H": 32}, 16),
    ("floor((H + 2 - 3)/2) + 1", {"H": 225}, 113),
    ("ceil((H - 3 + 1)/2)", {"H": 225}, 112),
    ("H*W*C", {"H": 2, "W": 3, "C": 4}, 24),
    ("1000000000000", {}, 10**12),
    ("1_000", {}, 1000),
])
def test_integer_values_are_exact_ints(text: str, env: dict, want: int) -> None:
    got = compile_expr(text)(env)
    assert got == want
    assert type(got) is int


def test_floor_and_ceil_are_exact_over_a_range() -> None:
    f, c = compile_expr("floor((H + 5)/7)"), compile_expr("ceil((H + 5)/7)")
    for h in range(1, 500):
        assert f({"H": h}) == (h + 5) // 7
        assert c({"H": h}) == -(-(h + 5) // 7)


def test_true_division_must_be_exact_on_ints() -> None:
    assert ev("H/2", H=8) == 4
    with pytest.raises(CnnCalcError, match="not an integer"):
        ev("H/2", H=7)


@pytest.mark.parametrize("text", ["H/0", "H//0", "H % 0", "floor(H/0)", "ceil(H/(W - W))",
                                  "H // -2"])
def test_division_by_zero_or_negative_is_refused(text: str) -> None:
    with pytest.raises(CnnCalcError, match="division"):
        ev(text, H=4, W=3)


def test_value_magnitude_is_bounded() -> None:
    with pytest.raises(CnnCalcError, match="10\\*\\*30"):
        ev("1000000000000*1000000000000*1000000000000")
    with pytest.raises(CnnCalcError):
        ev("H*1000000000000*1000000000000", H=10**9)


# --- symbolic values ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ("H", H),
    ("2*W + 1", 2 * W + 1),
    ("H*W*C", H * W * C),
    ("floor(H/32)", sympy.floor(H / 32)),
    ("ceil(H/32)", sympy.ceiling(H / 32)),
    ("H//4", sympy.floor(H / 4)),
    ("H/2", H / 2),
    ("(H + 1)**2", (H + 1) ** 2),
    ("min(H, W)", sympy.Min(H, W)),
    ("max(H, W, 3)", sympy.Max(H, W, 3)),
    ("floor(H)", H),
    # nested ceilings collapse: ceil(ceil(H/2)/2) == ceil(H/4)
    ("ceil(ceil(H/2)/2)", sympy.ceiling(H / 4)),
])
def test_symbolic_values(text: str, want: sympy.Expr) -> None:
    got = compile_expr(text)({})
    assert sympy.simplify(got - want) == 0


def test_symbolic_matches_integer_evaluation() -> None:
    """The symbolic form, with H substituted, agrees with the integer evaluation everywhere."""
    for text in ("floor((floor(H/2) + 1)/2)", "ceil(ceil(H/2)/2)", "H % 4", "(H + 3)//4 * 2"):
        e = compile_expr(text)
        sym_value = e({})
        for h in range(1, 130):
            assert int(sym_value.subs(H, h)) == e({"H": h}), (text, h)


def test_names_and_partial_environment() -> None:
    e = compile_expr("H*W + C")
    assert e.names == frozenset({"H", "W", "C"})
    partly = e({"H": 2, "W": 3})
    assert sympy.simplify(partly - (C + 6)) == 0
    assert compile_expr("12").names == frozenset()
    # a sympy value in the environment is substituted symbolically
    assert sympy.simplify(compile_expr("2*H")({"H": W + 1}) - (2 * W + 2)) == 0


def test_positive_integer_symbols() -> None:
    sym = compile_expr("H")({})
    assert sym.is_integer and sym.is_positive


# --- refusals ----------------------------------------------------------------------------------

REFUSED = [
    "__import__('os').system('x')",
    "().__class__",
    "H.__class__",
    "lambda: 1",
    "[x for x in y]",
    "9**9**9",
    "2**100",
    "10**13",
    "1" * 10_000,                       # a 10,000-digit literal
    "'a'",
    "f(1)",
    "open(1)",
    "eval('1')",
    "H if 1 else 2",
    "H < 2",
    "not H",
    "(" * 100 + "1" + ")" * 100,        # 100 nested parentheses
    "1+" * 50_000 + "1",                # a 100k-character string
    "H" * 100_000,
    "1e5",
    "1.5",
    "True",
    "None",
    "H; import os",
    "H\nimport os",
    "__H",
    "__class__",
    "__builtins__",
    "H__dict__",
    "H.__dict__",
    "H[0]",
    "{1}",
    "H & 1",
    "H @ W",
    "H**W",
    "H**-1",
    "min(H)",
    "floor(H, 2)",
    "ceil(x=1)",
    "floor",
    "input",
    "",
    "   ",
    "1j",
    "b'1'",
    "H +",
    "-" * 100 + "1",
    "+".join(["H"] * 100),              # too many operations
]


@pytest.mark.parametrize("text", REFUSED, ids=lambda t: repr(t[:30]))
def test_refused_quickly(text: str) -> None:
    t0 = time.perf_counter()
    with pytest.raises(CnnCalcError) as ei:
        compile_expr(text)({"H": 3, "W": 2, "x": 1, "y": 1})
    assert time.perf_counter() - t0 < 0.5
    assert ei.value.kind == "expression"
    assert str(ei.value).startswith("expression")
    assert "Traceback" not in str(ei.value)


@pytest.mark.parametrize("text", ["H.__class__", "__import__('os')", "lambda: 1"])
def test_refusal_message_says_what_is_allowed(text: str) -> None:
    with pytest.raises(CnnCalcError) as ei:
        compile_expr(text)
    msg = str(ei.value)
    assert "floor" in msg or "size name" in msg or "allowed" in msg


@pytest.mark.parametrize("value", [
    5, 1.5, None, b"H", ["H"],
])
def test_non_string_is_refused(value: object) -> None:
    with pytest.raises(CnnCalcError):
        compile_expr(value)  # type: ignore[arg-type]


def test_refusals_do_not_leave_names_behind() -> None:
    """Refused text is not cached as a valid expression: asking again refuses again."""
    for _ in range(2):
        with pytest.raises(CnnCalcError):
            compile_expr("H.__class__")


# --- nothing is executed -----------------------------------------------------------------------

EXPR_ARCH = {
    "name": "expressions-everywhere",
    "input": {"shape": ["N", "2*C", "H + 0", "W*1"]},
    "symbols": {"K": {"description": "kernel size"}},
    "blocks": {
        "widen": {"args": ["w"], "layers": [
            {"type": "conv", "name": "c", "out_channels": "w*2", "kernel_size": "min(3, K)",
             "padding": "floor(K/2)"},
        ]},
    },
    "layers": [
        {"type": "conv", "name": "c1", "out_channels": "max(C, 4)", "kernel_size": "K",
         "stride": "1 + 1", "padding": "K//2"},
        {"type": "block", "name": "b", "block": "widen", "args": {"w": "C + 1"}},
        {"type": "repeat", "name": "r", "times": "2", "body": [{"type": "relu"}]},
        {"type": "max_pool", "kernel_size": "ceil(4/2)"},
        {"type": "global_avg_pool"},
        {"type": "flatten"},
        {"type": "linear", "out_features": "10*C"},
    ],
}
BOUND = {"N": 1, "C": 3, "H": 32, "W": 32, "K": 3}


def _boom(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"called with {args!r}")


def _fresh_caches() -> None:
    _compile_limited.cache_clear()


@pytest.fixture
def no_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    """eval/exec refuse everything; compile only builds ASTs (what ast.parse needs)."""
    # Warm up first: lazy imports inside sympy and cnncalc go through exec and must be done.
    cnncalc.analyze(EXPR_ARCH).to_dict()
    cnncalc.analyze(EXPR_ARCH, BOUND).to_dict()
    _fresh_caches()
    real_compile = builtins.compile

    def ast_only(source: object, filename: object, mode: str, flags: int = 0,
                 *args: object, **kwargs: object) -> object:
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError(f"compile to bytecode of {source!r}")
        return real_compile(source, filename, mode, flags, *args, **kwargs)  # type: ignore

    monkeypatch.setattr(builtins, "eval", _boom)
    monkeypatch.setattr(builtins, "exec", _boom)
    monkeypatch.setattr(builtins, "compile", ast_only)
    yield
    _fresh_caches()


def test_bound_analysis_never_calls_eval_exec_or_sympify(no_eval: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With every size bound, the analysis is plain integer work: sympify is never called."""
    monkeypatch.setattr(sympy, "sympify", _boom)
    an = cnncalc.analyze(EXPR_ARCH, BOUND)
    layers = [r.to_dict() for r in an.layers]
    assert layers[0]["output_shape"] == [1, 4, 16, 16]
    assert an.layer("b.c").output_shape == (1, 8, 16, 16)
    assert layers[-1]["output_shape"] == [1, 30]
    assert an.totals.to_dict()["params"] == an.totals.params


def test_symbolic_analysis_never_sympifies_text(no_eval: None,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Symbolic analysis may sympify its own sympy values, never a string (user text)."""
    real = sympy.sympify

    def no_text(a: object, *args: object, **kwargs: object) -> object:
        if not isinstance(a, (int, sympy.Basic)):
            raise AssertionError(f"sympify({a!r})")
        return real(a, *args, **kwargs)

    monkeypatch.setattr(sympy, "sympify", no_text)
    an = cnncalc.analyze(EXPR_ARCH)
    d = an.to_dict()
    assert d["symbols"] == ["C", "H", "K", "N", "W"]
    assert d["layers"][0]["output_shape"][1] == "max(4, C)"
    assert isinstance(an.constraints, list)
    # binding afterwards agrees with the bound analysis
    assert an.evaluate(**BOUND).totals.params == cnncalc.analyze(EXPR_ARCH, BOUND).totals.params


def test_refused_text_in_an_architecture_never_reaches_eval(
        no_eval: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sympy, "sympify", _boom)
    for bad in ("__import__('os').system('echo pwned')", "().__class__.__bases__", "eval('1')"):
        arch = {"input": {"shape": [1, 3, 8, 8]},
                "layers": [{"type": "conv", "name": "c1", "out_channels": bad,
                            "kernel_size": 3}]}
        with pytest.raises(CnnCalcError) as ei:
            cnncalc.analyze(arch)
        assert "layer 'c1' (#0)" in str(ei.value)
