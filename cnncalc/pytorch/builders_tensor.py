"""Torch builders of the tensor shape operations (permute, transpose, reshape, expand, split,
chunk, slice, index); registered on import. Sizes written as expressions are bound by the
layer's context; ``-1`` is passed on to torch as it is, so torch infers it too. ``split`` and
``chunk`` return a tuple, whose parts the network reads as ``NAME.0``, ``NAME.1``..."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..algebra.arith import as_int
from ..layers import (
    Chunk,
    Ctx,
    Expand,
    Index,
    Permute,
    Reshape,
    Slice,
    Split,
    Transpose,
)
from .registry import Shape, _nn, builds

if TYPE_CHECKING:
    from torch import nn


def tensor_op(what: str, fn: Callable[[Any], Any]) -> nn.Module:
    """A module whose forward is ``fn(x)``; ``what`` is its ``extra_repr``."""
    torch_nn: Any = _nn()

    class TensorOp(torch_nn.Module):
        """A tensor shape operation (a view; nothing is computed)."""

        def forward(self, x: Any) -> Any:
            return fn(x)

        def extra_repr(self) -> str:
            return what
    return TensorOp()


def _sizes(entries: Sequence[int | str], ctx: Ctx) -> tuple[int, ...]:
    """A ``shape`` field under the bindings, ``-1`` kept."""
    return tuple(-1 if x == -1 else as_int(ctx.val(x, "shape")) for x in entries)


@builds(Permute)
def _permute(layer: Permute, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    dims = tuple(layer.dims)
    return tensor_op(f"permute{dims}", lambda x: x.permute(dims))


@builds(Transpose)
def _transpose(layer: Transpose, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    a, b = layer.dim0, layer.dim1
    return tensor_op(f"transpose({a}, {b})", lambda x: x.transpose(a, b))


@builds(Reshape)
def _reshape(layer: Reshape, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    shape = _sizes(layer.shape, ctx)
    if shape[0] != ins[0][0]:
        return tensor_op(f"reshape{shape}", lambda x: x.reshape(shape))
    # A leading batch axis is taken from the input, as ``x.reshape(x.shape[0], ...)`` does:
    # the same module then runs at another batch size (the receptive-field probe's).
    rest = shape[1:]
    return tensor_op(f"reshape{shape}", lambda x: x.reshape(x.shape[0], *rest))


@builds(Expand)
def _expand(layer: Expand, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    shape = _sizes(layer.shape, ctx)
    lead = len(shape) - len(ins[0])
    # An axis that keeps its size is written -1, so the module runs at any size of that axis.
    keep = tuple(-1 if i >= lead and n == ins[0][i - lead] else n for i, n in enumerate(shape))
    return tensor_op(f"expand{shape}", lambda x: x.expand(keep))


@builds(Split)
def _split(layer: Split, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    d = layer.dim
    sizes: int | list[int] = ([as_int(ctx.val(s, "sizes")) for s in layer.sizes]
                              if isinstance(layer.sizes, list)
                              else as_int(ctx.val(layer.sizes, "sizes")))
    return tensor_op(f"split({sizes}, dim={d})", lambda x: tuple(x.split(sizes, d)))


@builds(Chunk)
def _chunk(layer: Chunk, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    d, c = layer.dim, as_int(ctx.val(layer.chunks, "chunks"))
    return tensor_op(f"chunk({c}, dim={d})", lambda x: tuple(x.chunk(c, d)))


@builds(Slice)
def _slice(layer: Slice, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    r = len(ins[0])
    d = layer.dim + r if layer.dim < 0 else layer.dim

    def bound(x: int | str | None) -> int | None:
        return x if x is None or isinstance(x, int) else as_int(ctx.val(x, "slice", 0))
    cut = slice(bound(layer.start), bound(layer.end), bound(layer.step))
    key = (slice(None),) * d + (cut,)
    return tensor_op(f"dim={d}, {cut.start}:{'' if cut.stop is None else cut.stop}:{cut.step}",
                     lambda x: x[key])


@builds(Index)
def _index(layer: Index, ctx: Ctx, ins: list[Shape], out: Shape) -> nn.Module:
    d = layer.dim
    i = layer.index if isinstance(layer.index, int) else as_int(ctx.val(layer.index, "index", 0))
    return tensor_op(f"select(dim={d}, index={i})", lambda x: x.select(d, i))
