"""Memory a layer's torch module allocates while it runs, besides its inputs and its output.

The validation budget (:mod:`cnncalc.pytorch.budget`) adds this to the live activations at each
layer's step. Every builder's internals are counted here: keep the two in step (a test runs each
layer type near a memory budget and checks the process's peak RSS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..algebra.arith import as_int
from ..layers import (
    AdaptiveMaxPool,
    Arithmetic,
    Attention,
    AvgPool,
    BatchNorm,
    Conv,
    ConvTranspose,
    Ctx,
    GroupNorm,
    LayerBase,
    LayerNorm,
    Matmul,
    MaxPool,
    MultiheadAttention,
    SeparableConv,
    Upsample,
)
from .builders import Shape, as_ints, window
from .rf_probe import LINEARISED


@dataclass(frozen=True)
class Scratch:
    """Bytes a layer's module allocates while it runs, besides its inputs and its output.

    ``kept``: tensors that stay referenced when autograd records the pass (a separable
    convolution's depthwise output, an explicitly padded copy of the input, max-pool indices);
    ``transient``: freed before the layer returns (im2col columns, oneDNN's reordered copies,
    the per-group outputs of a grouped convolution before their concatenation). Without
    autograd both are live at the layer's step and both are transient.
    """

    kept: int = 0
    transient: int = 0

    @property
    def total(self) -> int:
        return self.kept + self.transient


def _pad16(c: int) -> int:
    return -(-c // 16) * 16


def _conv_ws(n: int, cin: int, cout: int, groups: int, in_sp: int, out_sp: int, cols: int,
             byte: int, slow: bool | None, out_copies: int = 1) -> int:
    """Workspace of a (transposed) convolution, bytes. ``cols`` are the elements of its
    im2col/col2im buffer (one group, whole batch); ``slow`` says which CPU path runs: the native
    one (im2col, and per-group outputs before their concatenation when ``groups > 1``), oneDNN
    (copies of input and output reordered to 16-channel blocks, ``out_copies`` of the output:
    measured twice for a transposed convolution), or None when it depends on the machine (the
    larger is taken)."""
    # grouped: per-group input copies and outputs before the concatenation; many small blocks
    # fragment the heap, measured up to a quarter more
    native = cols * byte + ((n * cin * in_sp + n * cout * out_sp) * byte * 5 // 4
                            if groups > 1 else 0)
    onednn = n * (_pad16(cin) * in_sp + out_copies * _pad16(cout) * out_sp) * byte
    if slow is None:
        return max(native, onednn)
    return native if slow else onednn


def _conv_path(byte: int, n: int, groups: int, k: Shape, in_numel: int,
               probe: bool) -> bool | None:
    """True for PyTorch's native CPU convolution (float64 and autograd probes; float32 on tiny
    single-sample inputs with kernels <= 3), False for oneDNN, None when it depends on the
    machine (float16/bfloat16: oneDNN only where the CPU has the instructions)."""
    if probe or byte == 8:
        return True
    if byte == 4:
        tiny = n == 1 and groups == 1 and in_numel <= 20480 and not all(v > 3 for v in k[-2:])
        return None if tiny or all(v == 1 for v in k) else False
    return None


def scratch_bytes(layer: LayerBase, ctx: Ctx, ins: list[Shape], out: Shape, byte: int,
                  probe: bool = False) -> Scratch:
    """What the module built for ``layer`` allocates besides its output, bytes, for elements of
    ``byte`` bytes. ``probe``: the receptive-field probe's copy (float64, with autograd
    recording; activations and normalisations are the identity there, max-pools window
    sums)."""
    x = ins[0] if ins else out
    n_in, n_out = math.prod(x), math.prod(out)
    if probe and isinstance(layer, LINEARISED):
        return Scratch()
    if isinstance(layer, (Conv, SeparableConv, MaxPool, AvgPool)):
        return _windowed(layer, ctx, x, out, byte, probe)
    if isinstance(layer, ConvTranspose):
        nd = len(x) - 2
        k = as_ints(ctx.axes(layer.kernel_size, nd, "kernel_size"))
        g = as_int(ctx.val(layer.groups, "groups"))
        in_sp, out_sp = math.prod(x[2:]), math.prod(out[2:])
        ws = _conv_ws(x[0], x[1], out[1], g, in_sp, out_sp,
                      x[0] * (out[1] // g) * math.prod(k) * in_sp, byte,
                      _conv_path(byte, x[0], g, k, n_in, probe), out_copies=2)
        return Scratch(transient=ws)
    if isinstance(layer, AdaptiveMaxPool):
        # int64 indices (and, measured in float32, as much again)
        return Scratch(kept=n_out * 8) if probe else Scratch(transient=n_out * 16)
    if isinstance(layer, Upsample) and layer.mode != "nearest":
        # the CPU kernels of the linear modes measure about six output-sized buffers
        return Scratch(transient=6 * max(byte, 4) * n_out)
    if isinstance(layer, Arithmetic) and len(ins) > 2:
        # the chain out = a + b; out = out + c ... holds one partial result besides the output
        return Scratch(kept=(len(ins) - 2) * n_out * byte) if probe else \
            Scratch(transient=n_out * byte)
    if isinstance(layer, (Matmul, Attention, MultiheadAttention)):
        return _attention(layer, ctx, ins, out, byte, probe)
    # normalisations: mean and reciprocal std per normalised group (float32 or wider)
    if isinstance(layer, LayerNorm):
        dims = layer.normalized(len(x), ctx)
        group = math.prod(x[a] for a in dims)
        moved = dims != tuple(range(len(x) - len(dims), len(x)))  # a contiguous copy first
        return Scratch(transient=2 * 8 * (n_in // max(group, 1)) + (n_in * byte if moved else 0))
    if isinstance(layer, GroupNorm):
        return Scratch(transient=2 * 8 * x[0] * as_int(ctx.val(layer.num_groups,
                                                                  "num_groups")))
    if isinstance(layer, BatchNorm):
        return Scratch(transient=2 * 8 * (x[1] if len(x) > 1 else 1))
    return Scratch()


def _attention(layer: Matmul | Attention | MultiheadAttention, ctx: Ctx, ins: list[Shape],
               out: Shape, byte: int, probe: bool) -> Scratch:
    """Matrix products and attention in the math kernels (the validation's counting run; the
    fused kernels of the timed runs allocate less). ``matmul`` copies an input whose batch axes
    broadcast; ``attention`` holds the scaled q and k, the scores and their softmax (and a mask
    and masked copy when causal); ``multihead_attention`` also its in-projection (3E per token),
    the contiguous q, k, v, the heads' output and its contiguous copy. With autograd recording
    (the probe) they are kept."""
    batch = math.prod(out[:-2])
    if isinstance(layer, Matmul):
        a, b = ins
        n = sum(math.prod(x[-2:]) * batch for x in ins
                if math.prod(x[:-2]) != batch and len(b) > 2)
    elif isinstance(layer, Attention):
        q, k, v = ins
        big_l, s = q[-2], k[-2]
        n = batch * (big_l * q[-1] + s * k[-1] + 2 * big_l * s)
        n += sum(batch * math.prod(x[-2:]) for x in (k, v) if math.prod(x[:-2]) != batch)
        if layer.is_causal:
            n += batch * big_l * s + big_l * s
    else:
        x = ins[0]
        heads = as_int(ctx.val(layer.num_heads, "num_heads"))
        tokens, e = math.prod(x[:-1]), x[-1]
        big_l = x[layer.token_axis(len(x))]
        n = 10 * tokens * e + 2 * (tokens // big_l) * heads * big_l * big_l
    return Scratch(kept=n * byte) if probe else Scratch(transient=n * byte)


def _windowed(layer: Conv | SeparableConv | MaxPool | AvgPool, ctx: Ctx, x: Shape, out: Shape,
              byte: int, probe: bool) -> Scratch:
    """Convolutions and pools: explicit padding copies, im2col or oneDNN workspaces, indices."""
    nd = len(x) - 2
    n_in, n_out = math.prod(x), math.prod(out)
    k, s, d, pads = window(layer, ctx, x)
    padded = math.prod((x[0], x[1], *(v + b + a for v, (b, a) in zip(x[2:], pads, strict=True))))
    copy = padded * byte if any(b != a for b, a in pads) else 0
    out_sp = math.prod(out[2:])
    if isinstance(layer, MaxPool) and probe:
        # WindowSum: the pool itself (values and int64 indices), two padded copies and a
        # depthwise convolution over them (native path, grouped), whose output is kept
        full = math.prod((x[0], x[1], *(-(-(v + b + a - di * (ki - 1) - 1) // si) + 1
                                        for v, (b, a), ki, si, di in
                                        zip(x[2:], pads, k, s, d, strict=True))))
        ws = _conv_ws(x[0], x[1], x[1], x[1], padded // (x[0] * x[1]), full // (x[0] * x[1]),
                      full * math.prod(k) // x[1], byte, True)
        return Scratch(kept=padded * byte + full * byte,
                       transient=padded * byte + n_out * (byte + 8) + ws)
    if isinstance(layer, (MaxPool, AvgPool)):
        indices = n_out * 8 if isinstance(layer, MaxPool) else 0
        return Scratch(kept=copy if probe else 0, transient=indices + (0 if probe else copy))
    cin, cout = x[1], out[1]
    if isinstance(layer, Conv):
        g = as_int(ctx.val(layer.groups, "groups"))
        ws = _conv_ws(x[0], cin, cout, g, padded // (x[0] * cin), out_sp,
                      x[0] * (cin // g) * math.prod(k) * out_sp, byte,
                      _conv_path(byte, x[0], g, k, n_in, probe))
        return Scratch(kept=copy if probe else 0, transient=ws + (0 if probe else copy))
    m = as_int(ctx.val(layer.depth_multiplier, "depth_multiplier"))
    mid = x[0] * cin * m * out_sp
    ws_dw = _conv_ws(x[0], cin, cin * m, cin, padded // (x[0] * cin), out_sp,
                     x[0] * math.prod(k) * out_sp, byte,
                     _conv_path(byte, x[0], cin, k, n_in, probe))
    ws_pw = _conv_ws(x[0], cin * m, cout, 1, out_sp, out_sp, mid, byte,
                     _conv_path(byte, x[0], 1, (1,) * nd, mid, probe))
    return Scratch(kept=mid * byte + (copy if probe else 0),
                   transient=max(ws_dw, ws_pw) + (0 if probe else copy))
