"""Normalisation: ``batch_norm``, ``layer_norm``, ``group_norm``.

Params are the affine scale and shift; batch-norm's running mean and variance are *buffers*,
reported apart (PyTorch's ``num_batches_tracked`` counter is not counted). ``other_ops`` at
inference: batch-norm folds into one scale and shift (2 per element); layer- and group-norm
compute statistics and normalise (7 per element: mean, variance, subtract, scale, affine).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from ..algebra.arith import prod
from .base import Ctx, Flag, IntLike, LayerBase, Out, StrictInt, Tensor, elementwise

if TYPE_CHECKING:
    from .explain import Step  # imported by explain() itself: a bound analysis explains nothing


class BatchNorm(LayerBase):
    """``nn.BatchNorm1d/2d/3d`` over the channel axis: ``2*C`` params, ``2*C`` buffers."""

    type: Literal["batch_norm"]
    eps: float = 1e-5
    momentum: float = 0.1
    affine: Flag = True
    track_running_stats: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        if len(t.shape) < 2:
            raise ctx.error("batch_norm needs an input [batch, channels, ...]")
        c = t.channels
        if not self.track_running_stats:
            per_channel = prod([t.shape[0], *t.shape[2:]])
            ctx.check_ge(per_channel, 2, "batch_norm without running stats: values per "
                         "channel >= 2", lambda: "batch_norm without running stats needs more "
                         "than one value per channel (PyTorch's rule); use a larger batch or "
                         "input")
        per_channel_pair = prod([2, c])  # scale and shift; running mean and variance
        return elementwise(t, 2, params=per_channel_pair if self.affine else 0,
                           buffers=per_channel_pair if self.track_running_stats else 0)


    def explain(self, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
        """Params ``2*C`` (scale and shift, with ``affine``), buffers ``2*C`` (running mean and
        variance, with ``track_running_stats``), no MACs; the field is unchanged."""
        from .explain import (
            BN_BUFFERS,
            BN_PARAMS,
            generic_rf_steps,
            macs_steps,
            params_step,
            shape_step,
            step,
        )
        c = ("C", ins[0].channels)
        steps = [shape_step(out.shape),
                 step("params", "params", BN_PARAMS, out.params, "params", C=c)
                 if self.affine else params_step(out.params)]
        if self.track_running_stats:
            steps.append(step("buffers", "buffers", BN_BUFFERS, out.buffers, "buffers", C=c))
        return [*steps, *macs_steps(out.macs, out.work), *generic_rf_steps(ins, ctx, out)]


class LayerNorm(LayerBase):
    """``nn.LayerNorm`` over the last ``normalized_dims`` axes (default: all but the batch), or
    over the axes ``dims`` (``[1]``: the channels of ``NCHW``, timm's ``LayerNorm2d``);
    ``2 * prod(normalized sizes)`` params with ``elementwise_affine``."""

    type: Literal["layer_norm"]
    normalized_dims: int | None = Field(None, ge=1, le=4)
    dims: list[StrictInt] | None = Field(None, min_length=1, max_length=4,
                                         description="The axes normalised (negative counts from "
                                                     "the end; not 0, the batch); instead of "
                                                     "normalized_dims.")
    eps: float = 1e-5
    elementwise_affine: Flag = True

    @model_validator(mode="after")
    def _one_of(self) -> LayerNorm:
        if self.normalized_dims is not None and self.dims is not None:
            raise ValueError("give at most one of normalized_dims and dims")
        return self

    def normalized(self, rank: int, ctx: Ctx) -> tuple[int, ...]:
        """The normalised axes of an input of rank ``rank``, non-negative, in ``dims`` order
        (ascending for ``normalized_dims``)."""
        if self.dims is None:
            k = self.normalized_dims if self.normalized_dims is not None else rank - 1
            if k >= rank:
                raise ctx.error(f"normalized_dims {k} leaves no batch axis in an input of rank "
                                f"{rank}")
            return tuple(range(rank - k, rank))
        out: list[int] = []
        for d in self.dims:
            if not -rank <= d < rank:
                raise ctx.error(f"dims: {d} is out of range for an input of rank {rank}")
            a = d + rank if d < 0 else d
            if a == 0:
                raise ctx.error("dims: normalising the batch axis (0) is not supported")
            if a in out:
                raise ctx.error(f"dims: {d} names axis {a} twice")
            out.append(a)
        return tuple(out)

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        sizes = [t.shape[a] for a in self.normalized(len(t.shape), ctx)]
        return elementwise(t, 7, params=prod([2, *sizes]) if self.elementwise_affine else 0)


class GroupNorm(LayerBase):
    """``nn.GroupNorm(num_groups, C)``: ``num_groups`` must divide the channels; ``2*C`` params."""

    type: Literal["group_norm"]
    num_groups: IntLike
    eps: float = 1e-5
    affine: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        g = ctx.val(self.num_groups, "num_groups")
        per_group = prod([ctx.divisible(t.channels, g, "num_groups must divide the channels"),
                          *t.spatial])
        ctx.check_ge(per_group, 2, "group_norm: values per group >= 2",
                     lambda: "group_norm needs more than one value per group (PyTorch's rule); "
                             "use fewer groups or a larger input")
        return elementwise(t, 7, params=prod([2, t.channels]) if self.affine else 0)
