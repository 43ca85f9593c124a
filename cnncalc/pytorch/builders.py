"""One torch builder per layer class: the ``nn.Module`` that computes what the class describes.

A builder is registered with ``@builds(Conv)`` over ``def _conv(layer: Conv, ctx, ins, out)``,
keyed by the layer class; registering a class twice raises, and a test checks that every class
of :data:`cnncalc.layers.LAYER_CLASSES` has one. ``ins`` are the input shapes and ``out`` the
output shape, all bound, from cnncalc's own analysis. Padding PyTorch's modules cannot express
(asymmetric, TensorFlow-style ``same``) is an explicit ``F.pad`` before the module's forward;
:mod:`cnncalc.pytorch.scratch` counts the memory of each module these builders make.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..algebra.arith import as_int
from ..errors import CnnCalcError
from ..layers import (
    ELU,
    GELU,
    AdaptiveAvgPool,
    AdaptiveMaxPool,
    AvgPool,
    BatchNorm,
    Conv,
    ConvTranspose,
    Ctx,
    Dropout,
    Flatten,
    GlobalAvgPool,
    GroupNorm,
    Hardsigmoid,
    Hardswish,
    Identity,
    LayerBase,
    LeakyReLU,
    Linear,
    MaxPool,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    SeparableConv,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .registry import Shape, _nn, _padded, _symmetric, as_ints, builds, window

if TYPE_CHECKING:
    from torch import nn


@builds(Conv)
def _conv(layer: Conv, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    x = ins[0]
    k, s, d, pads = window(layer, ctx, x)
    g = as_int(ctx.val(layer.groups, "groups"))
    cls = getattr(_nn(), f"Conv{len(x) - 2}d")
    if _symmetric(pads):
        return cls(x[1], out[1], k, s, tuple(b for b, _ in pads), d, g, layer.bias)
    return _padded(cls, pads)(x[1], out[1], k, s, 0, d, g, layer.bias)


@builds(ConvTranspose)
def _conv_t(layer: ConvTranspose, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    x = ins[0]
    nd = len(x) - 2

    def ax(v: Any, what: str, minimum: int = 1) -> Shape:
        return as_ints(ctx.axes(v, nd, what, minimum))
    cls = getattr(_nn(), f"ConvTranspose{nd}d")
    return cls(x[1], out[1], ax(layer.kernel_size, "kernel_size"), ax(layer.stride, "stride"),
               ax(layer.padding, "padding", 0), ax(layer.output_padding, "output_padding", 0),
               as_int(ctx.val(layer.groups, "groups")), layer.bias,
               ax(layer.dilation, "dilation"))


@builds(SeparableConv)
def _separable(layer: SeparableConv, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch_nn = _nn()
    x = ins[0]
    k, s, d, pads = window(layer, ctx, x)
    m = as_int(ctx.val(layer.depth_multiplier, "depth_multiplier"))
    cls = getattr(torch_nn, f"Conv{len(x) - 2}d")
    if _symmetric(pads):
        dw = cls(x[1], x[1] * m, k, s, tuple(b for b, _ in pads), d, x[1], False)
    else:
        dw = _padded(cls, pads)(x[1], x[1] * m, k, s, 0, d, x[1], False)
    seq = torch_nn.Sequential()
    seq.add_module("depthwise", dw)
    seq.add_module("pointwise", cls(x[1] * m, out[1], 1, bias=layer.bias))
    return seq


@builds(MaxPool)
def _max_pool(layer: MaxPool, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    x = ins[0]
    k, s, d, pads = window(layer, ctx, x)
    cls = getattr(_nn(), f"MaxPool{len(x) - 2}d")
    if _symmetric(pads):
        return cls(k, s, tuple(b for b, _ in pads), d, False, layer.ceil_mode)
    return _padded(cls, pads, float("-inf"))(k, s, 0, d, False, layer.ceil_mode)


@builds(AvgPool)
def _avg_pool(layer: AvgPool, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    x = ins[0]
    k, s, _, pads = window(layer, ctx, x)
    cls = getattr(_nn(), f"AvgPool{len(x) - 2}d")
    if _symmetric(pads):
        return cls(k, s, tuple(b for b, _ in pads), layer.ceil_mode, layer.count_include_pad)
    if not layer.count_include_pad:
        raise CnnCalcError("asymmetric avg_pool padding with count_include_pad=false has no "
                           "PyTorch equivalent", layer=ctx.name)
    return _padded(cls, pads)(k, s, 0, layer.ceil_mode, layer.count_include_pad)


@builds(AdaptiveAvgPool)
def _adaptive_avg(layer: AdaptiveAvgPool, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return getattr(_nn(), f"AdaptiveAvgPool{len(ins[0]) - 2}d")(out[2:])


@builds(AdaptiveMaxPool)
def _adaptive_max(layer: AdaptiveMaxPool, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return getattr(_nn(), f"AdaptiveMaxPool{len(ins[0]) - 2}d")(out[2:])


@builds(GlobalAvgPool)
def _global(layer: GlobalAvgPool, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch_nn = _nn()
    pool = getattr(torch_nn, f"AdaptiveAvgPool{len(ins[0]) - 2}d")(1)
    return pool if layer.keepdim else torch_nn.Sequential(pool, torch_nn.Flatten(1))


@builds(Linear)
def _linear(layer: Linear, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().Linear(ins[0][-1], out[-1], layer.bias)


@builds(Flatten)
def _flatten(layer: Flatten, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().Flatten(layer.start_dim, layer.end_dim)


@builds(BatchNorm)
def _bn(layer: BatchNorm, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    nd = max(len(ins[0]) - 2, 1)
    return getattr(_nn(), f"BatchNorm{nd}d")(ins[0][1], layer.eps, layer.momentum, layer.affine,
                                             layer.track_running_stats)


@builds(GroupNorm)
def _gn(layer: GroupNorm, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().GroupNorm(as_int(ctx.val(layer.num_groups, "num_groups")), ins[0][1],
                           layer.eps, layer.affine)


@builds(Dropout)
def _dropout(layer: Dropout, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().Dropout(layer.p)


_SIMPLE: dict[type[LayerBase], str] = {
    Identity: "Identity", ReLU: "ReLU", ReLU6: "ReLU6", SiLU: "SiLU", Sigmoid: "Sigmoid",
    Tanh: "Tanh", Hardswish: "Hardswish", Hardsigmoid: "Hardsigmoid", Mish: "Mish"}
"""Layer classes without fields of their own, and their ``torch.nn`` class."""


@builds(*_SIMPLE)
def _simple(layer: LayerBase, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return getattr(_nn(), _SIMPLE[type(layer)])()


@builds(LeakyReLU)
def _leaky(layer: LeakyReLU, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().LeakyReLU(layer.negative_slope)


@builds(GELU)
def _gelu(layer: GELU, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().GELU(layer.approximate)


@builds(ELU)
def _elu(layer: ELU, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().ELU(layer.alpha)


@builds(Softplus)
def _softplus(layer: Softplus, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().Softplus(layer.beta, layer.threshold)


@builds(PReLU)
def _prelu(layer: PReLU, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().PReLU(as_int(ctx.val(layer.num_parameters, "num_parameters")), layer.init)


@builds(Softmax)
def _softmax(layer: Softmax, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _nn().Softmax(layer.dim)




# The merges, resizing and reductions, and attention, parameters and layer_norm register their
# builders on import; importing this module gives the complete registry.
from . import builders_attention as _attention  # noqa: E402, F401
from . import builders_shape as _shape  # noqa: E402
from . import builders_tensor as _tensor  # noqa: E402, F401
from .registry import BUILDERS, ExplicitPadding, builder_of, flat_pad  # noqa: E402

reduce_module = _shape.reduce_module
__all__ = ["BUILDERS", "ExplicitPadding", "Shape", "as_ints", "builder_of", "builds", "flat_pad",
           "reduce_module", "window"]
