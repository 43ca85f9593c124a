"""``call_function`` and ``call_method`` nodes: the functional forms of the layers, merges,
reductions and arithmetic on sizes (``x.shape[2] // 2``), keyed by the traced function.

Tensor-shape operations (views, indexing, splits, attention) are in :mod:`.tensor_ops`.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any

from ...algebra.arith import floordiv, is_num, mod, norm, ratio
from ..device import load_torch
from .convert import UNKNOWN, Call, Handler, Param, TRef, size_field, to_value
from .modules import MODULES, adaptive, axes, padding, upsample
from .tensor_ops import METHOD_OPS, TENSOR_FUNCTIONS, alias, rank_of, reshape_to

_SIZE_OPS: dict[Any, Callable[[Any, Any], Any]] = {
    operator.add: lambda a, b: norm(a + b), operator.sub: lambda a, b: norm(a - b),
    operator.mul: lambda a, b: norm(a * b), operator.floordiv: floordiv,
    operator.truediv: ratio, operator.mod: mod,
}


def _size_arith(op: Any, a: Any, b: Any) -> Any:
    if is_num(a) and is_num(b) or isinstance(a, float) or isinstance(b, float):
        return op(a, b)
    return _SIZE_OPS.get(op, op)(a, b)


def arith(kind: str, op: Any) -> Handler:
    """``add``/``sub``/``mul``/``div`` of two tensors, a tensor and a number, or two sizes."""
    def h(c: Call) -> Any:
        a, b = c.arg(0, "input"), c.arg(1, "other")
        va, vb = to_value(a), to_value(b)
        if (va is not None or isinstance(a, float)) and (vb is not None or isinstance(b, float)):
            return _size_arith(op, a, b)
        tens = [v for v in (a, b) if isinstance(v, (TRef, Param))]
        if len(tens) == 2:
            r = max(rank_of(a), rank_of(b))
            ta, tb = (reshape_to(c, c.tensor(v, r), r) for v in (a, b))
            return c.emit({"type": kind}, [ta, tb])
        x, s = (a, b) if tens and tens[0] is a else (b, a)
        if isinstance(s, bool) or not isinstance(s, (int, float)):
            raise c.unsupported(f"{kind} of a tensor and a {type(s).__name__}")
        spec: dict[str, Any] = {"type": kind, "scalar": float(s)}
        if x is b and kind in ("sub", "div"):
            spec["scalar_first"] = True  # 1 - x, 1 / x
        return c.emit(spec, [c.tensor(x)])
    return h


def _compare(op: Any) -> Handler:
    def h(c: Call) -> Any:
        a, b = c.arg(0, "a"), c.arg(1, "b")
        return op(a, b) if is_num(a) and is_num(b) else UNKNOWN
    return h


def _ignored(c: Call) -> Any:
    return None


def _neg(c: Call) -> Any:
    v = to_value(c.args[0])
    if v is None:
        return c.emit({"type": "mul", "scalar": -1.0})
    return norm(-v)


def _act(kind: str, *opts: tuple[int, str, Any]) -> Handler:
    """A functional activation; ``opts``: (position, keyword, default) of its float options,
    written when not the default."""
    def h(c: Call) -> TRef:
        spec: dict[str, Any] = {"type": kind}
        for i, key, default in opts:
            v = c.arg(i, key, default)
            if v != default:
                spec[key] = float(v)
        return c.emit(spec, [c.tensor(c.args[0] if c.args else c.kwargs["input"])])
    return h


def _hardtanh(c: Call) -> TRef:
    if (c.arg(1, "min_val", -1.0), c.arg(2, "max_val", 1.0)) != (0.0, 6.0):
        raise c.unsupported("hardtanh other than (0, 6) (relu6)")
    return c.emit({"type": "relu6"})


def _dropout(c: Call) -> TRef:
    return c.emit({"type": "dropout", "p": float(c.arg(1, "p", 0.5))})


def _softmax(c: Call) -> TRef:
    dim = c.arg(1, "dim")
    if dim is None:
        raise c.unsupported("softmax without dim")
    return c.emit({"type": "softmax", "dim": int(dim)})


def _pool(kind: str) -> Handler:
    def h(c: Call) -> TRef:
        k = axes(c.arg(1, "kernel_size"))
        stride = c.arg(2, "stride")
        spec: dict[str, Any] = {"type": kind, "kernel_size": k}
        if stride is not None and stride != [] and axes(stride) != k:
            spec["stride"] = axes(stride)
        if axes(c.arg(3, "padding", 0)) != 0:
            spec["padding"] = axes(c.arg(3, "padding", 0))
        if kind == "max_pool":
            if axes(c.arg(4, "dilation", 1)) != 1:
                spec["dilation"] = axes(c.arg(4, "dilation", 1))
            if c.arg(5, "ceil_mode", False):
                spec["ceil_mode"] = True
            if c.arg(6, "return_indices", False):
                raise c.unsupported("return_indices=True")
        else:
            if c.arg(4, "ceil_mode", False):
                spec["ceil_mode"] = True
            if not c.arg(5, "count_include_pad", True):
                spec["count_include_pad"] = False
            if c.arg(6, "divisor_override") is not None:
                raise c.unsupported("divisor_override")
        return c.emit(spec)
    return h


def _adaptive(kind: str) -> Handler:
    def h(c: Call) -> TRef:
        return adaptive(kind, c.arg(1, "output_size"), c)
    return h


def _interpolate(c: Call) -> TRef:
    return upsample(c, c.tensor(c.args[0]), c.arg(1, "size"), c.arg(2, "scale_factor"),
                    c.arg(3, "mode", "nearest"), c.arg(4, "align_corners"))


def _pad(c: Call) -> TRef:
    x = c.tensor(c.args[0])
    pad = list(c.arg(1, "pad"))
    mode = c.arg(2, "mode", "constant")
    if mode not in ("constant", "reflect", "replicate"):
        raise c.unsupported(f"pad mode {mode!r}; supported: constant, reflect, replicate")
    nd = len(x.t.shape) - 2
    pairs = [[pad[i], pad[i + 1]] for i in range(0, len(pad), 2)][::-1]  # first axis first
    if len(pairs) > nd:
        raise c.unsupported("padding of the batch or channel axis")
    pairs = [[0, 0]] * (nd - len(pairs)) + pairs
    spec = {"type": "pad", "padding": [[size_field(a, c), size_field(b, c)] for a, b in pairs]}
    if mode != "constant":
        spec["mode"] = mode
    return c.emit(spec, [x])


def _weights(c: Call, *items: tuple[int, str]) -> list[Any]:
    vals = [c.arg(i, k) for i, k in items]
    for v in vals:
        if v is not None and not isinstance(v, Param):
            raise c.unsupported("weights that are computed in forward (cnncalc counts the "
                                "module's own parameters)")
    c.use(*vals)
    return vals


def _linear(c: Call) -> TRef:
    w, b = _weights(c, (1, "weight"), (2, "bias"))
    spec: dict[str, Any] = {"type": "linear", "out_features": w.shape[0]}
    if b is None:
        spec["bias"] = False
    return c.emit(spec)


def _conv(c: Call) -> TRef:
    w, b = _weights(c, (1, "weight"), (2, "bias"))
    spec: dict[str, Any] = {"type": "conv", "out_channels": w.shape[0],
                            "kernel_size": axes(w.shape[2:])}
    for i, key, default in ((3, "stride", 1), (4, "padding", 0), (5, "dilation", 1),
                            (6, "groups", 1)):
        v = c.arg(i, key, default)
        v = padding(v) if key == "padding" else axes(v)
        if v != default:
            spec[key] = v
    if b is None:
        spec["bias"] = False
    return c.emit(spec)


def _layer_norm(c: Call) -> TRef:
    w, b = _weights(c, (2, "weight"), (3, "bias"))
    if (w is None) != (b is None):
        raise c.unsupported("layer_norm with a weight but no bias (or the reverse)")
    ns = c.arg(1, "normalized_shape")
    spec: dict[str, Any] = {"type": "layer_norm",
                            "normalized_dims": len(ns) if isinstance(ns, (list, tuple)) else 1}
    eps = float(c.arg(4, "eps", 1e-5))
    if eps != 1e-5:
        spec["eps"] = eps
    if w is None:
        spec["elementwise_affine"] = False
    return c.emit(spec)


def _batch_norm(c: Call) -> TRef:
    mean, var, w, b = _weights(c, (1, "running_mean"), (2, "running_var"), (3, "weight"),
                               (4, "bias"))
    if (w is None) != (b is None):
        raise c.unsupported("batch_norm with a weight but no bias (or the reverse)")
    spec: dict[str, Any] = {"type": "batch_norm"}
    if w is None:
        spec["affine"] = False
    if mean is None:
        spec["track_running_stats"] = False
    eps = float(c.arg(7, "eps", 1e-5))
    if eps != 1e-5:
        spec["eps"] = eps
    return c.emit(spec)


def _group_norm(c: Call) -> TRef:
    w, b = _weights(c, (2, "weight"), (3, "bias"))
    spec: dict[str, Any] = {"type": "group_norm", "num_groups": int(c.arg(1, "num_groups"))}
    if w is None:
        spec["affine"] = False
    eps = float(c.arg(4, "eps", 1e-5))
    if eps != 1e-5:
        spec["eps"] = eps
    return c.emit(spec)


def _cat(c: Call) -> TRef:
    xs = list(c.arg(0, "tensors"))
    r = max(rank_of(x) for x in xs)
    return c.emit({"type": "concat", "dim": int(c.arg(1, "dim", 0))},
                  [c.tensor(x, r) for x in xs])


def _getattr(c: Call) -> Any:
    obj, attr = c.args[0], c.args[1]
    if isinstance(obj, (TRef, Param)):
        shape = tuple(obj.t.shape) if isinstance(obj, TRef) else obj.shape
        if attr == "shape":
            return shape
        if attr == "ndim":
            return len(shape)
        return UNKNOWN  # dtype, device: only passed on to .to() and the like
    return getattr(obj, attr)


def _getitem(c: Call) -> Any:
    obj, idx = c.args[0], c.args[1]
    if isinstance(obj, (TRef, Param)):
        from .tensor_ops import index_tensor

        return index_tensor(c, c.tensor(obj), idx)
    if obj is UNKNOWN:
        return UNKNOWN
    return obj[idx]


def _stochastic_depth(c: Call) -> TRef:
    return c.emit({"type": "identity"})


_FLOAT = (int, float)


@functools.cache
def tables() -> tuple[dict[Any, Handler], dict[str, Handler]]:
    """(call_function table keyed by the function, call_method table keyed by name)."""
    torch = load_torch()
    nnf = torch.nn.functional
    fn: dict[Any, Handler] = {}
    for kind, ops in (("add", (operator.add, operator.iadd, torch.add)),
                      ("sub", (operator.sub, operator.isub, torch.sub)),
                      ("mul", (operator.mul, operator.imul, torch.mul)),
                      ("div", (operator.truediv, operator.itruediv, torch.div))):
        for o in ops:
            fn[o] = arith(kind, ops[0])
    for o in (operator.floordiv, operator.mod):
        fn[o] = (lambda op: lambda c: _size_arith(op, c.args[0], c.args[1]))(o)
    for o in (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge):
        fn[o] = _compare(o)
    fn[operator.neg] = _neg
    fn[operator.getitem] = _getitem
    fn[getattr] = _getattr
    for f in (torch._assert, torch._C._log_api_usage_once):
        fn[f] = _ignored
    acts: dict[str, tuple[list[Any], tuple[tuple[int, str, Any], ...]]] = {
        "relu": ([nnf.relu, torch.relu], ()), "relu6": ([nnf.relu6], ()),
        "leaky_relu": ([nnf.leaky_relu], ((1, "negative_slope", 0.01),)),
        "gelu": ([nnf.gelu], ()), "silu": ([nnf.silu], ()),
        "sigmoid": ([torch.sigmoid, nnf.sigmoid], ()), "tanh": ([torch.tanh, nnf.tanh], ()),
        "hardswish": ([nnf.hardswish], ()), "hardsigmoid": ([nnf.hardsigmoid], ()),
        "elu": ([nnf.elu], ((1, "alpha", 1.0),)), "mish": ([nnf.mish], ()),
        "softplus": ([nnf.softplus], ((1, "beta", 1.0), (2, "threshold", 20.0))),
    }
    for kind, (fs, opts) in acts.items():
        for f in fs:
            fn[f] = _act(kind, *opts)
    fn[nnf.hardtanh] = _hardtanh
    for f in (nnf.dropout, nnf.dropout1d, nnf.dropout2d, nnf.dropout3d, nnf.alpha_dropout):
        fn[f] = _dropout
    for f in (nnf.softmax, torch.softmax):
        fn[f] = _softmax
    for d in (1, 2, 3):
        fn[getattr(nnf, f"max_pool{d}d")] = _pool("max_pool")
        fn[getattr(nnf, f"avg_pool{d}d")] = _pool("avg_pool")
        fn[getattr(nnf, f"adaptive_avg_pool{d}d")] = _adaptive("adaptive_avg_pool")
        fn[getattr(nnf, f"adaptive_max_pool{d}d")] = _adaptive("adaptive_max_pool")
        fn[getattr(nnf, f"conv{d}d")] = _conv
    fn[torch.max_pool2d] = _pool("max_pool")
    fn[nnf.interpolate] = _interpolate
    fn[nnf.pad] = _pad
    fn[nnf.linear] = _linear
    fn[nnf.layer_norm] = _layer_norm
    fn[nnf.batch_norm] = _batch_norm
    fn[nnf.group_norm] = _group_norm
    fn[torch.cat] = _cat
    fn[torch.concat] = _cat
    fn.update(TENSOR_FUNCTIONS(torch))
    meth: dict[str, Handler] = {
        "relu": fn[nnf.relu], "sigmoid": fn[torch.sigmoid], "tanh": fn[torch.tanh],
        "softmax": _softmax, "add": fn[torch.add], "sub": fn[torch.sub],
        "mul": fn[torch.mul], "div": fn[torch.div], "add_": fn[torch.add],
        "mul_": fn[torch.mul], "relu_": fn[nnf.relu],
    }
    for name in ("contiguous", "clone", "detach", "to", "float", "type_as", "cpu", "cuda",
                 "requires_grad_"):
        meth[name] = alias
    meth.update(METHOD_OPS)
    return fn, meth


NAMED: dict[str, Handler] = {  # functions outside torch that fx keeps as calls, by name
    "torchvision.ops.stochastic_depth.stochastic_depth": _stochastic_depth,
}


def _supported() -> str:
    """The supported ``torch.nn`` modules, ``Conv1d/2d/3d`` written once."""
    names: dict[str, list[str]] = {}
    for n in sorted(MODULES):
        base, dims = (n[:-2], n[-2:]) if n[-2:] in ("1d", "2d", "3d") else (n, "")
        names.setdefault(base, []).append(dims)
    mods = ", ".join(b + "/".join(d for d in dims) if dims != [""] else b
                     for b, dims in names.items())
    return (f"torch.nn modules {mods}; their functional forms, arithmetic, cat, flatten, "
            "mean/sum/amax, views and indexing (reshape, view, permute, transpose, expand, "
            "split, chunk, unbind, slicing), matmul, scaled_dot_product_attention; see "
            "docs/import.md")


SUPPORTED_TEXT = _supported()
