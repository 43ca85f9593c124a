"""One torch builder per layer class: the ``nn.Module`` that computes what the class describes.

A builder is registered with ``@builds(Conv)`` over ``def _conv(layer: Conv, ctx, ins, out)``,
keyed by the layer class; registering a class twice raises, and a test checks that every class
of :data:`cnncalc.layers.LAYER_CLASSES` has one. ``ins`` are the input shapes and ``out`` the
output shape, all bound, from cnncalc's own analysis. Padding PyTorch's modules cannot express
(asymmetric, TensorFlow-style ``same``) is an explicit ``F.pad`` before the module's forward;
:mod:`cnncalc.pytorch.scratch` counts the memory of each module these builders make.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..algebra.arith import Value, as_int
from ..errors import CnnCalcError
from ..layers import (
    ELU,
    GELU,
    AdaptiveAvgPool,
    AdaptiveMaxPool,
    Add,
    Amax,
    AvgPool,
    BatchNorm,
    Concat,
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
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool,
    Mean,
    Mish,
    Mul,
    Pad,
    PReLU,
    ReLU,
    ReLU6,
    SeparableConv,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Sum,
    Tanh,
    Upsample,
)
from ..layers.base import resolve_padding
from ..layers.reduce import Reduction
from .device import load_torch

if TYPE_CHECKING:
    from torch import nn

Shape = tuple[int, ...]
L = TypeVar("L", bound=LayerBase)
LayerBuilder = Callable[[L, Ctx, list[Shape], Shape], "nn.Module"]
"""``(layer, ctx, input shapes, output shape) -> module`` for layers of class ``L``."""
Builder = LayerBuilder[Any]
BUILDERS: dict[type[LayerBase], Builder] = {}
"""The builder of every layer class."""


def builds(*classes: type[L]) -> Callable[[LayerBuilder[L]], LayerBuilder[L]]:
    """Register the decorated function as the torch builder of ``classes``; a class that
    already has one raises ``RuntimeError``."""
    def register(fn: LayerBuilder[L]) -> LayerBuilder[L]:
        for cls in classes:
            if cls in BUILDERS:
                raise RuntimeError(f"duplicate torch builder for {cls.__name__}: "
                                   f"{BUILDERS[cls].__qualname__} and {fn.__qualname__}")
        BUILDERS.update(dict.fromkeys(classes, fn))
        return fn
    return register


def builder_of(layer: LayerBase) -> Builder:
    """The builder registered for ``layer``'s class."""
    fn = BUILDERS.get(type(layer))
    if fn is None:  # pragma: no cover - a test checks every layer class has one
        raise CnnCalcError(f"no torch builder for layer class {type(layer).__name__}")
    return fn


def as_ints(vals: Sequence[Value]) -> Shape:
    """Sizes of a bound analysis as ints."""
    return tuple(as_int(v) for v in vals)


def window(layer: Conv | SeparableConv | MaxPool | AvgPool, ctx: Ctx, x: Shape
           ) -> tuple[Shape, Shape, Shape, tuple[tuple[int, int], ...]]:
    """Kernel, stride, dilation and per-axis (before, after) padding of a windowed layer."""
    nd = len(x) - 2
    k = as_ints(ctx.axes(layer.kernel_size, nd, "kernel_size"))
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    s = as_ints(ctx.axes(stride, nd, "stride"))
    dilation = 1 if isinstance(layer, AvgPool) else layer.dilation
    d = as_ints(ctx.axes(dilation, nd, "dilation"))
    k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d, strict=True))
    pads = tuple((as_int(a), as_int(b))
                 for a, b in resolve_padding(layer.padding, nd, k_eff, s, x[2:], ctx))
    return k, s, d, pads


def flat_pad(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """Per-axis (before, after) pairs in ``F.pad`` order: last axis first."""
    out: list[int] = []
    for b, a in reversed(pads):
        out += [b, a]
    return tuple(out)


def _nn() -> Any:
    return load_torch().nn


class ExplicitPadding:
    """Marks a module that pads its input itself before its forward (``explicit_padding``, in
    ``F.pad`` order); the receptive-field probe reads it."""

    explicit_padding: tuple[int, ...] = ()


def _padded(cls: Any, pads: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
    """A subclass of module class ``cls`` that pads explicitly before its forward; parameters
    keep their names."""
    functional = _nn().functional
    flat = flat_pad(pads)

    class Padded(cls, ExplicitPadding):
        explicit_padding = flat

        def forward(self, x: Any) -> Any:
            return super().forward(functional.pad(x, flat, value=value))
    Padded.__name__ = f"Padded{cls.__name__}"
    return Padded


def _symmetric(pads: tuple[tuple[int, int], ...]) -> bool:
    return all(b == a for b, a in pads)


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


@builds(LayerNorm)
def _ln(layer: LayerNorm, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    k = layer.normalized_dims if layer.normalized_dims is not None else len(ins[0]) - 1
    return _nn().LayerNorm(ins[0][-k:], layer.eps, layer.elementwise_affine)


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


def _merge_module(kind: str, dim: int = 1) -> nn.Module:
    torch: Any = load_torch()

    class Merge(torch.nn.Module):
        """Element-wise sum or product, or concatenation, of the inputs."""

        def __init__(self) -> None:
            super().__init__()
            self.kind, self.dim = kind, dim

        def forward(self, *xs: Any) -> Any:
            if self.kind == "concat":
                return torch.cat(xs, self.dim)
            out = xs[0]
            for x in xs[1:]:
                out = out + x if self.kind == "add" else out * x
            return out

        def extra_repr(self) -> str:
            return f"{self.kind}" + (f", dim={self.dim}" if self.kind == "concat" else "")
    return Merge()


@builds(Add)
def _add(layer: Add, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _merge_module("add")


@builds(Mul)
def _mul(layer: Mul, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _merge_module("mul")


@builds(Concat)
def _concat(layer: Concat, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return _merge_module("concat", layer.dim)


@builds(Upsample)
def _upsample(layer: Upsample, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    align = layer.align_corners if layer.mode != "nearest" else None
    return _nn().Upsample(size=out[2:], mode=layer.mode, align_corners=align)


@builds(Pad)
def _pad(layer: Pad, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch_nn: Any = _nn()
    functional = torch_nn.functional
    nd = len(ins[0]) - 2
    pads = tuple((as_int(a), as_int(b)) for a, b in resolve_padding(
        layer.padding, nd, (1,) * nd, (1,) * nd, ins[0][2:], ctx))
    flat = flat_pad(pads)
    mode = layer.mode

    class Pad(torch_nn.Module):
        """Padding of the spatial axes (zeros, reflection or replication)."""

        def forward(self, x: Any) -> Any:
            return functional.pad(x, flat, mode=mode)

        def extra_repr(self) -> str:
            return f"padding={pads}" + (f", mode={mode!r}" if mode != "constant" else "")
    return Pad()


def reduce_module(op: str, dims: tuple[int, ...], keepdim: bool) -> nn.Module:
    """A module computing ``torch.<op>(x, dims, keepdim)`` (``mean``, ``sum`` or ``amax``)."""
    torch: Any = load_torch()
    fn = getattr(torch, op)

    class Reduce(torch.nn.Module):
        """A reduction over the axes ``dims``."""

        def __init__(self) -> None:
            super().__init__()
            self.op, self.dims, self.keepdim = op, dims, keepdim

        def forward(self, x: Any) -> Any:
            return fn(x, self.dims, keepdim=self.keepdim)

        def extra_repr(self) -> str:
            return f"{self.op}, dim={self.dims}, keepdim={self.keepdim}"
    return Reduce()


@builds(Mean, Sum, Amax)
def _reduce(layer: Reduction, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return reduce_module(layer.type, layer.axes(len(ins[0]), ctx), layer.keepdim)
