"""Torch builders of ``matmul``, ``attention``, ``multihead_attention``, ``parameter``,
``opaque`` (which cannot be built) and ``layer_norm`` over given ``dims``; registered on import.

On CPU, PyTorch runs attention in fused kernels (``_scaled_dot_product_flash_attention_for_cpu``,
``nn.MultiheadAttention``'s fast path ``_native_multi_head_attention``) that ``FlopCounterMode``
counts as 0 FLOPs; :func:`counted_attention` selects the math kernels, whose matrix products it
counts, for a run that compares MACs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import CnnCalcError
from ..layers import (
    Attention,
    Ctx,
    LayerNorm,
    Matmul,
    MultiheadAttention,
    Opaque,
    Parameter,
)
from .device import load_torch
from .registry import Shape, builds

if TYPE_CHECKING:
    from torch import nn


@contextlib.contextmanager
def counted_attention() -> Iterator[None]:
    """Within it, attention runs in PyTorch's math kernels (plain matrix products, which
    ``FlopCounterMode`` counts) instead of the fused ones it counts as 0: the
    ``scaled_dot_product_attention`` math backend, and ``nn.MultiheadAttention`` without its
    fast path. The results are the same up to rounding."""
    torch: Any = load_torch()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    mha = torch.backends.mha
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        mha.set_fastpath_enabled(before)


@builds(Matmul)
def _matmul(layer: Matmul, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch: Any = load_torch()

    class Matmul(torch.nn.Module):
        """``torch.matmul(a, b)``."""

        def forward(self, a: Any, b: Any) -> Any:
            return torch.matmul(a, b)
    return Matmul()


@builds(Attention)
def _attention(layer: Attention, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch: Any = load_torch()
    sdpa = torch.nn.functional.scaled_dot_product_attention
    scale, causal = layer.scale, layer.is_causal

    class Attention(torch.nn.Module):
        """``F.scaled_dot_product_attention(q, k, v, scale=, is_causal=)``."""

        def forward(self, q: Any, k: Any, v: Any) -> Any:
            return sdpa(q, k, v, is_causal=causal, scale=scale)

        def extra_repr(self) -> str:
            return f"scale={scale}, is_causal={causal}"
    return Attention()


@builds(MultiheadAttention)
def _mha(layer: MultiheadAttention, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch: Any = load_torch()
    e = ins[0][-1]
    heads = int(ctx.val(layer.num_heads, "num_heads"))

    class SelfAttention(torch.nn.MultiheadAttention):
        """``nn.MultiheadAttention`` called as self-attention, ``mha(x, x, x,
        need_weights=False)[0]`` (as torchvision's ViT); parameters keep their names."""

        def forward(self, x: Any) -> Any:
            return super().forward(x, x, x, need_weights=False)[0]
    return SelfAttention(e, heads, bias=layer.bias, batch_first=layer.batch_first)


@builds(Parameter)
def _parameter(layer: Parameter, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch: Any = load_torch()

    class Parameter(torch.nn.Module):
        """A learned tensor (``weight``) that the forward returns (no copy); it reads no input."""

        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.randn(out) * 0.02)

        def forward(self) -> Any:
            # A view, never the leaf itself: module hooks (FlopCounterMode's) need an output
            # with a gradient function when it requires grad, and none without grad mode.
            w = self.weight
            return w.view(w.shape) if torch.is_grad_enabled() else w.detach()

        def extra_repr(self) -> str:
            return f"shape={tuple(out)}"
    return Parameter()


@builds(Opaque)
def _opaque(layer: Opaque, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    raise CnnCalcError(f"an opaque layer ({layer.op}) cannot be built in torch: cnncalc does not "
                       "know what it computes; replace it by layers cnncalc has, or import the "
                       "network again without --allow-opaque to see what is unsupported",
                       layer=ctx.name, index=ctx.index)


@builds(LayerNorm)
def _layer_norm(layer: LayerNorm, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    torch: Any = load_torch()
    rank = len(ins[0])
    dims = layer.normalized(rank, ctx)
    sizes = tuple(ins[0][a] for a in dims)
    trailing = tuple(range(rank - len(dims), rank))
    if dims == trailing:
        return torch.nn.LayerNorm(sizes, layer.eps, layer.elementwise_affine)

    class MovedLayerNorm(torch.nn.LayerNorm):
        """``nn.LayerNorm`` over axes ``dims`` that are not the trailing ones: they are moved
        to the end, normalised and moved back (timm's ``LayerNorm2d`` permutes the same way);
        parameters keep their names."""

        def forward(self, x: Any) -> Any:
            y = super().forward(x.movedim(dims, trailing))
            return y.movedim(trailing, dims)

        def extra_repr(self) -> str:
            return f"{super().extra_repr()}, dims={list(dims)}"
    return MovedLayerNorm(sizes, layer.eps, layer.elementwise_affine)
