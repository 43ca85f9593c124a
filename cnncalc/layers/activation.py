"""Element-wise layers: activations, ``softmax``, ``dropout``, ``identity``.

No params, no MACs. ``other_ops``: one per output element for every activation (a
transcendental counts as one), three for softmax (exponent, sum, divide); dropout and identity
are free at inference and return their input (no new memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from .base import Ctx, LayerBase, Out, Tensor, elementwise


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
