"""Explain mode: the lecture's examples with their arithmetic written out here, golden files per
format, the formula registry, layer selection and its errors.

Regenerate the golden files with ``CNNCALC_REGEN_GOLDEN=1 pytest tests/report/test_explain.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import cnncalc
from cnncalc.algebra.expr import compile_formula
from cnncalc.core.explain import Explanation, explain
from cnncalc.layers.explain import CONVENTIONS, formula, formulas, latex_name, registered
from cnncalc.layers.explain import Step as ExplainStep

GOLDEN = Path(__file__).parent / "golden"
SUFFIX = {"text": "txt", "markdown": "md", "latex": "tex"}

LECTURE: dict[str, Any] = {
    "name": "lecture", "input": {"shape": ["N", 3, "H", "W"]},
    "layers": [
        {"type": "conv", "name": "conv1", "out_channels": 12, "kernel_size": 6, "stride": 2},
        {"type": "batch_norm", "name": "bn1"},
        {"type": "relu", "name": "relu1"},
        {"type": "max_pool", "name": "pool1", "kernel_size": 3, "stride": 2, "ceil_mode": True},
        {"type": "conv", "name": "conv2", "out_channels": 16, "kernel_size": 3, "dilation": 2,
         "padding": "same", "groups": 4},
        {"type": "flatten", "name": "flat"},
        {"type": "linear", "name": "fc", "out_features": 10}]}


def conv1d(w: int | str, k: int, s: int) -> dict[str, Any]:
    return {"name": "1d", "input": {"shape": [1, 1, w]},
            "layers": [{"type": "conv", "name": "conv", "out_channels": 1, "kernel_size": k,
                        "stride": s}]}


def steps(ex: Explanation, layer: str) -> dict[str, ExplainStep]:
    (lx,) = [x for x in ex.layers if x.name == layer]
    return {s.label: s for s in lx.steps}


def line(an: cnncalc.Analysis, layer: str, label: str) -> str:
    return steps(explain(an), layer)[label].line()


# --- the lecture, number by number ---------------------------------------------------------------

def test_twelve_6x6_filters_at_stride_2_on_32x32x3() -> None:
    an = cnncalc.analyze("seed_example", {"H": 32, "W": 32})
    s = steps(explain(an), "conv1")
    assert (32 + 0 - 6) // 2 + 1 == 14
    assert s["output H"].line() == "floor((H + P - K)/S) + 1 = floor((32 + 0 - 6)/2) + 1 = 14"
    assert s["output W"].substituted() == "floor((32 + 0 - 6)/2) + 1"
    assert s["output shape"].result == (1, 12, 14, 14)
    assert 6 * 6 * 3 * 12 + 12 == 1308
    assert s["params"].line() == "K1*K2*C_in*C_out + C_out = 6*6*3*12 + 12 = 1308"
    assert 1 * 6 * 6 * 3 * 12 * 14 * 14 == 254016
    assert s["MACs"].line() == ("N*K1*K2*C_in*C_out*H_out*W_out = 1*6*6*3*12*14*14 = 254016")
    assert s["RF size r, H"].line() == "r_prev + (k - 1)*j_prev = 1 + (6 - 1)*1 = 6"
    assert s["RF stride j, H"].line() == "j_prev*s = 1*2 = 2"
    assert 1 * 12 * 14 * 14 == 2352 and 2352 * 4 == 9408
    assert s["activations"].line() == "N*C_out*H_out*W_out = 1*12*14*14 = 2352"
    assert s["activation bytes"].line() == "activations*B = 2352*4 = 9408"


@pytest.mark.parametrize(("stride", "out"), [(1, (7 - 3) // 1 + 1), (2, (7 - 3) // 2 + 1)])
def test_one_dimension_width_7_kernel_3(stride: int, out: int) -> None:
    assert out == {1: 5, 2: 3}[stride]
    an = cnncalc.analyze(conv1d("W", 3, stride), {"W": 7})
    assert line(an, "conv", "output W") == (f"floor((W + P - K)/S) + 1 = "
                                            f"floor((7 + 0 - 3)/{stride}) + 1 = {out}")
    # one input channel, one filter: 3 weights and a bias; 3 MACs per output
    assert line(an, "conv", "params") == "K1*C_in*C_out + C_out = 3*1*1 + 1 = 4"
    assert line(an, "conv", "MACs") == f"N*K1*C_in*C_out*W_out = 1*3*1*1*{out} = {3 * out}"


def test_symbolic_width_gives_the_closed_form() -> None:
    an = cnncalc.analyze("seed_example")
    assert line(an, "conv1", "output H") == ("floor((H + P - K)/S) + 1 = "
                                             "floor((H + 0 - 6)/2) + 1 = floor(H/2) - 2")
    # the parameters do not depend on the image size
    assert line(an, "conv1", "params") == "K1*K2*C_in*C_out + C_out = 6*6*3*12 + 12 = 1308"
    assert line(an, "conv1", "MACs").endswith("= 1296*(floor(H/2) - 2)*(floor(W/2) - 2)")
    assert 6 * 6 * 3 * 12 == 1296
    s1 = cnncalc.analyze(conv1d("W", 3, 1))
    assert line(s1, "conv", "output W") == ("floor((W + P - K)/S) + 1 = "
                                            "floor((W + 0 - 3)/1) + 1 = W - 2")


def test_dense_layer() -> None:
    # the 14x14x12 volume of the first example into 10 classes: 2352*10 + 10
    assert 14 * 14 * 12 == 2352 and 2352 * 10 + 10 == 23530
    net = {"input": {"shape": [1, 12, 14, 14]},
           "layers": [{"type": "flatten"}, {"type": "linear", "name": "fc", "out_features": 10}]}
    an = cnncalc.analyze(net)
    assert line(an, "fc", "params") == "S_in*S_out + S_out = 2352*10 + 10 = 23530"
    assert line(an, "fc", "MACs") == "N*S_in*S_out = 1*2352*10 = 23520"
    assert an.layer("fc").params == 23530
    sym = cnncalc.analyze({"input": {"shape": ["N", "S_in"]},
                           "layers": [{"type": "linear", "name": "fc", "out_features": 10,
                                       "bias": False}]})
    assert line(sym, "fc", "params") == "S_in*S_out = S_in*10 = 10*S_in"


def test_receptive_field_recursion() -> None:
    # the tutorial's stack: each layer adds (k - 1) times the product of the strides before it
    stack = {"input": {"shape": [1, 3, "H", "W"]},
             "layers": [{"type": "conv", "name": "c1", "out_channels": 16, "kernel_size": 3},
                        {"type": "conv", "name": "c2", "out_channels": 32, "kernel_size": 3,
                         "stride": 2},
                        {"type": "max_pool", "name": "p", "kernel_size": 2},
                        {"type": "conv", "name": "c3", "out_channels": 64, "kernel_size": 3}]}
    ex = explain(cnncalc.analyze(stack))
    r = [steps(ex, n)["RF size r, H"].substituted() for n in ("c1", "c2", "p", "c3")]
    assert r == ["1 + (3 - 1)*1", "3 + (3 - 1)*1", "5 + (2 - 1)*2", "7 + (3 - 1)*4"]
    assert [1 + 2 * 1, 3 + 2 * 1, 5 + 1 * 2, 7 + 2 * 4] == [3, 5, 7, 15]
    assert [steps(ex, n)["RF size r, H"].result for n in ("c1", "c2", "p", "c3")] == [3, 5, 7, 15]
    j = [steps(ex, n)["RF stride j, W"].line() for n in ("c1", "c2", "p", "c3")]
    assert j == ["j_prev*s = 1*1 = 1", "j_prev*s = 1*2 = 2", "j_prev*s = 2*2 = 4",
                 "j_prev*s = 4*1 = 4"]


def test_dilation_ceil_mode_same_padding_groups_and_batch_norm() -> None:
    an = cnncalc.analyze(LECTURE, {"N": 1, "H": 32, "W": 32})
    ex = explain(an)
    pool = steps(ex, "pool1")
    # ceil mode: ceil((14 - 3)/2) + 1 = 7 (the last window starts inside the input)
    assert -(-(14 + 0 - 3) // 2) + 1 == 7
    assert pool["output H"].line() == "ceil((H + P - K)/S) + 1 = ceil((14 + 0 - 3)/2) + 1 = 7"
    c2 = steps(ex, "conv2")
    assert 2 * (3 - 1) + 1 == 5
    assert c2["effective kernel, H"].line() == "D*(K - 1) + 1 = 2*(3 - 1) + 1 = 5"
    assert c2["output H"].line() == "ceil(H/S) = ceil(7/1) = 7"
    assert 3 * 3 * (12 // 4) * 16 + 16 == 448
    assert c2["params"].line() == "K1*K2*(C_in/G)*C_out + C_out = 3*3*(12/4)*16 + 16 = 448"
    assert c2["RF size r, H"].line() == "r_prev + (k - 1)*j_prev = 10 + (5 - 1)*4 = 26"
    bn = steps(ex, "bn1")
    assert bn["params"].line() == "2*C = 2*12 = 24" and bn["buffers"].line() == "2*C = 2*12 = 24"
    assert an.layer("bn1").params == 24 and an.layer("bn1").buffers == 24
    fc = steps(ex, "fc")
    assert 16 * 7 * 7 * 10 + 10 == 7850
    assert fc["params"].line() == "S_in*S_out + S_out = 784*10 + 10 = 7850"


def test_ceil_mode_drops_a_last_window_in_the_padding() -> None:
    # PyTorch: MaxPool1d(2, 2, padding=1, ceil_mode=True) on width 5: ceil((5 + 2 - 2)/2) + 1
    # = 4 windows, but the 4th would start at (4 - 1)*2 = 6 >= 5 + 1, in the right padding.
    net = {"input": {"shape": [1, 1, 5]},
           "layers": [{"type": "max_pool", "name": "p", "kernel_size": 2, "stride": 2,
                       "padding": 1, "ceil_mode": True}]}
    an = cnncalc.analyze(net)
    assert min(-(-(5 + 2 - 2) // 2) + 1, (5 + 1 - 1) // 2 + 1) == 3
    assert line(an, "p", "output W") == (
        "min(ceil((W + P - K)/S) + 1, floor((W + P_before - 1)/S) + 1) = "
        "min(ceil((5 + 2 - 2)/2) + 1, floor((5 + 1 - 1)/2) + 1) = 3")
    torch = pytest.importorskip("torch")
    assert torch.nn.MaxPool1d(2, 2, padding=1, ceil_mode=True)(torch.zeros(1, 1, 5)).shape[-1] == 3


def test_conv_transpose_and_separable() -> None:
    net = {"input": {"shape": [1, 8, 5, 5]},
           "layers": [{"type": "conv_transpose", "name": "up", "out_channels": 4,
                       "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
                      {"type": "separable_conv", "name": "sep", "out_channels": 6,
                       "kernel_size": 3, "padding": 1}]}
    an = cnncalc.analyze(net)
    assert (5 - 1) * 2 - 2 * 1 + 1 * (3 - 1) + 1 + 1 == 10
    assert line(an, "up", "output H") == ("(H - 1)*S - 2*P + D*(K - 1) + O + 1 = "
                                          "(5 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 10")
    assert 3 * 3 * 8 * 4 + 4 == 292
    assert line(an, "up", "params") == "K1*K2*C_in*C_out + C_out = 3*3*8*4 + 4 = 292"
    assert line(an, "up", "RF stride j, H") == "j_prev/s = 1/2"
    assert 3 * 3 * 4 * 1 + 4 * 1 * 6 + 6 == 66
    assert line(an, "sep", "params") == ("K1*K2*C_in*M + C_in*M*C_out + C_out = "
                                         "3*3*4*1 + 4*1*6 + 6 = 66")


def test_every_quantity_states_its_convention() -> None:
    ex = explain(cnncalc.analyze(LECTURE, {"N": 1, "H": 32, "W": 32}))
    conv = ex.conventions()
    assert set(conv) == {s.quantity for lx in ex.layers for s in lx.steps}
    assert set(conv) <= set(CONVENTIONS)
    assert "the lecture's \"flops\"" in conv["MACs"] and "FLOPs = 2*MACs" in conv["MACs"]
    assert "bias additions not included" in conv["MACs"]
    text = cnncalc.analyze(LECTURE, {"N": 1, "H": 32, "W": 32}).explain()
    assert all(f"  {q}: {c}" in text for q, c in CONVENTIONS.items() if q in conv)


# --- golden files --------------------------------------------------------------------------------

def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CNNCALC_REGEN_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {name}; generate with CNNCALC_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if intended, regenerate with "
        "CNNCALC_REGEN_GOLDEN=1")


CASES = {"seed": ("seed_example", {"H": 32, "W": 32}), "seed_symbolic": ("seed_example", {}),
         "lecture": (LECTURE, {"N": 1, "H": 32, "W": 32})}


@pytest.mark.parametrize("fmt", list(SUFFIX))
@pytest.mark.parametrize("case", list(CASES))
def test_golden(case: str, fmt: str) -> None:
    arch, bind = CASES[case]
    _golden(f"explain_{case}_{fmt}.{SUFFIX[fmt]}", cnncalc.analyze(arch, bind).explain(fmt=fmt))


def test_latex_is_balanced() -> None:
    tex = cnncalc.analyze(LECTURE).explain(fmt="latex")
    assert tex.count(r"\begin{align*}") == tex.count(r"\end{align*}") == len(LECTURE["layers"])
    assert tex.count(r"\left") == tex.count(r"\right")
    assert tex.count("{") == tex.count("}")
    assert "$" not in re.sub(r"\$[^$]*\$", "", tex)  # inline math opens and closes


def test_latex_compiles(tmp_path: Path) -> None:
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.skip("pdflatex is not installed (Debian: apt-get install texlive-latex-base "
                    "texlive-latex-recommended)")
    parts = [cnncalc.analyze(LECTURE).explain(fmt="latex"),
             cnncalc.analyze("seed_example", {"H": 32, "W": 32}).explain(fmt="latex"),
             cnncalc.analyze({"name": "odd_name & 100% #1\n\n{x}^~\\\\",
                              "input": {"shape": [1, 8, 5, 5]},
                              "layers": [{"type": "conv_transpose", "name": "up_1",
                                          "out_channels": 4, "kernel_size": 3, "stride": 2}]}
                             ).explain(fmt="latex")]
    doc = "\n".join([r"\documentclass{article}", r"\usepackage{amsmath}",
                     r"\usepackage[margin=5mm,paperwidth=80cm,paperheight=200cm]{geometry}",
                     r"\begin{document}", *parts, r"\end{document}", ""])
    (tmp_path / "t.tex").write_text(doc)
    res = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "! " not in log


# --- selection, errors, registry -----------------------------------------------------------------

def test_layer_and_block_selection() -> None:
    an = cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224})
    assert [lx.name for lx in explain(an, "conv1").layers] == ["conv1"]
    block = [lx.name for lx in explain(an, "layer1.0").layers]
    assert block and all(n.startswith("layer1.0.") for n in block)
    assert explain(an, "layer1.0").layers[0].name == [r.name for r in an.layers
                                                     if r.name.startswith("layer1.0.")][0]


def test_unknown_layer_suggests_a_name() -> None:
    an = cnncalc.analyze("seed_example")
    with pytest.raises(cnncalc.CnnCalcError, match=r"did you mean 'conv1'\?") as e:
        an.explain("conv")
    assert e.value.kind == "input"
    with pytest.raises(cnncalc.CnnCalcError, match="no layer or block 'zzz'") as e:
        an.explain("zzz")
    assert "did you mean" not in str(e.value)
    with pytest.raises(cnncalc.CnnCalcError, match="unknown explain format"):
        an.explain(fmt="html")


def test_registry_refuses_duplicates_and_mismatched_forms() -> None:
    assert registered("window.out").text == "floor(($W + $P - $K)/$S) + 1"
    with pytest.raises(ValueError, match="registered twice"):
        formula("window.out", "output size", "$W", "$W")
    with pytest.raises(ValueError, match="different values"):
        formula("test.mismatch", "params", "$A*$B", r"$A \cdot $C")
    with pytest.raises(ValueError, match="malformed"):
        formula("test.malformed", "params", "$A*$", "$A")
    assert "test.mismatch" not in formulas() and "test.malformed" not in formulas()
    for f in formulas().values():
        assert f.quantity in CONVENTIONS, f.key


def test_every_formula_is_in_the_grammar_and_compiles_in_latex(tmp_path: Path) -> None:
    """Each registered formula, its placeholders written as names: the text form parses in the
    expression grammar, the LaTeX form compiles."""
    names = {}
    for f in formulas().values():
        words = {p: p for p in f.placeholders}
        text = f.render(words, "text")
        compile_formula(text)  # raises on anything outside the grammar
        names[f.key] = f.render({p: latex_name(p) for p in f.placeholders}, "latex")
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.skip("pdflatex is not installed")
    body = "\n".join(f"\\[ {tex} \\]" for tex in names.values())
    (tmp_path / "f.tex").write_text("\n".join([
        r"\documentclass{article}", r"\usepackage{amsmath}",
        r"\usepackage[paperwidth=60cm,paperheight=200cm]{geometry}", r"\begin{document}",
        body, r"\end{document}", ""]))
    res = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "f.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]


def test_explain_leaves_the_analysis_unchanged() -> None:
    an = cnncalc.analyze("seed_example")
    before = (an.to_dict(), list(an.notes))
    an.explain()
    assert (an.to_dict(), list(an.notes)) == before


def test_an_evaluated_analysis_explains_as_a_bound_one() -> None:
    bound = cnncalc.analyze("seed_example", {"H": 32, "W": 32}).explain()
    assert cnncalc.analyze("seed_example").evaluate(H=32, W=32).explain() == bound
    # resnet18's first block sees 19 pixels: 11 after the stem, plus (3 - 1)*4
    an = cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224})
    s = steps(explain(an, "layer1.0.conv1"), "layer1.0.conv1")
    assert s["RF size r, H"].line() == "r_prev + (k - 1)*j_prev = 11 + (3 - 1)*4 = 19"
    assert s["params"].line() == "K1*K2*C_in*C_out = 3*3*64*64 = 36864"  # no bias
    assert 3 * 3 * 64 * 64 == 36864 and an.layer("layer1.0.conv1").receptive_field.size[0] == 19
