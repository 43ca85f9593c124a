"""The layers of an import as they are emitted, each applied at once to its inputs' tensors.

:class:`Stepper` holds the layers written so far and, per emitted output, the cnncalc
:class:`~cnncalc.layers.tensor.Tensor` its own rules give: the shapes (symbolic where the input
is), the parameters and the notes, exactly as :func:`cnncalc.analyze` will compute them, one
layer at a time (the converter reads sizes off these tensors, so ``x.shape[2]`` of a traced
module becomes ``floor(H/32)``). Applying each layer once as it is emitted keeps an import
linear in the number of layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from ...algebra.arith import Value, is_num
from ...algebra.expr import evaluate
from ...algebra.printing import pretty
from ...core.apply import apply_layer
from ...core.schema import LAYER_TYPES, InputSpec, LayerSpec
from ...errors import CnnCalcError
from ...layers.base import Ctx, LayerBase, Note, Tensor

INPUT = "input"
_LAYER = TypeAdapter(LayerSpec)
_BAD = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True)
class TRef:
    """A tensor of the traced graph: the name a layer's ``inputs`` reads it by, and its
    tensor."""

    name: str
    t: Tensor


def field(v: Value) -> int | str:
    """A size as a layer field: an int, or its expression text."""
    return v if is_num(v) else pretty(v)


class Stepper:
    """The architecture being written: the input, the layers, their tensors and params."""

    def __init__(self, shape: list[int | str]) -> None:
        try:
            spec = InputSpec(shape=shape)
        except ValidationError as e:
            raise CnnCalcError(f"input_shape {shape!r}: [batch, channels, 0 to 3 spatial "
                               "sizes] ([N, features] for an MLP), each an int or a symbol "
                               "such as 'N' or 'H' "
                               f"({e.errors()[0]['msg']})", kind="input") from None
        self.input_shape: list[int | str] = list(spec.shape)
        values = tuple(evaluate(v, {}) for v in spec.shape)
        self.input = TRef(INPUT, Tensor.network_input(values))
        self.extent = values[2:]
        self.notes: list[Note] = []
        self.layers: list[LayerBase] = []
        self.names: set[str] = {INPUT}
        self.params: list[Value] = []  # per layer
        self.last = INPUT

    def unique(self, name: str) -> str:
        """``name`` made a valid layer name, with ``_1``, ``_2``... if it is taken."""
        base = _BAD.sub("_", name).strip(".") or "layer"
        if base == INPUT:
            base = "input_"
        out, k = base, 0
        while out in self.names:
            k += 1
            out = f"{base}_{k}"
        return out

    def emit(self, spec: dict[str, Any], inputs: list[TRef], name: str) -> list[TRef]:
        """Write one layer (``spec`` without name and inputs) reading ``inputs``; its outputs
        (one, or one per part of a multi-output layer)."""
        name = self.unique(name)
        d = {"type": spec["type"], "name": name}
        names = [r.name for r in inputs]
        if names != [self.last]:
            d["inputs"] = names
        d.update((k, v) for k, v in spec.items() if k != "type")
        if spec["type"] not in LAYER_TYPES:
            raise CnnCalcError(f"this cnncalc has no {spec['type']!r} layer type", layer=name,
                               kind="input")
        try:
            layer: LayerBase = _LAYER.validate_python(d)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"][1:])
            raise CnnCalcError(f"cannot write layer {d}: {where}: {err['msg']}", layer=name,
                               kind="input") from None
        ctx = Ctx({}, name, len(self.layers), self.extent, self.notes)
        out = apply_layer(layer, [r.t for r in inputs], ctx)
        self.layers.append(layer)
        self.names.add(name)
        self.params.append(out.params)
        self.last = name
        if out.parts:
            return [TRef(f"{name}.{i}", p) for i, p in enumerate(out.parts)]
        return [TRef(name, out.tensor())]

    def mark(self) -> int:
        """A point to :meth:`restore` to."""
        return len(self.layers)

    def restore(self, mark: int) -> None:
        """Forget the layers written since ``mark``."""
        for layer in self.layers[mark:]:
            self.names.discard(str(layer.name))
        del self.layers[mark:], self.params[mark:]
        self.last = str(self.layers[-1].name) if self.layers else INPUT

    def emit1(self, spec: dict[str, Any], inputs: list[TRef], name: str) -> TRef:
        """:meth:`emit` for a layer with one output."""
        return self.emit(spec, inputs, name)[0]
