"""Walk a traced graph node by node and write the matching cnncalc layers.

Each fx node gets a value: a :class:`~.shapes.TRef` for a tensor, a :class:`Param` for a
learned tensor read by ``get_attr`` (written as a ``parameter`` layer only where it is combined
with activations; consumed by ``F.linear``/``F.conv2d``/``F.layer_norm`` it becomes their
weights), a size (an int or a sympy value: ``x.shape[2]`` is ``floor(H/32)``), or a plain
Python value (tuples of sizes, constants). The tables of what maps to what are in
:mod:`.modules` (``call_module``) and :mod:`.functions` (``call_function``, ``call_method``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...algebra.arith import Value, is_num
from ...errors import CnnCalcError
from ..device import load_torch
from .shapes import Stepper, TRef
from .shapes import field as as_field


@dataclass(frozen=True)
class Param:
    """A tensor read by ``get_attr``: its qualified name, shape, and whether it is a
    parameter (else a buffer or constant)."""

    target: str
    shape: tuple[int, ...]
    is_param: bool


class Unknown:
    """A value the import does not track (a comparison of sizes that only feeds an assert)."""


UNKNOWN = Unknown()


@dataclass
class Call:
    """One node being converted: its resolved arguments and where to write its layers."""

    conv: Converter
    node: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    name: str
    op: str
    module_path: str | None = None
    used: list[str] = field(default_factory=list)

    def arg(self, i: int, key: str, default: Any = None) -> Any:
        """Positional argument ``i`` or keyword ``key``."""
        if key in self.kwargs:
            return self.kwargs[key]
        return self.args[i] if i < len(self.args) else default

    def tensor(self, v: Any, rank: int | None = None) -> TRef:
        """``v`` as a tensor: a traced tensor, or a parameter written as a ``parameter``
        layer (its shape padded with leading 1s to ``rank``)."""
        if isinstance(v, TRef):
            return v
        if isinstance(v, Param):
            return self.conv.param_layer(v, rank, self)
        raise self.unsupported(f"an argument of type {type(v).__name__} where a tensor is "
                               "expected")

    def emit(self, spec: dict[str, Any], inputs: list[TRef] | None = None,
             name: str | None = None) -> TRef:
        """Write one single-output layer; by default it reads the first argument."""
        ins = inputs if inputs is not None else [self.tensor(self.args[0])]
        return self.conv.step.emit1(spec, ins, name or self.name)

    def emit_parts(self, spec: dict[str, Any], inputs: list[TRef]) -> list[TRef]:
        return self.conv.step.emit(spec, inputs, self.name)

    def use(self, *params: Any) -> None:
        """Mark parameters (``Param`` values) as consumed by the layer being written."""
        for p in params:
            if isinstance(p, Param) and p.is_param:
                self.conv.used.add(p.target)

    def unsupported(self, why: str) -> CnnCalcError:
        where = f" in module {self.module_path!r}" if self.module_path else ""
        return Unsupported(f"cannot import {self.op}{where} (node {self.node.name!r}): {why}",
                           kind="input", layer=self.name)


class Unsupported(CnnCalcError):
    """An operation, or an option of one, that no cnncalc layer represents."""


Handler = Callable[[Call], Any]
"""Converts a call_function or call_method node."""
ModuleHandler = Callable[[Any, Call], Any]
"""Converts a call_module node: (the module, the call)."""


class Converter:
    """The state of one import: the stepper, each node's value, the parameters used."""

    def __init__(self, gm: Any, step: Stepper, *, allow_opaque: bool,
                 concrete: Callable[[Any], tuple[int, ...] | None],
                 named: dict[str, Handler], supported: str) -> None:
        self.gm = gm
        self.step = step
        self.allow_opaque = allow_opaque
        self.concrete = concrete  # node -> its traced shape at the default concrete size
        self.named = named  # functions outside torch, by qualified name
        self.supported = supported  # what the error of an unsupported operation lists
        self.env: dict[Any, Any] = {}
        self.used: set[str] = set()
        self.module_calls: dict[str, int] = {}
        self.param_layers: dict[tuple[str, int], TRef] = {}
        self.output: Any = None
        self.opaque: list[str] = []
        self.opaque_params: dict[str, int] = {}  # read by opaque layers, not counted

    def param_layer(self, p: Param, rank: int | None, c: Call) -> TRef:
        if not p.is_param:
            raise c.unsupported(f"the buffer {p.target!r} is used as a tensor; cnncalc counts "
                                "learned parameters only")
        r = max(rank or len(p.shape), len(p.shape))
        key = (p.target, r)
        if key not in self.param_layers:
            shape = [1] * (r - len(p.shape)) + list(p.shape)
            self.used.add(p.target)
            self.param_layers[key] = self.step.emit1({"type": "parameter", "shape": shape}, [],
                                                     p.target)
        return self.param_layers[key]

    def run(self, modules: dict[str, ModuleHandler], functions: dict[Any, Handler],
            methods: dict[str, Handler]) -> TRef:
        import importlib

        load_torch()
        map_aggregate = importlib.import_module("torch.fx.node").map_aggregate
        self._node_type = importlib.import_module("torch.fx").Node
        graph = self.gm.graph
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        for n in graph.nodes:
            if n.op == "placeholder":
                if n is placeholders[0]:
                    self.env[n] = self.step.input
                elif n.args or not n.users:  # optional arguments left at their defaults
                    self.env[n] = n.args[0] if n.args else None
                else:
                    raise CnnCalcError(f"forward takes a second input {n.target!r}; cnncalc "
                                       "describes a network of one input (wrap the module so "
                                       "that forward takes one tensor)", kind="input")
                continue
            if n.op == "output":
                self.output = map_aggregate(n.args[0], lambda a: self._value(a))
                continue
            if n.op == "get_attr":
                self.env[n] = self._get_attr(n)
                continue
            args = map_aggregate(n.args, self._value)
            kwargs = map_aggregate(n.kwargs, self._value)
            c = Call(self, n, tuple(args), dict(kwargs), name="", op="",
                     module_path=self._scope(n))
            if not c.args and c.kwargs and n.op == "call_module":
                c.args = (next(iter(c.kwargs.values())),)  # module(input=x)
            mark, used = self.step.mark(), set(self.used)
            try:
                try:
                    self.env[n] = self._node(n, c, modules, functions, methods)
                except (TypeError, ValueError, IndexError, KeyError, AttributeError) as e:
                    if isinstance(e, CnnCalcError):
                        raise
                    raise c.unsupported(f"arguments of a form the import does not read "
                                        f"({type(e).__name__}: {e})") from None
            except Unsupported as e:
                if not self.allow_opaque:
                    raise CnnCalcError(f"{e.message}; pass allow_opaque=True (--allow-opaque) to "
                                       "record it as an 'opaque' layer", layer=e.layer,
                                       kind="input") from None
                self.step.restore(mark)  # what the handler wrote before it gave up
                self.used = used
                self.param_layers = {k: v for k, v in self.param_layers.items()
                                     if v.name in self.step.names}
                self.env[n] = self._opaque(c)
            first = n.args[0] if n.args else None
            if isinstance(first, self._node_type) and isinstance(self.env[n], TRef) \
                    and isinstance(self.env.get(first), TRef) and self._inplace(n):
                self.env[first] = self.env[n]  # later readers of x see x after x.add_(y)
        return self._result()

    def _inplace(self, n: Any) -> bool:
        """Whether ``n`` writes its first argument in place (``x.add_(y)``, ``x += y``,
        ``inplace=True``)."""
        if n.op == "call_method":
            return str(n.target).endswith("_") and not str(n.target).endswith("__")
        if n.op == "call_module":
            return getattr(self.gm.get_submodule(str(n.target)), "inplace", False) is True
        name = getattr(n.target, "__name__", "")
        return n.kwargs.get("inplace") is True or (name.startswith("i") and name[1:] in
                                                   ("add", "sub", "mul", "truediv"))

    def _node(self, n: Any, c: Call, modules: dict[str, ModuleHandler],
              functions: dict[Any, Handler], methods: dict[str, Handler]) -> Any:
        if n.op == "call_module":
            return self._module(n, c, modules)
        if n.op == "call_function":
            return self._function(n, c, functions)
        c.op = f"Tensor.{n.target}"
        c.name = self._fname(n, str(n.target))
        h = methods.get(str(n.target))
        return h(c) if h is not None else self._opaque(c)

    def _value(self, a: Any) -> Any:
        return self.env[a] if isinstance(a, self._node_type) else a

    def _get_attr(self, n: Any) -> Any:
        torch = load_torch()
        obj = self.gm
        for part in str(n.target).split("."):
            obj = getattr(obj, part)
        if isinstance(obj, torch.Tensor):
            return Param(str(n.target), tuple(int(s) for s in obj.shape),
                         isinstance(obj, torch.nn.Parameter))
        return obj

    def _scope(self, n: Any) -> str | None:
        stack = n.meta.get("nn_module_stack")
        if not stack:
            return None
        path = list(stack.values())[-1][0]
        return str(path) if path else None

    def _fname(self, n: Any, base: str) -> str:
        base = base.split(".")[-1].strip("_") or "op"
        scope = self._scope(n) if n.op != "call_module" else None
        return f"{scope}.{base}" if scope else base

    def _module(self, n: Any, c: Call, table: dict[str, ModuleHandler]) -> Any:
        path = str(n.target)
        m = self.gm.get_submodule(path)
        cls = type(m)
        c.op = f"{cls.__module__}.{cls.__name__}"
        c.name = path
        c.module_path = path
        calls = self.module_calls.get(path, 0)
        self.module_calls[path] = calls + 1
        own = [(f"{path}.{k}", p) for k, p in m.named_parameters()]
        if calls and own:
            raise c.unsupported(f"the module is called {calls + 1} times and shares its "
                                "parameters; cnncalc counts each layer's parameters apart")
        h = table.get(cls.__name__) if cls.__module__.startswith("torch.nn") else None
        if h is None:
            return self._opaque(c)
        before = len(self.step.layers)
        out = h(m, c)
        for k, _ in own:
            self.used.add(k)
        want = sum(int(p.numel()) for _, p in own)
        got = self.step.params[before:]
        if all(is_num(v) for v in got) and sum(int(v) for v in got) != want:
            raise CnnCalcError(f"module {path!r} ({cls.__name__}) has {want} parameters but its "
                               f"import counts {sum(int(v) for v in got)}: an option of the "
                               "module is not represented", kind="input", layer=path)
        return out

    def _function(self, n: Any, c: Call, table: dict[Any, Handler]) -> Any:
        t = n.target
        mod = getattr(t, "__module__", None) or ""
        c.op = f"{mod}.{getattr(t, '__name__', t)}".lstrip(".")
        c.name = self._fname(n, getattr(t, "__name__", "op"))
        h = table.get(t)
        if h is None:
            h = self.named.get(c.op)
        if h is None:
            return self._opaque(c)
        before, used = len(self.step.layers), set(self.used)
        out = h(c)
        new = [self.gm.get_parameter(k) for k in self.used - used]
        got = self.step.params[before:]
        if new and all(is_num(v) for v in got):
            want = sum(int(p.numel()) for p in new)
            if sum(int(v) for v in got) != want:
                raise c.unsupported(f"its parameters hold {want} values but its import counts "
                                    f"{sum(int(v) for v in got)}")
        return out

    def _opaque(self, c: Call) -> TRef:
        if not self.allow_opaque:
            raise c.unsupported(f"no cnncalc layer for it (supported: {self.supported})")
        shape = self.concrete(c.node)
        if shape is None:
            raise CnnCalcError(f"{c.unsupported('no cnncalc layer for it').message}, and its "
                               "output is not one tensor, so it cannot be recorded as an "
                               "'opaque' layer", kind="input", layer=c.name)
        flat = _flat(list(c.args)) + _flat(list(c.kwargs.values()))
        ins = [a for a in flat if isinstance(a, TRef)]
        for a in flat:
            if isinstance(a, Param) and a.is_param:
                self.opaque_params[a.target] = math.prod(a.shape)
        if c.node.op == "call_module":
            for k, p in self.gm.get_submodule(str(c.node.target)).named_parameters():
                self.opaque_params[f"{c.node.target}.{k}"] = int(p.numel())
        self.opaque.append(c.op)
        return self.step.emit1({"type": "opaque", "op": c.op[:200], "shape": list(shape)},
                               ins[:64], c.name)

    def _result(self) -> TRef:
        out = self.output
        if isinstance(out, (tuple, list)):
            tensors = [v for v in _flat(list(out)) if isinstance(v, TRef)]
            if len(tensors) != 1:
                raise CnnCalcError(f"the module returns {len(tensors)} tensors; cnncalc "
                                   "describes a network with one output (wrap the module so "
                                   "that forward returns one tensor)", kind="input")
            out = tensors[0]
        elif isinstance(out, dict):
            tensors = [v for v in out.values() if isinstance(v, TRef)]
            if len(tensors) != 1:
                raise CnnCalcError(f"the module returns a dict of {len(tensors)} tensors; "
                                   "cnncalc describes a network with one output", kind="input")
            out = tensors[0]
        if not isinstance(out, TRef):
            raise CnnCalcError(f"the module returns {type(out).__name__}, not a tensor",
                               kind="input")
        if out.name != self.step.last or out.name == "input":
            out = self.step.emit1({"type": "identity"}, [out], "output")
        return out


def _flat(xs: list[Any]) -> list[Any]:
    out: list[Any] = []
    for x in xs:
        if isinstance(x, (list, tuple)):
            out += _flat(list(x))
        elif isinstance(x, dict):
            out += _flat(list(x.values()))
        else:
            out.append(x)
    return out


def size_field(v: Any, c: Call) -> int | str:
    """A traced size (int or sympy value; a float with an integer value, ``224 / 16``) as a
    layer field."""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not (is_num(v) or hasattr(v, "free_symbols")):
        raise c.unsupported(f"a size of type {type(v).__name__}")
    return as_field(v)


def to_value(v: Any) -> Value | None:
    """A size if ``v`` is one (int or sympy expression), else None."""
    if isinstance(v, bool):
        return None
    if is_num(v) or hasattr(v, "free_symbols"):
        return v
    return None
