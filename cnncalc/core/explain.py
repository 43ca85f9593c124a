"""The working of an analysis, layer by layer: :func:`explain` returns an :class:`Explanation`.

The engine runs the architecture again with a trace (:func:`cnncalc.core.engine.run`); each
traced layer explains what its own rule returned (:meth:`cnncalc.layers.base.LayerBase.explain`)
and the memory of its output is added from the analysis's figures. Rendering as text, Markdown
or LaTeX lives in :mod:`cnncalc.report.explain`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ..algebra.arith import Value, is_num
from ..errors import CnnCalcError
from ..layers.base import Ctx
from ..layers.explain import CONVENTIONS, Step, explain_layer, memory_steps
from .analysis import Analysis
from .engine import Step as Traced
from .engine import run
from .results import jsonable
from .suggest import did_you_mean

__all__ = ["Explanation", "LayerExplanation", "explain", "set_renderer"]


@dataclass(frozen=True)
class LayerExplanation:
    """The working of one layer instance: its input shapes, its output shape and its steps."""

    name: str
    type: str
    input_shapes: tuple[tuple[Value, ...], ...]
    output_shape: tuple[Value, ...]
    steps: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type,
                "input_shapes": [[jsonable(v) for v in s] for s in self.input_shapes],
                "output_shape": [jsonable(v) for v in self.output_shape],
                "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class Explanation:
    """The working of the layers explained, with the bindings it holds under."""

    name: str
    input_shape: tuple[Value, ...]
    bindings: dict[str, int]
    dtype_bytes: int
    layers: tuple[LayerExplanation, ...]

    def _repr_markdown_(self) -> str:
        """The working as Markdown, in a notebook (Jupyter), by the renderer
        :mod:`cnncalc.report.explain` installs (:func:`set_renderer`)."""
        if _renderer is None:
            raise RuntimeError("no explanation renderer installed: import cnncalc (it installs "
                               "cnncalc.report.explain.render)")
        return _renderer(self, "markdown")

    def conventions(self) -> dict[str, str]:
        """The convention of each quantity shown, in the order first shown."""
        seen = dict.fromkeys(s.quantity for lx in self.layers for s in lx.steps)
        return {q: CONVENTIONS[q] for q in seen}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input_shape": [jsonable(v) for v in self.input_shape],
                "bindings": dict(self.bindings), "dtype_bytes": self.dtype_bytes,
                "layers": [lx.to_dict() for lx in self.layers],
                "conventions": self.conventions()}


class Renderer(Protocol):
    """:func:`cnncalc.report.explain.render`."""

    def __call__(self, ex: Explanation, fmt: str) -> str: ...


_renderer: Renderer | None = None


def set_renderer(render: Renderer) -> None:
    """Install the renderer behind :meth:`Explanation._repr_markdown_` (:mod:`cnncalc.report.
    explain` does, at import: the core does not import the report wing)."""
    global _renderer
    _renderer = render


def _selected(names: list[str], layer: str | None) -> set[str]:
    """The layers ``layer`` names: itself, or every layer of the block of that name
    (``layer1`` selects ``layer1.0.conv1``...); an unknown name is an error with a
    did-you-mean."""
    if layer is None:
        return set(names)
    picked = {n for n in names if n == layer or n.startswith(layer + ".")}
    if picked:
        return picked
    blocks = {n.rsplit(".", i)[0] for n in names for i in range(1, n.count(".") + 1)}
    guess = did_you_mean(layer, sorted(set(names) | blocks), {})
    hint = f"; did you mean {guess!r}?" if guess else ""
    raise CnnCalcError(f"no layer or block {layer!r} in this network{hint}", kind="input")


def explain(an: Analysis, layer: str | None = None) -> Explanation:
    """The working of every layer of ``an`` (or of the layer, or block, named ``layer``)."""
    bindings = {k: v for k, v in an.bindings.items() if is_num(v)}
    wanted = _selected([r.name for r in an.layers], layer)
    trace: list[Traced] = []
    run(an.arch, bindings, constraints=False, trace=trace)
    layers: list[LayerExplanation] = []
    for t, r in zip(trace, an.layers, strict=True):
        if t.node.name not in wanted:
            continue
        # A context of its own: the fields are read again, and no note may reach the analysis.
        ctx = Ctx(t.ctx.env, t.ctx.name, t.ctx.index, t.ctx.input_extent, [])
        steps = explain_layer(t.node.layer, t.inputs, ctx, t.out)
        steps += memory_steps(None if r.output_shapes else r.output_shape, r.activations,
                              an.dtype_bytes, r.activation_bytes)
        layers.append(LayerExplanation(r.name, r.type, tuple(i.shape for i in t.inputs),
                                       r.output_shape, tuple(steps)))
    return Explanation(an.name, an.input_shape, bindings, an.dtype_bytes, tuple(layers))
