"""Ops that exporters write out as several nodes, read back as one layer.

``x * 0.5 * (1 + erf(x / sqrt(2)))`` is how the TorchScript exporter writes ``nn.GELU()``
before opset 20 (which has ``Gelu``): one ``gelu`` layer, not five arithmetic layers and an
unsupported ``Erf``.
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import CnnCalcError
from .convert import Converter
from .values import Act, Const


def _next(cv: Converter, value: str, op: str) -> Any:
    i = cv.only_consumer(value)
    if i is None or cv.graph.node[i].op_type != op:
        return None
    return i


def _scalar(cv: Converter, node: Any, value: str) -> float | None:
    other = [n for n in node.input if n != value]
    c = cv.values.get(other[0]) if len(other) == 1 else None
    if not (isinstance(c, Const) and c.numel == 1):
        return None
    try:
        return c.floats("a constant")[0]
    except CnnCalcError:  # symbolic or unreadable: not this pattern
        return None


def gelu_erf(cv: Converter, node: Any, x: Act, c: Const) -> Act | None:
    """``Div(x, sqrt 2)`` (or ``Mul(x, 1/sqrt 2)``) -> ``Erf`` -> ``Add 1`` -> ``Mul x`` ->
    ``Mul 0.5`` as one ``gelu`` layer; None when the nodes around ``node`` are not that."""
    v = c.floats("a constant")[0]
    want = math.sqrt(2) if node.op_type == "Div" else 1 / math.sqrt(2)
    if node.input[0] != _input_name(cv, node, x) or not math.isclose(v, want, rel_tol=1e-4):
        return None
    i_erf = _next(cv, node.output[0], "Erf")
    if i_erf is None:
        return None
    erf = cv.graph.node[i_erf]
    i_add = _next(cv, erf.output[0], "Add")
    if i_add is None or _scalar(cv, cv.graph.node[i_add], erf.output[0]) != 1.0:
        return None
    add = cv.graph.node[i_add]
    i_mul = _next(cv, add.output[0], "Mul")
    if i_mul is None or node.input[0] not in cv.graph.node[i_mul].input:
        return None
    mul = cv.graph.node[i_mul]
    i_half = _next(cv, mul.output[0], "Mul")
    if i_half is None or _scalar(cv, cv.graph.node[i_half], mul.output[0]) != 0.5:
        return None
    half = cv.graph.node[i_half]
    out = cv.emit(erf, "gelu", {}, [x])
    cv.skip.update({i_erf, i_add, i_mul, i_half})
    cv.values[half.output[0]] = out
    return out


def _input_name(cv: Converter, node: Any, x: Act) -> str:
    """The name ``node`` reads ``x`` by."""
    for n in node.input:
        if cv.values.get(n) is x:
            return str(n)
    return ""
