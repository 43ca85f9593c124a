"""What every layer class shares: :class:`LayerBase` and the rules several layers use.

A layer class is a pydantic model (its JSON fields, docs/schema.md) that owns its rules in one
method, :meth:`LayerBase.apply`: given the input tensors it returns the output shape, parameter
and buffer counts, MACs, other operations, and the receptive field. Rules are written over the
helpers of :mod:`cnncalc.algebra.arith`, so they run on ints when every size is bound and on
sympy expressions otherwise.

The parts live by concern, all importable from here: field types in :mod:`.fields`, tensors,
results and notes in :mod:`.tensor`, the evaluation context in :mod:`.context`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ..algebra.arith import Value, ceildiv, floordiv, is_num, norm, prod, vmax, vmin
from ..algebra.printing import pretty
from .context import Ctx, decide_ge
from .fields import Axes, ExprStr, Flag, IntLike, Padding, StrictInt, expr_fields
from .tensor import (
    EMPTY,
    UNDEFINED,
    ConditionKind,
    Note,
    NoteKind,
    Out,
    RFAxis,
    Segments,
    Src,
    Tensor,
    Work,
)


class LayerBase(BaseModel):
    """Fields every layer has: ``type``, an optional ``name`` and optional ``inputs``."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    if TYPE_CHECKING:
        # Each concrete class declares its tag as a field, ``type: Literal["conv"]``, which
        # discriminates the layer union (cnncalc.core.schema); declared here for the checker
        # only, so that the field order and JSON of every class stay their own.
        type: str

    name: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$",
                             description="Unique name; default: type and list index (relu1).")
    inputs: list[str] | None = Field(None, min_length=1, max_length=64,
                                     description='Names of the layers read; "input" is the '
                                                 "network (or block) input. Default: previous.")

    n_inputs: ClassVar[tuple[int, int]] = (1, 1)  # min, max inputs

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:  # pragma: no cover - abstract
        raise NotImplementedError

    # A class with textbook formulas also defines ``explain(ins, ctx, out) -> list[Step]``,
    # the working of what ``apply`` returned (cnncalc.layers.explain.explain_layer; the
    # others get its generic steps).


# --- helpers shared by sliding-window layers (conv, pools) -------------------------------------

def resolve_padding(padding: Padding, nd: int, k_eff: Sequence[Value], stride: Sequence[Value],
                    spatial: Sequence[Value], ctx: Ctx) -> tuple[tuple[Value, Value], ...]:
    """Per-axis (before, after) padding from any of the accepted forms.

    ``"same"`` follows Keras/TensorFlow: output = ceil(in / stride), total padding
    ``max((out - 1) * stride + k_eff - in, 0)``, the odd pixel after.
    """
    if padding == "valid":
        return ((0, 0),) * nd
    pads: list[tuple[Value, Value]] = []
    if padding == "same":
        for i in range(nd):
            out = ceildiv(spatial[i], stride[i])
            need = norm(norm(out - 1) * stride[i] + k_eff[i] - spatial[i])
            # (out - 1)*s >= in - s, so with k_eff >= s the padding is never negative.
            s_i, k_i = stride[i], k_eff[i]
            if is_num(s_i) and is_num(k_i) and k_i >= s_i:
                tot = need
            else:
                tot = vmax(need, 0)
            before = floordiv(tot, 2)
            pads.append((before, norm(tot - before)))
        return tuple(pads)
    if isinstance(padding, list):
        if len(padding) != nd:
            raise ctx.error(f"padding has {len(padding)} entries but the input has {nd} spatial "
                            f"axes; give one value, {nd} values, or {nd} [before, after] pairs")
        for p in padding:
            if isinstance(p, list):
                if len(p) != 2:
                    raise ctx.error("a per-axis padding pair must be [before, after]")
                pads.append((ctx.val(p[0], "padding", 0), ctx.val(p[1], "padding", 0)))
            else:
                v = ctx.val(p, "padding", 0)
                pads.append((v, v))
        return tuple(pads)
    v = ctx.val(padding, "padding", 0)
    return ((v, v),) * nd


def window_out(n: Value, k_eff: Value, s: Value, pb: Value, pa: Value, ceil_mode: bool,
               ctx: Ctx, axis: int) -> Value:
    """Output length of a sliding window: ``floor((n + pb + pa - k_eff) / s) + 1``.

    With ``ceil_mode`` it is ceil instead, and (PyTorch's rule) the last window must start inside
    the input or left padding: if ``(out - 1) * s >= n + pb`` the last window is dropped.
    """
    symbolic = not (is_num(n) and is_num(k_eff) and is_num(s) and is_num(pb) and is_num(pa))
    if symbolic and not ceil_mode:
        span, out = _floor_window(n, k_eff, s, pb, pa)
        norm(span)  # a kept result checked against the budget in force, as when it was made
        norm(out)
    else:
        span = norm(n + pb + pa - k_eff)
    # Without ceil_mode the window must fit in the padded input; with it PyTorch accepts a
    # window that overhangs as long as one output results (input 2, kernel 3 -> 1 output).
    if not ceil_mode and is_num(span) and span < 0:
        raise ctx.error(f"kernel (effective size {pretty(k_eff)}) is larger than the padded "
                        f"input ({pretty(norm(n + pb + pa))}) along spatial axis {axis}")
    if not ceil_mode:
        if not symbolic:
            out = norm(floordiv(span, s) + 1)
    else:
        out = norm(ceildiv(span, s) + 1)
        if is_num(out) and is_num(n) and is_num(pb) and is_num(s):
            if (out - 1) * s >= n + pb:
                out -= 1
        elif not (is_num(s) and is_num(k_eff) and is_num(pa) and s <= k_eff - pa):
            # The last window must start inside the input or the left padding. When
            # s <= k_eff - pad_after that always holds; otherwise keep PyTorch's correction.
            out = vmin(out, norm(floordiv(norm(n + pb - 1), s) + 1))
    if not is_num(out):
        ctx.require("ge", f"output length along spatial axis {axis} >= 1", out, 1)
    elif out < 1:
        raise ctx.error(f"output length along spatial axis {axis} would be {out}")
    if not ceil_mode and s != 1:
        # Rows past the last window are ignored: record when the input tiles exactly.
        ctx.notes.append(Note("tile", ctx.name, ctx.index, f"axis {axis}", span, s))
    return out


@functools.lru_cache(maxsize=4096)
def _floor_window(n: Value, k_eff: Value, s: Value, pb: Value, pa: Value) -> tuple[Value, Value]:
    """``(span, out)`` of :func:`window_out` without ceil mode, where some value is a formula
    (kept: the same windows over the same sizes recur along a network, and each costs sympy
    work)."""
    span = norm(n + pb + pa - k_eff)
    return span, norm(floordiv(span, s) + 1)


def window_rf(rf: RFAxis, k_eff: Value, s: Value, pb: Value) -> RFAxis:
    """Receptive field after a window of effective size ``k_eff``, stride ``s``, left pad ``pb``."""
    if not rf.window:
        return rf
    return RFAxis(size=norm(rf.size + (k_eff - 1) * rf.stride),
                  stride=norm(rf.stride * s), start=norm(rf.start - pb * rf.stride))


Pads = tuple[tuple[Value, Value], ...]
"""Per spatial axis, the (before, after) padding."""


def sliding_window(t: Tensor, ctx: Ctx, kernel_size: Axes, stride: Axes, padding: Padding,
                   dilation: Axes, ceil_mode: bool = False
                   ) -> tuple[tuple[Value, ...], tuple[RFAxis, ...], tuple[Value, ...], Pads]:
    """Output spatial size, receptive field, kernel and (before, after) padding of a sliding
    window over ``t`` (convolutions and pools)."""
    if (type(kernel_size) is int and type(stride) is int and type(dilation) is int
            and type(padding) is int and not ceil_mode):
        got = _window_ints(t, ctx, kernel_size, stride, padding, dilation)
        if got is not None:
            return got
    nd = need_spatial(t, ctx, "this layer")
    k = ctx.axes(kernel_size, nd, "kernel_size")
    s = ctx.axes(stride, nd, "stride")
    d = ctx.axes(dilation, nd, "dilation")
    k_eff = tuple(norm(di * (ki - 1) + 1) for ki, di in zip(k, d, strict=True))
    pads = resolve_padding(padding, nd, k_eff, s, t.spatial, ctx)
    out: list[Value] = []
    rfs: list[RFAxis | None] = []
    for i in range(nd):
        pb, pa = pads[i]
        if padding == "same":
            out.append(ceildiv(t.spatial[i], s[i]))  # the definition; nothing is left unread
        else:
            out.append(window_out(t.spatial[i], k_eff[i], s[i], pb, pa, ceil_mode, ctx, i))
        r = rf_of(t, i)
        rfs.append(window_rf(r, k_eff[i], s[i], pb) if r is not None else None)
    return tuple(out), map_rf(t, rfs), k, pads


def _window_ints(t: Tensor, ctx: Ctx, k: int, s: int, p: int, d: int
                 ) -> tuple[tuple[Value, ...], tuple[RFAxis, ...], tuple[Value, ...], Pads] | None:
    """:func:`sliding_window` where the kernel, stride, padding and dilation are one number
    each (not per axis) and the input's spatial sizes are numbers, without ceil mode: the
    same rules (:func:`window_out`, :func:`window_rf`) on ints. None where any rule would
    refuse (the general path then says why) or a size is not a number."""
    nd = len(t.shape) - 2
    if not 1 <= nd <= 3 or k < 1 or s < 1 or d < 1 or p < 0:
        return None
    k_eff = d * (k - 1) + 1
    grow = 2 * p - k_eff  # span = n + pb + pa - k_eff
    spans = []
    for n in t.shape[2:]:
        if type(n) is not int or n + grow < 0:
            return None
        spans.append(n + grow)
    rf = list(t.rf)
    axes = t.axes
    out = []
    for i, span in enumerate(spans):
        out.append(span // s + 1)
        if s != 1:  # rows past the last window are ignored: as window_out records it
            ctx.notes.append(Note("tile", ctx.name, ctx.index, f"axis {i}", span, s))
        src = axes[i + 2] if i + 2 < len(axes) else ()
        if len(src) == 1:
            r = t.rf[src[0]]  # the input's field (as rf_of reads it), replaced in rf
            if type(r.size) is int and type(r.stride) is int and type(r.start) is int:
                if r.window:
                    rf[src[0]] = RFAxis(r.size + (k_eff - 1) * r.stride, r.stride * s,
                                        r.start - p * r.stride)
            else:
                rf[src[0]] = window_rf(r, k_eff, s, p)
    return tuple(out), tuple(rf), (k,) * nd, ((p, p),) * nd


def whole(ctx: Ctx, axis: int | None) -> RFAxis:
    """The field of a position that sees its whole input axis."""
    e = ctx.input_extent[axis] if axis is not None else 1
    return RFAxis(size=e, stride=e, start=0, whole=True)


def map_rf(t: Tensor, per_axis: Sequence[RFAxis | None]) -> tuple[RFAxis, ...]:
    """Replace the fields of the input axes that tensor spatial axes (2 and up) are."""
    rf = list(t.rf)
    for i, new in enumerate(per_axis):
        ax = t.src(i + 2)
        if ax is not None and new is not None:
            rf[ax] = new
    return tuple(rf)


def rf_of(t: Tensor, i: int) -> RFAxis | None:
    """The field of tensor spatial axis ``i`` (tensor axis ``i + 2``; None if it is no input
    axis)."""
    ax = t.src(i + 2)
    return t.rf[ax] if ax is not None else None


def mixed(t: Tensor, dims: Sequence[int], ctx: Ctx,
          rf: Sequence[RFAxis] | None = None) -> tuple[RFAxis, ...]:
    """The fields after an output reads every position along tensor axes ``dims`` (a linear
    layer over the last axis, a reduction, a conv over the channels, attention over tokens):
    each input axis those axes are made of is seen whole."""
    out = list(t.rf if rf is None else rf)
    for d in dims:
        for ax in t.axes[d]:
            if not out[ax].empty:
                out[ax] = whole(ctx, ax)
    return tuple(out)


def without_src(axes: Sequence[Src], dims: Sequence[int]) -> tuple[Src, ...]:
    """``axes`` with tensor axes ``dims`` made of no input axis (new features)."""
    return tuple(() if i in dims else a for i, a in enumerate(axes))


def elementwise(t: Tensor, ops_per_element: int = 0, params: Value = 0, buffers: Value = 0,
                aliases_input: bool = False) -> Out:
    """An output of the same shape and field as the input (activations, norms, dropout); the
    fields of its channel ranges are the input's."""
    n = t.numel()
    ops = n if ops_per_element == 1 else prod([ops_per_element, n]) if ops_per_element else 0
    return Out(shape=t.shape, rf=t.rf, axes=t.axes, params=params, buffers=buffers,
               other_ops=ops, aliases_input=aliases_input, segments=t.segments)


def map_segments(t: Tensor, per_axis: Callable[[int, RFAxis], RFAxis]) -> Segments | None:
    """The channel segments of ``t`` after a layer that applies the same spatial rule to every
    channel (a pool, a pad): ``per_axis(i, field)`` is the new field of tensor spatial axis
    ``i`` (axis ``i + 2``) given its old one. None where ``t`` has none."""
    if t.segments is None:
        return None
    out = []
    for n, rf in t.segments:
        new = list(rf)
        for i in range(len(t.shape) - 2):
            ax = t.src(i + 2)
            if ax is not None:
                new[ax] = per_axis(i, rf[ax])
        out.append((n, tuple(new)))
    # fields that differed may agree after the rule (a whole field): keep neighbours apart
    return joined(out)


def joined(segs: Sequence[tuple[Value, tuple[RFAxis, ...]]]) -> Segments | None:
    """``segs`` with neighbours of the same field joined; None when one range remains."""
    out: list[tuple[Value, tuple[RFAxis, ...]]] = []
    for n, rf in segs:
        if out and out[-1][1] == rf:
            out[-1] = (norm(out[-1][0] + n), rf)
        else:
            out.append((n, rf))
    return tuple(out) if len(out) > 1 else None


def need_spatial(t: Tensor, ctx: Ctx, what: str) -> int:
    """The number of spatial axes of ``t``: an error unless it is 1 to 3."""
    nd = t.ndim_spatial
    if nd < 1 or nd > 3:
        raise ctx.error(f"{what} needs an input [batch, channels, 1 to 3 spatial axes], "
                        f"got shape of rank {len(t.shape)}")
    return nd


__all__ = ["EMPTY", "UNDEFINED", "Axes", "ConditionKind", "Ctx", "ExprStr", "Flag", "IntLike",
           "LayerBase", "Note", "NoteKind", "Out", "Padding", "Pads", "RFAxis", "Segments", "Src",
           "StrictInt", "Tensor", "Work", "decide_ge", "elementwise", "expr_fields", "map_rf",
           "map_segments",
           "mixed", "need_spatial", "resolve_padding", "rf_of", "sliding_window", "whole",
           "window_out", "window_rf", "without_src"]
