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

RECORD_COLUMNS = ("name", "type", "inputs", "output_shape", *QUANTITIES, "rf_size", "rf_stride",
                  "rf_start")
"""The columns of :meth:`cnncalc.Analysis.to_dataframe` (:meth:`LayerResult.record`)."""


def jsonable(v: Any) -> Any:
    """A value for JSON: an int when it is a number, None as null, else the readable
    formula."""
    if type(v) is int or v is None or is_num(v):  # ints first: most values of most analyses
        return v
    v = norm(v)
    if is_num(v):
        return v
    return pretty(v)


def shape_text(values: tuple[Value | None, ...] | list[Value | None]) -> str:
    """``1x12x(floor(H/2) - 2)xW``: sizes joined by ``x``, each formula but a plain name in
    parentheses (as the tables write shapes)."""
    parts = [str(jsonable(v)) for v in values]
    return "x".join(p if p.replace("_", "").isalnum() else f"({p})" for p in parts)


def _jsonable_all(values: tuple[Value | None, ...] | list[Value | None]) -> list[Any]:
    """:func:`jsonable` of each value (ints passed through at once)."""
    return [v if type(v) is int else jsonable(v) for v in values]


_NO_FIELD = (None, None, None)
"""The size, stride and start reported for an undefined axis."""


@dataclass(slots=True)
class ReceptiveField:
    """Per input spatial axis: pixels seen, input step between neighbouring outputs, offset of
    the first pixel seen by output 0."""

    size: tuple[Value | None, ...]
    stride: tuple[Value | None, ...]
    start: tuple[Value | None, ...]

    @classmethod
    def of(cls, axes: tuple[RFAxis, ...]) -> ReceptiveField:
        """The reported field; an undefined axis (:class:`RFAxis`) reads None (JSON null)."""
        if not axes:
            return cls((), (), ())
        size, stride, start = zip(*[_NO_FIELD if a.undefined else (a.size, a.stride, a.start)
                                    for a in axes], strict=True)
        return cls(size, stride, start)

    @property
    def defined(self) -> bool:
        """Whether every axis has a field (none is undefined)."""
        return all(v is not None for v in self.size)

    def to_dict(self) -> dict[str, list[Any]]:
        return {"size": _jsonable_all(self.size), "stride": _jsonable_all(self.stride),
                "start": _jsonable_all(self.start)}


@dataclass(slots=True)
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
    output_shapes: tuple[tuple[Value, ...], ...] = ()
    """Every output's shape, for a layer with several (``split``: read as ``name.0``...)."""
    opaque: bool = False
    """Counts unknown (an ``opaque`` layer): its params, MACs and ops are reported as 0 and
    the totals are marked incomplete."""

    def __repr__(self) -> str:
        """``<conv1 conv: 1x12x14x14, params 1308, MACs 254016, RF 6x6/2x2>``; formulas in
        cnncalc's grammar."""
        rf = self.receptive_field
        field_ = ("RF not defined" if not rf.defined else "RF none" if not rf.size
                  else f"RF {shape_text(rf.size)}/{shape_text(rf.stride)}")
        return (f"<{self.name} {self.type}: {shape_text(self.output_shape)}, params "
                f"{jsonable(self.params)}, MACs {jsonable(self.macs)}, {field_}"
                f"{', counts unknown' if self.opaque else ''}>")

    def record(self) -> dict[str, Any]:
        """One row of :meth:`cnncalc.Analysis.to_dataframe`: the fields of :meth:`to_dict`
        (ints where bound, formulas as text) with shapes, inputs and the receptive field's
        ``rf_size``, ``rf_stride`` and ``rf_start`` as tuples."""
        d = self.to_dict()
        rf = d.pop("receptive_field")
        out = {"name": d["name"], "type": d["type"], "inputs": tuple(d["inputs"]),
               "output_shape": tuple(d["output_shape"]), **{q: d[q] for q in QUANTITIES}}
        out.update({f"rf_{k}": tuple(rf[k]) for k in ("size", "stride", "start")})
        return out

    @property
    def flops(self) -> Value:
        """``2 * macs`` (FlopCounterMode's convention)."""
        return prod([2, self.macs])

    @property
    def activation_bytes(self) -> Value:
        return prod([self.dtype_bytes, self.activations])

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "type": self.type, "inputs": self.inputs,
                             "output_shape": _jsonable_all(self.output_shape)}
        if self.output_shapes:
            d["output_shapes"] = [_jsonable_all(s) for s in self.output_shapes]
        if self.opaque:
            d["opaque"] = True
        macs, acts = self.macs, self.activations
        d["params"] = jsonable(self.params)
        d["buffers"] = jsonable(self.buffers)
        d["macs"] = jsonable(macs)
        # flops and activation_bytes as their properties give them, without the products'
        # normalisation where the factors are ints
        d["flops"] = 2 * macs if type(macs) is int else jsonable(self.flops)
        d["other_ops"] = jsonable(self.other_ops)
        d["activations"] = jsonable(acts)
        d["activation_bytes"] = (self.dtype_bytes * acts if type(acts) is int
                                 else jsonable(self.activation_bytes))
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
    incomplete: tuple[str, ...] = ()
    """The ``opaque`` layers, whose counts are unknown: the totals leave them out."""

    def to_dict(self) -> dict[str, Any]:
        d = {q: jsonable(getattr(self, q)) for q in TOTALS}
        d["receptive_field"] = self.receptive_field.to_dict()
        if self.incomplete:
            d["incomplete"] = list(self.incomplete)
        return d


@dataclass
class ConventionTotals:
    """The totals another tool reports for the same network, reproduced from the per-layer
    results by that tool's rules (:mod:`cnncalc.report.conventions`, docs/conventions.md).
    cnncalc's own :class:`Totals` are unchanged; this sits beside them."""

    name: str
    macs: Value
    """Multiply-accumulates as the tool counts them."""
    flops: Value
    """``2 * macs``."""
    params: Value
    reports: str
    """What the tool calls its figure and where it prints it."""
    counts: str
    """One line on what the tool counts beyond or short of cnncalc's MACs."""
    unchecked: tuple[str, ...] = ()
    """Layer types in this network whose count under the tool is not reproduced (cnncalc's
    MACs stand in for them)."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "macs": jsonable(self.macs),
                             "flops": jsonable(self.flops), "params": jsonable(self.params),
                             "reports": self.reports, "counts": self.counts}
        if self.unchecked:
            d["unchecked"] = list(self.unchecked)
        return d
