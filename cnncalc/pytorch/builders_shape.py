"""Torch builders of the merges (add, sub, mul, div, concat), resizing (upsample, pad,
channel_shuffle) and reductions (mean, sum, amax); registered on import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..algebra.arith import as_int
from ..layers import (
    Add,
    Amax,
    Arithmetic,
    ChannelShuffle,
    Concat,
    Ctx,
    Div,
    Mean,
    Mul,
    Pad,
    Sub,
    Sum,
    Upsample,
)
from ..layers.base import resolve_padding
from ..layers.reduce import Reduction
from .device import load_torch
from .registry import Shape, _nn, builds, flat_pad

if TYPE_CHECKING:
    from torch import nn


def merge_module(kind: str, dim: int = 1, scalar: float | None = None,
                 scalar_first: bool = False) -> nn.Module:
    torch: Any = load_torch()
    ops = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}

    class Merge(torch.nn.Module):
        """Element-wise sum, difference, product or quotient of the inputs in input order (or
        of the one input and a scalar), or concatenation."""

        def __init__(self) -> None:
            super().__init__()
            self.kind, self.dim, self.scalar = kind, dim, scalar

        def forward(self, *xs: Any) -> Any:
            if self.kind == "concat":
                return torch.cat(xs, self.dim)
            op = ops[self.kind]
            if self.scalar is not None:
                if scalar_first:
                    return op(torch.full_like(xs[0], self.scalar), xs[0])
                return op(xs[0], self.scalar)
            out = xs[0]
            for x in xs[1:]:
                out = op(out, x)
            return out

        def extra_repr(self) -> str:
            return f"{self.kind}" + (f", dim={self.dim}" if self.kind == "concat" else "") + (
                f", scalar={self.scalar}" if self.scalar is not None else "") + (
                ", scalar_first=True" if scalar_first else "")
    return Merge()


@builds(Add, Sub, Mul, Div)
def _arithmetic(layer: Arithmetic, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return merge_module(layer.type, scalar=layer.scalar, scalar_first=layer.scalar_first)


@builds(Concat)
def _concat(layer: Concat, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    return merge_module("concat", layer.dim)


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


@builds(ChannelShuffle)
def _channel_shuffle(layer: ChannelShuffle, ctx: Ctx, ins: list[Shape], out: Shape
                     ) -> nn.Module:
    return _nn().ChannelShuffle(as_int(ctx.val(layer.groups, "groups")))


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
