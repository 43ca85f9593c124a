"""Pooling: ``max_pool``, ``avg_pool``, ``adaptive_avg_pool``, ``adaptive_max_pool``,
``global_avg_pool``.

No parameters and no MACs. ``other_ops`` counts the window elements read per output
(comparisons for max, additions for average); adaptive and global pools count every input
element once (exact for global pooling and for windows that tile the input).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..algebra.arith import Value, ceildiv, floordiv, is_num, norm, prod, ratio, same, total
from ..algebra.printing import pretty
from .base import (
    Axes,
    Ctx,
    Flag,
    LayerBase,
    Note,
    Out,
    Padding,
    Pads,
    RFAxis,
    Tensor,
    mixed,
    need_spatial,
    sliding_window,
    whole,
)
from .merge import window_segments

if TYPE_CHECKING:
    from .explain import Step  # imported by explain() itself: a bound analysis explains nothing


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
        stride = self.kernel_size if self.stride is None else self.stride
        spatial, rf, k, pads = sliding_window(t, ctx, self.kernel_size, stride,
                                              self.padding, self.dilation, self.ceil_mode)
        _check_pool_padding(pads, k, self.ceil_mode, ctx)
        shape = (t.shape[0], t.channels, *spatial)
        return Out(shape=shape, rf=rf, axes=t.axes, other_ops=prod([*shape, *k]),
                   segments=window_segments(t, ctx, k, stride, self.dilation, pads))


    def explain(self, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
        """Output length per axis (stride defaults to the kernel), no params or MACs, the
        receptive-field recursion."""
        return _pool_steps(ins[0], ctx, out, self.kernel_size, self.stride, self.padding,
                           self.dilation, self.ceil_mode)


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
        stride = self.kernel_size if self.stride is None else self.stride
        spatial, rf, k, pads = sliding_window(t, ctx, self.kernel_size, stride,
                                              self.padding, 1, self.ceil_mode)
        _check_pool_padding(pads, k, self.ceil_mode, ctx)
        if len(k) == 3:
            # PyTorch's avg_pool3d (unlike 1d/2d and max pooling) also needs the unpadded
            # input to be at least the kernel.
            for i, (n, ki) in enumerate(zip(t.spatial, k, strict=True)):
                ctx.check_ge(n, ki, f"avg_pool3d input >= kernel along spatial axis {i}",
                             functools.partial(_avg3d_msg, n, ki, i))
        shape = (t.shape[0], t.channels, *spatial)
        return Out(shape=shape, rf=rf, axes=t.axes, other_ops=prod([*shape, *k]),
                   segments=window_segments(t, ctx, k, stride, 1, pads))


    def explain(self, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
        """As :meth:`MaxPool.explain`, without dilation."""
        return _pool_steps(ins[0], ctx, out, self.kernel_size, self.stride, self.padding, 1,
                           self.ceil_mode)


def _pool_steps(t: Tensor, ctx: Ctx, out: Out, kernel_size: Axes, stride: Axes | None,
                padding: Padding, dilation: Axes, ceil_mode: bool) -> list[Step]:
    from .explain import macs_steps, params_step, rf_steps, window_steps
    steps, _, k_eff, s = window_steps(t, ctx, out, kernel_size,
                                      kernel_size if stride is None else stride, padding,
                                      dilation, ceil_mode)
    return [*steps, params_step(out.params), *macs_steps(out.macs, out.work),
            *rf_steps(t, ctx, out, k_eff, s)]


def _avg3d_msg(n: Value, ki: Value, i: int) -> str:
    return (f"avg_pool over 3 axes needs the input ({pretty(n)}) at least as large as the "
            f"kernel ({pretty(ki)}) along spatial axis {i} (PyTorch's avg_pool3d rule)")


def _padding_msg(p: Value, ki: Value) -> str:
    return (f"pool padding {pretty(p)} must be at most half the kernel size {pretty(ki)} "
            "(PyTorch's rule)")


def _check_pool_padding(pads: Pads, k: tuple[Value, ...], ceil_mode: bool, ctx: Ctx) -> None:
    """PyTorch's pooling rules, where decidable: padding at most half the kernel on each side;
    and ``ceil_mode`` only with symmetric padding (with explicit asymmetric padding PyTorch's
    last-window rule would apply to a different input, so no torch equivalent exists)."""
    for (pb, pa), ki in zip(pads, k, strict=True):
        for p in (pb, pa):
            ctx.check_ge(floordiv(ki, 2), p,
                         f"pool padding {pretty(p)} <= kernel_size {pretty(ki)} // 2",
                         functools.partial(_padding_msg, p, ki))
        if ceil_mode:
            eq = same(pb, pa)
            if eq is False:
                raise ctx.error("ceil_mode with asymmetric padding has no PyTorch equivalent; "
                                "use symmetric padding or ceil_mode false")
            if eq is None:  # "same" padding: symmetric for some sizes only
                ctx.require("eq", "ceil_mode needs symmetric padding", pb, pa)


def adaptive_window(n: Value, out: int) -> Value:
    """The largest window of PyTorch's adaptive pooling of length ``n`` to ``out``: output ``i``
    reads ``[floor(i*n/out), ceil((i+1)*n/out))``.

    With ``n = q*out + r``: ``q`` when ``r == 0``, ``q + 1`` when ``r`` divides ``out``, ``q + 2``
    otherwise (some window starts at a fraction above ``1 - r/out`` exactly when ``gcd(r, out) <
    r``). For symbolic ``n`` the same, exactly: ``ceil(n/out)`` plus one for the residues that
    do not divide ``out``, counted by runs ``[a, b]`` as ``floor((n-a)/out) - floor((n-b-1)/out)``.
    """
    if is_num(n):
        q, r = divmod(n, out)
        return int(q + (0 if r == 0 else 1 if out % r == 0 else 2))
    terms: list[Value] = [ceildiv(n, out)]
    run: list[int] = []
    for r in [*range(1, out), out]:
        if r < out and out % r:
            run.append(r)
        elif run:
            a, b = run[0], run[-1]
            terms += [floordiv(norm(n - a), out), norm(-floordiv(norm(n - b - 1), out))]
            run = []
    return total(terms)


class _Adaptive(LayerBase):
    output_size: Axes = Field(..., description="Output length per spatial axis.")

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        nd = need_spatial(t, ctx, self.type)
        out = ctx.axes(self.output_size, nd, "output_size")
        shape = (t.shape[0], t.channels, *out)
        rf = list(t.rf)
        for i in range(nd):
            ax = t.src(i + 2)
            if ax is None or not rf[ax].window:
                continue
            if is_num(out[i]) and out[i] == 1:
                rf[ax] = whole(ctx, ax)
                continue
            rf[ax] = _adaptive_rf(rf[ax], t.spatial[i], out[i], ctx, i)
        return Out(shape=shape, rf=tuple(rf), axes=t.axes, other_ops=t.numel())


def _adaptive_rf(r: RFAxis, n: Value, out: Value, ctx: Ctx, axis: int) -> RFAxis:
    """Field after an adaptive window: the largest window, the mean step ``n/out`` (exact when
    ``out`` divides ``n``: the windows are then uniform), output 0 starting at input 0."""
    step = ratio(norm(r.stride * n), out)
    if not is_num(out):
        # Output 1 would see the whole input; the window bound depends on n mod out: give
        # the bound ceil(n/out) + 1 and let evaluate() analyse again once both are bound.
        ctx.notes.append(Note("recheck", ctx.name, ctx.index,
                              f"adaptive window along spatial axis {axis}", out, n))
        k = norm(ceildiv(n, out) + 1)
        ctx.warn(f"adaptive windows along spatial axis {axis} ({pretty(n)} to {pretty(out)}): "
                 f"the receptive field is a bound (largest window at most {pretty(k)}, mean "
                 "stride)")
    else:
        k = adaptive_window(n, out)
        uniform = same(norm(floordiv(n, out) * out), n)
        if uniform is not True:
            ctx.warn(f"adaptive windows along spatial axis {axis} ({pretty(n)} to {out}) are "
                     + ("not uniform" if uniform is False
                        else f"not uniform unless {pretty(n)} mod {out} == 0")
                     + ": the receptive field size is PyTorch's largest window, the stride "
                       "the mean step")
    return RFAxis(size=norm(r.size + (k - 1) * r.stride), stride=step, start=r.start)


class AdaptiveAvgPool(_Adaptive):
    """``nn.AdaptiveAvgPool1d/2d/3d``; output 1 sees the whole input, otherwise the field is
    that of PyTorch's largest window (exact when the output divides the input)."""

    type: Literal["adaptive_avg_pool"]


class AdaptiveMaxPool(_Adaptive):
    """``nn.AdaptiveMaxPool1d/2d/3d``; fields as :class:`AdaptiveAvgPool`."""

    type: Literal["adaptive_max_pool"]


class GlobalAvgPool(LayerBase):
    """Mean over all spatial axes; keeps them as length 1 (``AdaptiveAvgPool(1)``) unless
    ``keepdim`` is false, when the output is ``[N, C]``."""

    type: Literal["global_avg_pool"]
    keepdim: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        nd = need_spatial(t, ctx, "global_avg_pool")
        rf = mixed(t, range(2, len(t.shape)), ctx)
        if self.keepdim:
            return Out(shape=(t.shape[0], t.channels, *([1] * nd)), rf=rf,
                       axes=t.axes, other_ops=t.numel())
        return Out(shape=(t.shape[0], t.channels), rf=rf, axes=t.axes[:2],
                   other_ops=t.numel())
