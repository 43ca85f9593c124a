"""What an analysis says about each layer and in total, and its JSON form.

A quantity is an ``int`` when every symbol it uses is bound and a sympy expression otherwise;
in JSON (docs/output.md) numbers are JSON integers and formulas are strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..algebra.arith import Value, is_num, norm, prod
from ..algebra.compile import pretty
from ..layers.base import RFAxis, Work

QUANTITIES = ("params", "buffers", "macs", "flops", "other_ops", "activations",
              "activation_bytes")
"""Per-layer quantities, in output order."""

TOTALS = ("params", "buffers", "macs", "flops", "other_ops", "activations", "activation_bytes",
          "param_bytes", "peak_activation_bytes", "training_activation_bytes")
"""Network totals, in output order."""


def jsonable(v: Any) -> Any:
    """A value for JSON: an int when it is a number, else the readable formula."""
    if is_num(v):
        return v
    v = norm(v)
    if is_num(v):
        return v
    return pretty(v)


@dataclass
class ReceptiveField:
    """Per input spatial axis: pixels seen, input step between neighbouring outputs, offset of
    the first pixel seen by output 0."""

    size: tuple[Value, ...]
    stride: tuple[Value, ...]
    start: tuple[Value, ...]

    @classmethod
    def of(cls, axes: tuple[RFAxis, ...]) -> ReceptiveField:
        return cls(tuple(a.size for a in axes), tuple(a.stride for a in axes),
                   tuple(a.start for a in axes))

    def to_dict(self) -> dict[str, list[Any]]:
        return {"size": [jsonable(v) for v in self.size],
                "stride": [jsonable(v) for v in self.stride],
                "start": [jsonable(v) for v in self.start]}


@dataclass
class LayerResult:
    """Everything cnncalc says about one layer."""

    name: str
    type: str
    inputs: list[str]
    output_shape: tuple[Value, ...]
    params: Value
    buffers: Value
    macs: Value
    other_ops: Value
    activations: Value
    receptive_field: ReceptiveField
    aliases_input: bool = False
    path: list[str | int] = field(default_factory=list)
    dtype_bytes: int = 4
    work: tuple[Work, ...] = ()

    @property
    def flops(self) -> Value:
        """``2 * macs`` (FlopCounterMode's convention)."""
        return prod([2, self.macs])

    @property
    def activation_bytes(self) -> Value:
        return prod([self.dtype_bytes, self.activations])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type, "inputs": self.inputs,
                             "output_shape": [jsonable(v) for v in self.output_shape]}
        for q in QUANTITIES:
            d[q] = jsonable(getattr(self, q))
        d["receptive_field"] = self.receptive_field.to_dict()
        return d


@dataclass
class Totals:
    """Network totals. ``activations`` sums every layer's output elements; the memory figures
    are bytes by the input dtype."""

    params: Value
    buffers: Value
    macs: Value
    flops: Value
    other_ops: Value
    activations: Value
    activation_bytes: Value
    param_bytes: Value
    peak_activation_bytes: Value
    training_activation_bytes: Value
    receptive_field: ReceptiveField

    def to_dict(self) -> dict[str, Any]:
        d = {q: jsonable(getattr(self, q)) for q in TOTALS}
        d["receptive_field"] = self.receptive_field.to_dict()
        return d
