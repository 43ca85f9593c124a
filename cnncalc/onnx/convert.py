"""An ONNX graph walked node by node into an architecture, shapes tracked as it goes.

Each node becomes zero or more layers (``ops_nn`` and ``ops_shape`` hold the rules, one
function per op type); every layer emitted is applied at once by its own rule
(:func:`cnncalc.core.apply.apply_layer`), so the next node sees the symbolic shape of its
inputs without the whole analysis running again. Size computations (``Shape``, ``Gather``,
``Concat`` of shapes...) are evaluated here as constants and never become layers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, get_args

import pydantic

from ..algebra.arith import Value, is_num, start_clock
from ..algebra.printing import pretty
from ..core.apply import apply_layer
from ..core.schema import Architecture
from ..errors import CnnCalcError
from ..layers import LAYER_CLASSES
from ..layers.base import LayerBase, Note, Tensor
from .load import opset_version
from .values import Act, Const, Names, NotSupported, check_rename, symbol_name

Handler = Callable[["Converter", Any, list["Act | Const | None"]], list["Act | Const | None"]]
"""An op rule: (converter, node, its inputs) -> one value per node output."""

CLASSES: dict[str, type[LayerBase]] = {
    get_args(c.model_fields["type"].annotation)[0]: c for c in LAYER_CLASSES}


def field(v: Value) -> int | str:
    """A size as a layer field: an int, or the expression text of a symbolic one."""
    return int(v) if is_num(v) else pretty(v)


class Converter:
    """The state of one import: values by ONNX name, the layers so far, names, shapes."""

    def __init__(self, model: Any, ops: Mapping[str, Handler], *,
                 symbols: Mapping[Any, str] | None, allow_opaque: bool) -> None:
        self.model = model
        self.graph = model.graph
        self.opset = opset_version(model)
        self.ops = ops
        self.allow_opaque = allow_opaque
        self.opaque_rule: Handler | None = None
        self.dim_symbols: dict[str, str] = {}
        """The input's ``dim_param`` names and the size names they became."""
        self.rename = check_rename(symbols)
        self.values: dict[str, Act | Const] = {}
        self.layers: list[dict[str, Any]] = []
        self.parts: dict[str, list[Act]] = {}
        self.names = Names()
        self.notes: list[Note] = []
        self.last = "input"
        self.skip: set[int] = set()
        self.consumers: dict[str, list[int]] = {}
        self.outputs: dict[str, str] = {}
        self.produced: dict[str, str] = {}
        """Every ONNX value that is a layer's output, and that layer (``NAME.i``: part i)."""
        self.node_index = 0
        self.input_name = ""
        self.input_shape: list[int | str] = []
        self.extent: tuple[Value, ...] = ()

    # --- the graph -----------------------------------------------------------------------
    def run(self) -> None:
        start_clock()  # the layers' rules run under one symbolic budget, as in an analysis
        self._initializers()
        self._input()
        nodes = list(self.graph.node)
        for i, node in enumerate(nodes):
            for name in node.input:
                self.consumers.setdefault(name, []).append(i)
        for o in self.graph.output:
            self.consumers.setdefault(o.name, []).append(len(nodes))
        for i, node in enumerate(nodes):  # constants first: patterns look ahead at them
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self._node(node)
                self.skip.add(i)
        for i, node in enumerate(nodes):
            if i in self.skip:
                continue
            self.node_index = i
            self._node(node)
        for o in self.graph.output:
            v = self.values.get(o.name)
            if isinstance(v, Act):
                self.outputs[o.name] = v.name
        if not self.layers:
            raise CnnCalcError("the ONNX graph computes nothing from its input (no layer)",
                               kind="input")

    def _initializers(self) -> None:
        for t in self.graph.initializer:
            self.values[t.name] = Const(tuple(int(d) for d in t.dims), proto=t,
                                        origin=f"initializer {t.name!r}")

    def _input(self) -> None:
        inits = {t.name for t in self.graph.initializer}
        ins = [i for i in self.graph.input if i.name not in inits]
        if not ins:
            raise CnnCalcError("the ONNX graph has no input (every input is an initializer)",
                               kind="input")
        if len(ins) > 1:
            raise CnnCalcError(f"the ONNX graph has {len(ins)} inputs "
                               f"({', '.join(repr(i.name) for i in ins)}); cnncalc analyses "
                               "networks of one input", kind="input")
        inp = ins[0]
        self.input_name = inp.name
        tt = inp.type.tensor_type
        if not inp.type.HasField("tensor_type") or not tt.HasField("shape"):
            raise CnnCalcError(f"input {inp.name!r} has no tensor shape in the file",
                               kind="input")
        taken = set(self.rename.values())
        shape: list[int | str] = []
        seen: dict[str, str] = {}
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                p = d.dim_param
                if p not in seen:
                    seen[p] = self.rename.get(p) or self.rename.get(i) or symbol_name(p, taken)
                    taken.add(seen[p])
                shape.append(seen[p])
            elif i in self.rename:
                shape.append(self.rename[i])
            else:
                raise CnnCalcError(f"input {inp.name!r}: axis {i} has neither a size nor a "
                                   f"name; name it with symbols={{{i}: 'NAME'}}", kind="input")
        if not 2 <= len(shape) <= 5:
            raise CnnCalcError(f"input {inp.name!r} has shape {shape}; cnncalc takes "
                               "[batch, channels, 0 to 3 spatial axes] ([N, features] for an "
                               "MLP)", kind="input")
        self.input_shape = shape
        self.dim_symbols = seen
        from ..algebra.expr import evaluate
        vals = tuple(evaluate(v, {}) for v in shape)
        self.extent = vals[2:]
        self.values[inp.name] = Act("input", Tensor.network_input(vals))

    def _node(self, node: Any) -> None:
        domain = node.domain or ""
        rule = self.ops.get(node.op_type) if domain in ("", "ai.onnx") else None
        ins: list[Act | Const | None] = []
        for name in node.input:
            if not name:
                ins.append(None)
                continue
            if name not in self.values:
                raise self.error(node, f"reads {name!r}, which no earlier node computes")
            ins.append(self.values[name])
        if rule is None:
            outs = self._unsupported(node, ins)
        else:
            try:
                outs = rule(self, node, ins)
            except NotSupported as e:
                if not self.allow_opaque:
                    raise self.error(node, e.message) from None
                outs = self._unsupported(node, ins)
            except CnnCalcError as e:
                if e.layer is not None or e.message.startswith("ONNX node"):
                    raise
                raise self.error(node, e.message) from None
        for name, v in zip(node.output, outs, strict=False):
            if name and v is not None:
                self.values[name] = v
                if isinstance(v, Act) and v.name != "input":
                    self.produced[name] = v.name

    def _unsupported(self, node: Any, ins: list[Act | Const | None]) -> list[Act | Const | None]:
        op = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") \
            else node.op_type
        if self.allow_opaque and self.opaque_rule is not None:
            return self.opaque_rule(self, node, ins)
        raise self.error(node, f"op {op} is not supported; supported ops: "
                               f"{', '.join(sorted(self.ops))}")

    # --- helpers for the op rules ------------------------------------------------------------
    def error(self, node: Any, msg: str) -> CnnCalcError:
        label = node.name or (node.output[0] if node.output else "?")
        return CnnCalcError(f"ONNX node {label!r} ({node.op_type}): {msg}", kind="input")

    def attr(self, node: Any, name: str, default: Any = None) -> Any:
        from onnx import helper
        for a in node.attribute:
            if a.name == name:
                v = helper.get_attribute_value(a)
                return v.decode() if isinstance(v, bytes) else v
        return default

    def only_consumer(self, value: str) -> int | None:
        """The index of the one node reading ``value`` (None when it is read by several, by
        none, or is a graph output)."""
        c = self.consumers.get(value, [])
        n = len(self.graph.node)
        return c[0] if len(c) == 1 and c[0] < n else None

    def emit(self, node: Any, type_: str, fields: Mapping[str, Any], ins: list[Act],
             suffix: str = "") -> Act:
        """One layer for ``node``: named, checked by its class, applied to ``ins`` at once."""
        cls = CLASSES.get(type_)
        if cls is None:
            raise self.error(node, f"needs the layer type {type_!r}, which this cnncalc "
                                   "does not have")
        name = self.names.take(node.name, node.op_type, suffix)
        spec: dict[str, Any] = {"type": type_, "name": name, **fields}
        inputs = [a.name for a in ins]
        if inputs != [self.last]:
            spec["inputs"] = inputs
        try:
            layer = cls.model_validate(spec)
        except pydantic.ValidationError as e:  # a field no layer of this type can hold
            errs = e.errors()
            err = next((x for x in errs if x.get("type") == "value_error"), errs[0])
            where = ".".join(str(p) for p in err.get("loc", ()) if "[" not in str(p))
            raise self.error(node, f"cannot express as {type_}: {where}: "
                                   f"{err.get('msg', 'invalid')}") from None
        from ..layers.base import Ctx
        ctx = Ctx({}, name, len(self.layers), self.extent, self.notes)
        try:
            out = apply_layer(layer, [a.t for a in ins], ctx)
        except CnnCalcError as e:
            raise self.error(node, f"as {type_} {name!r}: {e.message}") from None
        self.layers.append(spec)
        self.last = name
        if out.parts:
            self.parts[name] = [Act(f"{name}.{i}", p) for i, p in enumerate(out.parts)]
            return self.parts[name][0]
        return Act(name, out.tensor())

    def architecture(self, name: str) -> Architecture:
        return Architecture.from_dict({"name": name[:200], "input": {"shape": self.input_shape},
                                       "layers": self.layers})

