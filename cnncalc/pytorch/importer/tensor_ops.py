"""Shape operations of traced tensors: views (``reshape``, ``permute``, ``transpose``,
``expand``, ``flatten``, ``unsqueeze``), indexing and slicing, ``split``/``chunk``/``unbind``,
reductions, sizes (``x.size(i)``, ``x.dim()``), ``matmul`` and attention.
"""

from __future__ import annotations

from typing import Any

from ...algebra.arith import prod
from .convert import Call, Handler, Param, TRef, size_field, to_value


def rank_of(v: Any) -> int:
    if isinstance(v, TRef):
        return len(v.t.shape)
    if isinstance(v, Param):
        return len(v.shape)
    return 0


def alias(c: Call) -> Any:
    """A call that changes nothing cnncalc counts (``contiguous``, ``to``, ``clone``)."""
    return c.args[0]


def reshape_to(c: Call, x: TRef, rank: int) -> TRef:
    """``x`` with leading axes of length 1 up to ``rank`` (broadcasting of a lower-rank
    operand), by a ``reshape``."""
    k = rank - len(x.t.shape)
    if k <= 0:
        return x
    shape = [1] * k + [size_field(v, c) for v in x.t.shape]
    return c.emit({"type": "reshape", "shape": shape}, [x], f"{c.name}.unsqueeze")


def _dims(args: tuple[Any, ...]) -> list[Any]:
    """``f(x, 1, 2)`` or ``f(x, (1, 2))``: the list after the tensor."""
    rest = list(args[1:])
    if len(rest) == 1 and isinstance(rest[0], (tuple, list)):
        return list(rest[0])
    return rest


def _norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


def _reshape(c: Call) -> TRef:
    shape = c.kwargs.get("shape") or _dims(c.args)
    x = c.tensor(c.args[0])
    return c.emit({"type": "reshape", "shape": [size_field(v, c) for v in shape]}, [x])


def _reshape_as(c: Call) -> TRef:
    other = c.tensor(c.args[1])
    return c.emit({"type": "reshape", "shape": [size_field(v, c) for v in other.t.shape]},
                  [c.tensor(c.args[0])])


def _permute(c: Call) -> TRef:
    x = c.tensor(c.args[0])
    dims = c.kwargs.get("dims") or _dims(c.args)
    r = len(x.t.shape)
    return c.emit({"type": "permute", "dims": [_norm_dim(int(d), r) for d in dims]}, [x])


def _transpose(c: Call) -> TRef:
    x = c.tensor(c.args[0])
    r = len(x.t.shape)
    d0, d1 = (_norm_dim(int(c.arg(i, k)), r) for i, k in ((1, "dim0"), (2, "dim1")))
    return c.emit({"type": "transpose", "dim0": d0, "dim1": d1}, [x])


def _expand(c: Call) -> TRef:
    x = c.tensor(c.args[0], len(_dims(c.args)))
    return c.emit({"type": "expand", "shape": [size_field(v, c) for v in _dims(c.args)]}, [x])


def _expand_as(c: Call) -> TRef:
    other = c.tensor(c.args[1])
    x = c.tensor(c.args[0], len(other.t.shape))
    return c.emit({"type": "expand", "shape": [size_field(v, c) for v in other.t.shape]}, [x])


def _flatten(c: Call) -> TRef:
    spec: dict[str, Any] = {"type": "flatten", "start_dim": int(c.arg(1, "start_dim", 0))}
    end = int(c.arg(2, "end_dim", -1))
    if end != -1:
        spec["end_dim"] = end
    return c.emit(spec, [c.tensor(c.args[0])])


def _unsqueeze(c: Call) -> TRef:
    x = c.tensor(c.args[0])
    shape = [size_field(v, c) for v in x.t.shape]
    d = int(c.arg(1, "dim"))
    d = d + len(shape) + 1 if d < 0 else d
    shape.insert(d, 1)
    return c.emit({"type": "reshape", "shape": shape}, [x])


def _squeeze(c: Call) -> TRef:
    x = c.tensor(c.args[0])
    r = len(x.t.shape)
    dims = _dims(c.args) or [i for i, v in enumerate(x.t.shape) if v == 1]
    drop = {_norm_dim(int(d), r) for d in dims if x.t.shape[_norm_dim(int(d), r)] == 1}
    shape = [size_field(v, c) for i, v in enumerate(x.t.shape) if i not in drop]
    return c.emit({"type": "reshape", "shape": shape}, [x])


def _split(c: Call) -> list[TRef]:
    x = c.tensor(c.args[0])
    sizes = c.arg(1, "split_size_or_sections", c.kwargs.get("split_size"))
    dim = _norm_dim(int(c.arg(2, "dim", 0)), len(x.t.shape))
    val = [size_field(s, c) for s in sizes] if isinstance(sizes, (list, tuple)) \
        else size_field(sizes, c)
    return c.emit_parts({"type": "split", "dim": dim, "sizes": val}, [x])


def _chunk(c: Call) -> list[TRef]:
    x = c.tensor(c.args[0])
    dim = _norm_dim(int(c.arg(2, "dim", 0)), len(x.t.shape))
    return c.emit_parts({"type": "chunk", "chunks": int(c.arg(1, "chunks")), "dim": dim}, [x])


def _unbind(c: Call) -> list[TRef]:
    x = c.tensor(c.args[0])
    dim = _norm_dim(int(c.arg(1, "dim", 0)), len(x.t.shape))
    n = x.t.shape[dim]
    if to_value(n) is None or not isinstance(n, int):
        raise c.unsupported("unbind along an axis of symbolic length")
    base = c.name
    return [c.emit({"type": "index", "dim": dim, "index": i}, [x], f"{base}.{i}")
            for i in range(n)]


def index_tensor(c: Call, x: TRef, idx: Any) -> TRef:
    """``x[idx]``: slices become ``slice`` layers, integers ``index`` layers, ``None`` a
    ``reshape`` adding an axis."""
    items = list(idx) if isinstance(idx, tuple) else [idx]
    rank = len(x.t.shape)
    d = 0
    out = x
    for k, it in enumerate(items):
        if it is Ellipsis:
            d = rank - sum(1 for j in items[k + 1:] if j is not None)
            continue
        if isinstance(it, slice):
            if it.start is None and it.stop is None and it.step in (None, 1):
                d += 1
                continue
            spec: dict[str, Any] = {"type": "slice", "dim": d,
                                    "start": 0 if it.start is None else size_field(it.start, c),
                                    "end": None if it.stop is None else size_field(it.stop, c),
                                    "step": 1 if it.step is None else size_field(it.step, c)}
            out = c.emit(spec, [out])
            d += 1
        elif it is None:
            shape = [size_field(v, c) for v in out.t.shape]
            shape.insert(d, 1)
            out = c.emit({"type": "reshape", "shape": shape}, [out])
            rank += 1
            d += 1
        elif isinstance(it, int) and not isinstance(it, bool):
            out = c.emit({"type": "index", "dim": d, "index": it}, [out])
            rank -= 1
        else:
            raise c.unsupported(f"indexing with a {type(it).__name__} (advanced indexing)")
    return out


def _reduce(kind: str) -> Handler:
    def h(c: Call) -> TRef:
        x = c.tensor(c.args[0])
        dim = c.arg(1, "dim")
        if dim is None:
            raise c.unsupported(f"{kind} over every axis (the batch included)")
        dims = [int(d) for d in dim] if isinstance(dim, (list, tuple)) else int(dim)
        spec: dict[str, Any] = {"type": kind, "dim": dims}
        if c.arg(2, "keepdim", False):
            spec["keepdim"] = True
        return c.emit(spec, [x])
    return h


def _size(c: Call) -> Any:
    x = c.args[0]
    shape = tuple(x.t.shape) if isinstance(x, TRef) else tuple(x.shape)
    d = c.arg(1, "dim")
    return shape if d is None else shape[int(d)]


def _dim(c: Call) -> int:
    return rank_of(c.args[0])


def _numel(c: Call) -> Any:
    x = c.args[0]
    return prod(x.t.shape) if isinstance(x, TRef) else prod(x.shape)


def _matmul(c: Call) -> TRef:
    a, b = c.arg(0, "input"), c.arg(1, "other")
    return c.emit({"type": "matmul"}, [c.tensor(a), c.tensor(b)])


def _einsum(c: Call) -> TRef:
    """``torch.einsum`` of the batched matrix products (``bhid,bhjd->bhij``: operands of equal
    rank with the same leading batch letters, one contracted letter): transposes where an
    operand has its last two axes the other way round, then ``matmul``."""
    eq = str(c.args[0]).replace(" ", "")
    ops = list(c.args[1]) if len(c.args) == 2 and isinstance(c.args[1], (list, tuple)) \
        else list(c.args[1:])
    lhs, _, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != 2 or len(ops) != 2 or "." in eq or not out:
        raise c.unsupported(f"einsum {eq!r}: only two-operand batched matrix products")
    a, b = terms
    r = len(out)
    batch = out[:-2]
    ok = len(a) == len(b) == r >= 2 and a[:-2] == b[:-2] == batch and len(set(out)) == r
    if ok:
        i, j = out[-2], out[-1]
        k = (set(a[-2:]) & set(b[-2:])) - {i, j}
        ok = len(k) == 1 and set(a[-2:]) == {i, *k} and set(b[-2:]) == {j, *k}
    if not ok:
        raise c.unsupported(f"einsum {eq!r}: only two-operand batched matrix products "
                            "(such as 'bhid,bhjd->bhij')")
    ta, tb = c.tensor(ops[0]), c.tensor(ops[1])
    if a[-1] != next(iter(k)):  # [.., k, i]: bring the contracted axis last
        ta = c.emit({"type": "transpose", "dim0": r - 2, "dim1": r - 1}, [ta],
                    f"{c.name}.transpose")
    if b[-2] != next(iter(k)):  # [.., j, k]: bring it first of the two
        tb = c.emit({"type": "transpose", "dim0": r - 2, "dim1": r - 1}, [tb],
                    f"{c.name}.transpose")
    return c.emit({"type": "matmul"}, [ta, tb])


def _sdpa(c: Call) -> TRef:
    q, k, v = (c.tensor(c.arg(i, n)) for i, n in enumerate(("query", "key", "value")))
    if c.arg(3, "attn_mask") is not None:
        raise c.unsupported("an attn_mask argument")
    spec: dict[str, Any] = {"type": "attention"}
    scale = c.arg(6, "scale")
    if scale is not None:
        spec["scale"] = float(scale)
    if c.arg(5, "is_causal", False):
        spec["is_causal"] = True
    return c.emit(spec, [q, k, v])


METHOD_OPS: dict[str, Handler] = {
    "view": _reshape, "reshape": _reshape, "view_as": _reshape_as, "reshape_as": _reshape_as,
    "permute": _permute, "transpose": _transpose,
    "swapaxes": _transpose, "expand": _expand, "expand_as": _expand_as, "flatten": _flatten,
    "unsqueeze": _unsqueeze, "squeeze": _squeeze, "split": _split, "chunk": _chunk,
    "unbind": _unbind, "mean": _reduce("mean"), "sum": _reduce("sum"), "amax": _reduce("amax"),
    "size": _size, "dim": _dim, "numel": _numel, "matmul": _matmul,
}


def TENSOR_FUNCTIONS(torch: Any) -> dict[Any, Handler]:  # noqa: N802 - a table
    """The ``torch.*`` functions of these operations."""
    import operator

    nnf = torch.nn.functional
    return {
        torch.reshape: _reshape, torch.permute: _permute, torch.transpose: _transpose,
        torch.swapaxes: _transpose, torch.flatten: _flatten, torch.unsqueeze: _unsqueeze,
        torch.squeeze: _squeeze, torch.split: _split, torch.chunk: _chunk,
        torch.unbind: _unbind, torch.mean: _reduce("mean"), torch.sum: _reduce("sum"),
        torch.amax: _reduce("amax"), torch.matmul: _matmul, operator.matmul: _matmul,
        torch.bmm: _matmul, nnf.scaled_dot_product_attention: _sdpa, torch.einsum: _einsum,
    }
