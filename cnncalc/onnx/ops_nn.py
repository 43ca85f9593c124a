"""The rules of the network ops: convolutions, pooling, dense, normalisation, activations.

Each takes ``(converter, node, inputs)`` and returns one value per node output. Weights are
read by shape only (the counts need nothing else); attributes are mapped to the fields of
the cnncalc layer with PyTorch's semantics (docs/import-onnx.md lists the mapping).
"""

from __future__ import annotations

import math
from typing import Any

from .convert import Converter
from .values import Act, Const

V = Act | Const | None


def act(cv: Converter, node: Any, v: V, what: str = "its input") -> Act:
    if not isinstance(v, Act):
        raise cv.error(node, f"{what} must be computed from the network input "
                             "(a constant here is not supported)")
    return v


def weight(cv: Converter, node: Any, v: V, what: str) -> Const:
    if not isinstance(v, Const):
        raise cv.error(node, f"{what} must be a constant (an initializer); a computed "
                             f"{what} is not supported")
    return v


def padding(cv: Converter, node: Any, nd: int) -> Any:
    """ONNX ``pads`` (all begins, then all ends) and ``auto_pad`` as a ``padding`` field."""
    auto = cv.attr(node, "auto_pad", "NOTSET")
    if auto == "VALID":
        return 0
    if auto == "SAME_UPPER":
        return "same"
    if auto == "SAME_LOWER":
        raise cv.error(node, "auto_pad SAME_LOWER (the odd pixel before) is not supported; "
                             "SAME_UPPER and explicit pads are")
    pads = list(cv.attr(node, "pads", [0] * (2 * nd)))
    if len(pads) != 2 * nd:
        raise cv.error(node, f"pads has {len(pads)} entries for {nd} spatial axes")
    pairs = [(int(pads[i]), int(pads[i + nd])) for i in range(nd)]
    if all(b == a for b, a in pairs):
        firsts = [b for b, _ in pairs]
        return firsts[0] if len(set(firsts)) == 1 else firsts
    return [list(p) for p in pairs]


def _axes(values: list[int]) -> int | list[int]:
    return values[0] if len(set(values)) == 1 else values


def conv(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    w = weight(cv, node, ins[1], "weight")
    nd = len(x.t.shape) - 2
    if len(w.shape) != nd + 2:
        raise cv.error(node, f"weight of rank {len(w.shape)} for an input of rank "
                             f"{len(x.t.shape)}")
    k = list(cv.attr(node, "kernel_shape", w.shape[2:]))
    fields: dict[str, Any] = {
        "out_channels": w.shape[0], "kernel_size": _axes(k),
        "stride": _axes(list(cv.attr(node, "strides", [1] * nd))),
        "padding": padding(cv, node, nd),
        "dilation": _axes(list(cv.attr(node, "dilations", [1] * nd))),
        "groups": int(cv.attr(node, "group", 1)),
        "bias": len(ins) > 2 and ins[2] is not None}
    for f, default in (("stride", 1), ("dilation", 1), ("padding", 0), ("groups", 1)):
        if fields[f] == default:
            del fields[f]
    return [cv.emit(node, "conv", fields, [x])]


def conv_transpose(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    w = weight(cv, node, ins[1], "weight")
    nd = len(x.t.shape) - 2
    g = int(cv.attr(node, "group", 1))
    if cv.attr(node, "output_shape") is not None or cv.attr(node, "auto_pad", "NOTSET") \
            not in ("NOTSET", "VALID"):
        raise cv.error(node, "output_shape and auto_pad SAME are not supported; give pads")
    pad = padding(cv, node, nd)
    if isinstance(pad, list) and pad and isinstance(pad[0], list):
        raise cv.error(node, "asymmetric pads are not supported (PyTorch's ConvTranspose "
                             "pads both sides alike)")
    fields: dict[str, Any] = {
        "out_channels": w.shape[1] * g,
        "kernel_size": _axes(list(cv.attr(node, "kernel_shape", w.shape[2:]))),
        "stride": _axes(list(cv.attr(node, "strides", [1] * nd))), "padding": pad,
        "output_padding": _axes(list(cv.attr(node, "output_padding", [0] * nd))),
        "dilation": _axes(list(cv.attr(node, "dilations", [1] * nd))), "groups": g,
        "bias": len(ins) > 2 and ins[2] is not None}
    return [cv.emit(node, "conv_transpose", fields, [x])]


def pool(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    if len(node.output) > 1 and node.output[1] and cv.consumers.get(node.output[1]):
        raise cv.error(node, "the indices output of MaxPool is not supported")
    nd = len(x.t.shape) - 2
    k = list(cv.attr(node, "kernel_shape"))
    fields: dict[str, Any] = {"kernel_size": _axes(k),
                              "stride": _axes(list(cv.attr(node, "strides", [1] * nd))),
                              "padding": padding(cv, node, nd),
                              "ceil_mode": bool(cv.attr(node, "ceil_mode", 0))}
    if node.op_type == "MaxPool":
        d = _axes(list(cv.attr(node, "dilations", [1] * nd)))
        if d != 1:
            fields["dilation"] = d
        return [cv.emit(node, "max_pool", fields, [x]), None]
    fields["count_include_pad"] = bool(cv.attr(node, "count_include_pad", 0))
    return [cv.emit(node, "avg_pool", fields, [x])]


def global_pool(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    if node.op_type == "GlobalAveragePool":
        return [cv.emit(node, "global_avg_pool", {}, [x])]
    return [cv.emit(node, "adaptive_max_pool", {"output_size": 1}, [x])]


def gemm(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    if cv.attr(node, "transA", 0):
        raise cv.error(node, "transA is not supported")
    w = ins[1]
    if isinstance(w, Act):
        raise cv.error(node, "a Gemm of two computed tensors is not supported")
    w = weight(cv, node, w, "B")
    out = w.shape[0] if cv.attr(node, "transB", 0) else w.shape[1]
    return [cv.emit(node, "linear", {"out_features": out,
                                     "bias": len(ins) > 2 and ins[2] is not None}, [x])]


def matmul(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    a, b = ins[0], ins[1]
    if isinstance(a, Act) and isinstance(b, Act):
        return [cv.emit(node, "matmul", {}, [a, b])]
    x = act(cv, node, a, "the left operand")
    w = weight(cv, node, b, "the right operand")
    if len(w.shape) != 2:
        raise cv.error(node, f"a constant right operand of rank {len(w.shape)} is not "
                             "supported (a weight matrix is)")
    bias = False
    nxt = cv.only_consumer(node.output[0])
    if nxt is not None:  # MatMul + Add(bias) as one linear layer, as PyTorch's nn.Linear
        add = cv.graph.node[nxt]
        other = [n for n in add.input if n != node.output[0]]
        c = cv.values.get(other[0]) if add.op_type == "Add" and len(other) == 1 else None
        if isinstance(c, Const) and c.shape in ((w.shape[1],), (1, w.shape[1])):
            bias = True
            cv.skip.add(nxt)
    out = cv.emit(node, "linear", {"out_features": w.shape[1], "bias": bias}, [x])
    if bias:
        cv.values[cv.graph.node[nxt].output[0]] = out
    return [out]


def batch_norm(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    if cv.attr(node, "training_mode", 0):
        raise cv.error(node, "training_mode BatchNormalization is not supported")
    m = float(cv.attr(node, "momentum", 0.9))
    fields = {"eps": float(cv.attr(node, "epsilon", 1e-5)), "momentum": round(1 - m, 6)}
    return [cv.emit(node, "batch_norm", fields, [x])]


def layer_norm(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    r = len(x.t.shape)
    axis = int(cv.attr(node, "axis", -1))
    axis = axis + r if axis < 0 else axis
    fields = {"normalized_dims": r - axis, "eps": float(cv.attr(node, "epsilon", 1e-5)),
              "elementwise_affine": len(ins) > 1 and ins[1] is not None}
    return [cv.emit(node, "layer_norm", fields, [x])]


def instance_norm(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    fields = {"num_groups": _field_int(x.t.channels),
              "eps": float(cv.attr(node, "epsilon", 1e-5))}
    return [cv.emit(node, "group_norm", fields, [x])]


def _field_int(v: Any) -> Any:
    from .convert import field
    return field(v)


def prelu(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    s = weight(cv, node, ins[1], "slope")
    return [cv.emit(node, "prelu", {"num_parameters": s.numel}, [x])]


SIMPLE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
          "Mish": "mish", "Softplus": "softplus"}


def simple(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    typ = SIMPLE[node.op_type]
    if node.op_type == "Sigmoid":  # x * sigmoid(x) is SiLU
        nxt = cv.only_consumer(node.output[0])
        mul = cv.graph.node[nxt] if nxt is not None else None
        if mul is not None and mul.op_type == "Mul" and sorted(mul.input) == sorted(
                [node.input[0], node.output[0]]):
            out = cv.emit(mul, "silu", {}, [x])
            cv.skip.add(nxt)  # type: ignore[arg-type]
            cv.values[mul.output[0]] = out
            return [out]
    return [cv.emit(node, typ, {}, [x])]


def leaky_relu(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    return [cv.emit(node, "leaky_relu",
                    {"negative_slope": float(cv.attr(node, "alpha", 0.01))}, [x])]


def elu(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    return [cv.emit(node, "elu", {"alpha": float(cv.attr(node, "alpha", 1.0))}, [x])]


def gelu(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    return [cv.emit(node, "gelu", {"approximate": cv.attr(node, "approximate", "none")}, [x])]


def hard_sigmoid(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    a, b = float(cv.attr(node, "alpha", 0.2)), float(cv.attr(node, "beta", 0.5))
    if not (math.isclose(a, 1 / 6, rel_tol=1e-4) and math.isclose(b, 0.5)):
        raise cv.error(node, f"HardSigmoid alpha={a}, beta={b} is not PyTorch's hardsigmoid "
                             "(alpha 1/6, beta 0.5)")
    nxt = cv.only_consumer(node.output[0])
    mul = cv.graph.node[nxt] if nxt is not None else None
    if mul is not None and mul.op_type == "Mul" and sorted(mul.input) == sorted(
            [node.input[0], node.output[0]]):  # x * hardsigmoid(x) is hardswish
        out = cv.emit(mul, "hardswish", {}, [x])
        cv.skip.add(nxt)  # type: ignore[arg-type]
        cv.values[mul.output[0]] = out
        return [out]
    return [cv.emit(node, "hardsigmoid", {}, [x])]


def clip(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    if isinstance(ins[0], Const):  # max(size, 0) of a padding computation
        from .fold import clip_sizes
        return clip_sizes(cv, node, ins)
    x = act(cv, node, ins[0])

    def bound(i: int, attr: str) -> float | None:
        if len(ins) > i and ins[i] is not None:
            c = ins[i]
            if not isinstance(c, Const):
                raise cv.error(node, "computed Clip bounds are not supported")
            return c.floats("Clip bound")[0]
        v = cv.attr(node, attr)
        return None if v is None else float(v)

    lo, hi = bound(1, "min"), bound(2, "max")
    if lo == 0 and hi == 6:
        return [cv.emit(node, "relu6", {}, [x])]
    if lo == 0 and (hi is None or math.isinf(hi)):
        return [cv.emit(node, "relu", {}, [x])]
    raise cv.error(node, f"Clip({lo}, {hi}) is not supported; Clip(0, 6) (relu6) and "
                         "Clip(0) (relu) are")


def softmax(cv: Converter, node: Any, ins: list[V]) -> list[V]:
    x = act(cv, node, ins[0])
    r = len(x.t.shape)
    axis = int(cv.attr(node, "axis", -1 if cv.opset >= 13 else 1))
    axis = axis + r if axis < 0 else axis
    if cv.opset < 13 and axis != r - 1:
        raise cv.error(node, "Softmax before opset 13 flattens the axes after 'axis'; only "
                             "the last axis is supported there")
    return [cv.emit(node, "softmax", {"dim": axis}, [x])]


OPS_NN = {"Conv": conv, "ConvTranspose": conv_transpose, "MaxPool": pool,
          "AveragePool": pool, "GlobalAveragePool": global_pool, "GlobalMaxPool": global_pool,
          "Gemm": gemm, "MatMul": matmul, "BatchNormalization": batch_norm,
          "LayerNormalization": layer_norm, "InstanceNormalization": instance_norm,
          "PRelu": prelu, "LeakyRelu": leaky_relu, "Elu": elu, "Gelu": gelu,
          "HardSigmoid": hard_sigmoid, "Clip": clip, "Softmax": softmax,
          **{k: simple for k in SIMPLE}}
