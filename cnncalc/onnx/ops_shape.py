"""The rules of the tensor ops: arithmetic, concat, reshapes, slicing, reductions, resizing.

On constants (initializers and size computations such as ``Shape -> Gather -> Concat``)
these ops are evaluated here, symbolic sizes included, and produce constants; on
activations they become layers (``add``, ``flatten``, ``reshape``, ``permute``, ``slice``,
...), or nothing where they change no shape (``Identity``, ``Dropout``, ``Cast``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..algebra.arith import Value, floordiv, is_num, norm, prod, ratio, same
from .convert import Converter, field
from .values import SMALL, Act, Const, const, exact_array

V = Act | Const | None
BIG = 2**62


def _c(cv: Converter, node: Any, v: V, what: str) -> Const:
    if not isinstance(v, Const):
        raise cv.error(node, f"{what} must be known at import time (a constant or a size "
                             "computed from shapes)")
    return v


def _ints(cv: Converter, node: Any, ins: list[V], i: int, attr: str) -> list[Value] | None:
    """An int list given as input ``i`` (newer opsets) or attribute ``attr`` (older)."""
    if len(ins) > i and ins[i] is not None:
        return _c(cv, node, ins[i], attr).ints(f"{node.op_type} {attr}")
    v = cv.attr(node, attr)
    return None if v is None else [int(a) for a in v]


def _norm_axis(a: Value, r: int) -> int:
    a = int(a)
    return a + r if a < 0 else a


def alias(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    """Identity, Dropout (inference), Cast: the value itself."""
    if node.op_type == "Dropout" and len(node.output) > 1 and cv.consumers.get(node.output[1]):
        raise cv.error(node, "the mask output of Dropout is not supported")
    return [ins[0], None]


# --- arithmetic ------------------------------------------------------------------------------

_ARITH = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


def _fold(op: str, a: np.ndarray, b: np.ndarray, floaty: bool) -> np.ndarray:
    if a.dtype == object or b.dtype == object:  # sizes: every number exact
        a, b = exact_array(a), exact_array(b)
    if op == "Add":
        return np.asarray(a + b)
    if op == "Sub":
        return np.asarray(a - b)
    if op == "Mul":
        return np.asarray(a * b)
    if a.dtype.kind in "iuO" and b.dtype.kind in "iuO":
        # Integer sizes divide with a floor (ONNX's integer Div on sizes >= 0); sizes cast
        # to a float divide exactly (a later Ceil or Floor rounds).
        div = (lambda x, y: ratio(norm(x), norm(y))) if floaty else \
            (lambda x, y: floordiv(norm(x), norm(y)))
        return np.asarray(np.frompyfunc(div, 2, 1)(a, b))
    return np.asarray(a / b)


def parameter(cv: Converter, node: Any, c: Const, rank: int) -> Act:
    """A constant tensor combined with an activation: a learned ``parameter`` layer."""
    shape = [1] * (rank - len(c.shape)) + list(c.shape)
    return cv.emit(node, "parameter", {"shape": shape}, [], suffix=".param")


def arith(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    a, b = ins[0], ins[1]
    if isinstance(a, Const) and isinstance(b, Const):
        if a.numel <= SMALL and b.numel <= SMALL:
            floaty = a.floaty or b.floaty
            return [const(_fold(node.op_type, a.array("operand"), b.array("operand"), floaty),
                          floaty=floaty)]
        return [Const(tuple(np.broadcast_shapes(a.shape, b.shape)))]
    typ = _ARITH[node.op_type]
    if isinstance(a, Act) and isinstance(b, Act):
        if len(a.t.shape) != len(b.t.shape):
            raise cv.error(node, f"operands of ranks {len(a.t.shape)} and {len(b.t.shape)} "
                                 "(broadcasting across ranks) are not supported")
        return [cv.emit(node, typ, {}, [a, b])]
    x, c = (a, b) if isinstance(a, Act) else (b, a)
    assert isinstance(x, Act) and isinstance(c, Const)
    if c.numel == 1 and node.op_type in ("Div", "Mul"):
        from .patterns import gelu_erf
        found = gelu_erf(cv, node, x, c)
        if found is not None:
            return [found]
    if c.numel == 1:
        return [cv.emit(node, typ, {"scalar": c.floats("the constant operand")[0]}, [x])]
    if len(c.shape) > len(x.t.shape):
        raise cv.error(node, "a constant of higher rank than the activation is not supported")
    p = parameter(cv, node, c, len(x.t.shape))
    return [cv.emit(node, typ, {}, [x, p] if x is a else [p, x])]


def concat(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    vals = [v for v in ins if v is not None]
    axis = int(cv.attr(node, "axis"))
    if all(isinstance(v, Const) for v in vals):
        cs = [v for v in vals if isinstance(v, Const)]
        if all(c.numel <= SMALL for c in cs):
            return [const(np.concatenate([np.asarray(c.array("operand"), dtype=object)
                                          for c in cs], axis=axis))]
        raise cv.error(node, "a Concat of large constants is not supported")
    rank = max(len(v.t.shape) for v in vals if isinstance(v, Act))
    acts = [v if isinstance(v, Act) else parameter(cv, node, v, rank) for v in vals
            if isinstance(v, (Act, Const))]
    return [cv.emit(node, "concat", {"dim": _norm_axis(axis, rank)}, acts)]


# --- shapes ---------------------------------------------------------------------------------

def shape_of(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    v = ins[0]
    dims: list[Value] = list(v.t.shape) if isinstance(v, Act) else list(_c(cv, node, v, "x").shape)
    if node.op_type == "Size":
        return [const(np.array(prod(dims), dtype=object))]
    r = len(dims)
    start = cv.attr(node, "start", 0)
    end = cv.attr(node, "end", r)
    return [const(np.array(dims[max(0, min(r, _norm_axis(start, r))):
                                max(0, min(r, _norm_axis(end, r)))], dtype=object))]


def reshape_to(cv: Converter, node: Any, x: Act, shape: list[Value],
               written: list[Value] | None = None) -> Act:
    """A layer taking ``x`` to ``shape``: none when it is already that, ``flatten`` when a run
    of axes merges, else ``reshape`` (``written``: the target as the file gives it, -1 kept)."""
    old = list(x.t.shape)
    if len(old) == len(shape) and all(same(a, b) is True for a, b in zip(old, shape,
                                                                          strict=True)):
        return x
    k = len(old) - len(shape) + 1  # a flatten merges k axes into one
    if k >= 2:
        for a in range(len(shape)):
            merged = [*old[:a], prod(old[a:a + k]), *old[a + k:]]
            if all(same(p, q) is True for p, q in zip(merged, shape, strict=True)):
                end = a + k - 1
                fields: dict[str, Any] = {"start_dim": a}
                if end != len(old) - 1:
                    fields["end_dim"] = end
                return cv.emit(node, "flatten", fields, [x])
    out = written if written is not None else shape
    return cv.emit(node, "reshape", {"shape": [field(v) for v in out]}, [x])


def reshape(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    data = ins[0]
    if len(ins) > 1:
        target = _c(cv, node, ins[1], "the target shape").ints("Reshape shape")
    else:
        target = [int(v) for v in cv.attr(node, "shape")]
    old: list[Value] = list(data.t.shape) if isinstance(data, Act) else \
        list(_c(cv, node, data, "data").shape)
    allow_zero = cv.attr(node, "allowzero", 0)
    new: list[Value] = []
    for i, v in enumerate(target):
        if is_num(v) and v == 0 and not allow_zero:
            if i >= len(old):
                raise cv.error(node, f"target shape entry {i} is 0 (copy), but the input has "
                                     f"only {len(old)} axes")
            new.append(old[i])
        else:
            new.append(v)
    holes = [i for i, v in enumerate(new) if is_num(v) and v == -1]
    if len(holes) > 1:
        raise cv.error(node, "more than one -1 in the target shape")
    if holes:
        new[holes[0]] = ratio(prod(old), prod(v for i, v in enumerate(new) if i != holes[0]))
    if isinstance(data, Const):
        if data.data is not None and all(is_num(v) for v in new):
            return [const(np.asarray(data.data).reshape([int(v) for v in new]))]
        if all(is_num(v) for v in new):
            return [Const(tuple(int(v) for v in new))]
        raise cv.error(node, "a constant reshaped to a symbolic shape is not supported")
    assert isinstance(data, Act)
    written = [v if not (is_num(v) and v == 0) else new[i] for i, v in enumerate(target)]
    return [reshape_to(cv, node, data, new, written)]


def flatten(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = ins[0]
    if not isinstance(x, Act):
        raise cv.error(node, "Flatten of a constant is not supported")
    r = len(x.t.shape)
    axis = _norm_axis(cv.attr(node, "axis", 1), r)
    shape = [prod(x.t.shape[:axis]), prod(x.t.shape[axis:])]
    return [reshape_to(cv, node, x, shape)]


def _axes_arg(cv: Converter, node: Any, ins: list[V]) -> list[int] | None:
    ax = _ints(cv, node, ins, 1, "axes")
    return None if ax is None else [int(a) for a in ax]


def squeeze(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = ins[0]
    dims: list[Value] = list(x.t.shape) if isinstance(x, Act) else list(_c(cv, node, x, "x").shape)
    axes = _axes_arg(cv, node, ins)
    r = len(dims)
    drop = {_norm_axis(a, r) for a in axes} if axes is not None else \
        {i for i, d in enumerate(dims) if is_num(d) and d == 1}
    new = [d for i, d in enumerate(dims) if i not in drop]
    if isinstance(x, Const):
        return [_const_reshape(cv, node, x, new)]
    assert isinstance(x, Act)
    return [reshape_to(cv, node, x, new)]


def unsqueeze(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = ins[0]
    dims: list[Value] = list(x.t.shape) if isinstance(x, Act) else list(_c(cv, node, x, "x").shape)
    axes = _axes_arg(cv, node, ins) or []
    r = len(dims) + len(axes)
    new = list(dims)
    for a in sorted(_norm_axis(a, r) for a in axes):
        new.insert(a, 1)
    if isinstance(x, Const):
        return [_const_reshape(cv, node, x, new)]
    assert isinstance(x, Act)
    return [reshape_to(cv, node, x, new)]


def _const_reshape(cv: Converter, node: Any, x: Const, new: list[Value]) -> Const:
    shape = [int(v) for v in new]
    if x.data is not None or x.numel <= SMALL:
        return const(np.asarray(x.array("data")).reshape(shape))
    return Const(tuple(shape))


def gather(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    data = ins[0]
    idx = _c(cv, node, ins[1], "the indices")
    axis = int(cv.attr(node, "axis", 0))
    ia = np.asarray(idx.array("Gather indices"))
    if isinstance(data, Const):
        arr = np.asarray(data.array("Gather data"), dtype=object)
        return [const(np.take(arr, ia.astype(np.int64), axis=axis))]
    assert isinstance(data, Act)
    r = len(data.t.shape)
    axis = _norm_axis(axis, r)
    if ia.ndim != 0:
        raise cv.error(node, "Gather of an activation with an index tensor is not supported "
                             "(a scalar index is)")
    i = int(ia)
    if i < 0:
        n = data.t.shape[axis]
        if not is_num(n):
            raise cv.error(node, "a negative index along a symbolic axis is not supported")
        i += n
    return [cv.emit(node, "index", {"dim": axis, "index": i}, [data])]


def slice_(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    data = ins[0]
    if cv.opset >= 10:
        starts = _c(cv, node, ins[1], "starts").ints("Slice starts")
        ends = _c(cv, node, ins[2], "ends").ints("Slice ends")
        axes = _ints(cv, node, ins, 3, "axes")
        steps = _ints(cv, node, ins, 4, "steps")
    else:
        starts, ends = list(cv.attr(node, "starts")), list(cv.attr(node, "ends"))
        axes, steps = cv.attr(node, "axes"), None
    dims: list[Value] = list(data.t.shape) if isinstance(data, Act) else \
        list(_c(cv, node, data, "data").shape)
    r = len(dims)
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if isinstance(data, Const):
        arr = np.asarray(data.array("Slice data"), dtype=object)
        sl = [slice(None)] * r
        for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
            sl[_norm_axis(a, r)] = slice(int(s), None if int(e) >= BIG // 2 else int(e), int(st))
        return [const(arr[tuple(sl)])]
    x = data
    assert isinstance(x, Act)
    for a, s, e, st in zip(axes, starts, ends, steps, strict=True):
        ax = _norm_axis(a, r)
        n = x.t.shape[ax]
        start = _bound(cv, node, s, n)
        end = None if is_num(e) and e >= BIG // 2 else _bound(cv, node, e, n)
        if end is not None and is_num(n) and is_num(end) and end >= n:
            end = None
        if start == 0 and end is None and st == 1:
            continue
        fields: dict[str, Any] = {"dim": ax, "start": field(start),
                                  "end": None if end is None else field(end), "step": int(st)}
        x = cv.emit(node, "slice", fields, [x], suffix=f".{ax}" if len(axes) > 1 else "")
    return [x]


def _bound(cv: Converter, node: Any, v: Value, n: Value) -> Value:
    if is_num(v) and v < 0:
        if is_num(n):
            return max(0, n + v)
        return norm(n + v)
    return v


def transpose(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = ins[0]
    perm = cv.attr(node, "perm")
    if isinstance(x, Const):
        arr = x.array("Transpose data")
        return [const(np.transpose(arr, perm))]
    assert isinstance(x, Act)
    perm = list(perm) if perm is not None else list(reversed(range(len(x.t.shape))))
    if perm == sorted(perm):
        return [x]
    return [cv.emit(node, "permute", {"dims": [int(p) for p in perm]}, [x])]


def expand(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = ins[0]
    target = _c(cv, node, ins[1], "the shape").ints("Expand shape")
    if isinstance(x, Const) and not all(is_num(v) for v in target):
        x = parameter(cv, node, x, max(len(x.shape), len(target)))  # a class token
    if isinstance(x, Const):
        shape = tuple(np.broadcast_shapes(x.shape, tuple(int(v) for v in target)))
        if x.numel <= SMALL and int(np.prod(shape)) <= SMALL:
            return [const(np.broadcast_to(np.asarray(x.array("data"), dtype=object), shape))]
        return [Const(shape)]
    assert isinstance(x, Act)
    old = list(x.t.shape)
    r = max(len(old), len(target))
    padded = [1] * (r - len(old)) + old
    tgt = [1] * (r - len(target)) + list(target)
    out = [o if (is_num(t) and t == 1) else t for o, t in zip(padded, tgt, strict=True)]
    if len(out) == len(old) and all(same(a, b) is True for a, b in zip(out, old, strict=True)):
        return [x]
    written = [-1 if same(o, p) is True and i >= r - len(old) else o
               for i, (o, p) in enumerate(zip(out, padded, strict=True))]
    return [cv.emit(node, "expand", {"shape": [field(v) for v in written]}, [x])]


_FLOATS = {1, 10, 11, 16}
_INTS = {2, 3, 4, 5, 6, 7, 12, 13}


def cast(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    """No layer: an activation passes; a constant's numbers change type (sizes cast to a
    float for a scale computation, back to an integer after it); symbolic sizes stay."""
    x = ins[0]
    if node.op_type != "Cast" or not isinstance(x, Const) or x.data is None:
        return [x]
    to = int(cv.attr(node, "to", 0))
    arr = np.asarray(x.data)
    if arr.dtype == object:  # symbolic sizes
        if to in _FLOATS:
            return [const(arr, floaty=True)]
        if to in _INTS and x.floaty:
            from .fold import rounded
            return [const(rounded(arr, "Floor"))]
        return [x]
    try:
        if to in _FLOATS:
            return [const(arr.astype(np.float64))]
        if to in _INTS and arr.dtype.kind == "f":
            return [const(np.trunc(arr).astype(np.int64))]
        if to == 9:
            return [const(arr.astype(bool))]
    except TypeError:  # symbolic sizes: they stay sizes
        pass
    return [x]


def constant(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    from onnx import numpy_helper
    for a in node.attribute:
        if a.name == "value":
            return [const(numpy_helper.to_array(a.t))]
        if a.name in ("value_int", "value_ints", "value_float", "value_floats"):
            return [const(np.array(cv.attr(node, a.name)))]
    raise cv.error(node, "a Constant without a value, value_int(s) or value_float(s) is not "
                         "supported")


def constant_of_shape(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    from onnx import numpy_helper
    dims = _c(cv, node, ins[0], "the shape").ints("ConstantOfShape shape")
    if not all(is_num(d) for d in dims):
        raise cv.error(node, "a ConstantOfShape of a symbolic shape is not supported")
    shape = tuple(int(d) for d in dims)
    v = cv.attr(node, "value")
    fill = numpy_helper.to_array(v).reshape(-1)[0] if v is not None else np.float32(0)
    if int(np.prod(shape)) <= SMALL:
        return [const(np.full(shape, fill))]
    return [Const(shape)]
