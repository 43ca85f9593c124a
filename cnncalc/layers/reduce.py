"""Reductions over given axes: ``mean``, ``sum`` and ``amax`` (``torch.mean/sum/amax``).

No params, no MACs (PyTorch's ``FlopCounterMode`` counts none for them); ``other_ops`` is one
per input element (each is read into one accumulation or comparison). A reduced spatial axis
makes the field cover that whole input axis (as ``global_avg_pool`` does); reducing the channel
axis leaves the field as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from .base import Ctx, Flag, LayerBase, Out, StrictInt, Tensor, mixed


class Reduction(LayerBase):
    """The base of ``mean``, ``sum`` and ``amax`` (not a layer type): a reduction of the input
    over the axes ``dim`` (never the batch axis 0)."""

    dim: StrictInt | list[StrictInt] = Field(
        description="The axis or axes reduced (negative counts from the end; not 0, the batch).")
    keepdim: Flag = False

    def axes(self, rank: int, ctx: Ctx) -> tuple[int, ...]:
        """The reduced axes of an input of rank ``rank``, as non-negative indices, in order."""
        dims = self.dim if isinstance(self.dim, list) else [self.dim]
        if not dims:
            raise ctx.error("dim must name at least one axis")
        out: list[int] = []
        for d in dims:
            if not -rank <= d < rank:
                raise ctx.error(f"dim {d} is out of range for an input of rank {rank}")
            a = d + rank if d < 0 else d
            if a == 0:
                raise ctx.error("reducing the batch axis (dim 0) is not supported: cnncalc's "
                                "counts are per batch of N")
            if a in out:
                raise ctx.error(f"dim {d} names axis {a} twice")
            out.append(a)
        return tuple(sorted(out))

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        r = len(t.shape)
        red = self.axes(r, ctx)
        if not self.keepdim and r - len(red) < 2:
            raise ctx.error("without keepdim the output must keep the batch axis and at least "
                            "one other; reduce fewer axes or set keepdim")
        rf = list(mixed(t, red, ctx))
        if self.keepdim:
            shape = tuple(1 if i in red else n for i, n in enumerate(t.shape))
            return Out(shape=shape, rf=tuple(rf), axes=t.axes, other_ops=t.numel())
        keep = [i for i in range(r) if i not in red]
        shape = tuple(t.shape[i] for i in keep)
        return Out(shape=shape, rf=tuple(rf), axes=tuple(t.axes[i] for i in keep),
                   other_ops=t.numel())

    def reduces_spatial(self, rank: int) -> bool:
        """Whether a spatial axis (2 and up) of an input of rank ``rank`` is reduced or moves
        into the channel slot (its field is then the whole input)."""
        dims = self.dim if isinstance(self.dim, list) else [self.dim]
        red = {d + rank if d < 0 else d for d in dims}
        return any(a >= 2 for a in red) or (not self.keepdim and 1 in red and rank > 2)


class Mean(Reduction):
    """``torch.mean(x, dim, keepdim)``: the mean over the axes ``dim``, which are dropped from
    the shape (kept as length 1 with ``keepdim``). ``other_ops``: one per input element."""

    type: Literal["mean"]


class Sum(Reduction):
    """``torch.sum(x, dim, keepdim)``: the sum over the axes ``dim``, which are dropped from the
    shape (kept as length 1 with ``keepdim``). ``other_ops``: one per input element."""

    type: Literal["sum"]


class Amax(Reduction):
    """``torch.amax(x, dim, keepdim)``: the maximum over the axes ``dim``, which are dropped from
    the shape (kept as length 1 with ``keepdim``). ``other_ops``: one per input element."""

    type: Literal["amax"]
