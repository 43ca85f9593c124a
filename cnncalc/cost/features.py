"""What the in-context time model sees of each layer of a bound analysis.

A layer's time inside a network depends on its shape (positions, kernel, channels, groups,
stride, bytes, arithmetic intensity, the size of an im2col buffer) and on its context: whether
its input was written by the layer just before it (and so may still sit in cache), whether that
input and the weights fit the L2 or the last-level cache, which kind of layer ran before it, and
how many threads and which batch run. :func:`layer_features` turns every layer of a bound
:class:`~cnncalc.core.analysis.Analysis` into one row of named numbers; the calibration that
times layers inside real networks and the prediction read the same rows, so what was learnt is
what is asked.

Sizes enter as ``log1p`` (trees only split on them, the fallback scales along them); layer kinds
as indicators of a coarse group (``conv``, ``dense``, ``norm``, ``act``, ``pool``, ``merge``,
``shape``, ``other``) for the layer and for the one before it, and of the exact type for the
types a profile was trained on (:func:`type_columns`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..algebra.arith import is_num, prod
from ..core.analysis import Analysis
from ..errors import CnnCalcError
from .measures import layer_bytes

GROUPS = ("conv", "dense", "norm", "act", "pool", "merge", "shape", "other")
"""Coarse kinds of layers (the ``g_*`` and ``prev_*`` indicators)."""

_GROUP_OF = {
    "conv": "conv", "conv_transpose": "conv", "depthwise_conv": "conv",
    "separable_conv": "conv", "linear": "dense", "attention": "dense",
    "multihead_attention": "dense", "matmul": "dense",
    "batch_norm": "norm", "layer_norm": "norm", "group_norm": "norm",
    "instance_norm": "norm", "local_response_norm": "norm", "rms_norm": "norm",
    "max_pool": "pool", "avg_pool": "pool", "adaptive_avg_pool": "pool",
    "adaptive_max_pool": "pool", "global_avg_pool": "pool", "lp_pool": "pool",
    "add": "merge", "mul": "merge", "concat": "merge", "sub": "merge", "div": "merge",
    "flatten": "shape", "reshape": "shape", "view": "shape", "permute": "shape",
    "transpose": "shape", "dropout": "shape", "identity": "shape", "split": "shape",
    "chunk": "shape", "channel_shuffle": "shape", "pad": "shape", "upsample": "pool",
    "interpolate": "pool", "pixel_shuffle": "shape", "squeeze": "shape", "unsqueeze": "shape",
    "softmax": "act", "mean": "pool", "sum": "pool", "amax": "pool", "expand": "shape",
    "slice": "shape", "index": "shape", "parameter": "shape",
}
_ACTIVATIONS = ("relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish",
                "mish", "sigmoid", "hard_sigmoid", "hardsigmoid", "tanh", "hard_tanh",
                "hardtanh", "hard_swish", "hardswish", "softplus", "prelu", "activation",
                "scale", "clip", "clamp", "exp", "abs", "neg", "sqrt")


def group_of(layer_type: str) -> str:
    """The coarse group of a layer type; unknown types are ``other``."""
    if layer_type in _GROUP_OF:
        return _GROUP_OF[layer_type]
    if layer_type in _ACTIVATIONS or layer_type.endswith("_act"):
        return "act"
    return "other"


NUMERIC = ("threads", "log_batch", "dtype_bytes", "log_macs", "log_positions", "log_kernel",
           "log_cin", "log_cout", "log_groups", "depthwise", "log_stride", "log_in_bytes",
           "log_out_bytes", "log_weight_bytes", "log_bytes", "log_other_ops", "log_im2col_bytes",
           "intensity", "log_in_channels", "log_out_channels", "log_out_positions", "inputs",
           "from_prev", "fits_l2", "fits_l3")
"""The numeric features a measurement records, in column order; then the :data:`DERIVED` ones,
``g_<group>``, ``prev_<group>`` and ``t_<type>`` indicators."""

DERIVED = ("transcendental", "log_net_bytes", "log_net_layers")
"""Features computed from the :data:`NUMERIC` ones and the type of every layer of a run
(:func:`add_derived`), so measurements keep only :data:`NUMERIC`: whether an element-wise layer
evaluates a transcendental function (``tanh``, ``sigmoid``, ``silu``, ``gelu``...: several times
the time of a ``relu`` per element, and known for types never timed), and the network around the
layer: the bytes all its layers move in one pass (a network whose weights and activations fit
in cache runs every layer hot) and its number of layers."""

_TRANSCENDENTAL = frozenset((
    "sigmoid", "tanh", "silu", "swish", "gelu", "elu", "selu", "celu", "softplus", "mish",
    "softmax", "log_softmax", "exp", "log", "sqrt", "rsqrt", "erf"))

SIZE_FEATURES = ("log_macs", "log_positions", "log_in_bytes", "log_out_bytes",
                 "log_weight_bytes", "log_bytes", "log_other_ops", "log_im2col_bytes",
                 "log_batch")
"""Features along which time grows: beyond the trained range a prediction is scaled along
them (see :class:`cnncalc.cost.context.ContextModel`)."""


@dataclass(frozen=True)
class Caches:
    """Cache sizes in bytes of the machine a profile describes (0: unknown)."""

    l2: int = 0
    l3: int = 0


def _l(v: float) -> float:
    return math.log1p(max(float(v), 0.0))


def _int(v: object, what: str, layer: str) -> int:
    if not is_num(v):
        raise CnnCalcError(f"bind every size to predict time ({what} is a formula)",
                           layer=layer, kind="binding")
    return int(v)


def layer_features(an: Analysis, threads: int, caches: Caches) -> list[dict[str, float | str]]:
    """One row per layer: the numeric features of :data:`NUMERIC`, the layer's ``type`` and
    ``group`` and the ``prev`` group (``none`` for the first layer). Every size must be bound."""
    db = an.dtype_bytes
    elems: dict[str, int] = {"input": _int(prod(an.input_shape), "the input", "input")}
    channels: dict[str, int] = {"input": _int(an.input_shape[1], "the input", "input")
                                if len(an.input_shape) > 1 else 1}
    rows: list[dict[str, float | str]] = []
    prev_name, prev_group = "", "none"
    batch = _int(an.input_shape[0], "the batch", "input") if an.input_shape else 1
    for r in an.layers:
        out = _int(r.activations, "the output", r.name)
        elems[r.name] = out
        channels[r.name] = _int(r.output_shape[1], "the channels", r.name) \
            if len(r.output_shape) > 1 else out
        for j, part in enumerate(r.output_shapes):
            elems[f"{r.name}.{j}"] = _int(prod(part), "an output", r.name)
            channels[f"{r.name}.{j}"] = _int(part[1], "an output", r.name) if len(part) > 1 else 1
        ins = [i for i in r.inputs if i in elems]
        in_elems = sum(elems[i] for i in ins)
        in_ch = sum(channels[i] for i in ins) if r.type == "concat" else \
            (channels[ins[0]] if ins else 1)
        params = _int(r.params, "the parameters", r.name)
        macs = _int(r.macs, "the MACs", r.name)
        nbytes = _int(layer_bytes(an, r), "the bytes", r.name)
        positions = kernel = cin = cout = 0
        for w in r.work:  # the largest piece of conv-like work speaks for the layer
            n, s, k, ci, co = (_int(v, "the work", r.name) for v in w)
            if n * s * k * ci * co >= positions * kernel * cin * cout:
                positions, kernel, cin, cout = n * s, k, ci, co
        groups = max(in_ch // cin, 1) if cin and r.type in ("conv", "separable_conv") else 1
        out_ch = channels[r.name]
        out_pos = out // max(out_ch, 1)
        in_pos = in_elems // max(in_ch, 1) if ins else 0
        stride = math.sqrt(in_pos / out_pos) if r.work and out_pos and in_pos > out_pos else 1.0
        in_bytes, w_bytes = db * in_elems, db * params
        group = group_of(r.type)
        from_prev = 1.0 if prev_name and prev_name in {i.split(".")[0] for i in r.inputs} else 0.0
        rows.append({
            "type": r.type, "group": group, "prev": prev_group,
            "threads": float(threads), "log_batch": _l(batch), "dtype_bytes": float(db),
            "log_macs": _l(macs), "log_positions": _l(positions), "log_kernel": _l(kernel),
            "log_cin": _l(cin), "log_cout": _l(cout), "log_groups": _l(groups),
            "depthwise": 1.0 if groups > 1 and cin == 1 else 0.0,
            "log_stride": _l(stride), "log_in_bytes": _l(in_bytes),
            "log_out_bytes": _l(db * out), "log_weight_bytes": _l(w_bytes),
            "log_bytes": _l(nbytes), "log_other_ops": _l(_int(r.other_ops, "the ops", r.name)),
            "log_im2col_bytes": _l(db * positions * kernel * cin * groups if kernel > 1 else 0),
            "intensity": 2.0 * macs / nbytes if nbytes else 0.0,
            "log_in_channels": _l(in_ch), "log_out_channels": _l(out_ch),
            "log_out_positions": _l(out_pos), "inputs": float(len(r.inputs)),
            "from_prev": from_prev,
            "fits_l2": 1.0 if caches.l2 and in_bytes + w_bytes <= caches.l2 else 0.0,
            "fits_l3": 1.0 if caches.l3 and in_bytes + w_bytes <= caches.l3 else 0.0,
        })
        prev_name, prev_group = r.name, group
    return add_derived(rows)


def add_derived(rows: list[dict[str, float | str]]) -> list[dict[str, float | str]]:
    """Add the :data:`DERIVED` features to the rows of one run (every layer of a network, in
    order), in place; returns ``rows``."""
    net = sum(math.expm1(float(r["log_bytes"])) for r in rows)
    for r in rows:
        r["transcendental"] = 1.0 if r["type"] in _TRANSCENDENTAL else 0.0
        r["log_net_bytes"] = _l(net)
        r["log_net_layers"] = _l(len(rows))
    return rows


def type_columns(types: Sequence[str]) -> tuple[str, ...]:
    """Every feature column, in order, for a model trained on layers of ``types``."""
    return (*NUMERIC, *DERIVED, *(f"g_{g}" for g in GROUPS), *(f"prev_{g}" for g in GROUPS),
            *(f"t_{t}" for t in sorted(set(types))))


def row_vector(row: Mapping[str, float | str], columns: Sequence[str]) -> list[float]:
    """A feature row as the numbers of ``columns`` (indicators 1.0 or 0.0)."""
    out: list[float] = []
    for c in columns:
        if c.startswith("g_"):
            out.append(1.0 if row["group"] == c[2:] else 0.0)
        elif c.startswith("prev_"):
            out.append(1.0 if row["prev"] == c[5:] else 0.0)
        elif c.startswith("t_"):
            out.append(1.0 if row["type"] == c[2:] else 0.0)
        else:
            out.append(float(row[c]))
    return out
