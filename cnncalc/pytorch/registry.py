"""The torch builder registry (``@builds(LayerClass)``, keyed by class, duplicates refused)
and the helpers builders share: shapes as ints, window arguments, explicit padding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..algebra.arith import Value, as_int
from ..errors import CnnCalcError
from ..layers import (
    AvgPool,
    Conv,
    Ctx,
    LayerBase,
    MaxPool,
    SeparableConv,
)
from ..layers.base import resolve_padding
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


