"""Did-you-mean for layer types and field names: the names people bring from PyTorch, Keras
and lecture notes (``Conv2d``, ``dense``, ``filters``, ``strides``) mapped to cnncalc's, and a
close spelling otherwise."""

from __future__ import annotations

from collections.abc import Sequence

TYPE_ALIASES = {
    "conv1d": "conv", "conv2d": "conv", "conv3d": "conv", "convolution": "conv",
    "convtranspose1d": "conv_transpose", "convtranspose2d": "conv_transpose",
    "convtranspose3d": "conv_transpose", "conv2dtranspose": "conv_transpose",
    "deconv": "conv_transpose", "separableconv2d": "separable_conv",
    "dense": "linear", "fc": "linear", "fullyconnected": "linear",
    "batchnorm": "batch_norm", "batchnorm1d": "batch_norm", "batchnorm2d": "batch_norm",
    "batchnorm3d": "batch_norm", "batchnormalization": "batch_norm", "bn": "batch_norm",
    "layernorm": "layer_norm", "layernormalization": "layer_norm", "groupnorm": "group_norm",
    "maxpool": "max_pool", "maxpool1d": "max_pool", "maxpool2d": "max_pool",
    "maxpool3d": "max_pool", "maxpooling2d": "max_pool", "avgpool": "avg_pool",
    "avgpool2d": "avg_pool", "averagepooling2d": "avg_pool",
    "adaptiveavgpool2d": "adaptive_avg_pool", "adaptivemaxpool2d": "adaptive_max_pool",
    "globalaveragepooling2d": "global_avg_pool", "globalavgpool": "global_avg_pool",
    "cat": "concat", "concatenate": "concat", "upsampling2d": "upsample",
    "interpolate": "upsample", "leakyrelu": "leaky_relu", "swish": "silu", "view": "reshape",
    "multiheadattention": "multihead_attention", "sdpa": "attention",
    "scaleddotproductattention": "attention", "zeropadding2d": "pad",
}
"""Other tools' names of cnncalc's layer types, keyed by :func:`_key`."""

FIELD_ALIASES = {
    "filters": "out_channels", "channels": "out_channels", "outchannels": "out_channels",
    "kernel": "kernel_size", "ksize": "kernel_size", "poolsize": "kernel_size",
    "strides": "stride", "pad": "padding", "pads": "padding", "dilationrate": "dilation",
    "units": "out_features", "features": "out_features", "usebias": "bias",
    "numgroups": "num_groups", "groups": "groups", "axis": "dim", "axes": "dim",
}
"""Other tools' names of cnncalc's fields, keyed by :func:`_key`."""


def _key(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


def did_you_mean(word: str, choices: Sequence[str], aliases: dict[str, str]) -> str | None:
    """The choice ``word`` most likely meant: an alias, the same name in another spelling
    (``BatchNorm`` for ``batch_norm``), or a close spelling; None when nothing is close."""
    k = _key(word)
    target = aliases.get(k)
    if target in choices:
        return target
    by_key = {_key(c): c for c in choices}
    if k in by_key:
        return by_key[k]
    import difflib  # only for a misspelling: an error path
    close = difflib.get_close_matches(word.lower(), list(choices), n=1, cutoff=0.6)
    if close:
        return close[0]
    close = difflib.get_close_matches(k, list(by_key), n=1, cutoff=0.75)
    return by_key[close[0]] if close else None
