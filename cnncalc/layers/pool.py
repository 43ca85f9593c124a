"""Pooling: ``max_pool``, ``avg_pool``, ``adaptive_avg_pool``, ``adaptive_max_pool``,
``global_avg_pool``.

No parameters and no MACs. ``other_ops`` counts the window elements read per output
(comparisons for max, additions for average); adaptive and global pools count every input
element once (exact for global pooling and for windows that tile the input).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from ..arith import is_num, prod, same
from .base import Axes, Ctx, Flag, LayerBase, Out, Padding, Tensor, need_spatial, whole
from .conv import _window


class MaxPool(LayerBase):
    """``nn.MaxPool1d/2d/3d``; ``stride`` defaults to ``kernel_size``."""

    type: Literal["max_pool"]
    kernel_size: Axes
    stride: Axes | None = None
    padding: Padding = 0
    dilation: Axes = 1
    ceil_mode: Flag = False

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        spatial, rf, k, pads = _window(t, ctx, self.kernel_size,
                                       self.kernel_size if self.stride is None else self.stride,
                                       self.padding, self.dilation, self.ceil_mode)
        _check_pool_padding(pads, k, self.ceil_mode, ctx)
        shape = (t.shape[0], t.channels, *spatial)
        return Out(shape=shape, rf=rf, axis_map=t.axis_map, other_ops=prod([*shape, *k]))


class AvgPool(LayerBase):
    """``nn.AvgPool1d/2d/3d``; ``stride`` defaults to ``kernel_size``."""

    type: Literal["avg_pool"]
    kernel_size: Axes
    stride: Axes | None = None
    padding: Padding = 0
    ceil_mode: Flag = False
    count_include_pad: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        spatial, rf, k, pads = _window(t, ctx, self.kernel_size,
                                       self.kernel_size if self.stride is None else self.stride,
                                       self.padding, 1, self.ceil_mode)
        _check_pool_padding(pads, k, self.ceil_mode, ctx)
        if len(k) == 3:
            # PyTorch's avg_pool3d (unlike 1d/2d and max pooling) also needs the unpadded
            # input to be at least the kernel.
            for i, (n, ki) in enumerate(zip(t.spatial, k, strict=True)):
                if is_num(n) and is_num(ki):
                    if n < ki:  # type: ignore[operator]
                        raise ctx.error(f"avg_pool over 3 axes needs the input ({n}) at least "
                                        f"as large as the kernel ({ki}) along spatial axis {i} "
                                        "(PyTorch's avg_pool3d rule)")
                else:
                    ctx.require("ge", f"avg_pool3d input >= kernel along spatial axis {i}",
                                n, ki)
        shape = (t.shape[0], t.channels, *spatial)
        return Out(shape=shape, rf=rf, axis_map=t.axis_map, other_ops=prod([*shape, *k]))


def _check_pool_padding(pads: tuple, k: tuple, ceil_mode: bool, ctx: Ctx) -> None:
    """PyTorch's pooling rules, where decidable: padding at most half the kernel on each side;
    and ``ceil_mode`` only with symmetric padding (with explicit asymmetric padding PyTorch's
    last-window rule would apply to a different input, so no torch equivalent exists)."""
    for (pb, pa), ki in zip(pads, k, strict=True):
        for p in (pb, pa):
            if is_num(p) and is_num(ki) and p > ki // 2:  # type: ignore[operator]
                raise ctx.error(f"pool padding {p} must be at most half the kernel size {ki} "
                                "(PyTorch's rule)")
        if ceil_mode:
            eq = same(pb, pa)
            if eq is False:
                raise ctx.error("ceil_mode with asymmetric padding has no PyTorch equivalent; "
                                "use symmetric padding or ceil_mode false")
            if eq is None:  # "same" padding: symmetric for some sizes only
                ctx.require("eq", "ceil_mode needs symmetric padding", pb, pa)


class _Adaptive(LayerBase):
    output_size: Axes = Field(..., description="Output length per spatial axis.")

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        nd = need_spatial(t, ctx, self.type)  # type: ignore[attr-defined]
        out = ctx.axes(self.output_size, nd, "output_size")
        shape = (t.shape[0], t.channels, *out)
        rf = list(t.rf)
        for i in range(nd):
            ax = t.axis_map[i]
            if ax is not None:
                rf[ax] = whole(ctx, ax)
        return Out(shape=shape, rf=tuple(rf), axis_map=t.axis_map, other_ops=t.numel())


class AdaptiveAvgPool(_Adaptive):
    """``nn.AdaptiveAvgPool1d/2d/3d``; the field of each output is taken as the whole input."""

    type: Literal["adaptive_avg_pool"]


class AdaptiveMaxPool(_Adaptive):
    """``nn.AdaptiveMaxPool1d/2d/3d``; the field of each output is taken as the whole input."""

    type: Literal["adaptive_max_pool"]


class GlobalAvgPool(LayerBase):
    """Mean over all spatial axes; keeps them as length 1 (``AdaptiveAvgPool(1)``) unless
    ``keepdim`` is false, when the output is ``[N, C]``."""

    type: Literal["global_avg_pool"]
    keepdim: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        nd = need_spatial(t, ctx, "global_avg_pool")
        rf = list(t.rf)
        for ax in t.axis_map:
            if ax is not None:
                rf[ax] = whole(ctx, ax)
        if self.keepdim:
            return Out(shape=(t.shape[0], t.channels, *([1] * nd)), rf=tuple(rf),
                       axis_map=t.axis_map, other_ops=t.numel())
        return Out(shape=(t.shape[0], t.channels), rf=tuple(rf), axis_map=(),
                   other_ops=t.numel())
