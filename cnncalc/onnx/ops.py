"""Reductions, padding, resizing, opaque ops; :data:`OPS` (every op type the reader supports)
and :func:`convert`, the walk of a whole graph."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..algebra.arith import is_num
from .convert import Converter, Handler, field
from .fold import OPS_FOLD
from .ops_nn import OPS_NN, act
from .ops_shape import (
    _c,
    _ints,
    _norm_axis,
    alias,
    arith,
    cast,
    concat,
    constant,
    constant_of_shape,
    expand,
    flatten,
    gather,
    reshape,
    shape_of,
    slice_,
    squeeze,
    transpose,
    unsqueeze,
)
from .values import Act, Const

V = Act | Const | None

_REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "amax"}
_AXES_AS_INPUT = {"ReduceMean": 18, "ReduceSum": 13, "ReduceMax": 18}


def reduce(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    r = len(x.t.shape)
    if cv.opset >= _AXES_AS_INPUT[node.op_type]:
        axes = _ints(cv, node, ins, 1, "axes")
    else:
        axes = cv.attr(node, "axes")
    keep = bool(cv.attr(node, "keepdims", 1))
    if axes is None or not axes:
        if cv.attr(node, "noop_with_empty_axes", 0):
            return [x]
        axes = list(range(r))
    dims = sorted(_norm_axis(a, r) for a in axes)
    if node.op_type == "ReduceMean" and dims == list(range(2, r)) and r > 2:
        return [cv.emit(node, "global_avg_pool", {} if keep else {"keepdim": False}, [x])]
    fields: dict[str, Any] = {"dim": dims[0] if len(dims) == 1 else dims, "keepdim": keep}
    return [cv.emit(node, _REDUCE[node.op_type], fields, [x])]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


def pad(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    r = len(x.t.shape)
    pads = _ints(cv, node, ins, 1, "pads") if cv.opset >= 11 else cv.attr(node, "pads")
    if pads is None or len(pads) % 2:
        raise cv.error(node, "pads must hold a begin and an end per axis")
    axes = _ints(cv, node, ins, 3, "axes") if cv.opset >= 18 else None
    axes = list(range(r)) if axes is None else [_norm_axis(a, r) for a in axes]
    k = len(axes)
    full = {a: (pads[i], pads[i + k]) for i, a in enumerate(axes)}
    mode = cv.attr(node, "mode", "constant")
    if mode not in _PAD_MODES:
        raise cv.error(node, f"pad mode {mode!r} is not supported; constant, reflect, edge")
    for a in (0, 1):
        if any(not is_num(p) or p != 0 for p in full.get(a, (0, 0))):
            raise cv.error(node, "padding the batch or channel axis is not supported")
    pairs = [full.get(a, (0, 0)) for a in range(2, r)]
    if any(is_num(p) and p < 0 for pr in pairs for p in pr):
        raise cv.error(node, "negative pads (cropping) are not supported")
    if all(p == (0, 0) for p in pairs):
        return [x]
    padding: Any = [[field(b), field(e)] for b, e in pairs]
    return [cv.emit(node, "pad", {"padding": padding, "mode": _PAD_MODES[mode]}, [x])]


_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def resize(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    nd = len(x.t.shape) - 2
    scales: list[float] | None = None
    sizes = None
    if node.op_type == "Upsample" and cv.opset < 9:
        scales = [float(s) for s in cv.attr(node, "scales")]
    elif node.op_type == "Upsample" or cv.opset == 10:
        scales = _c(cv, node, ins[1], "scales").floats("scales")
    else:
        if len(ins) > 3 and ins[3] is not None:
            sizes = _c(cv, node, ins[3], "sizes").ints("Resize sizes")
        if len(ins) > 2 and ins[2] is not None and _c(cv, node, ins[2], "scales").numel:
            scales = _c(cv, node, ins[2], "scales").floats("scales")
    if cv.attr(node, "axes") is not None:
        raise cv.error(node, "the axes attribute of Resize is not supported")
    mode = cv.attr(node, "mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise cv.error(node, f"resize mode {mode!r} is not supported; nearest and linear are")
    fields: dict[str, Any] = {"mode": "nearest" if mode == "nearest" else _LINEAR[nd]}
    if mode != "nearest":
        fields["align_corners"] = cv.attr(node, "coordinate_transformation_mode",
                                          "half_pixel") == "align_corners"
    if sizes is not None:
        if len(sizes) != nd + 2 or any(not (is_num(a) and is_num(b) and a == b) and
                                       str(a) != str(b) for a, b in zip(
                                           sizes[:2], x.t.shape[:2], strict=True)):
            raise cv.error(node, "resizing the batch or channel axis is not supported")
        fields["size"] = [field(s) for s in sizes[2:]]
    elif scales is not None:
        if len(scales) != nd + 2 or scales[:2] != [1.0, 1.0]:
            raise cv.error(node, "scales must be 1 on the batch and channel axes")
        if any(not s.is_integer() or s < 1 for s in scales[2:]):
            raise cv.error(node, f"scales {scales[2:]} are not supported (integer factors "
                                 "are)")
        fields["scale_factor"] = [int(s) for s in scales[2:]]
    else:
        raise cv.error(node, "neither scales nor sizes given")
    return [cv.emit(node, "upsample", fields, [x])]


def split(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    r = len(x.t.shape)
    axis = _norm_axis(cv.attr(node, "axis", 0), r)
    sizes = _ints(cv, node, ins, 1, "split")
    fields: dict[str, Any] = {"dim": axis}
    if sizes:
        fields["sizes"] = [field(v) for v in sizes]
        typ = "split"
    else:
        fields["chunks"] = int(cv.attr(node, "num_outputs", len(node.output)))
        typ = "chunk"
    first = cv.emit(node, typ, fields, [x])
    parts = cv.parts.get(first.name.rpartition(".")[0], [first])
    if len(parts) != len(node.output):
        raise cv.error(node, f"{len(node.output)} outputs, but the split gives {len(parts)}")
    return list(parts)


OPS: dict[str, Handler] = {
    **OPS_NN,
    **OPS_FOLD,
    **{k: arith for k in ("Add", "Sub", "Mul", "Div")},
    **{k: reduce for k in _REDUCE},
    "Concat": concat, "Flatten": flatten, "Reshape": reshape, "Transpose": transpose,
    "Squeeze": squeeze, "Unsqueeze": unsqueeze, "Shape": shape_of, "Size": shape_of,
    "Gather": gather, "Slice": slice_, "Expand": expand, "Cast": cast, "CastLike": cast,
    "Constant": constant, "ConstantOfShape": constant_of_shape, "Identity": alias,
    "Dropout": alias, "Pad": pad, "Resize": resize, "Upsample": resize, "Split": split,
}
"""Every supported op type (default domain) and its rule."""


UNARY = {"Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Sin", "Cos", "Floor", "Ceil",
         "Round", "Sign", "Selu", "Softsign", "ThresholdedRelu", "LogSoftmax", "Hardmax",
         "Celu", "Shrink", "IsNaN", "IsInf", "Not"}
"""Ops whose output has the shape of their (first) input."""


def opaque(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    """An unsupported op as an ``opaque`` layer (``allow_opaque``): its output shape is its
    input's for an element-wise op, else onnx's shape inference of the file, which must give
    every axis as a number or as one of the input's named axes."""
    acts = [v for v in ins if isinstance(v, Act)]
    op = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"
    if len(node.output) != 1:
        raise cv.error(node, f"op {op} is not supported, and an op of {len(node.output)} "
                             "outputs cannot be recorded as opaque")
    if node.op_type in UNARY and acts and node.domain in ("", "ai.onnx"):
        shape: list[Any] = [field(v) for v in acts[0].t.shape]
    else:
        shape = _inferred(cv, node, op)
    return [cv.emit(node, "opaque", {"op": f"onnx.{op}", "shape": shape},
                    acts)]


def _inferred(cv: Converter, node: Any, op: str) -> list[Any]:
    if not hasattr(cv, "inferred"):
        from onnx import shape_inference
        try:
            g = shape_inference.infer_shapes(cv.model, strict_mode=False).graph
        except Exception:  # shape inference itself failed on this model
            g = cv.graph
        cv.inferred = {v.name: v for v in [*g.value_info, *g.output]}  # type: ignore[attr-defined]
    vi = cv.inferred.get(node.output[0])  # type: ignore[attr-defined]
    dims = vi.type.tensor_type.shape.dim if vi is not None and \
        vi.type.tensor_type.HasField("shape") else None
    out: list[Any] = []
    for d in dims or []:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.dim_param in cv.dim_symbols:
            out.append(cv.dim_symbols[d.dim_param])
        else:
            dims = None
            break
    if not dims:
        raise cv.error(node, f"op {op} is not supported, and its output shape is not known "
                             "(onnx's shape inference gives no size for it) to record it as "
                             "opaque")
    return out


def convert(model: Any, *, symbols: Mapping[Any, str] | None = None,
            allow_opaque: bool = False) -> Converter:
    """Walk ``model``'s graph (already read and checked) into a :class:`Converter`."""
    cv = Converter(model, OPS, symbols=symbols, allow_opaque=allow_opaque)
    cv.opaque_rule = opaque
    cv.run()
    return cv
