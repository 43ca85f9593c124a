"""``call_module`` nodes: one handler per ``torch.nn`` leaf class, keyed by class name.

A handler reads the module's options and writes the matching layer(s) through the
:class:`~.convert.Call`; options cnncalc has no field for are refused by name (the converter
also compares every module's parameter count with what its layers count).
"""

from __future__ import annotations

from typing import Any

from ...algebra.arith import norm
from .convert import UNKNOWN, Call, ModuleHandler, TRef, size_field
from .shapes import field


def axes(v: Any) -> Any:
    """A per-axis option: one value when every axis agrees, else the list; sizes read from
    the input (``x.shape[2:]``) become their expressions."""
    if isinstance(v, (tuple, list)):
        vals = [_one(x) for x in v]
        return vals[0] if len(set(vals)) == 1 else vals
    return _one(v)


def _one(x: Any) -> int | str:
    if isinstance(x, float) and x.is_integer():
        return int(x)
    if hasattr(x, "free_symbols"):  # a sympy value
        return field(norm(x))
    return int(x)


def padding(v: Any) -> Any:
    if isinstance(v, str):
        return v
    return axes(v)


def _conv(m: Any, c: Call) -> TRef:
    x = c.tensor(c.args[0])
    pad = padding(m.padding)
    if m.padding_mode != "zeros":
        modes = {"reflect": "reflect", "replicate": "replicate"}
        if m.padding_mode not in modes:
            raise c.unsupported(f"padding_mode {m.padding_mode!r}; supported: zeros, reflect, "
                                "replicate")
        rev = list(m._reversed_padding_repeated_twice)  # last axis first, (before, after)
        pairs = [[rev[i], rev[i + 1]] for i in range(0, len(rev), 2)][::-1]
        x = c.emit({"type": "pad", "padding": pairs, "mode": modes[m.padding_mode]}, [x],
                   f"{c.name}.pad")
        pad = 0
    spec = {"type": "conv", "out_channels": m.out_channels, "kernel_size": axes(m.kernel_size),
            "stride": axes(m.stride), "padding": pad, "dilation": axes(m.dilation),
            "groups": m.groups, "bias": m.bias is not None}
    return c.emit(_trim(spec, stride=1, padding=0, dilation=1, groups=1, bias=True), [x])


def _conv_t(m: Any, c: Call) -> TRef:
    if len(c.args) > 1 or "output_size" in c.kwargs:
        raise c.unsupported("an output_size argument; give the module's output_padding instead")
    spec = {"type": "conv_transpose", "out_channels": m.out_channels,
            "kernel_size": axes(m.kernel_size), "stride": axes(m.stride),
            "padding": axes(m.padding), "output_padding": axes(m.output_padding),
            "dilation": axes(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    return c.emit(_trim(spec, stride=1, padding=0, output_padding=0, dilation=1, groups=1,
                        bias=True))


def _trim(spec: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """``spec`` without the fields equal to their defaults (shorter JSON, same meaning)."""
    return {k: v for k, v in spec.items() if k not in defaults or defaults[k] != v}


def _linear(m: Any, c: Call) -> TRef:
    return c.emit(_trim({"type": "linear", "out_features": m.out_features,
                         "bias": m.bias is not None}, bias=True))


def _bn(m: Any, c: Call) -> TRef:
    spec = {"type": "batch_norm", "eps": float(m.eps), "affine": bool(m.affine),
            "track_running_stats": bool(m.track_running_stats)}
    if m.momentum is not None:
        spec["momentum"] = float(m.momentum)
    return c.emit(_trim(spec, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True))


def _ln(m: Any, c: Call) -> TRef:
    if m.elementwise_affine and getattr(m, "bias", True) is None:
        raise c.unsupported("LayerNorm(bias=False); cnncalc's layer_norm has weight and bias")
    return c.emit(_trim({"type": "layer_norm", "normalized_dims": len(m.normalized_shape),
                         "eps": float(m.eps), "elementwise_affine": bool(m.elementwise_affine)},
                        eps=1e-5, elementwise_affine=True))


def _gn(m: Any, c: Call) -> TRef:
    return c.emit(_trim({"type": "group_norm", "num_groups": m.num_groups, "eps": float(m.eps),
                         "affine": bool(m.affine)}, eps=1e-5, affine=True))


def _instance_norm(m: Any, c: Call) -> TRef:
    """``nn.InstanceNorm*`` is group norm with one group per channel (same shape, params and
    work); with running statistics its buffers would differ, so that is refused."""
    if m.track_running_stats:
        raise c.unsupported("InstanceNorm with track_running_stats=True")
    return c.emit(_trim({"type": "group_norm", "num_groups": m.num_features,
                         "eps": float(m.eps), "affine": bool(m.affine)}, eps=1e-5, affine=True))


def _max_pool(m: Any, c: Call) -> TRef:
    if m.return_indices:
        raise c.unsupported("return_indices=True")
    stride = axes(m.stride) if m.stride is not None else None
    k = axes(m.kernel_size)
    spec = {"type": "max_pool", "kernel_size": k, "padding": axes(m.padding),
            "dilation": axes(m.dilation), "ceil_mode": bool(m.ceil_mode)}
    if stride is not None and stride != k:
        spec["stride"] = stride
    return c.emit(_trim(spec, padding=0, dilation=1, ceil_mode=False))


def _avg_pool(m: Any, c: Call) -> TRef:
    if getattr(m, "divisor_override", None):
        raise c.unsupported("divisor_override")
    k = axes(m.kernel_size)
    stride = axes(m.stride) if m.stride is not None else None
    spec = {"type": "avg_pool", "kernel_size": k, "padding": axes(m.padding),
            "ceil_mode": bool(m.ceil_mode), "count_include_pad": bool(m.count_include_pad)}
    if stride is not None and stride != k:
        spec["stride"] = stride
    return c.emit(_trim(spec, padding=0, ceil_mode=False, count_include_pad=True))


def adaptive(kind: str, out: Any, c: Call) -> TRef:
    """Adaptive pooling to ``out`` (None entries keep the input size)."""
    x = c.tensor(c.args[0])
    nd = len(x.t.shape) - 2
    sizes = list(out) if isinstance(out, (tuple, list)) else [out] * nd
    vals = [size_field(x.t.shape[2 + i] if s is None else s, c) for i, s in enumerate(sizes)]
    one = vals[0] if len(set(map(str, vals))) == 1 else vals
    return c.emit({"type": kind, "output_size": one}, [x])


def _act(kind: str, **opts: str) -> ModuleHandler:
    """A handler writing activation ``kind`` with module attributes ``opts`` (field: attr)."""
    def h(m: Any, c: Call) -> TRef:
        return c.emit({"type": kind, **{f: _num(getattr(m, a)) for f, a in opts.items()}})
    return h


def _num(v: Any) -> Any:
    return float(v) if isinstance(v, float) else v


def _gelu(m: Any, c: Call) -> TRef:
    return c.emit({"type": "gelu"})


def _prelu(m: Any, c: Call) -> TRef:
    return c.emit(_trim({"type": "prelu", "num_parameters": m.num_parameters},
                        num_parameters=1))


def _softmax(m: Any, c: Call) -> TRef:
    if m.dim is None:
        raise c.unsupported("Softmax(dim=None); give dim")
    return c.emit({"type": "softmax", "dim": int(m.dim)})


def _hardtanh(m: Any, c: Call) -> TRef:
    if (float(m.min_val), float(m.max_val)) != (0.0, 6.0):
        raise c.unsupported("Hardtanh other than (0, 6) (relu6)")
    return c.emit({"type": "relu6"})


def _alias(kind: str) -> ModuleHandler:
    def h(m: Any, c: Call) -> TRef:
        spec: dict[str, Any] = {"type": kind}
        if kind == "dropout":
            spec["p"] = float(m.p)
        return c.emit(spec)
    return h


def _flatten(m: Any, c: Call) -> TRef:
    return c.emit(_trim({"type": "flatten", "start_dim": m.start_dim, "end_dim": m.end_dim},
                        start_dim=1, end_dim=-1))


def _upsample(m: Any, c: Call) -> TRef:
    return upsample(c, c.tensor(c.args[0]), m.size, m.scale_factor, m.mode, m.align_corners)


_MODES = {"nearest": "nearest", "linear": "linear", "bilinear": "bilinear",
          "trilinear": "trilinear"}


def upsample(c: Call, x: TRef, size: Any, scale: Any, mode: str, align: Any) -> TRef:
    """``nn.Upsample`` / ``nnf.interpolate``: integer scale factors, or sizes (traced sizes too)."""
    if mode not in _MODES:
        raise c.unsupported(f"interpolation mode {mode!r}; supported: {', '.join(_MODES)}")
    spec: dict[str, Any] = {"type": "upsample", "mode": _MODES[mode]}
    if size is not None:
        vals = [size_field(v, c) for v in (size if isinstance(size, (tuple, list)) else [size])]
        spec["size"] = vals[0] if len(vals) == 1 else vals
    else:
        fs = list(scale) if isinstance(scale, (tuple, list)) else [scale]
        if any(float(f) != int(f) for f in fs):
            raise c.unsupported(f"scale_factor {scale!r}: cnncalc's upsample takes integer "
                                "factors (give size instead)")
        ints = [int(f) for f in fs]
        spec["scale_factor"] = ints[0] if len(set(ints)) == 1 else ints
    if align is not None and mode != "nearest":
        spec["align_corners"] = bool(align)
    return c.emit(spec, [x])


def _shuffle(m: Any, c: Call) -> TRef:
    return c.emit({"type": "channel_shuffle", "groups": int(m.groups)})


def _mha(m: Any, c: Call) -> Any:
    q, k, v = (c.arg(i, n) for i, n in enumerate(("query", "key", "value")))
    if not (q is k is v):
        raise c.unsupported("MultiheadAttention with different query, key and value; cnncalc's "
                            "multihead_attention is self-attention")
    for opt in ("key_padding_mask", "attn_mask"):
        if c.arg(99, opt) is not None:
            raise c.unsupported(f"the {opt} argument")
    if m.bias_k is not None or not m._qkv_same_embed_dim:
        raise c.unsupported("add_bias_kv or kdim/vdim different from embed_dim")
    out = c.emit({"type": "multihead_attention", "num_heads": m.num_heads,
                  "bias": m.in_proj_bias is not None, "batch_first": bool(m.batch_first)},
                 [c.tensor(q)])
    return (out, UNKNOWN)


MODULES: dict[str, ModuleHandler] = {
    "Conv1d": _conv, "Conv2d": _conv, "Conv3d": _conv,
    "ConvTranspose1d": _conv_t, "ConvTranspose2d": _conv_t, "ConvTranspose3d": _conv_t,
    "Linear": _linear,
    "BatchNorm1d": _bn, "BatchNorm2d": _bn, "BatchNorm3d": _bn,
    "LayerNorm": _ln, "GroupNorm": _gn, "InstanceNorm1d": _instance_norm,
    "InstanceNorm2d": _instance_norm, "InstanceNorm3d": _instance_norm,
    "MaxPool1d": _max_pool, "MaxPool2d": _max_pool, "MaxPool3d": _max_pool,
    "AvgPool1d": _avg_pool, "AvgPool2d": _avg_pool, "AvgPool3d": _avg_pool,
    "ReLU": _act("relu"), "ReLU6": _act("relu6"), "Hardtanh": _hardtanh,
    "LeakyReLU": _act("leaky_relu", negative_slope="negative_slope"), "GELU": _gelu,
    "SiLU": _act("silu"), "Sigmoid": _act("sigmoid"), "Tanh": _act("tanh"),
    "Hardswish": _act("hardswish"), "Hardsigmoid": _act("hardsigmoid"),
    "ELU": _act("elu", alpha="alpha"), "Mish": _act("mish"),
    "Softplus": _act("softplus", beta="beta", threshold="threshold"), "PReLU": _prelu,
    "Softmax": _softmax,
    "Dropout": _alias("dropout"), "Dropout1d": _alias("dropout"), "Dropout2d": _alias("dropout"),
    "Dropout3d": _alias("dropout"), "AlphaDropout": _alias("dropout"),
    "Identity": _alias("identity"), "Flatten": _flatten, "Upsample": _upsample,
    "UpsamplingNearest2d": _upsample, "UpsamplingBilinear2d": _upsample,
    "ChannelShuffle": _shuffle, "MultiheadAttention": _mha,
}


def _adaptive(kind: str) -> ModuleHandler:
    def h(m: Any, c: Call) -> TRef:
        return adaptive(kind, m.output_size, c)
    return h


for _d in (1, 2, 3):
    MODULES[f"AdaptiveAvgPool{_d}d"] = _adaptive("adaptive_avg_pool")
    MODULES[f"AdaptiveMaxPool{_d}d"] = _adaptive("adaptive_max_pool")
