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

NoteKind = Literal["ge", "eq", "tile", "unread", "recheck", "warn"]
"""What a :class:`Note` records: a condition ('ge', 'eq'); an input that a strided window may
not tile exactly, ``lhs mod rhs == 0`` ('tile', ``lhs`` the padded span ``in + pad - k_eff``,
``rhs`` the stride); the positions past the last window of a stride ('unread': ``lhs`` input
positions are never read where it is positive, padding excluded, 0 where unknown or where the
window is narrower than the stride and skips positions by design; ``rhs`` padded positions are
left over, 0 where the stride tiles exactly; ``text`` what a position is: ``row``, ``column``,
``position along spatial axis 0``; recorded by the engine from the 'tile' notes); a result
that is a bound until its sizes are bound, when the analysis runs again ('recheck'); or a
warning ('warn', text only)."""


class Note(NamedTuple):
    """A condition a layer recorded (see :data:`NoteKind`), with the layer it comes from and
    ``text`` saying what must hold."""

    kind: NoteKind
    layer: str
    layer_index: int
    text: str
    lhs: Value
    rhs: Value


@dataclass(frozen=True, slots=True)
class RFAxis:
    """Receptive field along one input axis: pixels seen, input step between outputs, offset.

    ``whole`` marks a field that covers the entire input (after a global pool, a flatten, or a
    linear layer over that axis). ``undefined`` marks a field that no longer has a size and a
    step: the axis was merged with another (a reshape of ``H, W`` into tokens) or moved out of
    place, so its positions are not a window of the input; tables show it as not defined,
    never as a made-up number. ``empty`` marks the field of a tensor that reads no input pixel
    (a learned ``parameter``); merges ignore it.
    """

    size: Value
    stride: Value
    start: Value
    whole: bool = False
    undefined: bool = False
    empty: bool = False

    @property
    def window(self) -> bool:
        """Whether this is a window of the input (neither whole, undefined nor empty)."""
        return not (self.whole or self.undefined or self.empty)


UNDEFINED = RFAxis(0, 0, 0, undefined=True)
"""The field of an axis whose positions are not a window of the input."""
EMPTY = RFAxis(0, 0, 0, empty=True)
"""The field of a tensor that reads no input pixel."""

Src = tuple[int, ...]
"""The network-input spatial axes a tensor axis is made of: ``()`` for the batch, channel and
feature axes; ``(a,)`` for an axis that is input axis ``a`` (its field is ``rf[a]``); several
when a reshape merged them (their fields are then undefined)."""

Segments = tuple[tuple[Value, tuple[RFAxis, ...]], ...]
"""The fields of consecutive ranges of tensor axis 1 (the channels): ``(count, rf)`` pairs in
channel order, at least two, neighbours with different fields; ``rf`` of the tensor is their
union."""


@dataclass(frozen=True, slots=True)
class Tensor:
    """A tensor flowing between layers: its shape and the field of its positions.

    ``rf[a]`` is the field along network-input spatial axis ``a``; ``axes[i]`` (one per tensor
    axis) says which input axes tensor axis ``i`` is made of (:data:`Src`): in ``[N, C, H, W]``
    that is ``((), (), (0,), (1,))``; after a permute to ``[N, H, W, C]``,
    ``((), (0,), (1,), ())``.

    ``segments``, when known, are the fields of its channel ranges (:data:`Segments`; set by
    a concat along the channels, kept by layers that treat every channel alike), so that a
    split of the channels gets the field of the channels it keeps, not the union; None: every
    channel has the field ``rf``.
    """

    shape: tuple[Value, ...]
    rf: tuple[RFAxis, ...]
    axes: tuple[Src, ...]
    segments: Segments | None = None

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

    @classmethod
    def network_input(cls, shape: tuple[Value, ...]) -> Tensor:
        """The network input ``[N, C, *spatial]``: each position sees its own pixel. An input
        ``[N, features]`` has no spatial axes and no receptive field (``rf == ()``)."""
        nd = len(shape) - 2
        return cls(shape, (RFAxis(1, 1, 0),) * nd, ((), (), *((a,) for a in range(nd))))

    def src(self, i: int) -> int | None:
        """The input axis that tensor axis ``i`` is, when it is exactly one; else None."""
        s = self.axes[i] if 0 <= i < len(self.axes) else ()
        return s[0] if len(s) == 1 else None


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


@dataclass(slots=True)
class Out:
    """What a layer's rules produce for one application."""

    shape: tuple[Value, ...]
    rf: tuple[RFAxis, ...]
    axes: tuple[Src, ...]
    params: Value = 0
    buffers: Value = 0
    macs: Value = 0
    other_ops: Value = 0
    aliases_input: bool = False
    work: tuple[Work, ...] = ()
    parts: tuple[Tensor, ...] = ()
    """The outputs of a layer with several (``split``, ``chunk``), read as ``name.0``,
    ``name.1``...; ``shape``/``rf``/``axes`` are then those of part 0."""
    opaque: bool = False
    """Counts unknown (an ``opaque`` layer): totals are marked incomplete."""
    segments: Segments | None = None
    """The fields of the output's channel ranges (see :class:`Tensor`); None: all ``rf``."""

    def tensor(self) -> Tensor:
        return Tensor(self.shape, self.rf, self.axes, self.segments)
