"""Merges: ``add``, ``sub``, ``mul``, ``div`` (element-wise, NumPy broadcasting, or one input
and a ``scalar``) and ``concat`` (along ``dim``).

The receptive field of a merge is the union of its inputs' fields; inputs whose fields have
different strides give a warning and the smallest stride is kept; inputs with equal strides but
different centres (``start + (size - 1)/2``) give a warning too. Where two symbolic sizes must
be equal but are not identically so, the condition is recorded as a constraint (solved over
residues by the engine) instead of failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from ..algebra.arith import (
    Value,
    all_ints,
    is_num,
    norm,
    prod,
    ratio,
    same,
    total,
    vmax,
    vmin,
)
from ..algebra.printing import pretty
from .base import (
    EMPTY,
    UNDEFINED,
    Axes,
    Ctx,
    Flag,
    LayerBase,
    Note,
    Out,
    Pads,
    RFAxis,
    Segments,
    Src,
    Tensor,
    decide_ge,
    elementwise,
    joined,
    map_segments,
    window_rf,
)


def union_rf(ins: Sequence[Tensor], ctx: Ctx) -> tuple[RFAxis, ...]:
    """Per input axis, the smallest field covering every input's field."""
    return union_fields([t.rf for t in ins], ctx)


def union_fields(rfs: Sequence[tuple[RFAxis, ...]], ctx: Ctx | None) -> tuple[RFAxis, ...]:
    """Per input axis, the smallest field covering every one of ``rfs``; ``ctx`` None: without
    the warnings (fields of channel ranges of one tensor, whose union was warned about)."""
    out = []
    for ax in range(len(rfs[0])):
        fields = [rf[ax] for rf in rfs if not rf[ax].empty]
        if not fields:
            out.append(EMPTY)
            continue
        if any(f.whole for f in fields):
            out.append(next(f for f in fields if f.whole))
            continue
        if any(f.undefined for f in fields):
            out.append(UNDEFINED)
            continue
        strides = [f.stride for f in fields]
        starts = [f.start for f in fields]
        if all_ints(strides) and all_ints(starts) and all_ints([f.size for f in fields]):
            ends = [f.start + f.size for f in fields]
            if ctx is not None and (strides.count(strides[0]) != len(strides) or len(
                    {a + b - 1 for a, b in zip(starts, ends, strict=True)}) > 1):
                _check_alignment(fields, strides, ax, ctx)  # it warns: on numbers, always
            lo = min(starts)  # the rule below, on numbers
            out.append(RFAxis(size=max(ends) - lo, stride=min(strides), start=lo))
            continue
        if ctx is not None:
            _check_alignment(fields, strides, ax, ctx)
        start = vmin(*starts)
        end = vmax(*[norm(f.start + f.size) for f in fields])
        out.append(RFAxis(size=norm(end - start), stride=vmin(*strides), start=start))
    return tuple(out)


def _check_alignment(fields: Sequence[RFAxis], strides: Sequence[Value], ax: int,
                     ctx: Ctx) -> None:
    """Warn where merged fields along input axis ``ax`` have different strides, or the same
    stride but different centres (``start + (size - 1)/2``)."""
    if any(same(strides[0], s) is False for s in strides[1:]):
        ctx.warn(f"inputs have receptive-field strides "
                 f"{[pretty(s) for s in strides]} along input axis {ax}; "
                 "the union uses the smallest")
    elif all(same(strides[0], s) is True for s in strides[1:]):
        # Equal steps, but are the fields of position o centred on the same pixel?
        twice = [norm(2 * f.start + f.size - 1) for f in fields]
        differ = [same(twice[0], c) for c in twice[1:]]
        if any(d is not True for d in differ):
            # c/2 as text; on numbers without sympy (a bound analysis never imports it)
            centres = [pretty(ratio(c, 2)) if not is_num(c) else
                       str(c // 2) if c % 2 == 0 else f"{c}/2" for c in twice]
            ctx.warn(f"inputs' receptive fields have the same stride but are centred on "
                     f"input pixels {centres} along input axis {ax}"
                     + ("" if False in differ else " (different for some sizes)")
                     + ": merged positions do not look at the same pixels")


def segments_of(t: Tensor) -> Segments:
    """The fields of ``t``'s channel ranges: its segments, or one range of every channel."""
    return t.segments if t.segments is not None else ((t.shape[1], t.rf),)


def _lt(a: Value, b: Value) -> bool | None:
    """Decide ``a < b`` (None when it depends on the free sizes)."""
    if decide_ge(a, b):
        return False
    return True if decide_ge(b, norm(a + 1)) else None


def cut_segments(t: Tensor, a: Value, b: Value, ctx: Ctx
                 ) -> tuple[tuple[RFAxis, ...], Segments | None]:
    """The field and segments of channels ``a`` to ``b`` (exclusive) of ``t``: the union of
    the segments they overlap, and those pieces. Where an overlap depends on the free sizes,
    the union of every channel (a bound, with a 'recheck' note: evaluate() analyses again)."""
    if t.segments is None:
        return t.rf, None
    pieces: list[tuple[Value, tuple[RFAxis, ...]]] = []
    lo: Value = 0
    for n, rf in t.segments:
        hi = norm(lo + n)
        before, after = _lt(lo, a), _lt(b, hi)  # the range starts past lo / ends before hi
        left, right = _lt(a, hi), _lt(lo, b)  # overlap: a < hi and lo < b
        if None in (left, right) or (left and right and None in (before, after)):
            free = next(v for v in (lo, hi, a, b) if not is_num(v))
            ctx.notes.append(Note("recheck", ctx.name, ctx.index, "the channel ranges read "
                                  "depend on the free sizes", free, 0))
            return t.rf, None
        if left and right:
            pieces.append((norm((b if after else hi) - (a if before else lo)), rf))
        lo = hi
    if not pieces:
        return t.rf, None
    return union_fields([rf for _, rf in pieces], None), joined(pieces)


def window_segments(t: Tensor, ctx: Ctx, k: Sequence[Value], stride: Axes,
                    dilation: Axes, pads: Pads, groups: Value = 1,
                    out_channels: Value | None = None) -> Segments | None:
    """The channel segments after a sliding window of kernel ``k`` (the rule of
    :func:`window_rf` applied to each): a pool treats every channel alike; a convolution of
    ``groups`` groups gives each group's ``out_channels / groups`` outputs the window of the
    union of that group's input channels (groups a number; one group: no segments)."""
    if t.segments is None:
        return None
    nd = len(k)
    s = ctx.axes(stride, nd, "stride")
    d = ctx.axes(dilation, nd, "dilation")

    def rule(i: int, f: RFAxis) -> RFAxis:
        return window_rf(f, norm(d[i] * (k[i] - 1) + 1), s[i], pads[i][0])

    if out_channels is None:
        return map_segments(t, rule)
    if not is_num(groups):
        ctx.notes.append(Note("recheck", ctx.name, ctx.index, "the channel ranges of the "
                              "groups depend on the free sizes", groups, 0))
        return None
    g = int(groups)
    if g == 1:
        return None
    cin, cout = ratio(t.shape[1], g), ratio(out_channels, g)
    per_group: list[tuple[Value, tuple[RFAxis, ...]]] = []
    for j in range(g):
        rf, _ = cut_segments(t, norm(j * cin), norm((j + 1) * cin), ctx)
        per_group.append((cout, rf))
    grouped = joined(per_group)
    if grouped is None:
        return None
    return map_segments(Tensor(t.shape, t.rf, t.axes, grouped), rule)


def shuffled_segments(t: Tensor, groups: Value, ctx: Ctx) -> Segments | None:
    """The segments after ``channel_shuffle(groups)``: output channel ``j`` is input channel
    ``(j mod g) * (C / g) + j // g``. Sizes that are not numbers: none ('recheck')."""
    if t.segments is None:
        return None
    c = t.shape[1]
    if not (is_num(groups) and is_num(c) and all(is_num(n) for n, _ in t.segments)):
        free = next(v for v in (groups, c, *(n for n, _ in t.segments)) if not is_num(v))
        ctx.notes.append(Note("recheck", ctx.name, ctx.index, "the channel ranges shuffled "
                              "depend on the free sizes", free, 0))
        return None
    g, per = int(groups), int(c) // int(groups)
    field: list[tuple[RFAxis, ...]] = []
    for n, rf in t.segments:
        field += [rf] * int(n)
    return joined([(1, field[(j % g) * per + j // g]) for j in range(int(c))])


def merged_axes(ins: Sequence[Tensor], shape: Sequence[Value]) -> tuple[Src, ...]:
    """Per output axis, what it is made of: the first input (in order) whose size along it is
    not a broadcast 1 decides (a learned ``parameter`` of size 1 does not)."""
    reads = [t for t in ins if not all(f.empty for f in t.rf)]  # a parameter reads nothing
    if reads and len(reads[0].axes) == len(shape) and all(t.axes == reads[0].axes
                                                          for t in reads[1:]):
        return reads[0].axes  # whichever input decides an axis, it is made of the same
    first = reads or list(ins)
    out: list[Src] = []
    for axis in range(len(shape)):
        srcs = [t.axes[axis] for t in reads if not (is_num(t.shape[axis]) and t.shape[axis] == 1)]
        out.append(srcs[0] if srcs else first[0].axes[axis])
    return tuple(out)


def _match(a: Value, b: Value, what: str, ctx: Ctx) -> None:
    eq = same(a, b)
    if eq is False:
        raise ctx.error(f"{what}: {pretty(a)} != {pretty(b)}")
    if eq is None:
        ctx.require("eq", what, a, b)


class Arithmetic(LayerBase):
    """What ``add``, ``sub``, ``mul`` and ``div`` share: 2 to 64 inputs combined element-wise
    from the first in input order (NumPy broadcasting: shapes align at the last axis, a shorter
    one taking leading axes of 1; along each axis the sizes are equal or 1;
    sizes that must be equal but are symbolic become constraints), the receptive field the union
    of the inputs' fields; or, with ``scalar``, exactly one input and a constant. No params and
    0 MACs (FlopCounterMode counts no element-wise work); ``other_ops`` is ``(inputs - 1)`` per
    output element, or 1 per element with a scalar."""

    scalar: float | None = Field(None, exclude_if=lambda v: v is None,
                                 description="A constant combined with the one input (x op "
                                             "scalar); default: none, 2 to 64 inputs.")
    scalar_first: Flag = Field(False, exclude_if=lambda v: not v,
                               description="With a scalar: the scalar is the left operand "
                                           "(scalar - x, scalar / x). Same counts.")
    n_inputs: ClassVar[tuple[int, int]] = (1, 64)  # 2 to 64, or exactly 1 with a scalar

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        if self.scalar is not None:
            if len(ins) != 1:
                raise ctx.error(f"{self.type} with a scalar takes exactly 1 input, "
                                f"got {len(ins)}")
            if self.type == "div" and self.scalar == 0 and not self.scalar_first:
                raise ctx.error("div by the scalar 0")
            return elementwise(ins[0], ops_per_element=1)
        if self.scalar_first:
            raise ctx.error("scalar_first needs a scalar")
        if len(ins) < 2:
            raise ctx.error(f"{self.type} takes 2 to 64 input(s), got {len(ins)} (or exactly 1 "
                            "with a scalar)")
        rank = max(len(t.shape) for t in ins)
        # NumPy's rule: shapes align at the last axis; a shorter one gets leading axes of 1
        ins = [t if len(t.shape) == rank else  # a channel range moves with the axes: not kept
               Tensor((1,) * (rank - len(t.shape)) + t.shape, t.rf,
                      ((),) * (rank - len(t.shape)) + t.axes) for t in ins]
        # Equal shapes (the common case) need no matching; else broadcast axis by axis.
        same_shape = all(t.shape == ins[0].shape for t in ins[1:])
        shape = list(ins[0].shape) if same_shape else broadcast_shape(ins, rank, ctx)
        n = prod(shape)
        axes = merged_axes(ins, shape)
        return Out(shape=tuple(shape), rf=union_rf(ins, ctx), axes=axes,
                   other_ops=prod([len(ins) - 1, n]),
                   segments=_channelwise(ins, ctx) if rank >= 2 and axes[1] == () else None)


def broadcast_shape(ins: Sequence[Tensor], rank: int, ctx: Ctx) -> list[Value]:
    """The broadcast shape of inputs of rank ``rank`` (NumPy's rule): along each axis the
    sizes are equal or 1; sizes that must be equal but are symbolic become constraints."""
    shape: list[Value] = []
    for axis in range(rank):
        sizes = [t.shape[axis] for t in ins]
        big = [s for s in sizes if not (is_num(s) and s == 1)]
        if not big:
            shape.append(1)
            continue
        for s in big[1:]:
            _match(big[0], s, f"inputs differ along axis {axis} (shapes must be equal or 1 "
                              "to broadcast)", ctx)
        shape.append(big[0])
    return shape


def _channelwise(ins: Sequence[Tensor], ctx: Ctx) -> Segments | None:
    """The segments of an element-wise merge: per channel range, the union of the inputs'
    fields there (an input without segments, or broadcast along the channels, has one field
    for all). Channel counts that are not numbers: none (the union, a bound; 'recheck')."""
    segd = [t for t in ins if t.segments is not None]
    if not segd:
        return None
    counts = [n for t in segd for n, _ in segments_of(t)]
    if not all(is_num(n) for n in counts):
        free = next(n for n in counts if not is_num(n))
        ctx.notes.append(Note("recheck", ctx.name, ctx.index, "the channel ranges merged "
                              "depend on the free sizes", free, 0))
        return None
    cuts: set[int] = set()
    for t in segd:
        lo = 0
        for n, _ in segments_of(t):
            lo += int(n)
            cuts.add(lo)

    def field(t: Tensor, c: int) -> tuple[RFAxis, ...]:
        """The field of channel ``c`` of ``t``."""
        if t.segments is None:
            return t.rf
        lo = 0
        for n, rf in t.segments:
            lo += int(n)
            if c < lo:
                return rf
        return t.rf

    pieces: list[tuple[Value, tuple[RFAxis, ...]]] = []
    lo = 0
    for hi in sorted(cuts):
        pieces.append((hi - lo, union_fields([field(t, lo) for t in ins], None)))
        lo = hi
    return joined(pieces)


class Add(Arithmetic):
    """Element-wise sum of two or more inputs (residual connections), or ``x + scalar``.
    ``(inputs - 1)`` ops per output element (1 with a scalar), no params, 0 MACs."""

    type: Literal["add"]


class Sub(Arithmetic):
    """Element-wise difference ``((a - b) - c) ...`` of two or more inputs in input order
    (``torch.sub``), or ``x - scalar``. Counted as ``add``: ``(inputs - 1)`` ops per output
    element (1 with a scalar), no params, 0 MACs."""

    type: Literal["sub"]


class Mul(Arithmetic):
    """Element-wise product of two or more inputs (gating, squeeze-and-excitation), or
    ``x * scalar``. ``(inputs - 1)`` ops per output element (1 with a scalar), no params,
    0 MACs (FlopCounterMode counts none, ``x * 0.5`` included)."""

    type: Literal["mul"]


class Div(Arithmetic):
    """Element-wise quotient ``((a / b) / c) ...`` of two or more inputs in input order
    (``torch.div``, true division), or ``x / scalar`` (a scalar 0 is refused). Counted as
    ``mul``: ``(inputs - 1)`` ops per output element (1 with a scalar), no params, 0 MACs."""

    type: Literal["div"]


class Concat(LayerBase):
    """``torch.cat`` along ``dim`` (channels by default); every other axis must match."""

    type: Literal["concat"]
    dim: int = 1
    n_inputs: ClassVar[tuple[int, int]] = (1, 64)

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        rank = len(ins[0].shape)
        if any(len(t.shape) != rank for t in ins):
            raise ctx.error(f"inputs have different ranks {[len(t.shape) for t in ins]}")
        d = self.dim + rank if self.dim < 0 else self.dim
        if not 0 <= d < rank:
            raise ctx.error(f"dim {self.dim} is out of range for inputs of rank {rank}")
        shape = list(ins[0].shape)
        for axis in range(rank):
            if axis == d:
                shape[axis] = total(t.shape[axis] for t in ins)
                continue
            for t in ins[1:]:
                _match(ins[0].shape[axis], t.shape[axis],
                       f"inputs differ along axis {axis} (all but dim {self.dim} must match)", ctx)
        axes = merged_axes(ins, shape)
        segs = None
        if d == 1 and axes[1] == () and ins[0].rf and all(t.axes[1] == () for t in ins):
            segs = joined([s for t in ins for s in segments_of(t)])
        return Out(shape=tuple(shape), rf=union_rf(ins, ctx), axes=axes, segments=segs)
