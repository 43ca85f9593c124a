"""Convolutions: ``conv``, ``conv_transpose``, ``separable_conv``.

Counting (docs/conventions.md): params are every weight plus the bias; MACs are one
multiply-accumulate per weight per output position, bias excluded (torchvision's "GFLOPS",
FlopCounterMode's count / 2); the bias additions are ``other_ops``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from ..algebra.arith import Value, ceildiv, is_num, norm, prod, ratio, total, vmax
from .base import (
    Axes,
    Ctx,
    Flag,
    IntLike,
    LayerBase,
    Out,
    Padding,
    RFAxis,
    Tensor,
    Work,
    map_rf,
    mixed,
    need_spatial,
    rf_of,
    sliding_window,
    without_src,
)
from .merge import window_segments

if TYPE_CHECKING:
    from .explain import Step  # imported by explain() itself: a bound analysis explains nothing


class Conv(LayerBase):
    """N-d convolution (``nn.Conv1d/2d/3d``); spatial rank taken from the input."""

    type: Literal["conv"]
    out_channels: IntLike
    kernel_size: Axes
    stride: Axes = 1
    padding: Padding = 0
    dilation: Axes = 1
    groups: IntLike = 1
    bias: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        c_in = t.channels
        c_out = ctx.val(self.out_channels, "out_channels")
        g = ctx.val(self.groups, "groups")
        cin_g = ctx.divisible(c_in, g, "groups must divide in_channels")
        ctx.divisible(c_out, g, "groups must divide out_channels")
        spatial, rf, k, pads = sliding_window(t, ctx, self.kernel_size, self.stride,
                                              self.padding, self.dilation)
        shape = (t.shape[0], c_out, *spatial)
        weights = prod([*k, cin_g, c_out])
        work = Work(t.shape[0], prod(spatial), prod(k), cin_g, c_out)
        # A grouped conv sees only its group's channels: per group, the window of their fields.
        segments = window_segments(t, ctx, k, self.stride, self.dilation, pads, groups=g,
                                   out_channels=c_out)
        return Out(shape=shape, rf=mixed(t, [1], ctx, rf), axes=without_src(t.axes, [1]),
                   params=norm(weights + (c_out if self.bias else 0)),
                   macs=work.macs(), other_ops=prod(shape) if self.bias else 0, work=(work,),
                   segments=segments)


    def explain(self, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
        """Output length per axis, ``K1*K2*(C_in/G)*C_out + C_out`` params,
        ``N*K1*K2*(C_in/G)*C_out*H_out*W_out`` MACs, the receptive-field recursion."""
        from .explain import registered, rf_steps, step, window_steps
        t = ins[0]
        steps, k, k_eff, s = window_steps(t, ctx, out, self.kernel_size, self.stride,
                                          self.padding, self.dilation)
        vals, form = _weight_values("conv", t, ctx, out, k, self.groups, self.bias)
        steps.append(step("params", "params", registered(form.format("params", self.bias)),
                          out.params, "params", **vals))
        steps.append(step("MACs", "MACs", registered(form.format("macs", True)), out.macs,
                          "macs", N=("N", t.shape[0]), **vals, **_out_values(out)))
        return [*steps, *rf_steps(t, ctx, out, k_eff, s)]


class ConvTranspose(LayerBase):
    """N-d transposed convolution (``nn.ConvTranspose1d/2d/3d``).

    Output length ``(in - 1)*stride - pad_before - pad_after + dilation*(k - 1) + output_padding
    + 1``. MACs: every input element times every weight of its group,
    ``N * C_in * prod(in) * (C_out/groups) * prod(k)`` (FlopCounterMode's rule).
    """

    type: Literal["conv_transpose"]
    out_channels: IntLike
    kernel_size: Axes
    stride: Axes = 1
    padding: Axes = 0
    output_padding: Axes = 0
    dilation: Axes = 1
    groups: IntLike = 1
    bias: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        nd = need_spatial(t, ctx, "conv_transpose")
        c_in = t.channels
        c_out = ctx.val(self.out_channels, "out_channels")
        g = ctx.val(self.groups, "groups")
        ctx.divisible(c_in, g, "groups must divide in_channels")
        cout_g = ctx.divisible(c_out, g, "groups must divide out_channels")
        k = ctx.axes(self.kernel_size, nd, "kernel_size")
        s = ctx.axes(self.stride, nd, "stride")
        p = ctx.axes(self.padding, nd, "padding", 0)
        op = ctx.axes(self.output_padding, nd, "output_padding", 0)
        d = ctx.axes(self.dilation, nd, "dilation")
        spatial, rfs = [], []
        for i in range(nd):
            ctx.check_ge(vmax(s[i], d[i]), norm(op[i] + 1),
                         "output_padding < max(stride, dilation)",
                         lambda: "output_padding must be smaller than stride or dilation")
            k_eff = norm(d[i] * (k[i] - 1) + 1)
            o = norm((t.spatial[i] - 1) * s[i] - 2 * p[i] + k_eff - 1 + op[i] + 1)
            if is_num(o) and o < 1:
                raise ctx.error(f"output length along spatial axis {i} would be {o}")
            if not is_num(o):
                ctx.require("ge", f"output length along spatial axis {i} >= 1", o, 1)
            spatial.append(o)
            r = rf_of(t, i)
            if r is None or not r.window:
                rfs.append(r)
                continue
            # Output position o reads inputs j with j*s = o + p - m*d: at most ceil(k_eff/s) of
            # them; the input step between neighbouring outputs is 1/s of the input's.
            first = ceildiv(norm(p[i] - k_eff + 1), s[i])
            rfs.append(RFAxis(size=norm(r.size + (ceildiv(k_eff, s[i]) - 1) * r.stride),
                              stride=ratio(r.stride, s[i]),
                              start=norm(r.start + r.stride * first)))
        shape = (t.shape[0], c_out, *spatial)
        weights = prod([*k, c_in, cout_g])
        work = Work(t.shape[0], prod(t.spatial), prod(k), c_in, cout_g)
        return Out(shape=shape, rf=mixed(t, [1], ctx, map_rf(t, rfs)),
                   axes=without_src(t.axes, [1]),
                   params=norm(weights + (c_out if self.bias else 0)),
                   macs=work.macs(), other_ops=prod(shape) if self.bias else 0, work=(work,))


    def explain(self, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
        """Output length ``(W - 1)*S - 2*P + D*(K - 1) + O + 1`` per axis, params
        ``K1*K2*C_in*(C_out/G) + C_out``, MACs over the input positions, the field."""
        from .explain import TRANSPOSED, registered, rf_steps, shape_step, spatial_names, step
        t = ins[0]
        nd = t.ndim_spatial
        k = ctx.axes(self.kernel_size, nd, "kernel_size")
        s = ctx.axes(self.stride, nd, "stride")
        p = ctx.axes(self.padding, nd, "padding", 0)
        op = ctx.axes(self.output_padding, nd, "output_padding", 0)
        d = ctx.axes(self.dilation, nd, "dilation")
        steps = [step("output size", f"output {a}", TRANSPOSED, out.shape[2 + i],
                      f"output_shape.{2 + i}", W=(a, t.spatial[i]), S=("S", s[i]),
                      P=("P", p[i]), D=("D", d[i]), K=("K", k[i]), O=("O", op[i]))
                 for i, a in enumerate(spatial_names(nd))]
        steps.append(shape_step(out.shape))
        vals, form = _weight_values("conv_transpose", t, ctx, out, k, self.groups, self.bias)
        steps.append(step("params", "params", registered(form.format("params", self.bias)),
                          out.params, "params", **vals))
        ins_vals = {f"I{i + 1}": (f"{a}_in", t.spatial[i])
                    for i, a in enumerate(spatial_names(nd))}
        steps.append(step("MACs", "MACs", registered(form.format("macs", True)), out.macs,
                          "macs", N=("N", t.shape[0]), **vals, **ins_vals))
        k_eff = [norm(di * (ki - 1) + 1) for ki, di in zip(k, d, strict=True)]
        return [*steps, *rf_steps(t, ctx, out, k_eff, s, transposed=True)]


class SeparableConv(LayerBase):
    """Depthwise convolution (groups = in_channels, ``depth_multiplier`` filters per channel, no
    bias) followed by a pointwise 1x1 convolution to ``out_channels`` (with ``bias``), as Keras's
    SeparableConv. The torch build names them ``NAME.depthwise`` and ``NAME.pointwise``.
    """

    type: Literal["separable_conv"]
    out_channels: IntLike
    kernel_size: Axes
    stride: Axes = 1
    padding: Padding = 0
    dilation: Axes = 1
    depth_multiplier: IntLike = 1
    bias: Flag = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        c_in = t.channels
        c_out = ctx.val(self.out_channels, "out_channels")
        m = ctx.val(self.depth_multiplier, "depth_multiplier")
        spatial, rf, k, _ = sliding_window(t, ctx, self.kernel_size, self.stride,
                                           self.padding, self.dilation)
        mid = prod([c_in, m])
        shape = (t.shape[0], c_out, *spatial)
        n_out = prod(shape)
        params = norm(prod([*k, mid]) + prod([mid, c_out]) + (c_out if self.bias else 0))
        s = prod(spatial)
        work = (Work(t.shape[0], s, prod(k), 1, mid), Work(t.shape[0], s, 1, mid, c_out))
        return Out(shape=shape, rf=mixed(t, [1], ctx, rf), axes=without_src(t.axes, [1]),
                   params=params,
                   macs=total(w.macs() for w in work), other_ops=n_out if self.bias else 0,
                   work=work)

    def explain(self, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
        """Output length per axis; params ``K1*K2*C_in*M + C_in*M*C_out + C_out`` (depthwise,
        pointwise, bias); MACs of both convolutions; the field of the depthwise window."""
        from .explain import registered, rf_steps, step, window_steps
        t = ins[0]
        steps, k, k_eff, s = window_steps(t, ctx, out, self.kernel_size, self.stride,
                                          self.padding, self.dilation)
        vals = _kernel_values(k)
        vals.update(C_in=("C_in", t.channels), C_out=("C_out", out.shape[1]),
                    M=("M", ctx.val(self.depth_multiplier, "depth_multiplier")))
        nd = len(k)
        steps.append(step("params", "params", registered(
            f"separable_conv.params.{nd}d{'' if self.bias else '.nobias'}"), out.params,
            "params", **vals))
        steps.append(step("MACs", "MACs", registered(f"separable_conv.macs.{nd}d"), out.macs,
                          "macs", N=("N", t.shape[0]), **vals, **_out_values(out)))
        return [*steps, *rf_steps(t, ctx, out, k_eff, s)]


class _Form:
    """The registry key of a convolution's params or MACs formula (``conv.params.2d.g``)."""

    def __init__(self, kind: str, nd: int, grouped: bool) -> None:
        self.base = f"{kind}.{{}}.{nd}d{'.g' if grouped else ''}"

    def format(self, quantity: str, bias: bool) -> str:
        return self.base.format(quantity) + ("" if bias else ".nobias")


def _weight_values(kind: str, t: Tensor, ctx: Ctx, out: Out, k: Sequence[Value],
                   groups: IntLike, bias: bool) -> tuple[dict[str, tuple[str, Value]], _Form]:
    """The values of a convolution's params and MACs formulas (kernel, channels, the groups
    where they are not 1) and the key of its formulas."""
    g = ctx.val(groups, "groups")
    grouped = not (is_num(g) and g == 1)
    vals = _kernel_values(k)
    vals.update(C_in=("C_in", t.channels), C_out=("C_out", out.shape[1]))
    if grouped:
        vals["G"] = ("G", g)
    return vals, _Form(kind, len(k), grouped)


def _kernel_values(k: Sequence[Value]) -> dict[str, tuple[str, Value]]:
    """The kernel sizes as the placeholders ``K1``, ``K2``... of the conv formulas."""
    return {f"K{i + 1}": (f"K{i + 1}", v) for i, v in enumerate(k)}


def _out_values(out: Out) -> dict[str, tuple[str, Value]]:
    """The output lengths as the placeholders ``O1``, ``O2``... (named ``H_out``, ``W_out``)."""
    from .explain import spatial_names
    names = spatial_names(len(out.shape) - 2)
    return {f"O{i + 1}": (f"{a}_out", out.shape[2 + i]) for i, a in enumerate(names)}
