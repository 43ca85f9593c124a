"""The conventions of cnncalc.report.conventions against the installed tools themselves.

Every network is built by ``cnncalc.to_torch`` and run through torchinfo, fvcore, ptflops and
thop (the ``peers`` extra, pinned in constraints.txt) with each tool's usual call; the figure
each reports must equal the one ``cnncalc.analyze(..., convention=tool)`` reproduces from the
layers, MACs and params alike. A tool that is not installed skips its cases and says so.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import warnings
from typing import Any

import pytest

import cnncalc
from cnncalc.report.conventions import count

torch = pytest.importorskip("torch")

TOOLS = ("torchinfo", "fvcore", "ptflops", "thop")


def _peer(tool: str) -> Any:
    """The tool's module; ptflops imports torchvision, which needs the shim over this torch."""
    if tool == "ptflops":
        from cnncalc.pytorch.tvshim import declare_torchvision_ops
        declare_torchvision_ops()
    try:
        with warnings.catch_warnings():  # thop's and fvcore's imports warn of deprecations
            warnings.simplefilter("ignore")
            return importlib.import_module({"fvcore": "fvcore.nn"}.get(tool, tool))
    except ImportError as e:
        pytest.skip(f"{tool} is not installed (pip install -c constraints.txt -e '.[peers]'): "
                    f"{e}")


def reported(tool: str, net: Any, shape: tuple[int, ...]) -> tuple[int, int]:
    """(MACs, params) as ``tool`` reports them for ``net`` on an input of ``shape``, in eval
    mode, with the tool's usual call."""
    mod = _peer(tool)
    net.eval()
    x = torch.randn(*shape)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        if tool == "torchinfo":
            s = mod.summary(net, input_size=shape, verbose=0)
            return int(s.total_mult_adds), int(s.total_params)
        if tool == "fvcore":
            fa = mod.FlopCountAnalysis(net, x).unsupported_ops_warnings(False) \
                .uncalled_modules_warnings(False)
            return int(fa.total()), int(mod.parameter_count(net)[""])
        if tool == "ptflops":
            m, p = mod.get_model_complexity_info(net, shape[1:], as_strings=False,
                                                 print_per_layer_stat=False,
                                                 backend="pytorch")
            return int(m), int(p)
        m, p = mod.profile(copy.deepcopy(net), inputs=(x,), verbose=False)  # thop
        return int(m), int(p)


def check(arch: Any, size: dict[str, int], tools: tuple[str, ...] = TOOLS) -> None:
    """Every tool's (MACs, params) for ``arch`` at ``size`` equals its reproduction."""
    arch = cnncalc.load(arch)
    an = cnncalc.analyze(arch, size)
    net = cnncalc.to_torch(arch, size)
    shape = tuple(int(v) for v in an.input_shape)
    for tool in tools:
        ct = count(an, tool)
        assert not ct.unchecked, (tool, ct)
        assert reported(tool, net, shape) == (ct.macs, ct.params), (arch.name, size, tool)


SIZES = {"resnet50": ({"N": 1, "H": 224, "W": 224}, {"N": 2, "H": 64, "W": 80})}
"""Two sizes per model; resnet50 at 224 is the size of docs/conventions.md's figures."""
CASES = [(m, s) for m in ("resnet50", "vgg16", "mobilenet_v2", "densenet121")
         for s in SIZES.get(m, ({"N": 1, "H": 96, "W": 96}, {"N": 2, "H": 64, "W": 80}))]


@pytest.mark.parametrize(("model", "size"), CASES,
                         ids=[f"{m}-{'x'.join(map(str, s.values()))}" for m, s in CASES])
def test_zoo_models(model: str, size: dict[str, int]) -> None:
    # vgg16 at 96 and 64x80 ends at 3x3 and 2x2 before its 7x7 adaptive pool: thop's
    # floating-point kernel ((3/7)**2 + 1) is checked too
    check(model, size)


RESNET50_224 = {"cnncalc": 4_089_184_256, "torchinfo": 4_089_238_376,
                "fvcore": 4_111_512_576, "ptflops": 4_132_436_968, "thop": 4_133_742_592,
                "lecture": 4_089_184_256}
"""resnet50 at N=1, 224x224: the MACs of docs/conventions.md's table (each tool's figure is
checked against the tool itself by test_zoo_models at this size)."""


def test_resnet50_figures_of_the_docs() -> None:
    size = {"N": 1, "H": 224, "W": 224}
    assert cnncalc.analyze("resnet50", size).totals.macs == RESNET50_224["cnncalc"]
    for tool, want in RESNET50_224.items():
        ct = cnncalc.analyze("resnet50", size, convention=tool).convention
        assert (ct.macs if ct else None) == (None if tool == "cnncalc" else want), tool


def net(*layers: dict[str, Any], shape: list[Any]) -> dict[str, Any]:
    return {"name": "t", "input": {"shape": shape}, "layers": list(layers)}


def conv(**kw: Any) -> dict[str, Any]:
    return {"type": "conv", "out_channels": 12, "kernel_size": 3, "padding": 1, **kw}


def lin(name: str) -> dict[str, Any]:
    return {"type": "linear", "out_features": 8, "name": name, "inputs": ["input"]}


IMAGE = ["N", 3, "H", "W"]
TOKENS = ["N", "L", 8]
LAYERS = {
    "conv no bias, depthwise, grouped 1x1": net(
        conv(bias=False), {"type": "conv", "out_channels": 24, "kernel_size": 3, "groups": 12,
                           "stride": 2},
        conv(kernel_size=1, padding=0, bias=False, groups=3), shape=IMAGE),
    "conv_transpose": net(
        conv(), {"type": "conv_transpose", "out_channels": 6, "kernel_size": 4, "stride": 2,
                 "padding": 1},
        {"type": "conv_transpose", "out_channels": 4, "kernel_size": 3, "stride": 2,
         "groups": 2, "bias": False}, shape=IMAGE),
    "separable_conv": net(
        {"type": "separable_conv", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"type": "separable_conv", "out_channels": 8, "kernel_size": 3, "bias": False,
         "depth_multiplier": 2}, shape=IMAGE),
    "upsample": net(
        conv(), {"type": "upsample", "scale_factor": 2},
        {"type": "upsample", "scale_factor": 2, "mode": "bilinear"},
        {"type": "upsample", "size": [50, 40], "mode": "bilinear", "align_corners": True},
        shape=IMAGE),
    "norms": net(
        conv(), {"type": "batch_norm", "affine": False}, {"type": "group_norm", "num_groups": 3},
        {"type": "group_norm", "num_groups": 4, "affine": False},
        {"type": "layer_norm", "dims": [1]}, {"type": "layer_norm", "elementwise_affine": False},
        shape=IMAGE),
    "activations": net(
        conv(), *({"type": t} for t in ("gelu", "silu", "elu", "prelu", "leaky_relu", "sigmoid",
                                         "tanh", "hardswish", "hardsigmoid", "mish", "softplus",
                                         "relu6")),
        {"type": "prelu", "num_parameters": 12}, {"type": "softmax", "dim": 1}, shape=IMAGE),
    "pools, linear": net(
        conv(), {"type": "avg_pool", "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "max_pool", "kernel_size": 2}, {"type": "adaptive_max_pool", "output_size": 3},
        {"type": "adaptive_avg_pool", "output_size": [2, 1]},
        {"type": "global_avg_pool", "keepdim": False},
        {"type": "linear", "out_features": 10, "bias": False},
        {"type": "linear", "out_features": 5}, {"type": "softmax"}, shape=IMAGE),
    "1-d": net(
        {"type": "conv", "out_channels": 8, "kernel_size": 3}, {"type": "batch_norm"},
        {"type": "relu"}, {"type": "max_pool", "kernel_size": 2},
        {"type": "avg_pool", "kernel_size": 2}, {"type": "adaptive_avg_pool", "output_size": 3},
        {"type": "upsample", "scale_factor": 2, "mode": "linear"}, {"type": "global_avg_pool"},
        shape=["N", 3, "W"]),
    "3-d": net(
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "batch_norm"}, {"type": "relu"}, {"type": "max_pool", "kernel_size": 2},
        {"type": "upsample", "scale_factor": 2, "mode": "trilinear"},
        {"type": "upsample", "scale_factor": 2}, {"type": "avg_pool", "kernel_size": 2},
        {"type": "adaptive_avg_pool", "output_size": 2}, {"type": "global_avg_pool"},
        shape=["N", 2, 6, "H", "W"]),
    "merges": net(
        conv(name="a"), {"type": "relu", "name": "b"}, {"type": "add", "inputs": ["a", "b"]},
        {"type": "mul", "inputs": ["a", "b"]}, {"type": "concat", "inputs": ["a", "b"]},
        {"type": "sub", "inputs": ["a", "a"]}, shape=IMAGE),
    "shape operations, pads, element-wise": net(
        {"type": "conv", "out_channels": 8, "kernel_size": 3, "name": "c"},
        {"type": "pad", "padding": 1}, {"type": "pad", "padding": [1, 2], "mode": "reflect"},
        {"type": "pad", "padding": 1, "mode": "replicate"},
        {"type": "channel_shuffle", "groups": 2}, {"type": "identity"}, {"type": "dropout"},
        {"type": "div", "inputs": ["c", "c"]}, {"type": "mul", "scalar": 0.5},
        {"type": "add", "scalar": 1.0},
        {"type": "split", "sizes": [3, 5], "dim": 1, "name": "s"},
        {"type": "chunk", "chunks": 2, "dim": 1, "inputs": ["s.1"], "name": "ch"},
        {"type": "slice", "dim": 2, "start": 1, "end": 4, "inputs": ["s.0"]},
        {"type": "index", "dim": 1, "index": 0, "name": "ix"},
        {"type": "mean", "dim": 1, "inputs": ["c"], "keepdim": True, "name": "m"},
        {"type": "sum", "dim": [2, 3], "inputs": ["c"]},
        {"type": "amax", "dim": 1, "inputs": ["c"]},
        {"type": "expand", "shape": ["N", 8, "H - 2", "W - 2"], "inputs": ["m"]},
        {"type": "permute", "dims": [0, 2, 3, 1]}, {"type": "reshape", "shape": ["N", -1]},
        shape=["N", 4, "H", "W"]),
    "linear on tokens": net(
        {"type": "linear", "out_features": 8}, {"type": "linear", "out_features": 5,
                                                "bias": False},
        {"type": "gelu"}, {"type": "softmax"}, shape=TOKENS),
    "matmul": net(
        lin("q"), lin("k"), lin("v"),
        {"type": "transpose", "dim0": 1, "dim1": 2, "name": "kt", "inputs": ["k"]},
        {"type": "matmul", "inputs": ["q", "kt"], "name": "s"}, {"type": "softmax", "name": "p"},
        {"type": "matmul", "inputs": ["p", "v"]}, shape=TOKENS),
    "attention": net(lin("q"), lin("k"), lin("v"),
                     {"type": "attention", "inputs": ["q", "k", "v"]}, shape=TOKENS),
    "parameter": net(
        {"type": "parameter", "shape": [1, "L", 8], "name": "pos"},
        {"type": "add", "inputs": ["input", "pos"]}, {"type": "linear", "out_features": 4},
        shape=TOKENS),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_types(name: str) -> None:
    arch = LAYERS[name]
    names = {str(v) for v in arch["input"]["shape"]}
    for size in ({"N": 1, "H": 24, "W": 20, "L": 6}, {"N": 2, "H": 30, "W": 26, "L": 10}):
        check(arch, {k: v for k, v in size.items() if k in names})


@pytest.mark.parametrize(("heads", "bias"), [(2, True), (4, False)])
def test_multihead_attention(heads: int, bias: bool) -> None:
    """``nn.MultiheadAttention`` itself (cnncalc's builder makes a subclass, which ptflops'
    exact class match skips): ptflops' hook, and torchinfo, fvcore and thop as built."""
    arch = net({"type": "multihead_attention", "num_heads": heads, "bias": bias,
                "batch_first": True}, shape=TOKENS)
    check(arch, {"N": 2, "L": 6}, ("torchinfo", "fvcore", "thop"))

    class Plain(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = torch.nn.MultiheadAttention(8, heads, bias=bias, batch_first=True)

        def forward(self, x: Any) -> Any:
            return self.mha(x, x, x, need_weights=False)[0]

    for n, big_l in ((1, 6), (3, 10)):
        ct = cnncalc.analyze(arch, {"N": n, "L": big_l}, convention="ptflops").convention
        assert ct is not None and not ct.unchecked
        assert reported("ptflops", Plain(), (n, big_l, 8)) == (ct.macs, ct.params)


def test_every_layer_type_is_checked_against_the_tools() -> None:
    """Each convention's rule for every layer type (tests/report/test_conventions.py: every type
    but ``opaque`` has one) meets the real tools in one of the networks above."""
    seen = {"multihead_attention"}
    for arch in [*LAYERS.values(), *(m for m, _ in CASES)]:
        seen |= {r.type for r in cnncalc.analyze(arch).layers}
    assert seen == set(cnncalc.LAYER_TYPES) - {"opaque"}
