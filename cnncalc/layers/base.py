"""What every layer class shares: field types, the evaluation context, tensors, results.

A layer class is a pydantic model (its JSON fields) that owns its rules in one method,
:meth:`LayerBase.apply`: given the input tensors it returns the output shape, parameter and
buffer counts, MACs, other operations, and the receptive field. Rules are written over the
helpers of :mod:`cnncalc.arith`, so they run on ints when every size is bound and on sympy
expressions otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, NamedTuple, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from ..arith import Value, ceildiv, floordiv, is_num, norm, prod, same, vmax, vmin
from ..errors import CnnCalcError
from ..expr import compile_expr, evaluate


def _check_expr(v: str) -> str:
    if v in ("same", "valid"):
        return v
    compile_expr(v)
    return v


StrictInt = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]
"""A JSON boolean (``true``/``false``; not ``1`` or ``"yes"``)."""
ExprStr = Annotated[str, Strict(), AfterValidator(_check_expr)]
IntLike = Union[StrictInt, ExprStr]
"""An integer, or an expression string in size names (``"H"``, ``"2*C"``)."""
Axes = Union[IntLike, list[IntLike]]
"""One value for every spatial axis, or a list with one value per axis."""
Padding = Union[IntLike, list[IntLike | list[IntLike]]]
"""An integer, per-axis list, per-axis ``[before, after]`` pairs, ``"same"`` or ``"valid"``."""


class Note(NamedTuple):
    """A condition a layer recorded: ``lhs >= rhs`` ('ge'), ``lhs == rhs`` ('eq'),
    ``lhs mod rhs == 0`` for an exact tiling ('tile'), or a warning ('warn')."""

    kind: str
    layer: str
    layer_index: int
    text: str
    lhs: Value
    rhs: Value


@dataclass(frozen=True)
class RFAxis:
    """Receptive field along one input axis: pixels seen, input step between outputs, offset.

    ``whole`` marks a field that covers the entire input (after a global pool, a flatten, or a
    linear layer over that axis).
    """

    size: Value
    stride: Value
    start: Value
    whole: bool = False


@dataclass(frozen=True)
class Tensor:
    """A tensor flowing between layers: its shape and the field of its positions.

    ``axis_map[i]`` names the network-input axis that tensor spatial axis ``i`` (tensor axis
    ``i + 2``) corresponds to, or None when it has none (after a flatten).
    """

    shape: tuple[Value, ...]
    rf: tuple[RFAxis, ...]
    axis_map: tuple[int | None, ...]

    @property
    def spatial(self) -> tuple[Value, ...]:
        return self.shape[2:]

    @property
    def channels(self) -> Value:
        return self.shape[1]

    @property
    def ndim_spatial(self) -> int:
        return len(self.shape) - 2

    def numel(self) -> Value:
        return prod(self.shape)


class Work(NamedTuple):
    """The multiply-accumulate work of a conv-like layer, for cost models: ``n`` batch,
    ``s`` output positions per item (input positions for a transposed conv), ``k`` kernel
    area, ``cin`` input channels per group, ``cout`` output channels (per group for a transposed
    conv). Its MACs are the product ``n * s * k * cin * cout``."""

    n: Value
    s: Value
    k: Value
    cin: Value
    cout: Value

    def macs(self) -> Value:
        return prod(self)


@dataclass
class Out:
    """What a layer's rules produce for one application."""

    shape: tuple[Value, ...]
    rf: tuple[RFAxis, ...]
    axis_map: tuple[int | None, ...]
    params: Value = 0
    buffers: Value = 0
    macs: Value = 0
    other_ops: Value = 0
    aliases_input: bool = False
    work: tuple[Work, ...] = ()


class Ctx:
    """Evaluation context of one layer instance: bindings and block arguments, and its name.

    It turns integer fields into values, checks them, and collects the conditions (constraints)
    that the free symbols must satisfy.
    """

    def __init__(self, env: dict[str, Value], name: str, index: int,
                 input_extent: tuple[Value, ...], notes: list[Note]) -> None:
        self.env = env
        self.name = name
        self.index = index
        self.input_extent = input_extent
        self.notes = notes

    def error(self, msg: str) -> CnnCalcError:
        return CnnCalcError(msg, layer=self.name, index=self.index)

    def val(self, x: int | str, what: str, minimum: int | None = 1) -> Value:
        """An integer field under the bindings; checks the minimum when decidable."""
        try:
            v = evaluate(x, self.env)
        except CnnCalcError as e:
            raise self.error(f"{what}: {e.message}") from None
        if minimum is not None and is_num(v) and v < minimum:  # type: ignore[operator]
            raise self.error(f"{what} must be >= {minimum}, got {v}")
        if not is_num(v) and getattr(v, "is_Number", False):
            raise self.error(f"{what} must be an integer, got {v}")
        return v

    def axes(self, x: Any, nd: int, what: str, minimum: int | None = 1) -> tuple[Value, ...]:
        """A per-axis field: one value for all axes, or a list of exactly ``nd`` values."""
        if isinstance(x, list):
            if len(x) != nd:
                raise self.error(f"{what} has {len(x)} values but the input has {nd} spatial "
                                 f"axes; give one value or {nd}")
            return tuple(self.val(v, what, minimum) for v in x)
        v = self.val(x, what, minimum)
        return (v,) * nd

    def require(self, kind: str, text: str, lhs: Value, rhs: Value) -> None:
        """Record a condition ``lhs == rhs`` (kind 'eq') or ``lhs >= rhs`` (kind 'ge')."""
        self.notes.append(Note(kind, self.name, self.index, text, lhs, rhs))

    def warn(self, text: str) -> None:
        """Record something worth knowing that is not an error."""
        self.notes.append(Note("warn", self.name, self.index, text, 0, 0))

    def divisible(self, a: Value, b: Value, what: str) -> Value:
        """``a / b`` where ``b`` must divide ``a`` (e.g. channels by groups)."""
        if is_num(a) and is_num(b):
            if a % b:  # type: ignore[operator]
                raise self.error(f"{what}: {a} is not divisible by {b}")
            return a // b  # type: ignore[operator]
        q = floordiv(a, b)
        if same(q * b, a) is not True:  # type: ignore[operator]
            self.require("eq", f"{what}: {a} divisible by {b}", norm(q * b), a)  # type: ignore[operator]
        return norm(a / b)  # type: ignore[operator]


class LayerBase(BaseModel):
    """Fields every layer has: ``type``, an optional ``name`` and optional ``inputs``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$",
                             description="Unique name; default: type and list index (relu1).")
    inputs: list[str] | None = Field(None, min_length=1, max_length=64,
                                     description='Names of the layers read; "input" is the '
                                                 "network (or block) input. Default: previous.")

    n_inputs: ClassVar[tuple[int, int]] = (1, 1)  # min, max inputs

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:  # pragma: no cover - abstract
        raise NotImplementedError


@functools.cache
def expr_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """Names of the fields of ``cls`` that may hold expression strings."""
    return tuple(n for n, f in cls.model_fields.items() if "_check_expr" in repr(f.annotation)
                 or any("_check_expr" in repr(m) for m in f.metadata))


# --- helpers shared by sliding-window layers (conv, pools) -------------------------------------

def resolve_padding(padding: Any, nd: int, k_eff: Sequence[Value], stride: Sequence[Value],
                    spatial: Sequence[Value], ctx: Ctx) -> tuple[tuple[Value, Value], ...]:
    """Per-axis (before, after) padding from any of the accepted forms.

    ``"same"`` follows Keras/TensorFlow: output = ceil(in / stride), total padding
    ``max((out - 1) * stride + k_eff - in, 0)``, the odd pixel after.
    """
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        pads = []
        for i in range(nd):
            out = ceildiv(spatial[i], stride[i])
            need = norm(norm(out - 1) * stride[i] + k_eff[i] - spatial[i])  # type: ignore[operator]
            # (out - 1)*s >= in - s, so with k_eff >= s the padding is never negative.
            s_i, k_i = stride[i], k_eff[i]
            if is_num(s_i) and is_num(k_i) and k_i >= s_i:  # type: ignore[operator]
                tot = need
            else:
                tot = vmax(need, 0)
            before = floordiv(tot, 2)
            pads.append((before, norm(tot - before)))  # type: ignore[operator]
        return tuple(pads)
    if isinstance(padding, list):
        if len(padding) != nd:
            raise ctx.error(f"padding has {len(padding)} entries but the input has {nd} spatial "
                            f"axes; give one value, {nd} values, or {nd} [before, after] pairs")
        out = []
        for p in padding:
            if isinstance(p, list):
                if len(p) != 2:
                    raise ctx.error("a per-axis padding pair must be [before, after]")
                out.append((ctx.val(p[0], "padding", 0), ctx.val(p[1], "padding", 0)))
            else:
                v = ctx.val(p, "padding", 0)
                out.append((v, v))
        return tuple(out)
    v = ctx.val(padding, "padding", 0)
    return ((v, v),) * nd


def window_out(n: Value, k_eff: Value, s: Value, pb: Value, pa: Value, ceil_mode: bool,
               ctx: Ctx, axis: int) -> Value:
    """Output length of a sliding window: ``floor((n + pb + pa - k_eff) / s) + 1``.

    With ``ceil_mode`` it is ceil instead, and (PyTorch's rule) the last window must start inside
    the input or left padding: if ``(out - 1) * s >= n + pb`` the last window is dropped.
    """
    span = norm(n + pb + pa - k_eff)  # type: ignore[operator]
    # Without ceil_mode the window must fit in the padded input; with it PyTorch accepts a
    # window that overhangs as long as one output results (input 2, kernel 3 -> 1 output).
    if not ceil_mode and is_num(span) and span < 0:  # type: ignore[operator]
        raise ctx.error(f"kernel (effective size {k_eff}) is larger than the padded input "
                        f"({norm(n + pb + pa)}) along spatial axis {axis}")  # type: ignore[operator]
    if not ceil_mode:
        out = norm(floordiv(span, s) + 1)  # type: ignore[operator]
    else:
        out = norm(ceildiv(span, s) + 1)  # type: ignore[operator]
        if is_num(out) and is_num(n) and is_num(pb) and is_num(s):
            if (out - 1) * s >= n + pb:  # type: ignore[operator]
                out -= 1  # type: ignore[operator]
        elif not (is_num(s) and is_num(k_eff) and is_num(pa) and s <= k_eff - pa):  # type: ignore[operator]
            # The last window must start inside the input or the left padding. When
            # s <= k_eff - pad_after that always holds; otherwise keep PyTorch's correction.
            out = vmin(out, norm(floordiv(norm(n + pb - 1), s) + 1))  # type: ignore[operator]
    if not is_num(out):
        ctx.require("ge", f"output length along spatial axis {axis} >= 1", out, 1)
    elif out < 1:  # type: ignore[operator]
        raise ctx.error(f"output length along spatial axis {axis} would be {out}")
    if not ceil_mode and s != 1:
        # Rows past the last window are ignored: record when the input tiles exactly.
        ctx.notes.append(Note("tile", ctx.name, ctx.index, f"axis {axis}", span, s))
    return out


def window_rf(rf: RFAxis, k_eff: Value, s: Value, pb: Value) -> RFAxis:
    """Receptive field after a window of effective size ``k_eff``, stride ``s``, left pad ``pb``."""
    if rf.whole:
        return rf
    return RFAxis(size=norm(rf.size + (k_eff - 1) * rf.stride),  # type: ignore[operator]
                  stride=norm(rf.stride * s), start=norm(rf.start - pb * rf.stride))  # type: ignore[operator]


def whole(ctx: Ctx, axis: int | None) -> RFAxis:
    """The field of a position that sees its whole input axis."""
    e = ctx.input_extent[axis] if axis is not None else 1
    return RFAxis(size=e, stride=e, start=0, whole=True)


def map_rf(t: Tensor, per_axis: Sequence[RFAxis | None]) -> tuple[RFAxis, ...]:
    """Replace the fields of the input axes that tensor spatial axes map to."""
    rf = list(t.rf)
    for i, new in enumerate(per_axis):
        ax = t.axis_map[i] if i < len(t.axis_map) else None
        if ax is not None and new is not None:
            rf[ax] = new
    return tuple(rf)


def rf_of(t: Tensor, i: int) -> RFAxis | None:
    """The field of tensor spatial axis ``i`` (None if it maps to no input axis)."""
    ax = t.axis_map[i] if i < len(t.axis_map) else None
    return t.rf[ax] if ax is not None else None


def elementwise(t: Tensor, ops_per_element: int = 0, params: Value = 0, buffers: Value = 0,
                aliases_input: bool = False) -> Out:
    """An output of the same shape and field as the input (activations, norms, dropout)."""
    n = t.numel()
    return Out(shape=t.shape, rf=t.rf, axis_map=t.axis_map, params=params, buffers=buffers,
               other_ops=prod([ops_per_element, n]) if ops_per_element else 0,
               aliases_input=aliases_input)


def need_spatial(t: Tensor, ctx: Ctx, what: str) -> int:
    nd = t.ndim_spatial
    if nd < 1 or nd > 3:
        raise ctx.error(f"{what} needs an input [batch, channels, 1 to 3 spatial axes], "
                        f"got shape of rank {len(t.shape)}")
    return nd


__all__ = ["Axes", "Ctx", "IntLike", "LayerBase", "Out", "Padding", "RFAxis", "Tensor",
           "elementwise", "map_rf", "need_spatial", "replace", "resolve_padding", "rf_of",
           "whole", "window_out", "window_rf"]
