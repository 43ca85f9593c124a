"""Layer arithmetic without PyTorch: hand-written formulas checked against ``cnncalc.analyze``,
the symbolic analysis bound afterwards against the bound one, and exact receptive-field strides.

The tables here are also built and run in PyTorch by test_parity.py; this module needs only the
core, so it runs where torch is not installed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy

import cnncalc


def net(shape: list[Any], *layers: dict[str, Any], blocks: dict[str, Any] | None = None,
        symbols: dict[str, Any] | None = None) -> dict[str, Any]:
    """An architecture; ``symbols`` declares the sizes the layers use besides the shape's."""
    arch: dict[str, Any] = {"name": "t", "input": {"shape": list(shape)}, "layers": list(layers)}
    if blocks:
        arch["blocks"] = blocks
    if symbols:
        arch["symbols"] = symbols
    return arch


def L(type_: str, **kw: Any) -> dict[str, Any]:  # noqa: N802 - short table constructor
    return {"type": type_, **kw}


HW = [1, 3, "H", "W"]


# --- hand arithmetic ------------------------------------------------------------------------

# (id, arch, bindings, index of the layer checked, shape, params, macs, buffers)
HAND: list[tuple[str, dict[str, Any], dict[str, int], int, tuple[int, ...], int, int, int]] = [
    ("conv 3->12 k6 s2 on 32x32",
     net(HW, L("conv", out_channels=12, kernel_size=6, stride=2)), {"H": 32, "W": 32}, 0,
     (1, 12, 14, 14), 6 * 6 * 3 * 12 + 12, 14 * 14 * 12 * 6 * 6 * 3, 0),
    ("conv 3->8 k3 p1 no bias on 10x7",
     net(HW, L("conv", out_channels=8, kernel_size=3, padding=1, bias=False)),
     {"H": 10, "W": 7}, 0, (1, 8, 10, 7), 3 * 3 * 3 * 8, 10 * 7 * 8 * 3 * 3 * 3, 0),
    ("conv 8->12 k3 groups 4 batch 2 on 8x9",
     net([2, 8, "H", "W"], L("conv", out_channels=12, kernel_size=3, groups=4)),
     {"H": 8, "W": 9}, 0, (2, 12, 6, 7), 3 * 3 * (8 // 4) * 12 + 12,
     2 * 6 * 7 * 12 * 3 * 3 * (8 // 4), 0),
    ("depthwise 6 k3 s2 p1 on 10x11",
     net([1, 6, "H", "W"], L("conv", out_channels=6, kernel_size=3, groups=6, padding=1,
                             stride=2)), {"H": 10, "W": 11}, 0,
     (1, 6, 5, 6), 3 * 3 * 1 * 6 + 6, 5 * 6 * 6 * 3 * 3 * 1, 0),
    ("conv1d 3->5 k4 s2 p1 on 21",
     net([1, 3, "L"], L("conv", out_channels=5, kernel_size=4, stride=2, padding=1)),
     {"L": 21}, 0, (1, 5, (21 + 2 - 4) // 2 + 1), 4 * 3 * 5 + 5, 10 * 5 * 4 * 3, 0),
    ("conv3d 2->4 k3 p1 on 6x7x8",
     net([1, 2, 6, 7, 8], L("conv", out_channels=4, kernel_size=3, padding=1)), {}, 0,
     (1, 4, 6, 7, 8), 27 * 2 * 4 + 4, 6 * 7 * 8 * 4 * 27 * 2, 0),
    ("conv same s2 k3 on 11x12",
     net(HW, L("conv", out_channels=4, kernel_size=3, stride=2, padding="same")),
     {"H": 11, "W": 12}, 0, (1, 4, 6, 6), 9 * 3 * 4 + 4, 6 * 6 * 4 * 9 * 3, 0),
    ("conv_transpose 3->4 k3 s2 p1 op1 on 7x4",
     net(HW, L("conv_transpose", out_channels=4, kernel_size=3, stride=2, padding=1,
               output_padding=1)), {"H": 7, "W": 4}, 0,
     (1, 4, (7 - 1) * 2 - 2 + 3 + 1, (4 - 1) * 2 - 2 + 3 + 1), 3 * 3 * 3 * 4 + 4,
     3 * 7 * 4 * 3 * 3 * 4, 0),
    ("conv_transpose 4->6 k2 s2 groups 2 no bias on 5x6",
     net([1, 4, 5, 6], L("conv_transpose", out_channels=6, kernel_size=2, stride=2, groups=2,
                         bias=False)), {}, 0,
     (1, 6, 10, 12), 2 * 2 * 4 * (6 // 2), 4 * 5 * 6 * 2 * 2 * (6 // 2), 0),
    ("separable 4->6 k3 x2 s2 same on 11x8",
     net([1, 4, "H", "W"], L("separable_conv", out_channels=6, kernel_size=3, stride=2,
                             padding="same", depth_multiplier=2)), {"H": 11, "W": 8}, 0,
     (1, 6, 6, 4), 3 * 3 * 8 + 8 * 6 + 6, 6 * 4 * 8 * 3 * 3 + 6 * 4 * 6 * 8, 0),
    ("separable 3->8 k3 p1 no bias on 9x12",
     net(HW, L("separable_conv", out_channels=8, kernel_size=3, padding=1, bias=False)),
     {"H": 9, "W": 12}, 0, (1, 8, 9, 12), 3 * 3 * 3 + 3 * 8, 9 * 12 * 3 * 9 + 9 * 12 * 8 * 3, 0),
    ("linear 48->10 after flatten",
     net([1, 3, 4, 4], L("flatten"), L("linear", out_features=10)), {}, 1,
     (1, 10), 48 * 10 + 10, 48 * 10, 0),
    ("linear 9->6 on 4D input (last axis)",
     net([2, 3, 5, 9], L("linear", out_features=6)), {}, 0,
     (2, 3, 5, 6), 9 * 6 + 6, 2 * 3 * 5 * 9 * 6, 0),
    ("linear no bias 7->4 batch 3",
     net([3, 2, 7], L("flatten"), L("linear", out_features=4, bias=False)), {}, 1,
     (3, 4), 14 * 4, 3 * 14 * 4, 0),
    ("batch_norm C=6 after conv",
     net(HW, L("conv", out_channels=6, kernel_size=3), L("batch_norm")), {"H": 6, "W": 7}, 1,
     (1, 6, 4, 5), 2 * 6, 0, 2 * 6),
    ("batch_norm 3d C=3 no affine",
     net([1, 3, 3, 4, 5], L("batch_norm", affine=False)), {}, 0, (1, 3, 3, 4, 5), 0, 0, 2 * 3),
    ("group_norm C=6",
     net([1, 6, 4, 5], L("group_norm", num_groups=3)), {}, 0, (1, 6, 4, 5), 2 * 6, 0, 0),
    ("prelu num_parameters = 16 after a conv",
     net(HW, L("conv", out_channels=16, kernel_size=3), L("prelu", num_parameters=16)),
     {"H": 6, "W": 7}, 1, (1, 16, 4, 5), 16, 0, 0),
    ("prelu shared (num_parameters = 1)",
     net([2, 5, 3, 4], L("prelu")), {}, 0, (2, 5, 3, 4), 1, 0, 0),
    ("layer_norm last 2 axes",
     net([1, 6, 4, 5], L("layer_norm", normalized_dims=2)), {}, 0, (1, 6, 4, 5), 2 * 4 * 5, 0, 0),
    ("max_pool k3 s2 ceil on 10",
     net(HW, L("max_pool", kernel_size=3, stride=2, ceil_mode=True)), {"H": 10, "W": 11}, 0,
     (1, 3, 5, 5), 0, 0, 0),
    # H: ceil((6+2-2)/2)+1 = 4; W: ceil((7+2-2)/2)+1 = 5 but window 5 would start at
    # 4*2 = 8 >= 7+1 (past the input), so PyTorch drops it: 4.
    ("max_pool k2 s2 p1 ceil on 6x7 (last window dropped on W)",
     net(HW, L("max_pool", kernel_size=2, stride=2, padding=1, ceil_mode=True)),
     {"H": 6, "W": 7}, 0, (1, 3, 4, 4), 0, 0, 0),
    # reflect padding: 5+0+4 by 4+2+2; the shape of zero padding
    ("reflect pad [[0, 4], 2] on 5x4",
     net(HW, L("pad", padding=[[0, 4], 2], mode="reflect")), {"H": 5, "W": 4}, 0,
     (1, 3, 9, 8), 0, 0, 0),
    # reductions: the axes dropped, or kept as 1; no params, no MACs
    ("mean over H, W of 2x3x5x6", net([2, 3, "H", "W"], L("mean", dim=[2, 3])),
     {"H": 5, "W": 6}, 0, (2, 3), 0, 0, 0),
    ("amax over C keepdim of 2x3x5x6", net([2, 3, "H", "W"], L("amax", dim=1, keepdim=True)),
     {"H": 5, "W": 6}, 0, (2, 1, 5, 6), 0, 0, 0),
    ("sum over W (dim -1) of 2x3x5x6", net([2, 3, "H", "W"], L("sum", dim=-1)),
     {"H": 5, "W": 6}, 0, (2, 3, 5), 0, 0, 0),
]


def test_reductions_count_one_other_op_per_input_element() -> None:
    for t in ("mean", "sum", "amax"):
        an = cnncalc.analyze(net([2, 3, "H", "W"], L(t, dim=[1, -1], keepdim=True)))
        r = an.layers[0]
        assert (r.params, r.macs, r.other_ops) == (0, 0, cnncalc.analyze(
            net([2, 3, "H", "W"], L("identity"))).layers[0].activations)



@pytest.mark.parametrize(("arch", "bindings", "idx", "shape", "params", "macs", "buffers"),
                         [pytest.param(*c[1:], id=c[0]) for c in HAND])
def test_hand_arithmetic(arch: dict[str, Any], bindings: dict[str, int], idx: int,
                         shape: tuple[int, ...], params: int, macs: int, buffers: int) -> None:
    an = cnncalc.analyze(arch, bindings or None)
    r = an.layers[idx]
    assert tuple(r.output_shape) == shape
    assert r.params == params
    assert r.macs == macs
    assert r.flops == 2 * macs
    assert r.buffers == buffers
    assert r.activations == int(np.prod(shape))
    assert an.totals.params == sum(x.params for x in an.layers)
    assert an.totals.macs == sum(x.macs for x in an.layers)
    assert an.totals.flops == 2 * an.totals.macs
    assert an.totals.buffers == sum(x.buffers for x in an.layers)



def test_seed_example_totals() -> None:
    arch = net(HW, L("conv", name="conv1", out_channels=12, kernel_size=6, stride=2),
               L("relu"))
    d = cnncalc.analyze(arch, {"H": 32, "W": 32}).to_dict()
    assert d["layers"][0]["output_shape"] == [1, 12, 14, 14]
    assert d["layers"][0]["params"] == 1308
    assert d["layers"][0]["macs"] == 254016
    assert d["layers"][0]["flops"] == 508032
    assert d["totals"]["params"] == 1308
    assert d["totals"]["macs"] == 254016
    assert d["totals"]["receptive_field"] == {"size": [6, 6], "stride": [2, 2], "start": [0, 0]}


# --- prelu: num_parameters is 1 or the channel count -----------------------------------------

def test_prelu_num_parameters_not_the_channels_is_refused() -> None:
    arch = net([1, 4, 8, 8], L("prelu", name="act", num_parameters=3))
    with pytest.raises(cnncalc.CnnCalcError, match=r"layer 'act'.*num_parameters 3 must be 1 "
                                                   r"or the channel count 4") as e:
        cnncalc.analyze(arch)
    assert e.value.kind == "invalid" and e.value.layer == "act"


@pytest.mark.parametrize(("shape", "n", "constraints", "good", "params", "bad"), [
    ([1, "C", 5, 5], 16, ["C in {16}"], {"C": 16}, 16, {"C": 4}),
    ([1, 4, 5, 5], "P", ["P in {1, 4}"], {"P": 1}, 1, {"P": 3}),
    ([1, "C", 5, 5], "C - 1", ["C in {2}"], {"C": 2}, 1, {"C": 3}),
])
def test_prelu_symbolic_channels_record_a_constraint(
        shape: list[Any], n: int | str, constraints: list[str], good: dict[str, int],
        params: int, bad: dict[str, int]) -> None:
    declared = {"P": {}} if n == "P" else {}
    arch = net(shape, L("prelu", name="act", num_parameters=n), symbols=declared)
    sym = cnncalc.analyze(arch)
    assert list(sym.constraints) == constraints
    ev, bound = sym.evaluate(**good), cnncalc.analyze(arch, good)
    assert ev.layers[0].params == bound.layers[0].params == params
    with pytest.raises(cnncalc.CnnCalcError, match="layer 'act'.*must be 1 or the channel"):
        cnncalc.analyze(arch, bad)
    with pytest.raises(cnncalc.CnnCalcError, match="layer 'act'"):
        sym.evaluate(**bad)


def test_prelu_of_two_free_sizes_keeps_both_choices() -> None:
    arch = net([1, "C", 5, 5], L("prelu", name="act", num_parameters="P"), symbols={"P": {}})
    sym = cnncalc.analyze(arch)
    assert sym.layers[0].params == sympy.Symbol("P", integer=True, positive=True)
    assert sym.evaluate(C=7, P=1).layers[0].params == 1
    assert sym.evaluate(C=7, P=7).layers[0].params == 7
    with pytest.raises(cnncalc.CnnCalcError, match="layer 'act'"):
        sym.evaluate(C=7, P=3)



# --- symbolic vs bound ------------------------------------------------------------------------

STRIDED = [L("conv", out_channels=8, kernel_size=3, stride=2, padding="same"),
           L("max_pool", kernel_size=3, stride=2, padding=1, ceil_mode=True),
           L("separable_conv", out_channels=6, kernel_size=3, dilation=2, padding=2),
           L("avg_pool", kernel_size=2, ceil_mode=True)]
HEAD = [L("global_avg_pool", keepdim=False), L("linear", out_features=5)]

TRANSPOSED = net(HW, *STRIDED, L("conv_transpose", out_channels=4, kernel_size=3, stride=2,
                                  padding=1, output_padding=1), *HEAD)

SYMBOLIC: list[tuple[str, dict[str, Any], list[dict[str, int]]]] = [
    ("seed", net(HW, L("conv", out_channels=12, kernel_size=6, stride=2), L("relu")),
     [{"H": 32, "W": 32}, {"H": 7, "W": 6}, {"H": 33, "W": 100}]),
    ("strided-mix", net(HW, *STRIDED, *HEAD),
     [{"H": 16, "W": 16}, {"H": 17, "W": 23}, {"H": 40, "W": 9}, {"H": 64, "W": 31}]),
    ("residual-upsample", net([1, "C", "H", "W"],
                              L("conv", name="a", out_channels="C", kernel_size=3, padding=1),
                              L("add", inputs=["a", "input"]),
                              L("upsample", scale_factor=2, mode="bilinear"),
                              L("conv", out_channels=4, kernel_size=[3, 1], stride=[2, 1]),
                              L("flatten", start_dim=2), L("linear", out_features=3)),
     [{"C": 3, "H": 5, "W": 6}, {"C": 8, "H": 12, "W": 3}, {"C": 1, "H": 9, "W": 9}]),
    ("block-3d", net([1, 2, "D", "H", "W"],
                     L("repeat", times=2, body=[L("block", block="b", args={"s": 2})]),
                     blocks={"b": {"args": ["s"], "layers": [
                         L("conv", name="c", out_channels=3, kernel_size=3, stride="s",
                           padding=1),
                         L("batch_norm", name="bn"),
                         L("max_pool", name="p", kernel_size=2, stride=1, ceil_mode=True)]}}),
     [{"D": 8, "H": 9, "W": 10}, {"D": 13, "H": 7, "W": 8}]),
    ("strided-transposed", TRANSPOSED,
     [{"H": 16, "W": 16}, {"H": 17, "W": 23}, {"H": 40, "W": 9}, {"H": 64, "W": 31}]),
    ("upsample-size", net([1, 2, "L"], L("conv", out_channels=2, kernel_size=3, stride=2),
                          L("upsample", size=7, mode="linear"),
                          L("max_pool", kernel_size=2, ceil_mode=True)),
     [{"L": 5}, {"L": 9}, {"L": 30}]),
]

@pytest.mark.parametrize(("arch", "binds"), [pytest.param(a, b, id=i) for i, a, b in SYMBOLIC])
def test_symbolic_evaluate_equals_bound(arch: dict[str, Any], binds: list[dict[str, int]]
                                        ) -> None:
    sym = cnncalc.analyze(arch)
    assert sym.free_symbols
    for b in binds:
        ev = sym.evaluate(**b)
        bound = cnncalc.analyze(arch, b)
        assert not ev.free_symbols
        assert [r.name for r in ev.layers] == [r.name for r in bound.layers]
        for e, r in zip(ev.layers, bound.layers, strict=True):
            assert tuple(e.output_shape) == tuple(r.output_shape), e.name
            assert (e.params, e.buffers, e.macs, e.activations) == \
                (r.params, r.buffers, r.macs, r.activations), e.name
            assert e.receptive_field.size == r.receptive_field.size, e.name
            assert e.receptive_field.start == r.receptive_field.start, e.name
            assert e.receptive_field.stride == r.receptive_field.stride, e.name
        for q in ("params", "buffers", "macs", "flops", "activations", "other_ops"):
            assert getattr(ev.totals, q) == getattr(bound.totals, q), q


def test_partial_evaluate_then_rest() -> None:
    arch = SYMBOLIC[2][1]
    sym = cnncalc.analyze(arch)
    part = sym.evaluate(C=4)
    assert sorted(part.free_symbols) == ["H", "W"]
    full = part.evaluate(H=10, W=7)
    bound = cnncalc.analyze(arch, {"C": 4, "H": 10, "W": 7})
    for e, r in zip(full.layers, bound.layers, strict=True):
        assert (tuple(e.output_shape), e.params, e.macs) == \
            (tuple(r.output_shape), r.params, r.macs), e.name


@pytest.mark.parametrize(("arch", "binds"), [pytest.param(a, b, id=i) for i, a, b in SYMBOLIC])
def test_evaluate_many_equals_per_binding(arch: dict[str, Any], binds: list[dict[str, int]]
                                          ) -> None:
    sym = cnncalc.analyze(arch)
    names = sorted(binds[0])
    arrays = {k: np.array([b[k] for b in binds]) for k in names}
    many = sym.evaluate_many(**arrays)
    for q in ("params", "macs", "flops", "activations"):
        want = [getattr(cnncalc.analyze(arch, b).totals, q) for b in binds]
        assert [int(x) for x in many[q]] == want, q


def test_evaluate_many_sweep_matches_analyze() -> None:
    arch = TRANSPOSED
    sym = cnncalc.analyze(arch)
    hs = np.arange(16, 40, 3)
    ws = np.arange(9, 33, 3)
    many = sym.evaluate_many(H=hs, W=ws)
    for i, (h, w) in enumerate(zip(hs.tolist(), ws.tolist(), strict=True)):
        t = cnncalc.analyze(arch, {"H": h, "W": w}).totals
        assert (many["params"][i], many["macs"][i], many["flops"][i], many["activations"][i]) \
            == (t.params, t.macs, t.flops, t.activations)


# --- fractional receptive-field strides are exact (regressions) ----------------------------

def _exact(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, sympy.Basic)


def test_conv_transpose_rf_stride_is_exact() -> None:
    arch = net([1, 1, 8, 8], L("conv", out_channels=1, kernel_size=2, stride=2),
               L("conv_transpose", out_channels=1, kernel_size=2, stride=2))
    an = cnncalc.analyze(arch)
    rf = an.layers[-1].receptive_field
    assert all(_exact(v) for v in (*rf.size, *rf.stride, *rf.start))
    assert an.to_dict()["totals"]["receptive_field"]["stride"] == [1, 1]


def test_evaluate_after_conv_transpose() -> None:
    arch = TRANSPOSED
    ev = cnncalc.analyze(arch).evaluate(H=16, W=16)
    bound = cnncalc.analyze(arch, {"H": 16, "W": 16})
    assert ev.totals.macs == bound.totals.macs


def test_upsample_rf_stride_exact_and_consistent() -> None:
    arch = net([1, 1, "H"], L("upsample", size=7))
    bound = cnncalc.analyze(arch, {"H": 5}).layers[-1].receptive_field.stride[0]
    ev = cnncalc.analyze(arch).evaluate(H=5).layers[-1].receptive_field.stride[0]
    assert _exact(bound) and _exact(ev)
    assert sympy.Rational(5, 7) == bound == ev


# --- scalar arithmetic and channel_shuffle: counts and JSON -------------------------------

@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_scalar_arithmetic_counts(op: str) -> None:
    """x op s: shape unchanged, no params, 0 MACs, one other op per element."""
    an = cnncalc.analyze(net([2, 3, "H", "W"], L(op, scalar=0.5)))
    r = an.layers[0]
    assert r.output_shape == an.input_shape
    assert (r.params, r.macs) == (0, 0)
    assert str(r.other_ops) == "6*H*W"
    assert an.arch.layers[0].model_dump(exclude_none=True)["scalar"] == 0.5


@pytest.mark.parametrize(("op", "expect"), [("sub", 1.0 - 3.0), ("div", 1.0 / 3.0)])
def test_scalar_first_is_the_left_operand(op: str, expect: float) -> None:
    """``scalar_first``: ``1 - x`` and ``1 / x``, built so by torch; counted as ``x op 1``."""
    torch = pytest.importorskip("torch")
    arch = net([1, 2, 3, 3], L(op, scalar=1.0, scalar_first=True))
    r = cnncalc.analyze(arch).layers[0]
    assert (r.params, r.macs, r.other_ops) == (0, 0, 1 * 2 * 3 * 3)
    out = cnncalc.to_torch(arch)(torch.full((1, 2, 3, 3), 3.0))
    assert torch.allclose(out, torch.full_like(out, expect))
    assert "scalar_first" not in cnncalc.load(net([1, 2, 3, 3], L(op, scalar=1.0))).canonical_json()
    with pytest.raises(cnncalc.CnnCalcError, match="scalar_first needs a scalar"):
        cnncalc.analyze(net([1, 2, 3, 3], L("relu", name="r"),
                            L(op, scalar_first=True, inputs=["r", "input"])))


def test_without_scalar_the_json_is_unchanged() -> None:
    """``scalar`` stays out of an architecture's JSON unless it is set."""
    an = cnncalc.analyze(net([1, 3, 4, 4], L("relu", name="r"), L("add", inputs=["r", "input"]),
                             L("mul", inputs=["r", "add1"])))
    assert "scalar" not in an.arch.canonical_json()
    assert all("scalar" not in layer.model_dump() for layer in an.arch.layers)
    assert an.layers[1].other_ops == 48 and an.layers[2].other_ops == 48


def test_channel_shuffle_counts() -> None:
    an = cnncalc.analyze(net([2, 6, 5, 4], L("channel_shuffle", groups=3)))
    r = an.layers[0]
    assert (r.output_shape, r.params, r.macs, r.other_ops) == ((2, 6, 5, 4), 0, 0, 0)
