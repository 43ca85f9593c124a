"""What an ONNX value is while a graph is read: a layer's output or a constant, and names.

A :class:`Const` is a tensor known at import time: an initializer, a ``Constant`` node, or a
size computation (``Shape -> Gather -> Concat``) evaluated here, whose elements may be
symbolic sizes (a NumPy object array). Large weights keep only their shape; their values are
read only when a rule needs them (a ``Clip`` bound, a ``Reshape`` target).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..algebra.arith import Value, is_num
from ..algebra.expr import NAME_RE, RESERVED
from ..errors import CnnCalcError
from ..layers.tensor import Tensor

SMALL = 4096
"""Constants with at most this many elements are folded by value; larger ones by shape."""


@dataclass
class Act:
    """An activation: the output ``name`` of a layer (or ``"input"``) and its tensor."""

    name: str
    t: Tensor


@dataclass
class Const:
    """A tensor known at import time: its shape and, unless only the shape matters, its values
    (``data``, read from ``proto`` on first use)."""

    shape: tuple[int, ...]
    data: np.ndarray | None = None
    proto: Any = field(default=None, repr=False)
    origin: str = ""
    floaty: bool = False
    """Symbolic sizes cast to a float (``Cast(Shape(x), FLOAT)``): divisions are exact."""

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def array(self, what: str) -> np.ndarray:
        """The values; a :class:`CnnCalcError` when they are not in the file."""
        if self.data is None and self.proto is not None:
            from onnx import numpy_helper
            try:
                self.data = numpy_helper.to_array(self.proto)
            except Exception:  # external data not loaded, or a malformed tensor
                raise CnnCalcError(f"{what}: the values of {self.origin or 'a constant'} are "
                                   "not in the file (external data); they are needed here",
                                   kind="input") from None
        if self.data is None:
            raise CnnCalcError(f"{what}: the values of {self.origin or 'a constant'} are not "
                               "known at import time", kind="input")
        return self.data

    def ints(self, what: str) -> list[Value]:
        """The values as a flat list of sizes (ints or symbolic)."""
        return [_as_value(v, what) for v in np.asarray(self.array(what)).reshape(-1).tolist()]

    def floats(self, what: str) -> list[float]:
        out = []
        for v in np.asarray(self.array(what)).reshape(-1).tolist():
            if not isinstance(v, (int, float)):
                raise CnnCalcError(f"{what}: expected numbers, got a symbolic size",
                                   kind="input")
            out.append(float(v))
        return out


def _as_value(v: Any, what: str) -> Value:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if hasattr(v, "free_symbols"):  # a sympy size
        return v
    raise CnnCalcError(f"{what}: expected integer sizes, got {v!r}", kind="input")


def exact(v: Any) -> Any:
    """A float as an exact number (an int when whole, else a sympy Rational), so that sizes
    combined with float constants stay exact; anything else as it is."""
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if f.is_integer():
            return int(f)
        import fractions

        import sympy
        q = fractions.Fraction(f).limit_denominator(10**6)
        return sympy.Rational(q.numerator, q.denominator)
    if isinstance(v, np.integer):
        return int(v)
    return v


def exact_array(a: np.ndarray) -> np.ndarray:
    """:func:`exact` of every element (an object array)."""
    return np.asarray(np.frompyfunc(exact, 1, 1)(a), dtype=object).reshape(a.shape)


def const(data: Any, origin: str = "", floaty: bool = False) -> Const:
    """A :class:`Const` holding ``data`` (any array-like; symbolic sizes as objects)."""
    arr = np.asarray(data) if not isinstance(data, np.ndarray) else data
    if arr.dtype == object:
        arr = np.array([int(v) if is_num(v) else v for v in arr.reshape(-1).tolist()],
                       dtype=object).reshape(arr.shape)
    return Const(tuple(int(d) for d in arr.shape), arr, origin=origin,
                 floaty=floaty and arr.dtype == object)


class NotSupported(CnnCalcError):
    """An op rule that does not apply to these inputs (a size computation given an
    activation): the op is unsupported here, and may be recorded as opaque."""


LAYER_NAME_RE = re.compile(r"[^A-Za-z0-9_.\-]")


class Names:
    """Unique layer names from ONNX node names: ``/layer1/layer1.0/conv1/Conv`` becomes
    ``layer1.0.conv1`` (a scope that repeats its parent's prefix is merged, the op type at the
    end dropped), any other character outside ``[A-Za-z0-9_.-]`` becomes ``_``."""

    def __init__(self) -> None:
        self.used: set[str] = {"input"}

    def take(self, node_name: str, op_type: str, suffix: str = "") -> str:
        parts = [p for p in node_name.strip("/").split("/") if p]
        merged = [p for i, p in enumerate(parts)
                  if not (i + 1 < len(parts) and parts[i + 1].startswith(p + "."))]
        if len(merged) > 1 and re.fullmatch(re.escape(op_type) + r"(_\d+)?", merged[-1]):
            merged.pop()
        base = LAYER_NAME_RE.sub("_", ".".join(merged)).strip(".") or op_type.lower()
        base = (base + suffix)[:190]
        name, k = base, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


def symbol_name(raw: str, taken: set[str]) -> str:
    """An ONNX ``dim_param`` as a size name of the expression grammar (letters, digits and
    single underscores, starting with a letter, at most 32 characters), unique in ``taken``."""
    s = re.sub(r"[^A-Za-z0-9_]", "_", raw)
    s = re.sub(r"_+", "_", s).strip("_")
    if not s or not s[0].isalpha():
        s = "d" + s
    s = s[:28].rstrip("_")
    if s in RESERVED:
        s += "1"
    name, k = s, 2
    while name in taken:
        name, k = f"{s}{k}", k + 1
    assert NAME_RE.match(name)
    return name


def check_rename(symbols: Mapping[Any, str] | None) -> dict[Any, str]:
    """The ``symbols=`` argument checked: every target a size name of the grammar."""
    out: dict[Any, str] = {}
    for k, v in (symbols or {}).items():
        if not isinstance(v, str) or not NAME_RE.match(v) or v in RESERVED or "__" in v:
            raise CnnCalcError(f"symbols: {v!r} (for {k!r}) is not a valid size name "
                               "(a letter, then letters, digits or _; at most 32)",
                               kind="input")
        out[k] = v
    return out
