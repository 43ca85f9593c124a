"""Receptive fields checked against autograd.

The torch module of an architecture is made linear and positive (conv/linear weights 1, biases
0, activations identity, max pools replaced by average pools of the same geometry), so the
gradient of one output position with respect to the input is nonzero exactly on the pixels it
can see. Its bounding box per axis gives the field's ``size``; the shift of the box between two
neighbouring outputs gives the ``stride``; ``start = box_begin(o) - o * stride``.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.pytorch.build import build

torch = pytest.importorskip("torch")
nn = torch.nn

ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh,
               nn.Hardswish, nn.Hardsigmoid, nn.ELU, nn.Mish, nn.Softplus, nn.PReLU, nn.Softmax)


class _ZeroPad(nn.Module):
    def __init__(self, flat: tuple[int, ...]) -> None:
        super().__init__()
        self.flat = flat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, self.flat)


def _avg_like(m: nn.Module) -> nn.Module:
    """An average pool with the geometry of max pool ``m`` (explicit padding kept)."""
    nd = int(type(m).__mro__[[c.__name__.startswith("MaxPool") for c in type(m).__mro__]
                             .index(True)].__name__[-2])
    dil = m.dilation if isinstance(m.dilation, tuple) else (m.dilation,)
    assert all(d == 1 for d in dil), "a dilated max pool has no average-pool twin"
    avg = getattr(nn, f"AvgPool{nd}d")(m.kernel_size, m.stride, m.padding, m.ceil_mode, True)
    flat = getattr(m, "explicit_padding", None)
    return nn.Sequential(_ZeroPad(flat), avg) if flat else avg


def linearize(net: nn.Module) -> nn.Module:
    """Make ``net`` linear with positive weights (in place) and return it."""
    swaps: list[tuple[str, nn.Module]] = []
    for name, m in net.named_modules():
        if isinstance(m, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
            swaps.append((name, _avg_like(m)))
        elif isinstance(m, (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)):
            nd = type(m).__name__[-2]
            swaps.append((name, getattr(nn, f"AdaptiveAvgPool{nd}d")(m.output_size)))
        elif isinstance(m, ACTIVATIONS):
            swaps.append((name, nn.Identity()))
    layers = set(net.layer_names)
    for name, new in swaps:
        if name in layers:
            net.replace(name, new)
        else:
            parent, _, child = name.rpartition(".")
            setattr(net.get_submodule(parent), child, new)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                              nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)):
                m.weight.fill_(1.0)
                if m.bias is not None:
                    m.bias.zero_()
    return net.double().eval()


def probe(arch: dict[str, Any], bindings: dict[str, int] | None = None
          ) -> tuple[cnncalc.Analysis, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """cnncalc's analysis and the measured (size, stride, start) of the last layer's field."""
    an = cnncalc.analyze(arch, bindings)
    net = linearize(build(an))
    x = torch.ones(an.input_shape, dtype=torch.float64, requires_grad=True)
    out = net(x)
    extent = x.shape[2:]
    osp = out.shape[2:]
    assert all(o >= 3 for o in osp), f"output {tuple(out.shape)} too small to probe"

    def box(pos: tuple[int, ...]) -> tuple[list[int], list[int]]:
        (g,) = torch.autograd.grad(out[(0, slice(None), *pos)].sum(), x, retain_graph=True)
        idx = (g[0].abs().sum(0) > 0).nonzero()
        lo, hi = idx.min(0).values.tolist(), idx.max(0).values.tolist()
        for a, (b, e, n) in enumerate(zip(lo, hi, extent, strict=True)):
            assert 0 < b and e < n - 1, f"the field touches the border on axis {a}: enlarge input"
        return lo, hi

    o = tuple(s // 2 for s in osp)
    lo, hi = box(o)
    lo2, _ = box(tuple(c + 1 for c in o))
    size = tuple(e - b + 1 for b, e in zip(lo, hi, strict=True))
    stride = tuple(b2 - b for b, b2 in zip(lo, lo2, strict=True))
    start = tuple(b - c * s for b, c, s in zip(lo, o, stride, strict=True))
    return an, size, stride, start


def net(shape: list[Any], *layers: dict[str, Any]) -> dict[str, Any]:
    return {"name": "rf", "input": {"shape": shape}, "layers": list(layers)}


def conv(k: Any, s: Any = 1, p: Any = 0, d: Any = 1, c: int = 2, **kw: Any) -> dict[str, Any]:
    return {"type": "conv", "out_channels": c, "kernel_size": k, "stride": s, "padding": p,
            "dilation": d, **kw}


def rf_of(an: cnncalc.Analysis) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]:
    rf = an.layers[-1].receptive_field
    return tuple(rf.size), tuple(rf.stride), tuple(rf.start)


# --- hand-written -------------------------------------------------------------------------------

HAND = [
    ("three 3x3 convs", net([1, 1, 32, 32], conv(3), conv(3), conv(3)), (7, 7), (1, 1), (0, 0)),
    ("conv k6 s2", net([1, 3, 32, 32], conv(6, 2, c=12)), (6, 6), (2, 2), (0, 0)),
    ("conv k3 p1", net([1, 1, 16, 16], conv(3, 1, 1)), (3, 3), (1, 1), (-1, -1)),
    ("dilation 2 k3", net([1, 1, 16, 16], conv(3, d=2)), (5, 5), (1, 1), (0, 0)),
    ("k3 s2 twice", net([1, 1, 33], conv(3, 2), conv(3, 2)), (7,), (4,), (0,)),
    ("resnet stem", net([1, 3, 64, 64], conv(7, 2, 3, c=4),
                        {"type": "max_pool", "kernel_size": 3, "stride": 2, "padding": 1}),
     (11, 11), (4, 4), (-5, -5)),
    ("same s2 k3 (pad 0 before on even input)", net([1, 1, 16], conv(3, 2, "same")),
     (3,), (2,), (0,)),
    ("same s2 k3 (pad 1 before on odd input)", net([1, 1, 17], conv(3, 2, "same")),
     (3,), (2,), (-1,)),
]


@pytest.mark.parametrize(("arch", "size", "stride", "start"),
                         [pytest.param(*c[1:], id=c[0]) for c in HAND])
def test_hand_written_fields(arch: dict[str, Any], size: tuple[int, ...],
                             stride: tuple[int, ...], start: tuple[int, ...]) -> None:
    an = cnncalc.analyze(arch)
    assert rf_of(an) == (size, stride, start)
    assert an.to_dict()["totals"]["receptive_field"] == {
        "size": list(size), "stride": list(stride), "start": list(start)}
    # and autograd agrees
    _, msize, mstride, mstart = probe(arch)
    assert (msize, mstride, mstart) == (size, stride, start)


# --- autograd tables ----------------------------------------------------------------------------

def mp(k: Any, s: Any = None, p: Any = 0, **kw: Any) -> dict[str, Any]:
    return {"type": "max_pool", "kernel_size": k, "stride": k if s is None else s,
            "padding": p, **kw}


def ap(k: Any, s: Any = None, p: Any = 0, **kw: Any) -> dict[str, Any]:
    return {"type": "avg_pool", "kernel_size": k, "stride": k if s is None else s,
            "padding": p, **kw}


RELU = {"type": "relu"}

AUTOGRAD: list[tuple[str, dict[str, Any], dict[str, int] | None]] = [
    ("conv-pool-dilated", net([1, 1, "H", "W"], conv(3, 2, 1), RELU, conv(3, 1, 1), mp(2),
                              conv(5, 1, 4, 2), RELU), {"H": 64, "W": 64}),
    ("vgg-ish", net([1, 1, 60, 60], conv(3, 1, 1), conv(3, 1, 1), mp(2), conv(3, 1, 1),
                    conv(3, 1, 1), mp(2), conv(3, 1, 1)), None),
    ("nonsquare", net([1, 1, "H", "W"], conv([3, 5], [2, 1], [1, 2], [1, 2]), RELU,
                      conv([1, 3], [1, 2]), mp([2, 3], [2, 1], [1, 0])), {"H": 48, "W": 57}),
    ("pairs-padding", net([1, 1, 40, 41], conv(4, 2, [[2, 1], [0, 3]]),
                          conv(3, 1, [[1, 0], [2, 2]])), None),
    ("same-s2-chain", net([1, 1, "H", "W"], conv(3, 2, "same"), conv(5, 2, "same"),
                          conv(2, 1, "same")), {"H": 45, "W": 46}),
    ("valid-s3", net([1, 1, 50], conv(4, 3, "valid"), conv(2, 2)), None),
    ("avg-ceil", net([1, 1, 41, 40], conv(3), ap(3, 2, 1, ceil_mode=True), conv(3, 1, 1),
                     ap(2, ceil_mode=True)), None),
    ("maxpool-ceil-pad", net([1, 1, 39], mp(3, 2, 1, ceil_mode=True), conv(3, 2),
                             mp(2, 1)), None),
    ("separable", net([1, 2, "H", "W"], {"type": "separable_conv", "out_channels": 3,
                                         "kernel_size": 5, "stride": 2, "padding": 1,
                                         "dilation": [1, 2]},
                      conv(3, 1, 1)), {"H": 40, "W": 44}),
    ("groups-bn-pad", net([1, 4, 36, 36], conv(3, 1, 0, groups=2, c=4),
                          {"type": "batch_norm"}, {"type": "pad", "padding": [[2, 0], 1]},
                          conv(3, 2), {"type": "silu"}), None),
    ("conv1d-stack", net([1, 2, "L"], conv(5, 2, 2), conv(3, 2, 1, 3), mp(3, 2, 1)),
     {"L": 120}),
    ("conv3d", net([1, 1, 24, 22, 26], conv(3, 2, 1), conv([3, 1, 2], 1, [0, 1, 1]), mp(2)),
     None),
    ("block-repeat", {"name": "rf", "input": {"shape": [1, 1, 60, 60]},
                      "blocks": {"cbr": {"args": ["k", "s"], "layers": [
                          {"type": "conv", "name": "c", "out_channels": 2, "kernel_size": "k",
                           "stride": "s", "padding": "k // 2"},
                          {"type": "relu", "name": "r"}]}},
                      "layers": [{"type": "block", "name": "b", "block": "cbr",
                                  "args": {"k": 5, "s": 2}},
                                 {"type": "repeat", "times": 3, "body": [
                                     {"type": "block", "block": "cbr",
                                      "args": {"k": 3, "s": 1}}]}]}, None),
    # merges: the union of the branches' fields
    ("add-k3-k5", net([1, 1, 30, 30], conv(3, 1, 1, name="a", inputs=["input"]),
                      conv(5, 1, 2, name="b", inputs=["input"]),
                      {"type": "add", "inputs": ["a", "b"]}, conv(3)), None),
    ("add-offset-branches", net([1, 1, 30, 31], conv(3, name="a", inputs=["input"]),
                                conv(5, 1, 1, name="b", inputs=["input"]),
                                {"type": "add", "inputs": ["a", "b"]}), None),
    ("residual", net([1, 2, 30, 30], conv(3, 1, 1, name="c1"), RELU,
                     conv(3, 1, 1, name="c2"), {"type": "add", "inputs": ["c2", "input"]},
                     conv(3, 2)), None),
    ("concat-k1-k7", net([1, 1, 40], conv(1, name="a", inputs=["input"]),
                         conv(7, 1, 3, name="b", inputs=["input"]),
                         mp(3, 1, 1, name="c", inputs=["input"]),
                         {"type": "concat", "inputs": ["a", "b", "c"]}, conv(3, 2)), None),
    ("mul-branches", net([1, 1, 30, 30], conv(3, name="a", inputs=["input"]),
                         conv(1, 1, 0, name="b", inputs=["input"]), conv(3, name="b2"),
                         {"type": "mul", "inputs": ["a", "b2"]}), None),
    # reflect / replicate padding: interior positions read what zero padding reads
    ("pad-reflect-replicate", net([1, 1, 30, 31], conv(3),
                                  {"type": "pad", "padding": [[2, 0], 1], "mode": "reflect"},
                                  conv(3, 2),
                                  {"type": "pad", "padding": [1, [0, 3]], "mode": "replicate"},
                                  conv(3)), None),
    # reductions over the channels leave the field as it is
    ("channel-mean-sum", net([1, 2, 30, 30], conv(3, 1, 1, c=3),
                             {"type": "mean", "dim": 1, "keepdim": True}, conv(3, 2),
                             {"type": "sum", "dim": [-3], "keepdim": True}, conv(3)), None),
]


@pytest.mark.parametrize(("arch", "bindings"),
                         [pytest.param(a, b, id=i) for i, a, b in AUTOGRAD])
def test_field_matches_autograd(arch: dict[str, Any], bindings: dict[str, int] | None) -> None:
    an, size, stride, start = probe(arch, bindings)
    assert rf_of(an) == (size, stride, start)


def test_field_is_symbolic_and_evaluates() -> None:
    arch, bindings = AUTOGRAD[0][1], AUTOGRAD[0][2]
    sym = cnncalc.analyze(arch)
    bound = cnncalc.analyze(arch, bindings)
    assert rf_of(sym.evaluate(**bindings)) == rf_of(bound)


def test_merge_with_whole_field_is_whole() -> None:
    """Squeeze-and-excitation: the gate sees the whole input, so the product does too."""
    arch = net([1, 2, 12, 10], conv(3, 1, 1, name="body", c=2),
               {"type": "global_avg_pool", "name": "sq"},
               {"type": "conv", "out_channels": 2, "kernel_size": 1, "name": "fc"},
               {"type": "sigmoid", "name": "gate"},
               {"type": "mul", "inputs": ["body", "gate"]})
    an = cnncalc.analyze(arch)
    rf = an.layers[-1].receptive_field
    assert tuple(rf.size) == (12, 10)
    lin = linearize(build(an))
    x = torch.ones(an.input_shape, dtype=torch.float64, requires_grad=True)
    out = lin(x)
    (g,) = torch.autograd.grad(out[0, :, 0, 0].sum(), x)
    assert bool((g[0].abs().sum(0) > 0).all())


def test_global_pool_field_is_whole_input() -> None:
    arch = net([1, 1, "H", "W"], conv(3, 2), {"type": "global_avg_pool", "keepdim": False},
               {"type": "linear", "out_features": 3})
    rf = cnncalc.analyze(arch, {"H": 20, "W": 17}).totals.receptive_field
    assert tuple(rf.size) == (20, 17)
    assert tuple(rf.start) == (0, 0)


# --- random conv/pool stacks -------------------------------------------------------------------

@st.composite
def stacks(draw: Any) -> dict[str, Any]:
    nd = draw(st.integers(1, 2))
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv", "conv", "max_pool", "avg_pool", "sep"]))
        k = draw(st.integers(1, 5))
        s = draw(st.integers(1, 2))
        if kind in ("conv", "sep"):
            d = draw(st.integers(1, 3))
            p = draw(st.one_of(st.integers(0, 3), st.just("same"), st.just("valid"),
                               st.lists(st.integers(0, 2), min_size=2, max_size=2)
                               .map(lambda v: [v] * nd)))
            if kind == "conv":
                layers.append(conv(k, s, p, d))
            else:
                layers.append({"type": "separable_conv", "out_channels": 2, "kernel_size": k,
                               "stride": s, "padding": p, "dilation": d})
        else:
            k = max(k, 2)
            p = draw(st.integers(0, k // 2))
            layers.append({"type": kind, "kernel_size": k, "stride": s, "padding": p,
                           "ceil_mode": draw(st.booleans())})
        if draw(st.booleans()):
            layers.append({"type": draw(st.sampled_from(["relu", "batch_norm", "tanh"]))})
    return {"name": "rf", "input": {"shape": [1, 1, *(["S"] * nd)]}, "layers": layers}


@settings(max_examples=int(os.environ.get("CNNCALC_RF_EXAMPLES", "30")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_random_stack_field_matches_autograd(arch: dict[str, Any]) -> None:
    # size the input from the field itself: the field plus a few strides on each side
    rf = cnncalc.analyze(arch, {"S": 400}).totals.receptive_field
    n = int(rf.size[0] + 2 * abs(rf.start[0]) + 8 * rf.stride[0] + 4)
    an, size, stride, start = probe(arch, {"S": n})
    assert rf_of(an) == (size, stride, start)


# --- fractional strides: transposed convolutions and upsampling -----------------------------

def probe_periodic(arch: dict[str, Any], period: int
                   ) -> tuple[cnncalc.Analysis, int, sympy.Rational, sympy.Rational]:
    """For a 1-d net whose outputs repeat with ``period`` (1/stride): the largest field over a
    period, the stride averaged over it, and ``start = begin(o) - o * stride`` at an ``o``
    that is a multiple of the period."""
    an = cnncalc.analyze(arch)
    lin = linearize(build(an))
    x = torch.ones(an.input_shape, dtype=torch.float64, requires_grad=True)
    out = lin(x)
    n, n_out = x.shape[2], out.shape[2]
    o0 = (n_out // 2) // period * period

    def box(o: int) -> tuple[int, int]:
        (g,) = torch.autograd.grad(out[0, :, o].sum(), x, retain_graph=True)
        idx = (g[0].abs().sum(0) > 0).nonzero()[:, 0]
        b, e = int(idx.min()), int(idx.max())
        assert 0 < b and e < n - 1, "the field touches the border: enlarge the input"
        return b, e

    boxes = [box(o) for o in range(o0, o0 + period + 1)]
    size = max(e - b + 1 for b, e in boxes)
    stride = sympy.Rational(boxes[-1][0] - boxes[0][0], period)
    start = boxes[0][0] - o0 * stride
    return an, size, stride, start


def convt(k: int, s: int, p: int = 0, op: int = 0) -> dict[str, Any]:
    return {"type": "conv_transpose", "out_channels": 1, "kernel_size": k, "stride": s,
            "padding": p, "output_padding": op}


def up(**kw: Any) -> dict[str, Any]:
    return {"type": "upsample", **kw}


PERIODIC: list[Any] = [
    pytest.param(net([1, 1, 40], convt(2, 2)), 2, id="convT-k2s2"),
    pytest.param(net([1, 1, 40], convt(3, 2, 1, 1)), 2, id="convT-k3s2p1"),
    pytest.param(net([1, 1, 40], convt(5, 3, 1)), 3, id="convT-k5s3p1"),
    pytest.param(net([1, 1, 40], conv(3, 2), convt(3, 2, 1, 1)), 2, id="conv-s2-convT-s2"),
    pytest.param(net([1, 1, 40], conv(3, 2), convt(4, 2, 1), conv(3)), 2, id="unet-up"),
    pytest.param(net([1, 1, 40], convt(3, 2, 1, 1), conv(3)), 2, id="convT-then-conv"),
    pytest.param(net([1, 1, 40], convt(3, 2), conv(2)), 2, id="convT-then-conv-k2",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "LIMITATION (docs/conventions.md): conv_transpose(k3, s2) then conv(k2): "
                     "receptive-field size 5/2 "
                     "(not an integer; window_rf adds (k-1)*stride with stride 1/2); autograd: "
                     "2, start -1"))),
    pytest.param(net([1, 1, 40], convt(4, 2, 1), conv(3, 1, 1)), 2, id="convT-then-conv-p1",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "LIMITATION (docs/conventions.md): conv_transpose(k4, s2, p1) then "
                     "conv(k3, p1): "
                     "receptive-field start "
                     "-3/2 (not an integer; window_rf subtracts pad*stride with stride 1/2); "
                     "autograd: start -1, size 3"))),
    pytest.param(net([1, 1, 30], conv(3, 2, 1), conv(3, 2, 1), convt(4, 2, 1), conv(3, 1, 1),
                     convt(2, 2)), 4, id="decoder",
                 marks=pytest.mark.xfail(strict=True, reason=(
                     "LIMITATION (docs/conventions.md): after conv_transpose the field is not "
                     "translation-invariant (begin "
                     "offsets cycle -7,-8,-9,-10 over 4 outputs); cnncalc's linear model gives "
                     "start -9 where output 0 (and every 4th) starts at -7; size 15, stride 1 "
                     "are right"))),
    pytest.param(net([1, 1, 40], up(scale_factor=2)), 2, id="nearest-x2"),
    pytest.param(net([1, 1, 40], up(scale_factor=3)), 3, id="nearest-x3"),
    pytest.param(net([1, 1, 40], conv(3, 2), up(scale_factor=2), conv(3)), 2,
                 id="conv-s2-nearest-x2-conv"),
    pytest.param(net([1, 1, 40], up(scale_factor=2, mode="linear")), 2, id="linear-x2"),
]


@pytest.mark.parametrize(("arch", "period"), PERIODIC)
def test_fractional_stride_field_matches_autograd(arch: dict[str, Any], period: int) -> None:
    an, size, stride, start = probe_periodic(arch, period)
    rf = an.layers[-1].receptive_field
    assert (rf.size[0], rf.stride[0], rf.start[0]) == (size, stride, start)


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_padding_mode_keeps_the_field_of_zero_padding(mode: str) -> None:
    def arch(m: str) -> dict[str, Any]:
        return net([1, 1, "H", "W"], conv(3, 2), {"type": "pad", "padding": [[2, 1], 3],
                                                 "mode": m}, conv(5, 2))
    assert rf_of(cnncalc.analyze(arch(mode))) == rf_of(cnncalc.analyze(arch("constant")))


def test_reductions_over_spatial_axes_see_the_whole_axis() -> None:
    an = cnncalc.analyze(net([1, 2, "H", "W"], conv(3, 2), {"type": "amax", "dim": -1},
                             {"type": "sum", "dim": 1, "keepdim": True}))
    amax, s = an.layers[1].receptive_field, an.layers[2].receptive_field
    w = sympy.Symbol("W", positive=True, integer=True)
    assert (tuple(amax.size), tuple(amax.stride), tuple(amax.start)) == ((3, w), (2, w), (0, 0))
    assert s == amax  # a reduction over the channels changes nothing
    # without keepdim, a channel reduction moves H to axis 1: it is still H, its positions
    # still windows of the input (a field follows its axis wherever it moves)
    moved = cnncalc.analyze(net([1, 2, "H", "W"], conv(3, 2), {"type": "mean", "dim": 1}))
    f = moved.layers[-1].receptive_field
    assert (tuple(f.size), tuple(f.stride), tuple(f.start)) == ((3, 3), (2, 2), (0, 0))
    assert moved.layers[-1].output_shape[1:] == an.layers[0].output_shape[2:]
