"""Layers that are no computation cnncalc can count: ``parameter`` and ``opaque``.

A ``parameter`` is a learned tensor (a class token, a position embedding, a layer scale) that
reads no input: its elements are params, and merges combine it with the activations (``add``,
``mul``, ``concat``). Its output is counted as activation memory like any layer's output (the
analysis keeps one rule for every output; the tensor is the weight itself, so this is at most
the size of that weight). An ``opaque`` layer is an operation an importer could not translate:
its output shape is the traced one, its counts are unknown (reported as 0, the totals marked
incomplete) and its receptive field is not defined.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from ..algebra.arith import prod
from .base import EMPTY, UNDEFINED, Ctx, IntLike, LayerBase, Out, Tensor


class Parameter(LayerBase):
    """A learned tensor of ``shape`` (``nn.Parameter``), read by the layers that name it; it
    reads nothing (``"inputs": []``). Params ``prod(shape)``; no MACs or ops; its field is empty
    (it sees no input pixel, and merges ignore it)."""

    type: Literal["parameter"]
    inputs: list[str] | None = Field(None, max_length=0, description="None: a parameter reads "
                                                                     "nothing (write [] or "
                                                                     "leave it out).")
    shape: list[IntLike] = Field(max_length=8,
                                 description="The sizes (integers or expressions).")
    n_inputs: ClassVar[tuple[int, int]] = (0, 0)

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        shape = tuple(ctx.val(v, f"shape[{i}]") for i, v in enumerate(self.shape))
        return Out(shape=shape, rf=(EMPTY,) * len(ctx.input_extent), axes=((),) * len(shape),
                   params=prod(shape))


class Opaque(LayerBase):
    """An operation without a cnncalc layer (``op`` names it, e.g. ``"torch.roll"``), recorded
    by an importer with the output ``shape`` it traced. Counts unknown: params, MACs and ops are
    0 and the totals list it as incomplete; the receptive field is not defined. Reads 0 to 64
    inputs (default: the previous layer)."""

    type: Literal["opaque"]
    inputs: list[str] | None = Field(None, max_length=64,
                                     description='Names of the layers read; "input" is the '
                                                 "network input. Default: previous.")
    op: str = Field(min_length=1, max_length=200, description="What the operation was.")
    shape: list[IntLike] = Field(max_length=8,
                                 description="The output shape (as traced).")
    n_inputs: ClassVar[tuple[int, int]] = (0, 64)
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        shape = tuple(ctx.val(v, f"shape[{i}]") for i, v in enumerate(self.shape))
        return Out(shape=shape, rf=(UNDEFINED,) * len(ctx.input_extent),
                   axes=((),) * len(shape), opaque=True)
