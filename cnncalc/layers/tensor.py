"""What flows through the rules: tensors, receptive fields, a layer's result, recorded notes.

A :class:`Tensor` is a shape and the receptive field of its positions; a layer's rules turn its
input tensors into an :class:`Out` and record :class:`Note` s (conditions on the free sizes,
warnings) on the way. Counting conventions: docs/conventions.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

from ..algebra.arith import Value, prod

ConditionKind = Literal["ge", "eq"]
"""A condition on the free sizes: ``lhs >= rhs`` ('ge') or ``lhs == rhs`` ('eq')."""

NoteKind = Literal["ge", "eq", "tile", "recheck", "warn"]
"""What a :class:`Note` records: a condition ('ge', 'eq'); an input that a strided window may
not tile exactly, ``lhs mod rhs == 0`` ('tile'); a result that is a bound until its sizes are
bound, when the analysis runs again ('recheck'); or a warning ('warn', text only)."""


class Note(NamedTuple):
    """A condition a layer recorded (see :data:`NoteKind`), with the layer it comes from and
    ``text`` saying what must hold."""

    kind: NoteKind
    layer: str
    layer_index: int
    text: str
    lhs: Value
    rhs: Value


@dataclass(frozen=True)
class RFAxis:
    """Receptive field along one input axis: pixels seen, input step between outputs, offset.

    ``whole`` marks a field that covers the entire input (after a global pool, a flatten, or a
    linear layer over that axis).
    """

    size: Value
    stride: Value
    start: Value
    whole: bool = False


@dataclass(frozen=True)
class Tensor:
    """A tensor flowing between layers: its shape and the field of its positions.

    ``axis_map[i]`` names the network-input axis that tensor spatial axis ``i`` (tensor axis
    ``i + 2``) corresponds to, or None when it has none (after a flatten).
    """

    shape: tuple[Value, ...]
    rf: tuple[RFAxis, ...]
    axis_map: tuple[int | None, ...]

    @property
    def spatial(self) -> tuple[Value, ...]:
        return self.shape[2:]

    @property
    def channels(self) -> Value:
        return self.shape[1]

    @property
    def ndim_spatial(self) -> int:
        return len(self.shape) - 2

    def numel(self) -> Value:
        return prod(self.shape)


class Work(NamedTuple):
    """The multiply-accumulate work of a conv-like layer, for cost models: ``n`` batch,
    ``s`` output positions per item (input positions for a transposed conv), ``k`` kernel
    area, ``cin`` input channels per group, ``cout`` output channels (per group for a transposed
    conv). Its MACs are the product ``n * s * k * cin * cout``."""

    n: Value
    s: Value
    k: Value
    cin: Value
    cout: Value

    def macs(self) -> Value:
        return prod(self)


@dataclass
class Out:
    """What a layer's rules produce for one application."""

    shape: tuple[Value, ...]
    rf: tuple[RFAxis, ...]
    axis_map: tuple[int | None, ...]
    params: Value = 0
    buffers: Value = 0
    macs: Value = 0
    other_ops: Value = 0
    aliases_input: bool = False
    work: tuple[Work, ...] = ()
