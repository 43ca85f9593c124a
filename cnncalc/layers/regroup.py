"""Which axes a ``reshape`` keeps whole, merges or splits: the receptive fields and axes of its
output (docs/conventions.md, "Receptive field")."""

from __future__ import annotations

from collections.abc import Sequence

from ..algebra.arith import Value, norm, prod, same
from .base import UNDEFINED, Ctx, Note, RFAxis, Src, Tensor


def regroup(t: Tensor, shape: Sequence[Value], ctx: Ctx) -> tuple[tuple[RFAxis, ...],
                                                                    tuple[Src, ...]]:
    """Fields and axes after a reshape of ``t`` to ``shape`` (docs/conventions.md).

    Input and output axes not of size 1 are grouped into the shortest runs with equal products
    (decided symbolically; a boundary the free sizes leave open is not one, so such runs
    count as merged). A run of one input and one output axis is that axis, moved; the output
    axes of any other run are made of all its input axes, whose window fields become
    undefined. Size-1 axes are made of no input axis. Where an open boundary or size 1 may
    change a window field, a 'recheck' note has ``evaluate`` group the bound sizes afresh.
    """
    open_: dict[tuple[str, int], tuple[Value, Value]] = {}  # what the free sizes leave open

    def one(side: str, i: int, n: Value) -> bool:
        eq = same(n, 1)
        if eq is None:
            open_[side, i] = (n, 1)
        return eq is True

    ins = [i for i, n in enumerate(t.shape) if not one("in", i, n)]
    outs = [j for j, n in enumerate(shape) if not one("out", j, n)]
    p_in = [prod(t.shape[i] for i in ins[:k]) for k in range(len(ins) + 1)]
    p_out = [prod(shape[j] for j in outs[:m]) for m in range(len(outs) + 1)]
    bounds = [(0, 0)]
    for k in range(1, len(ins)):
        for m in range(bounds[-1][1] + 1, len(outs)):
            eq = same(p_in[k], p_out[m])
            if eq is True:
                bounds.append((k, m))
                break
            if eq is None:
                open_.setdefault(("cut", k), (p_in[k], p_out[m]))
    bounds.append((len(ins), len(outs)))
    rf = list(t.rf)
    axes: list[Src] = [()] * len(shape)
    stake: list[tuple[Value, Value]] = []
    for (k0, m0), (k1, m1) in zip(bounds, bounds[1:], strict=False):
        g_in, g_out = ins[k0:k1], outs[m0:m1]
        src = tuple(sorted({a for i in g_in for a in t.axes[i]}))
        keys = [("in", i) for i in g_in]
        if len(g_in) == 1 and len(g_out) == 1:
            axes[g_out[0]] = src
        else:
            keys += [("out", j) for j in g_out] + [("cut", k) for k in range(k0 + 1, k1)]
            for j in g_out:
                axes[j] = src
        if any(rf[a].window for a in src):
            stake += [open_[key] for key in keys if key in open_]
        if len(g_in) != 1 or len(g_out) != 1:
            rf = [UNDEFINED if a in src and f.window else f for a, f in enumerate(rf)]
    if stake:
        ctx.notes.append(Note("recheck", ctx.name, ctx.index, "reshape: the axes merged depend "
                              "on the free sizes", norm(stake[0][0]), norm(stake[0][1])))
    return tuple(rf), tuple(axes)
