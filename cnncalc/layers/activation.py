"""Element-wise layers: activations, ``softmax``, ``dropout``, ``identity``.

No MACs: FlopCounterMode counts none for element-wise ops, and so does cnncalc, whatever
their formula (``prelu``'s product with its slope included). No params, except ``prelu``'s
learned slopes. ``other_ops``: one per output element for every activation (a transcendental or
a piecewise formula counts as one), three for softmax (exponent, sum, divide); dropout and
identity are free at inference and return their input (no new memory). The receptive field
passes through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from ..algebra.arith import norm, same
from ..algebra.printing import pretty
from .base import Ctx, IntLike, LayerBase, Out, Tensor, elementwise


class _Activation(LayerBase):
    ops_per_element: ClassVar[int] = 1

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        return elementwise(ins[0], self.ops_per_element)


class ReLU(_Activation):
    """``nn.ReLU``."""

    type: Literal["relu"]


class ReLU6(_Activation):
    """``nn.ReLU6``."""

    type: Literal["relu6"]


class LeakyReLU(_Activation):
    """``nn.LeakyReLU(negative_slope)``."""

    type: Literal["leaky_relu"]
    negative_slope: float = 0.01


class GELU(_Activation):
    """``nn.GELU(approximate)``."""

    type: Literal["gelu"]
    approximate: Literal["none", "tanh"] = "none"


class SiLU(_Activation):
    """``nn.SiLU`` (swish)."""

    type: Literal["silu"]


class Sigmoid(_Activation):
    """``nn.Sigmoid``."""

    type: Literal["sigmoid"]


class Tanh(_Activation):
    """``nn.Tanh``."""

    type: Literal["tanh"]


class Hardswish(_Activation):
    """``nn.Hardswish``."""

    type: Literal["hardswish"]


class Hardsigmoid(_Activation):
    """``nn.Hardsigmoid``: ``clamp(x/6 + 1/2, 0, 1)``, one other op per element (piecewise, as
    ``hardswish``); no MACs, no params."""

    type: Literal["hardsigmoid"]


class ELU(_Activation):
    """``nn.ELU(alpha)``: ``x`` or ``alpha*(exp(x) - 1)``, one other op per element (the
    exponent counts as one); no MACs, no params."""

    type: Literal["elu"]
    alpha: float = 1.0


class Mish(_Activation):
    """``nn.Mish``: ``x*tanh(softplus(x))``, one other op per element (a transcendental counts
    as one, as for ``gelu`` and ``silu``); no MACs, no params."""

    type: Literal["mish"]


class Softplus(_Activation):
    """``nn.Softplus(beta, threshold)``: ``log(1 + exp(beta*x))/beta`` (``x`` where
    ``beta*x > threshold``), one other op per element (a transcendental counts as one); no MACs,
    no params."""

    type: Literal["softplus"]
    beta: float = 1.0
    threshold: float = 20.0


class PReLU(_Activation):
    """``nn.PReLU(num_parameters, init)``: ``x`` or ``a*x`` with a learned slope ``a``, one
    shared (``num_parameters`` 1) or one per channel (``num_parameters`` = the channels, axis 1;
    1 for an input of rank 1, PyTorch's rule). Params: ``num_parameters``. One other op per
    element, as ``leaky_relu``; no MACs (FlopCounterMode counts none for the product with the
    slope, an element-wise op)."""

    type: Literal["prelu"]
    num_parameters: IntLike = 1
    init: float = 0.25

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        n = ctx.val(self.num_parameters, "num_parameters")
        c = t.channels if len(t.shape) >= 2 else 1
        one, each = same(n, 1), same(n, c)
        if one is False and each is False:
            where = "dim 1 of the input" if len(t.shape) >= 2 else "an input of rank 1"
            raise ctx.error(f"num_parameters {pretty(n)} must be 1 or the channel count "
                            f"{pretty(c)} ({where})")
        if one is not True and each is not True:
            # The free sizes decide: record the one condition that can still hold, or both.
            what = f"num_parameters ({pretty(n)}) is 1 or the channel count ({pretty(c)})"
            if one is False:
                ctx.require("eq", what, n, c)
            elif each is False:
                ctx.require("eq", what, n, 1)
            else:
                ctx.require("eq", what, norm((n - 1) * (n - c)), 0)
        return elementwise(t, self.ops_per_element, params=n)


class Softmax(_Activation):
    """``nn.Softmax(dim)``, over the channel axis by default."""

    type: Literal["softmax"]
    dim: int = 1
    ops_per_element: ClassVar[int] = 3

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        r = len(ins[0].shape)
        if not -r <= self.dim < r:
            raise ctx.error(f"dim {self.dim} is out of range for an input of rank {r}")
        return super().apply(ins, ctx)


class Dropout(LayerBase):
    """``nn.Dropout(p)``: identity at inference."""

    type: Literal["dropout"]
    p: float = Field(0.5, ge=0.0, le=1.0)

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        return elementwise(ins[0], aliases_input=True)


class Identity(LayerBase):
    """``nn.Identity``."""

    type: Literal["identity"]

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        return elementwise(ins[0], aliases_input=True)
