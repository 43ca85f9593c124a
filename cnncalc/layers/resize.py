"""``upsample`` (nearest or (bi/tri)linear, by ``scale_factor`` or ``size``), ``pad`` (zeros,
reflection or replication of the border) and ``channel_shuffle`` (a permutation of the channels).

No params, no MACs. ``other_ops``: nearest copies (0); linear modes read ``2**d`` neighbours per
output element and weight them (``2**d`` multiply-adds counted as ops).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import model_validator

from ..algebra.arith import norm, prod, ratio
from ..algebra.printing import pretty
from .base import (
    Axes,
    Ctx,
    Flag,
    IntLike,
    LayerBase,
    Out,
    Padding,
    RFAxis,
    Tensor,
    map_rf,
    map_segments,
    need_spatial,
    resolve_padding,
    rf_of,
)
from .merge import shuffled_segments


class Upsample(LayerBase):
    """``nn.Upsample``: output ``in * scale_factor`` (integer factors) or a given ``size``."""

    type: Literal["upsample"]
    scale_factor: Axes | None = None
    size: Axes | None = None
    mode: Literal["nearest", "linear", "bilinear", "trilinear"] = "nearest"
    align_corners: Flag | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Upsample:
        if (self.scale_factor is None) == (self.size is None):
            raise ValueError("give exactly one of scale_factor and size")
        return self

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        nd = need_spatial(t, ctx, "upsample")
        want = {"nearest": None, "linear": 1, "bilinear": 2, "trilinear": 3}[self.mode]
        if want is not None and want != nd:
            raise ctx.error(f"mode {self.mode!r} needs {want} spatial axes, the input has {nd}")
        if self.size is not None:
            out = ctx.axes(self.size, nd, "size")
        else:
            assert self.scale_factor is not None  # _one_of: exactly one of the two is given
            f = ctx.axes(self.scale_factor, nd, "scale_factor")
            out = tuple(norm(n * fi) for n, fi in zip(t.spatial, f, strict=True))
        rfs: list[RFAxis | None] = []
        for i in range(nd):
            r = rf_of(t, i)
            if r is None or not r.window:
                rfs.append(r)
                continue
            step = ratio(norm(r.stride * t.spatial[i]), out[i])
            if self.mode == "nearest":  # output o reads input floor(o / f)
                rfs.append(RFAxis(size=r.size, stride=step, start=r.start))
                continue
            # Linear modes read two neighbours; without align_corners output o sits at input
            # coordinate (o + 1/2)/f - 1/2, so output 0 reads from one input step earlier.
            back = 0 if self.align_corners else r.stride
            rfs.append(RFAxis(size=norm(r.size + r.stride), stride=step,
                              start=norm(r.start - back)))
        shape = (t.shape[0], t.channels, *out)
        ops = 0 if self.mode == "nearest" else prod([2 ** nd, *shape])
        return Out(shape=shape, rf=map_rf(t, rfs), axes=t.axes, other_ops=ops)


class Pad(LayerBase):
    """Padding of the spatial axes (``F.pad``): same forms as a conv's ``padding`` except
    ``"same"``/``"valid"``. ``mode`` is PyTorch's: ``"constant"`` (zeros), ``"reflect"`` (the
    border mirrored, without repeating it; each width must be less than the input length
    along its axis) or ``"replicate"`` (the border pixel repeated). Shape, counts and receptive
    field are the same in every mode: the field is that of the interior positions, the
    affine rule of zero padding; a position in a reflected or replicated border reads real
    pixels near the edge instead of zeros (a field clipped by the border, as with zeros)."""

    type: Literal["pad"]
    padding: Padding
    mode: Literal["constant", "reflect", "replicate"] = "constant"

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        nd = need_spatial(t, ctx, "pad")
        if isinstance(self.padding, str) and self.padding in ("same", "valid"):
            raise ctx.error("pad takes explicit sizes, not 'same' or 'valid'")
        pads = resolve_padding(self.padding, nd, (1,) * nd, (1,) * nd, t.spatial, ctx)
        if self.mode == "reflect":  # PyTorch: each width < the input length along its axis
            for i, (n, pair) in enumerate(zip(t.spatial, pads, strict=True)):
                for p in dict.fromkeys(pair):  # one condition when both sides agree
                    what = f"reflect padding {pretty(p)}"
                    where = f"the input length {pretty(n)} along spatial axis {i}"
                    ctx.check_ge(norm(n - 1), p, f"{what} < {where}",
                                 f"{what} must be less than {where}".format)
        out = tuple(norm(n + pb + pa) for n, (pb, pa) in zip(t.spatial, pads, strict=True))
        rfs: list[RFAxis | None] = []
        for i in range(nd):
            r = rf_of(t, i)
            if r is not None and r.window:
                start = norm(r.start - pads[i][0] * r.stride)
                r = RFAxis(size=r.size, stride=r.stride, start=start)
            rfs.append(r)
        segments = map_segments(t, lambda i, f: RFAxis(
            f.size, f.stride, norm(f.start - pads[i][0] * f.stride)) if f.window else f)
        return Out(shape=(t.shape[0], t.channels, *out), rf=map_rf(t, rfs), axes=t.axes,
                   segments=segments)



class ChannelShuffle(LayerBase):
    """``nn.ChannelShuffle(groups)`` (ShuffleNet): the channels, seen as ``groups`` rows of
    ``C/groups``, are transposed. ``groups`` must divide the channels (a constraint when
    symbolic); the input needs a channel axis and at least one more (rank >= 3, PyTorch's rule).
    Shape and receptive field unchanged; no params, 0 MACs and 0 other ops (a permutation:
    every element is copied, none is computed)."""

    type: Literal["channel_shuffle"]
    groups: IntLike

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        if len(t.shape) < 3:
            raise ctx.error(f"channel_shuffle needs an input of rank >= 3, got shape of rank "
                            f"{len(t.shape)}")
        g = ctx.val(self.groups, "groups")
        ctx.divisible(t.channels, g, "groups must divide the channels")
        return Out(shape=t.shape, rf=t.rf, axes=t.axes, segments=shuffled_segments(t, g, ctx))
