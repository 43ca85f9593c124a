"""The result of an analysis: per-layer results, totals, constraints; JSON form; evaluation.

A quantity is an ``int`` when every symbol it uses is bound and a sympy expression otherwise.
``to_dict()`` gives DESIGN.md section 5's JSON: numbers as JSON integers, formulas as strings.
``evaluate(**bindings)`` binds a symbolic analysis without redoing it; ``evaluate_many`` does the
same for NumPy arrays of bindings with exact integer floors (design sweeps).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import sympy

from .arith import Value, free_names, is_num, norm, prod, total
from .compile import compile_int, pretty
from .errors import CnnCalcError
from .layers.base import Note, RFAxis, Work

if TYPE_CHECKING:
    from .schema import Architecture

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
    receptive_field: Any
    aliases_input: bool = False
    path: list[str | int] = field(default_factory=list)
    dtype_bytes: int = 4
    work: tuple[Work, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.receptive_field, tuple):
            self.receptive_field = ReceptiveField.of(self.receptive_field)

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


class Analysis:
    """Per-layer results and totals of one architecture under some bindings."""

    def __init__(self, arch: Architecture, bindings: dict[str, Value], symbols: list[str],
                 input_shape: tuple[Value, ...], layers: list[LayerResult],
                 notes: list[Note], dtype_bytes: int,
                 peak_activation_bytes: Value, training_activation_bytes: Value) -> None:
        self.arch = arch
        self.name = arch.name
        self.bindings = {k: v for k, v in bindings.items() if k in symbols}
        self.symbols = symbols
        self.input_shape = input_shape
        self.layers = layers
        self.notes = notes
        self.dtype_bytes = dtype_bytes
        for r in layers:
            r.dtype_bytes = dtype_bytes
        params = total(r.params for r in layers)
        macs = total(r.macs for r in layers)
        acts = total(r.activations for r in layers)
        self.totals = Totals(
            params=params, buffers=total(r.buffers for r in layers), macs=macs,
            flops=prod([2, macs]), other_ops=total(r.other_ops for r in layers),
            activations=acts, activation_bytes=prod([dtype_bytes, acts]),
            param_bytes=prod([dtype_bytes, params]), peak_activation_bytes=peak_activation_bytes,
            training_activation_bytes=training_activation_bytes,
            receptive_field=layers[-1].receptive_field)

    def __repr__(self) -> str:
        t = self.totals
        return (f"<Analysis {self.name!r}: {len(self.layers)} layers, "
                f"params={jsonable(t.params)}, macs={jsonable(t.macs)}>")

    @property
    def free_symbols(self) -> list[str]:
        """Symbols not bound in this analysis."""
        return [s for s in self.symbols if s not in self.bindings]

    def layer(self, name: str) -> LayerResult:
        """The result of the layer called ``name``."""
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)

    @functools.cached_property
    def _constraint_report(self) -> Any:
        """Derived from the symbolic analysis of the architecture (cached per architecture);
        where that cannot be done (say a repeat count is a symbol), with this analysis's
        bindings fixed."""
        from .constraints import derive, derive_from
        if not self.bindings:
            return derive_from(self)
        try:
            return derive(self.arch)
        except CnnCalcError as e:
            if e.kind == "constraint":
                raise
            return derive(self.arch, {k: v for k, v in self.bindings.items() if is_num(v)})

    @property
    def constraints(self) -> list[str]:
        """What the free symbols must satisfy for every layer to have an output and every merge
        to match, in words (derived from the symbolic analysis of the architecture)."""
        return list(self._constraint_report.required)

    @property
    def exact_sizes(self) -> list[str]:
        """Sizes at which no strided layer drops input pixels (advice, not a requirement)."""
        return list(self._constraint_report.exact)

    @property
    def warnings(self) -> list[str]:
        """Things worth knowing that are not errors (e.g. merges of different strides)."""
        return [f"{n.layer}: {n.text}" for n in self.notes if n.kind == "warn"]

    def to_dict(self) -> dict[str, Any]:
        """DESIGN.md section 5's JSON."""
        return {
            "name": self.name,
            "symbols": self.symbols,
            "bindings": dict(self.bindings),
            "input_shape": [jsonable(v) for v in self.input_shape],
            "layers": [r.to_dict() for r in self.layers],
            "totals": self.totals.to_dict(),
            "constraints": self.constraints,
            "exact_sizes": self.exact_sizes,
            "warnings": self.warnings,
        }

    def to_table(self, fmt: str = "table", columns: Sequence[str] | str | None = None,
                 depth: int | None = None, units: bool | str = False,
                 times: Mapping[str, float] | None = None) -> str:
        """The analysis as a table: ``table`` (plain text), ``markdown``, ``latex``, ``csv`` or
        ``html``; ``times`` (ms per layer, :func:`cnncalc.cost.predicted_ms`) adds predicted
        time. See :func:`cnncalc.tables.render`."""
        from .tables import render
        return render(self, fmt, columns=columns, depth=depth, units=units, times=times)

    # --- binding a symbolic analysis ---------------------------------------------------------

    def _check(self, bindings: Mapping[str, Any]) -> None:
        for k in bindings:
            if k not in self.free_symbols:
                raise CnnCalcError(
                    f"binding for {k!r}, but the free symbols are "
                    f"{', '.join(self.free_symbols) if self.free_symbols else 'none'}",
                    path=["bindings", k], kind="binding")

    def evaluate(self, **bindings: int) -> Analysis:
        """A new Analysis with more symbols bound, computed from the formulas (no re-analysis)."""
        self._check(bindings)
        for k, v in bindings.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise CnnCalcError(f"binding {k} must be a positive integer, got {v!r}",
                                   path=["bindings", k], kind="binding")
        b = dict(bindings)
        reps = {sympy.Symbol(k, integer=True, positive=True): v for k, v in b.items()}
        for n in self.notes:
            # A symbolic merge assumed its sizes equal; bound to 1 a size may broadcast instead.
            # Where such an assumption fails under these bindings, analyse afresh.
            if n.kind == "eq" and (free_names(n.lhs) | free_names(n.rhs)) <= b.keys() | set(
                    self.bindings):
                lhs, rhs = (sympy.sympify(x).xreplace(reps) for x in (n.lhs, n.rhs))
                if sympy.simplify(lhs - rhs) != 0:
                    from .engine import run
                    return run(self.arch, {**{k: v for k, v in self.bindings.items()
                                              if is_num(v)}, **b})

        def ev(v: Value) -> Value:
            """Integer quantities: exact integer evaluation."""
            if is_num(v) or not (free_names(v) & b.keys()):
                return v
            if free_names(v) <= b.keys():
                return int(compile_int(v)(b))
            return norm(sympy.sympify(v).xreplace(reps))

        def ev_exact(v: Value) -> Value:
            """Receptive fields may be rational (after upsampling): substitute exactly."""
            if is_num(v) or not (free_names(v) & b.keys()):
                return v
            return norm(sympy.sympify(v).xreplace(reps))

        new_layers = []
        for r in self.layers:
            rf = r.receptive_field
            new_layers.append(LayerResult(
                name=r.name, type=r.type, inputs=r.inputs,
                output_shape=tuple(ev(v) for v in r.output_shape), params=ev(r.params),
                buffers=ev(r.buffers), macs=ev(r.macs), other_ops=ev(r.other_ops),
                activations=ev(r.activations),
                receptive_field=ReceptiveField(tuple(ev_exact(v) for v in rf.size),
                                               tuple(ev_exact(v) for v in rf.stride),
                                               tuple(ev_exact(v) for v in rf.start)),
                aliases_input=r.aliases_input, path=r.path,
                work=tuple(Work(*(ev(x) for x in w)) for w in r.work)))
        for r in new_layers:
            for v in r.output_shape:
                if is_num(v) and v < 1:  # type: ignore[operator]
                    raise CnnCalcError(f"output shape {[jsonable(x) for x in r.output_shape]} "
                                       f"has an empty axis under {b}; see the constraints",
                                       layer=r.name, kind="binding")
        out = Analysis(self.arch, {**self.bindings, **b}, self.symbols,
                       tuple(ev(v) for v in self.input_shape), new_layers,
                       [n._replace(lhs=ev(n.lhs), rhs=ev(n.rhs)) for n in self.notes],
                       self.dtype_bytes,
                       ev(self.totals.peak_activation_bytes),
                       ev(self.totals.training_activation_bytes))
        if "_constraint_report" in self.__dict__:
            out.__dict__["_constraint_report"] = self._constraint_report
        return out

    def evaluate_many(self, quantities: tuple[str, ...] = ("params", "macs", "flops",
                                                           "activations"),
                      **arrays: Any) -> dict[str, Any]:
        """Totals for arrays of bindings (NumPy), exactly: integer floors, int64 (or Python ints
        in an object array where a value could pass 2**62).

        ``evaluate_many(H=np.arange(32, 512), W=...)`` returns ``{"params": array, ...}``.
        """
        import numpy as np
        self._check(arrays)
        free = set(self.free_symbols)
        if set(arrays) != free:
            raise CnnCalcError(f"evaluate_many needs arrays for every free symbol: "
                               f"{', '.join(sorted(free))}", kind="binding")
        cols = {k: np.asarray(v) for k, v in arrays.items()}
        for k, v in cols.items():
            if v.dtype.kind not in "iu" or (v.size and int(v.min()) < 1):
                raise CnnCalcError(f"{k} must be an array of positive integers", kind="binding")
        n = np.broadcast_shapes(*(v.shape for v in cols.values())) if cols else ()
        cols = {k: np.broadcast_to(v.astype(np.int64), n) for k, v in cols.items()}
        out: dict[str, Any] = {}
        for q in quantities:
            if q not in TOTALS:
                raise CnnCalcError(f"unknown quantity {q!r}; one of {', '.join(TOTALS)}")
            v = getattr(self.totals, q)
            if is_num(v):
                out[q] = np.full(n, v, dtype=np.int64)
                continue
            fn = compile_int(v)
            # Totals never decrease as a size grows, so the value at the largest bindings
            # bounds them all: int64 when that fits, exact Python ints otherwise.
            top = fn({k: int(c.max()) if c.size else 1 for k, c in cols.items()})
            if abs(top) >= 2**62:
                out[q] = fn({k: c.astype(object) for k, c in cols.items()})
            else:
                out[q] = fn(cols)
        return out


_ = fields
