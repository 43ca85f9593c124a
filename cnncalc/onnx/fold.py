"""Size arithmetic on constants, as exporters write it for dynamic shapes.

``Equal``, ``Where``, ``Mod``, ``Max``, ``Min``, ``Neg`` and comparisons on constants (whose
elements may be symbolic sizes) evaluated here: a window padding ``(7 - W % 7) % 7``, or the
``Where(Equal(shape, -1), 1, shape)`` of an ``expand``. Where a symbolic comparison depends
on the sizes, the model is refused with the node named.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy

from ..algebra.arith import Value, ceildiv, floordiv, mod, norm, same, vmax, vmin
from ..errors import CnnCalcError
from ..layers.context import decide_ge
from .convert import Converter
from .values import SMALL, Act, Const, NotSupported, const, exact

V = Act | Const | None


def _consts(cv: Converter, node: Any, ins: list[V]) -> list[np.ndarray]:
    out = []
    for v in ins:
        if v is None:
            continue
        if not isinstance(v, Const) or v.numel > SMALL:
            raise NotSupported(f"{node.op_type} is supported on sizes and small constants "
                               "only (not on activations)")
        out.append(np.asarray(v.array(node.op_type), dtype=object))
    return out


def _decided(cv: Converter, node: Any, r: bool | None) -> bool:
    if r is None:
        raise cv.error(node, "a comparison of sizes that depends on their values is not "
                             "supported; bind the input sizes (numbers in the file)")
    return r


def _num(v: Any) -> Value:
    e = exact(v)
    return norm(e) if not isinstance(e, float) else e  # type: ignore[return-value]


def _pairwise(cv: Converter, node: Any, ins: list[V],
              f: Callable[[Any, Any], Any]) -> list[V]:
    vals = _consts(cv, node, ins)
    g = np.frompyfunc(f, 2, 1)
    acc = vals[0]
    for v in vals[1:]:
        acc = np.asarray(g(acc, v))
    return [const(acc)]


def _equal(a: Value, b: Value) -> bool | None:
    """``a == b`` for all sizes: also False where one is provably the larger (a size
    against ``-1``)."""
    r = same(a, b)
    if r is None and (decide_ge(a, norm(b + 1)) or decide_ge(b, norm(a + 1))):
        return False
    return r


def equal(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    return _pairwise(cv, node, ins, lambda a, b: _decided(cv, node, _equal(_num(a), _num(b))))


def less(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    if node.op_type == "Greater":
        return _pairwise(cv, node, ins, lambda a, b: not _decided(cv, node, decide_ge(b, a)))
    return _pairwise(cv, node, ins, lambda a, b: not _decided(cv, node, decide_ge(a, b)))


def where(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    c, a, b = _consts(cv, node, ins)
    return [const(np.where(c.astype(bool), a, b))]


def modulo(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    return _pairwise(cv, node, ins, lambda a, b: mod(_num(a), _num(b)))


def maximum(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    f = vmax if node.op_type == "Max" else vmin
    return _pairwise(cv, node, ins, lambda a, b: f(_num(a), _num(b)))


def clip_sizes(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    """``Clip(sizes, min, max)`` on constants."""
    vals = _consts(cv, node, ins)
    out = vals[0]
    if len(vals) > 1 and ins[1] is not None:
        lo = vals[1].reshape(-1)[0]
        out = np.asarray(np.frompyfunc(lambda v: vmax(_num(v), _num(lo)), 1, 1)(out))
    if len(ins) > 2 and ins[2] is not None:
        hi = vals[-1].reshape(-1)[0]
        out = np.asarray(np.frompyfunc(lambda v: vmin(_num(v), _num(hi)), 1, 1)(out))
    src = ins[0]
    return [const(out, floaty=isinstance(src, Const) and src.floaty)]


def negate(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    (a,) = _consts(cv, node, ins)
    return [const(np.asarray(-a))]


def unary_float(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    """``Sqrt``, ``Reciprocal``, ``Exp`` of a numeric constant (a head size's scale)."""
    (a,) = _consts(cv, node, ins)
    try:
        x = a.astype(np.float64)
    except TypeError:
        raise cv.error(node, f"{node.op_type} of a symbolic size is not supported") from None
    f = {"Sqrt": np.sqrt, "Reciprocal": np.reciprocal, "Exp": np.exp}[node.op_type]
    return [const(f(x))]


def _round(v: Any, up: bool) -> Any:
    """``ceil``/``floor`` of a size or an exact ratio of sizes, in the canonical form."""
    if isinstance(v, (int, float)):
        return math.ceil(v) if up else math.floor(v)
    num, den = sympy.fraction(sympy.together(v))
    if not den.is_Integer:
        raise CnnCalcError(f"cannot round {v}: the divisor is not a number", kind="input")
    return ceildiv(norm(num), int(den)) if up else floordiv(norm(num), int(den))


def rounded(a: np.ndarray, op: str) -> np.ndarray:
    """``Ceil`` or ``Floor`` of every element of ``a`` (sizes exact, numbers as numbers)."""
    if a.dtype != object:
        return np.asarray(np.ceil(a) if op == "Ceil" else np.floor(a))
    return np.asarray(np.frompyfunc(lambda v: _round(v, op == "Ceil"), 1, 1)(a))


def ceil_floor(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    (a,) = _consts(cv, node, ins)
    src = ins[0]
    floaty = isinstance(src, Const) and src.floaty
    return [const(rounded(a, node.op_type), floaty=floaty)]


OPS_FOLD = {"Ceil": ceil_floor, "Floor": ceil_floor, "Sqrt": unary_float,
            "Reciprocal": unary_float, "Exp": unary_float,
            "Equal": equal, "Less": less, "Greater": less, "Where": where, "Mod": modulo,
            "Max": maximum, "Min": maximum, "Neg": negate}
