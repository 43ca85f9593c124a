"""Shapes predicted for an ONNX model checked against onnxruntime.

The model runs once on the CPU (onnxruntime's ``CPUExecutionProvider``) on a random input of
the bound shape, with every value that became a layer's output added as a graph output, so
that each layer's shape is compared, not only the network's. A mismatch is reported, never
raised: the report says which values differ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..algebra.arith import Value, is_num
from ..core.load import analyze
from ..core.schema import Architecture
from ..errors import CnnCalcError
from .load import load_onnx, read_model

ORT_HINT = "ONNX validation needs onnxruntime: pip install 'cnncalc[onnx]'"


@dataclass
class ShapeRow:
    """One ONNX value that is a layer's output: its shape predicted and as run."""

    value: str
    layer: str
    predicted: tuple[int, ...] | None
    measured: tuple[int, ...]
    graph_output: bool = False

    @property
    def ok(self) -> bool:
        return self.predicted == self.measured

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "layer": self.layer, "graph_output": self.graph_output,
                "predicted": None if self.predicted is None else list(self.predicted),
                "measured": list(self.measured), "ok": self.ok}


@dataclass
class OnnxValidation:
    """The outcome of :func:`validate_onnx`: one row per compared value."""

    model: str
    bindings: dict[str, int]
    input_shape: tuple[int, ...]
    rows: list[ShapeRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def mismatches(self) -> list[ShapeRow]:
        return [r for r in self.rows if not r.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "bindings": self.bindings,
                "input_shape": list(self.input_shape), "ok": self.ok,
                "compared": len(self.rows), "mismatches": [r.to_dict() for r in self.mismatches],
                "outputs": [r.to_dict() for r in self.rows if r.graph_output]}

    def to_table(self) -> str:
        head = (f"{self.model}: input {list(self.input_shape)}, {len(self.rows)} values "
                f"compared in onnxruntime, {len(self.mismatches)} mismatches")
        lines = [head]
        for r in self.mismatches:
            lines.append(f"  MISMATCH {r.layer} ({r.value}): predicted "
                         f"{None if r.predicted is None else list(r.predicted)}, "
                         f"onnxruntime {list(r.measured)}")
        for r in self.rows:
            if r.graph_output and r.ok:
                lines.append(f"  output {r.value} ({r.layer}): {list(r.measured)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_table()


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CnnCalcError(ORT_HINT, kind="dependency") from None
    return onnxruntime


def validate_onnx(arch: Architecture | str | os.PathLike[str] | None, model: Any,
                  bindings: Mapping[str, int] | None = None, *,
                  symbols: Mapping[Any, str] | None = None, allow_opaque: bool = False,
                  seed: int = 0) -> OnnxValidation:
    """Run ``model`` (a path or ``ModelProto``) at ``bindings`` in onnxruntime and compare the
    shape of every layer output with the analysis of ``arch`` (an architecture or its file;
    None: the model's own import with ``symbols`` and ``allow_opaque``). Every size must be
    bound."""
    onnx = load_onnx()
    ort = _ort()
    import numpy as np

    from .ops import convert
    if isinstance(model, (str, os.PathLike)):
        if not Path(model).is_file():
            raise CnnCalcError(f"{model}: no such file", kind="input")
        full = onnx.load(str(model))  # with external data: it is run
        label = str(model)
    else:
        full, label = model, "the ONNX model"
    checked, stem = read_model(full)
    cv = convert(checked, symbols=symbols, allow_opaque=allow_opaque)
    if arch is None:
        arch = cv.architecture(stem)
    elif not isinstance(arch, Architecture):
        arch = Architecture.from_file(arch)
    an = analyze(arch, bindings)
    free = [str(s) for s in an.free_symbols]
    if free:
        raise CnnCalcError(f"bind every size to validate: {', '.join(sorted(free))} free",
                           kind="binding")
    shape = tuple(int(v) for v in an.input_shape)
    predicted: dict[str, tuple[int, ...]] = {}
    for r in an.layers:
        predicted[r.name] = _ints(r.output_shape)
        for i, s in enumerate(r.output_shapes):
            predicted[f"{r.name}.{i}"] = _ints(s)
    graph = full.graph
    outs = {o.name for o in graph.output}
    extra = [v for v in cv.produced if v not in outs]
    probe = onnx.ModelProto()
    probe.CopyFrom(full)
    for v in extra:
        probe.graph.output.append(onnx.ValueInfoProto(name=v))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float16 if "float16" in inp.type else np.float32
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    names = [o.name for o in sess.get_outputs()]
    results = sess.run(names, {inp.name: x})
    report = OnnxValidation(model=label, input_shape=shape,
                            bindings={k: int(v) for k, v in an.bindings.items() if is_num(v)})
    for n, arr in zip(names, results, strict=True):
        layer = cv.produced.get(n)
        if layer is None:
            continue
        report.rows.append(ShapeRow(value=n, layer=layer, predicted=predicted.get(layer),
                                    measured=tuple(int(d) for d in np.shape(arr)),
                                    graph_output=n in outs))
    return report


def _ints(shape: tuple[Value, ...]) -> tuple[int, ...]:
    return tuple(int(v) if is_num(v) else -1 for v in shape)
