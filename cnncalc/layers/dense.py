"""``linear`` (on the last axis, as PyTorch) and ``flatten``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ..algebra.arith import norm, prod
from .base import Ctx, Flag, IntLike, LayerBase, Out, Tensor, Work, mixed, without_src

if TYPE_CHECKING:
    from .explain import Step  # imported by explain() itself: a bound analysis explains nothing


class Linear(LayerBase):
    """``nn.Linear`` over the last axis: params ``S_in*S_out + S_out``, MACs one per weight per
    row (``prod(leading axes) * S_in * S_out``), bias additions in ``other_ops``. A linear layer
    over a spatial axis sees that whole axis."""

    type: Literal["linear"]
    out_features: IntLike
    bias: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        if len(t.shape) < 2:
            raise ctx.error("linear needs an input with at least 2 axes")
        s_in = t.shape[-1]
        s_out = ctx.val(self.out_features, "out_features")
        shape = (*t.shape[:-1], s_out)
        last = len(t.shape) - 1
        rf = mixed(t, [last], ctx)
        n_out = prod(shape)
        work = Work(t.shape[0], prod(t.shape[1:-1]), 1, s_in, s_out)
        return Out(shape=shape, rf=rf, axes=without_src(t.axes, [last]),
                   params=norm(prod([s_in, s_out]) + (s_out if self.bias else 0)),
                   macs=work.macs(), other_ops=n_out if self.bias else 0, work=(work,))


    def explain(self, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
        """Params ``S_in*S_out + S_out``; MACs ``N*S_in*S_out`` (times the positions ``L``
        between the batch and the features, when there are any); the field."""
        from .explain import (
            LINEAR_MACS,
            LINEAR_MACS_ROWS,
            LINEAR_PARAMS,
            LINEAR_PARAMS_NB,
            generic_rf_steps,
            shape_step,
            step,
        )
        t = ins[0]
        vals = {"S_in": ("S_in", t.shape[-1]), "S_out": ("S_out", out.shape[-1])}
        w = out.work[0]
        macs = (step("MACs", "MACs", LINEAR_MACS, out.macs, "macs", N=("N", w.n), **vals)
                if len(t.shape) == 2 else
                step("MACs", "MACs", LINEAR_MACS_ROWS, out.macs, "macs", N=("N", w.n),
                     L=("L", w.s), **vals))
        return [shape_step(out.shape),
                step("params", "params", LINEAR_PARAMS if self.bias else LINEAR_PARAMS_NB,
                     out.params, "params", **vals),
                macs, *generic_rf_steps(ins, ctx, out)]


class Flatten(LayerBase):
    """``nn.Flatten(start_dim, end_dim)``: a view; the flattened spatial axes lose their place, so
    their receptive field becomes the whole input."""

    type: Literal["flatten"]
    start_dim: int = 1
    end_dim: int = -1

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        r = len(t.shape)
        a = self.start_dim + r if self.start_dim < 0 else self.start_dim
        b = self.end_dim + r if self.end_dim < 0 else self.end_dim
        if not (0 <= a < r and 0 <= b < r and a <= b):
            raise ctx.error(f"start_dim {self.start_dim} / end_dim {self.end_dim} do not fit an "
                            f"input of rank {r}")
        shape = (*t.shape[:a], prod(t.shape[a:b + 1]), *t.shape[b + 1:])
        if a == b:
            return Out(shape=shape, rf=t.rf, axes=t.axes, aliases_input=True)
        # The merged axes lose their place; by this layer's convention (docs/conventions.md)
        # their fields become the whole input, as the linear layer that usually follows sees.
        rf = mixed(t, range(a, b + 1), ctx)
        axes = (*t.axes[:a], (), *t.axes[b + 1:])
        return Out(shape=shape, rf=rf, axes=axes, aliases_input=True)
