"""One class per layer type; each owns its shape, params, MACs and receptive-field rules.

A new layer type is a class in one of these modules (or a new one), listed in
:data:`LAYER_CLASSES`; what it shares with the others is in :mod:`.base`.
"""

from .activation import (
    ELU,
    GELU,
    Dropout,
    Hardsigmoid,
    Hardswish,
    Identity,
    LeakyReLU,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .attention import Attention, Matmul, MultiheadAttention
from .base import Ctx, LayerBase, Out, RFAxis, Tensor
from .conv import Conv, ConvTranspose, SeparableConv
from .dense import Flatten, Linear
from .merge import Add, Arithmetic, Concat, Div, Mul, Sub
from .norm import BatchNorm, GroupNorm, LayerNorm
from .param import Opaque, Parameter
from .pool import AdaptiveAvgPool, AdaptiveMaxPool, AvgPool, GlobalAvgPool, MaxPool
from .reduce import Amax, Mean, Sum
from .resize import ChannelShuffle, Pad, Upsample
from .shape_ops import Chunk, Expand, Index, Permute, Reshape, Slice, Split, Transpose

LAYER_CLASSES: tuple[type[LayerBase], ...] = (
    Conv, ConvTranspose, SeparableConv, MaxPool, AvgPool, AdaptiveAvgPool, AdaptiveMaxPool,
    GlobalAvgPool, Linear, Flatten, BatchNorm, LayerNorm, GroupNorm, Dropout, Identity, ReLU,
    ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Hardswish, Hardsigmoid, ELU, Mish, Softplus,
    PReLU, Softmax, Add, Sub, Mul, Div, Concat, Upsample, Pad, ChannelShuffle,
    Permute, Transpose, Reshape, Expand, Split, Chunk, Slice, Index, Mean, Sum,
    Amax, Matmul, Attention, MultiheadAttention, Parameter, Opaque,
)
"""Every concrete layer class, in the order of docs/schema.md's layer types (convolutions, pooling,
dense, normalisation, element-wise, merges, resizing, tensor shape operations, reductions,
attention, learned tensors and opaque layers)."""

__all__ = ["LAYER_CLASSES", "Arithmetic", "Ctx", "LayerBase", "Out", "RFAxis", "Tensor"] + [
    c.__name__ for c in LAYER_CLASSES]
