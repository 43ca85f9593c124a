"""Receptive fields of adaptive pools (checked by autograd), centre warnings of merges, and the
strict ``linear.bias`` flag.

PyTorch's adaptive window for output ``i`` of ``n`` over input length ``L`` is
``[floor(i*L/n), ceil((i+1)*L/n))``. The field is exact where ``n`` divides ``L`` (uniform
windows); elsewhere cnncalc reports PyTorch's largest window, the mean step ``L/n`` as stride,
and says so in a warning.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import sympy

import cnncalc
from cnncalc import CnnCalcError
from cnncalc.layers.pool import adaptive_window
from cnncalc.pytorch.build import build

torch = pytest.importorskip("torch")
from test_receptive_field import linearize  # noqa: E402 - imports torch


def net(shape: list[Any], *layers: dict[str, Any]) -> dict[str, Any]:
    return {"name": "rfpool", "input": {"shape": shape}, "layers": list(layers)}


def windows(arch: dict[str, Any], bindings: dict[str, int] | None = None
            ) -> tuple[cnncalc.Analysis, list[list[tuple[int, int]]]]:
    """The analysis and, per spatial axis, the input box [first, last] that each output
    position along that axis sees (the other axes at output 0), measured by autograd."""
    an = cnncalc.analyze(arch, bindings)
    m = linearize(build(an))
    x = torch.ones(an.input_shape, dtype=torch.float64, requires_grad=True)
    out = m(x)
    per_axis = []
    for a in range(out.dim() - 2):
        got = []
        for o in range(out.shape[2 + a]):
            pos = [0] * (out.dim() - 2)
            pos[a] = o
            (g,) = torch.autograd.grad(out[(0, slice(None), *pos)].sum(), x, retain_graph=True)
            idx = (g[0].abs().sum(0) > 0).nonzero()[:, a]
            got.append((int(idx.min()), int(idx.max())))
        per_axis.append(got)
    return an, per_axis


def field(an: cnncalc.Analysis, layer: str | None = None) -> tuple[tuple[Any, ...], ...]:
    rf = (an.layer(layer) if layer else an.layers[-1]).receptive_field
    return tuple(rf.size), tuple(rf.stride), tuple(rf.start)


def brute_window(n: int, out: int) -> int:
    return max(math.ceil((i + 1) * n / out) - math.floor(i * n / out) for i in range(out))


def test_issue_adaptive_max_pool_4_to_2() -> None:
    arch = net([1, 1, 4, 4], {"type": "adaptive_max_pool", "output_size": 2})
    an, boxes = windows(arch)
    assert field(an) == ((2, 2), (2, 2), (0, 0))
    for axis in boxes:  # autograd: windows [0, 1] and [2, 3]
        assert axis == [(0, 1), (2, 3)]
    assert an.warnings == []


@pytest.mark.parametrize("n", [6, 7, 9, 12, 13, 16, 20])
def test_adaptive_after_conv_matches_autograd(n: int) -> None:
    # conv k3 s2 p1 (field 3, stride 2, start -1), then adaptive to 3 outputs.
    arch = net([1, 1, "L"], {"type": "conv", "out_channels": 1, "kernel_size": 3, "stride": 2,
                             "padding": 1},
               {"type": "adaptive_avg_pool", "output_size": 3})
    an, (boxes,) = windows(arch, {"L": n})
    m = math.ceil(n / 2)  # conv output length = floor((n + 2 - 3)/2) + 1
    assert m == (n - 1) // 2 + 1
    k = brute_window(m, 3)
    size, stride, start = field(an)
    assert size == (3 + (k - 1) * 2,)
    assert start == (-1,)
    assert stride == (sympy.Rational(2 * m, 3),)
    # autograd: the largest box is the reported size; output 0 starts at the reported start
    # (clipped at the border, which the padded conv's field overhangs by one pixel).
    widths = [e - b + 1 for b, e in boxes]
    assert max(widths) in (size[0], size[0] - 1)
    assert boxes[0][0] == 0
    if m % 3 == 0:
        steps = {boxes[i + 1][0] - boxes[i][0] for i in range(1, 2)}
        assert steps == {stride[0]}
        assert not any("adaptive" in w for w in an.warnings)
    else:
        assert any("not uniform" in w for w in an.warnings)
    # the symbolic analysis evaluated at n gives the same field
    assert field(cnncalc.analyze(arch).evaluate(L=n)) == field(an)


@pytest.mark.parametrize(("n", "out"), [(8, 4), (9, 3), (10, 5), (5, 3), (7, 2), (3, 5), (11, 4)])
def test_adaptive_window_by_autograd_on_the_input(n: int, out: int) -> None:
    arch = net([1, 1, n], {"type": "adaptive_max_pool", "output_size": out})
    an, (boxes,) = windows(arch)
    widths = [e - b + 1 for b, e in boxes]
    assert field(an)[0] == (max(widths),)
    assert field(an)[2] == (boxes[0][0],) == (0,)
    assert field(an)[1] == (sympy.Rational(n, out) if n % out else n // out,)
    if n % out == 0:
        assert widths == [n // out] * out
        assert [b for b, _ in boxes] == [i * (n // out) for i in range(out)]


def test_adaptive_window_formula_symbolic_matches_brute_force() -> None:
    from cnncalc.algebra.arith import sym
    from cnncalc.algebra.compile import compile_int
    for out in range(1, 25):
        fn = compile_int(adaptive_window(sym("L"), out))
        for n in range(1, 120):
            assert adaptive_window(n, out) == brute_window(n, out) == fn({"L": n}), (n, out)


def test_adaptive_output_1_keeps_whole() -> None:
    an = cnncalc.analyze(net([1, 1, 9, 7], {"type": "adaptive_avg_pool", "output_size": 1}))
    assert field(an) == ((9, 7), (9, 7), (0, 0))
    an = cnncalc.analyze(net([1, 1, 9, 7], {"type": "adaptive_avg_pool", "output_size": [1, 3]}))
    assert field(an) == ((9, 3), (9, sympy.Rational(7, 3)), (0, 0))


def test_adaptive_symbolic_output_size_rechecked_by_evaluate() -> None:
    arch = {**net([1, 1, 12, "W"], {"type": "adaptive_avg_pool", "output_size": "S"}),
            "symbols": {"S": {}}}
    sym = cnncalc.analyze(arch)
    for b in ({"S": 1, "W": 9}, {"S": 4, "W": 12}, {"S": 5, "W": 12}, {"S": 3, "W": 3}):
        assert field(sym.evaluate(**b)) == field(cnncalc.analyze(arch, b))
    assert field(cnncalc.analyze(arch, {"S": 4, "W": 12})) == ((3, 3), (3, 3), (0, 0))


@pytest.mark.parametrize(("name", "feature", "features_out"),
                         [("alexnet", "features.12", 6), ("vgg16", "features.30", 7)])
def test_issue_zoo_avgpool_rows_show_their_input_field(name: str, feature: str,
                                                       features_out: int) -> None:
    arch = cnncalc.zoo_json(name)
    an = cnncalc.analyze(arch, {"N": 1, "H": 224, "W": 224})
    assert an.layer(feature).output_shape[2:] == (features_out, features_out)
    # 6 -> 6 and 7 -> 7: one input position per window, the field of the features.
    assert field(an, "avgpool") == field(an, feature)
    assert field(an, "avgpool")[0] != (224, 224)
    # vgg16 at 256: features 8 -> 7 windows of at most 2 (8 = 7 + 1, 1 divides 7).
    if name == "vgg16":
        big = cnncalc.analyze(arch, {"N": 1, "H": 256, "W": 256})
        (fs, _), (fst, _), (f0, _) = field(big, feature)
        assert big.layer(feature).output_shape[2:] == (8, 8)
        assert field(big, "avgpool") == ((fs + 32, fs + 32), (sympy.Rational(8 * 32, 7),) * 2,
                                         (f0, f0))
        assert fst == 32
        sym = cnncalc.analyze(arch)
        assert field(sym.evaluate(N=1, H=256, W=256), "avgpool") == field(big, "avgpool")


# --- merges: equal strides, different centres ------------------------------------------------

def test_merge_of_different_centres_warns() -> None:
    # conv k3 (centre at input 1 + o) and conv k3 p1 (centre at o) joined by a concat.
    arch = {"name": "centres", "input": {"shape": [1, 1, 12]}, "layers": [
        {"type": "conv", "name": "a", "out_channels": 1, "kernel_size": 3, "padding": 1,
         "inputs": ["input"]},
        {"type": "pad", "name": "b", "padding": [[0, 2]], "inputs": ["input"]},
        {"type": "conv", "name": "c", "out_channels": 1, "kernel_size": 3, "inputs": ["b"]},
        {"type": "add", "name": "m", "inputs": ["a", "c"]}]}
    an = cnncalc.analyze(arch)
    assert field(an, "a") == ((3,), (1,), (-1,))   # centre -1 + (3-1)/2 = 0
    assert field(an, "c") == ((3,), (1,), (0,))    # centre 1
    warn = [w for w in an.warnings if w.startswith("m:")]
    assert len(warn) == 1 and "centred on input pixels ['0', '1']" in warn[0]


def test_merge_of_same_centres_is_silent() -> None:
    arch = {"name": "centres", "input": {"shape": [1, 1, 12]}, "layers": [
        {"type": "conv", "name": "a", "out_channels": 1, "kernel_size": 3, "padding": 1,
         "inputs": ["input"]},
        {"type": "conv", "name": "c", "out_channels": 1, "kernel_size": 5, "padding": 2,
         "inputs": ["input"]},
        {"type": "add", "name": "m", "inputs": ["a", "c"]}]}
    assert cnncalc.analyze(arch).warnings == []


def test_merge_of_symbolic_centres_warns_when_they_differ() -> None:
    # padding (P, 2 - P): the same length 16, centred on pixel 1 - P; the other conv on 0.
    arch = {"name": "centres", "input": {"shape": [1, 1, 16]}, "symbols": {"P": {}}, "layers": [
        {"type": "conv", "name": "a", "out_channels": 1, "kernel_size": 3,
         "padding": [["P", "2 - P"]], "inputs": ["input"]},
        {"type": "conv", "name": "c", "out_channels": 1, "kernel_size": 3, "padding": 1,
         "inputs": ["input"]},
        {"type": "concat", "name": "m", "inputs": ["a", "c"]}]}
    assert cnncalc.analyze(arch, {"P": 1}).warnings == []
    (w,) = cnncalc.analyze(arch, {"P": 2}).warnings
    assert "centred on input pixels ['-1', '0']" in w
    (w,) = cnncalc.analyze(arch).warnings
    assert "different for some sizes" in w


# --- linear.bias is a strict boolean -------------------------------------------------------

@pytest.mark.parametrize("bad", [1, 0, "yes", "true", None])
def test_linear_bias_must_be_a_boolean(bad: Any) -> None:
    arch = net([1, 2, 4], {"type": "linear", "out_features": 3, "bias": bad})
    with pytest.raises(CnnCalcError, match="bias"):
        cnncalc.analyze(arch)


def test_linear_bias_false_counts_no_bias() -> None:
    arch = net([1, 2, 4], {"type": "linear", "out_features": 3, "bias": False})
    assert cnncalc.analyze(arch).totals.params == 4 * 3
