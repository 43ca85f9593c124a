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

from ..algebra.arith import Value, is_num, norm, prod, ratio, same, total, vmax, vmin
from ..algebra.printing import pretty
from .base import EMPTY, UNDEFINED, Ctx, Flag, LayerBase, Out, RFAxis, Src, Tensor, elementwise


def union_rf(ins: Sequence[Tensor], ctx: Ctx) -> tuple[RFAxis, ...]:
    """Per input axis, the smallest field covering every input's field."""
    out = []
    for ax in range(len(ins[0].rf)):
        fields = [t.rf[ax] for t in ins if not t.rf[ax].empty]
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
        if any(same(strides[0], s) is False for s in strides[1:]):
            ctx.warn(f"inputs have receptive-field strides "
                     f"{[pretty(s) for s in strides]} along input axis {ax}; "
                     "the union uses the smallest")
        elif all(same(strides[0], s) is True for s in strides[1:]):
            # Equal steps, but are the fields of position o centred on the same pixel?
            twice = [norm(2 * f.start + f.size - 1) for f in fields]
            differ = [same(twice[0], c) for c in twice[1:]]
            if any(d is not True for d in differ):
                centres = [pretty(ratio(c, 2)) for c in twice]
                ctx.warn(f"inputs' receptive fields have the same stride but are centred on "
                         f"input pixels {centres} along input axis {ax}"
                         + ("" if False in differ else " (different for some sizes)")
                         + ": merged positions do not look at the same pixels")
        start = vmin(*[f.start for f in fields])
        end = vmax(*[norm(f.start + f.size) for f in fields])
        out.append(RFAxis(size=norm(end - start), stride=vmin(*strides), start=start))
    return tuple(out)


def merged_axes(ins: Sequence[Tensor], shape: Sequence[Value]) -> tuple[Src, ...]:
    """Per output axis, what it is made of: the first input (in order) whose size along it is
    not a broadcast 1 decides (a learned ``parameter`` of size 1 does not)."""
    out: list[Src] = []
    for axis in range(len(shape)):
        srcs = [t.axes[axis] for t in ins if not (is_num(t.shape[axis]) and t.shape[axis] == 1)
                and not all(f.empty for f in t.rf)]
        reads = [t for t in ins if not all(f.empty for f in t.rf)] or list(ins)
        out.append(srcs[0] if srcs else reads[0].axes[axis])
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
        ins = [Tensor((1,) * (rank - len(t.shape)) + t.shape, t.rf,
                      ((),) * (rank - len(t.shape)) + t.axes) for t in ins]
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
        n = prod(shape)
        return Out(shape=tuple(shape), rf=union_rf(ins, ctx), axes=merged_axes(ins, shape),
                   other_ops=prod([len(ins) - 1, n]))


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
        return Out(shape=tuple(shape), rf=union_rf(ins, ctx), axes=merged_axes(ins, shape))
