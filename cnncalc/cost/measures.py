"""Cost measures per layer, symbolic like every other count (from the layers'
:class:`~cnncalc.layers.base.Work`); see docs/cost-model.md.

* ``macs`` and ``flops = 2*macs`` (see docs/conventions.md);
* ``bytes`` moved: every input read once, the weights read once, the output written once, by
  the dtype's size — a lower bound on memory traffic;
* ``intensity``: flops per byte moved;
* ``alpha_flops`` (Asperti, Evangelista, Marzolla, "Dissecting FLOPs along input dimensions for
  GreenAI cost estimations", LOD 2021, and its public code): for a convolution over ``S`` input
  positions with a ``K = K1*K2`` kernel, ``S_K = ln K + 1``,
  ``alpha = ((S_K + beta*(S - S_K)) / S) ** gamma`` and ``alpha_flops = alpha * C_in*C_out*K*S``,
  with ``(beta, gamma) = (0.02, 0.99)`` for ``K = 1`` and ``(0.001, 0.56)`` for ``K > 1``.
  The paper's layers keep their size ("same" padding), so ``S`` is also the output size; here
  ``S`` is the number of positions the kernel is applied at (output positions times batch),
  which measures the work of strided layers too. Dense layers are 1x1 convolutions over the batch.

Predicted time comes from a device profile (:mod:`cnncalc.cost.models`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import sympy

from ..algebra.arith import Value, is_num, norm, prod, total
from ..core.analysis import Analysis, LayerResult, jsonable
from ..layers.base import Work

PAPER_CONSTANTS = {"k1": (0.02, 0.99), "k": (0.001, 0.56)}
"""The paper's (beta, gamma) for K = 1 and for K > 1."""


def alpha(s: Any, k: Any, beta: Any = None, gamma: Any = None) -> Any:
    """The paper's alpha for ``s`` positions and kernel area ``k`` (NumPy arrays or floats);
    default constants by ``k``."""
    s = np.asarray(s, dtype=float)
    k = np.asarray(k, dtype=float)
    if beta is None:
        beta = np.where(k == 1, PAPER_CONSTANTS["k1"][0], PAPER_CONSTANTS["k"][0])
    if gamma is None:
        gamma = np.where(k == 1, PAPER_CONSTANTS["k1"][1], PAPER_CONSTANTS["k"][1])
    sk = np.log(k) + 1.0
    return ((sk + beta * (s - sk)) / s) ** gamma


def _alpha_symbolic(s: Value, k: Value) -> float | sympy.Expr:
    """alpha as a sympy expression (or a float when both are numbers)."""
    if is_num(s) and is_num(k):
        return float(alpha(s, k))
    kk = sympy.sympify(k)
    beta, gamma = PAPER_CONSTANTS["k1"] if kk == 1 else PAPER_CONSTANTS["k"]
    sk = sympy.log(kk) + 1
    return ((sk + sympy.Float(beta) * (s - sk)) / s) ** sympy.Float(gamma)


def work_alpha_flops(w: Work) -> float | sympy.Expr:
    """alpha-FLOPs of one piece of conv-like work: a float when every size is bound, else a
    sympy expression (see the module docstring)."""
    return _alpha_symbolic(prod([w.n, w.s]), w.k) * w.macs()


class LayerTimer(Protocol):
    """What :func:`costs` needs of a device profile: predicted seconds of every layer."""

    def layer_times(self, an: Analysis) -> list[float]: ...


@dataclass
class LayerCost:
    """Cost measures of one layer; ``time_s`` when a profile predicts it."""

    name: str
    type: str
    macs: Value
    flops: Value
    bytes: Value
    intensity: Any
    alpha_flops: Any
    time_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: integers stay exact, formulas become strings, sympy floats floats."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            if isinstance(v, float) or v is None:
                out[k] = v
            elif isinstance(v, sympy.Float):
                out[k] = float(v)
            elif isinstance(v, (int, sympy.Basic)):
                out[k] = jsonable(v)
            else:
                out[k] = v
        return out


def layer_bytes(an: Analysis, r: LayerResult) -> Value:
    """Bytes moved by a layer: inputs read + weights read + output written."""
    if r.aliases_input:
        return 0
    sizes = {x.name: x.activations for x in an.layers}
    sizes["input"] = prod(an.input_shape)
    sizes.update((f"{x.name}.{j}", prod(s)) for x in an.layers  # a split's parts, "NAME.j"
                 for j, s in enumerate(x.output_shapes))
    read = total(sizes[i] for i in r.inputs)
    return prod([an.dtype_bytes, norm(read + r.params + r.activations)])


def costs(an: Analysis, profile: LayerTimer | None = None) -> list[LayerCost]:
    """Cost measures per layer; with a profile (a :class:`~cnncalc.cost.DeviceProfile`),
    predicted seconds per layer too."""
    out = []
    times = profile.layer_times(an) if profile is not None else None
    for i, r in enumerate(an.layers):
        b = layer_bytes(an, r)
        flops = r.flops
        intensity: Any
        if is_num(flops) and is_num(b):
            intensity = flops / b if b else 0.0
        else:
            intensity = sympy.sympify(flops) / b if b != 0 else 0
        af: Any = 0
        for w in r.work:
            af = af + work_alpha_flops(w)
        c = LayerCost(r.name, r.type, r.macs, flops, b, intensity, af)
        if times is not None:
            c.time_s = times[i]
        out.append(c)
    return out
