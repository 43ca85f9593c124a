"""Matrix products and attention: ``matmul``, ``attention``, ``multihead_attention``.

MACs follow ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2): one per multiply-add of
each matrix product, the broadcast batch axes included. ``attention`` is two products, the
scores ``q @ k^T`` and their weighted sum of ``v``; a causal mask does not reduce the count (the
masked scores are computed as well). ``other_ops`` counts, per score, its scaling (1) and the
softmax over it (3, as the ``softmax`` layer), and each bias addition. An output position of
attention reads every token of the keys and values, so the input axes those tokens are made of
are seen whole (docs/conventions.md, "Receptive field"). ``work`` lists each matrix product as
a batch of GEMMs, for the cost models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from ..algebra.arith import Value, is_num, norm, prod, same
from ..algebra.printing import pretty
from .base import Ctx, Flag, IntLike, LayerBase, Out, Src, Tensor, Work, mixed, without_src
from .merge import union_rf


def match(a: Value, b: Value, what: str, ctx: Ctx) -> None:
    """Sizes ``a`` and ``b`` must be equal: an error when they differ on numbers, a constraint
    when the free sizes decide it."""
    eq = same(a, b)
    if eq is False:
        raise ctx.error(f"{what}: {pretty(a)} != {pretty(b)}")
    if eq is None:
        ctx.require("eq", f"{what}: {pretty(a)} == {pretty(b)}", a, b)


def broadcast(ins: Sequence[Tensor], ctx: Ctx, what: str) -> tuple[tuple[Value, ...],
                                                                   tuple[Src, ...]]:
    """The broadcast batch axes (all but the last two) of ``ins``, NumPy's rule: aligned from
    the right, sizes equal or 1 (symbolic sizes that must be equal become constraints). Returns
    their sizes and what each is made of (the first input whose size is not a broadcast 1)."""
    batch = [t.shape[:-2] for t in ins]
    srcs = [t.axes[:-2] for t in ins]
    rank = max(len(b) for b in batch)
    shape: list[Value] = []
    axes: list[Src] = []
    for i in range(rank):
        sizes: list[tuple[Value, Src]] = []
        for b, s in zip(batch, srcs, strict=True):
            j = i - (rank - len(b))
            if j >= 0:
                sizes.append((b[j], s[j]))
        big = [(n, s) for n, s in sizes if not (is_num(n) and n == 1)]
        if not big:
            shape.append(1)
            axes.append(sizes[0][1])
            continue
        for n, _ in big[1:]:
            match(big[0][0], n, f"{what}: batch axis {i - rank} does not broadcast (sizes must "
                                "be equal or 1)", ctx)
        shape.append(big[0][0])
        axes.append(big[0][1])
    return tuple(shape), tuple(axes)


def _ranks(ins: Sequence[Tensor], names: Sequence[str], what: str, ctx: Ctx) -> None:
    for t, n in zip(ins, names, strict=True):
        if len(t.shape) < 2:
            raise ctx.error(f"{what} needs inputs of rank 2 or more (a matrix or a batch of "
                            f"them); {n} has rank {len(t.shape)} (a vector: reshape it to "
                            "[1, k] or [k, 1] first)")


def _with_rf(t: Tensor, dims: Sequence[int], ctx: Ctx) -> Tensor:
    """``t`` with the fields of an output that reads every position along ``dims``."""
    return Tensor(t.shape, mixed(t, dims, ctx), t.axes)


class Matmul(LayerBase):
    """``torch.matmul(a, b)`` of two inputs of rank 2 or more: ``a [..., n, k] @ b [..., k, m]
    -> [..., n, m]``, the batch axes broadcast (NumPy). MACs ``prod(batch) * n * k * m``
    (FlopCounterMode's ``mm``/``bmm``). Output row ``i``, column ``j`` reads row ``i`` of ``a``
    and column ``j`` of ``b``: the contraction axes are seen whole."""

    type: Literal["matmul"]
    n_inputs: ClassVar[tuple[int, int]] = (2, 2)
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        a, b = ins
        _ranks(ins, ("input 0", "input 1"), "matmul", ctx)
        n, k = a.shape[-2:]
        k2, m = b.shape[-2:]
        match(k, k2, "matmul: the inner sizes (last axis of input 0, second to last of "
                     "input 1) differ", ctx)
        batch, baxes = broadcast(ins, ctx, "matmul")
        ra, rb = len(a.shape), len(b.shape)
        rf = union_rf([_with_rf(a, [ra - 1], ctx), _with_rf(b, [rb - 2], ctx)], ctx)
        work = Work(prod(batch), n, 1, k, m)
        return Out(shape=(*batch, n, m), rf=rf, axes=(*baxes, a.axes[-2], b.axes[-1]),
                   macs=work.macs(), work=(work,))


class Attention(LayerBase):
    """``F.scaled_dot_product_attention(q, k, v, scale=, is_causal=)`` on 3 inputs
    ``q [..., L, E]``, ``k [..., S, E]``, ``v [..., S, Ev]`` -> ``[..., L, Ev]`` (batch axes
    broadcast). MACs ``prod(batch) * L * S * (E + Ev)`` (scores and weighted sum; causal or
    not); ``other_ops`` 4 per score (scale 1, softmax 3). Every output position reads all ``S``
    tokens."""

    type: Literal["attention"]
    scale: float | None = Field(None, description="The factor of the scores; default "
                                                  "1/sqrt(E).")
    is_causal: Flag = False
    n_inputs: ClassVar[tuple[int, int]] = (3, 3)
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        q, k, v = ins
        _ranks(ins, ("q", "k", "v"), "attention", ctx)
        big_l, e = q.shape[-2:]
        s, e2 = k.shape[-2:]
        s2, ev = v.shape[-2:]
        match(e, e2, "attention: the last axes of q and k (the embedding) differ", ctx)
        match(s, s2, "attention: k and v have different numbers of tokens (second to last "
                     "axis)", ctx)
        batch, baxes = broadcast(ins, ctx, "attention")
        rq, rk, rv = len(q.shape), len(k.shape), len(v.shape)
        rf = union_rf([_with_rf(q, [rq - 1], ctx), _with_rf(k, [rk - 2, rk - 1], ctx),
                       _with_rf(v, [rv - 2], ctx)], ctx)
        nb = prod(batch)
        work = (Work(nb, big_l, 1, e, s), Work(nb, big_l, 1, s, ev))  # scores, weighted sum
        return Out(shape=(*batch, big_l, ev), rf=rf, axes=(*baxes, q.axes[-2], v.axes[-1]),
                   macs=prod([nb, big_l, s, norm(e + ev)]), other_ops=prod([4, nb, big_l, s]),
                   work=work)


class MultiheadAttention(LayerBase):
    """``nn.MultiheadAttention(E, num_heads, bias=, batch_first=)`` as self-attention
    ``mha(x, x, x, need_weights=False)`` on one input ``[N, L, E]`` (``batch_first``),
    ``[L, N, E]``, or unbatched ``[L, E]``; E is the last axis and ``num_heads`` must divide
    it. Params ``4*E*E`` (in- and out-projections) ``+ 4*E`` with ``bias``. MACs per item
    ``L*E*3E`` (in-projection) ``+ L*L*E`` (scores) ``+ L*L*E`` (weighted sum) ``+ L*E*E``
    (out-projection); ``other_ops`` 4 per score (scale, softmax) and the bias additions."""

    type: Literal["multihead_attention"]
    num_heads: IntLike
    bias: Flag = True
    batch_first: Flag = False
    moves_axes: ClassVar[bool] = True  # the receptive-field probe skips it (fields whole)

    def token_axis(self, rank: int) -> int:
        """The axis of the tokens in an input of rank ``rank`` (2 or 3)."""
        return 1 if rank == 3 and self.batch_first else 0

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        x = ins[0]
        r = len(x.shape)
        if r not in (2, 3):
            raise ctx.error("multihead_attention needs an input [N, L, E] (batch_first), "
                            f"[L, N, E] or [L, E]; got rank {r}")
        e = x.shape[-1]
        h = ctx.val(self.num_heads, "num_heads")
        d = ctx.divisible(e, h, "num_heads must divide the embedding size (last axis)")
        t = self.token_axis(r)
        big_l = x.shape[t]
        n = x.shape[1 - t] if r == 3 else 1
        macs = prod([n, big_l, e, norm(4 * e + 2 * big_l)])
        ops = prod([4, n, h, big_l, big_l])
        if self.bias:
            ops = norm(ops + prod([4, n, big_l, e]))
        nh = prod([n, h])
        work = (Work(n, big_l, 1, e, prod([3, e])), Work(nh, big_l, 1, d, big_l),
                Work(nh, big_l, 1, big_l, d), Work(n, big_l, 1, e, e))
        return Out(shape=x.shape, rf=mixed(x, [t, r - 1], ctx),
                   axes=without_src(x.axes, [r - 1]),
                   params=norm(prod([4, e, e]) + (prod([4, e]) if self.bias else 0)),
                   macs=macs, other_ops=ops, work=work)
