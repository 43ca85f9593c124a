"""What every layer class shares: field types, the evaluation context, tensors, results.

A layer class is a pydantic model (its JSON fields) that owns its rules in one method,
:meth:`LayerBase.apply`: given the input tensors it returns the output shape, parameter and
buffer counts, MACs, other operations, and the receptive field. Rules are written over the
helpers of :mod:`cnncalc.arith`, so they run on ints when every size is bound and on sympy
expressions otherwise.
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, NamedTuple, Union

import sympy
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict

from ..arith import Value, _int_valued, ceildiv, floordiv, is_num, norm, prod, same, vmax, vmin
from ..errors import CnnCalcError
from ..expr import compile_expr, evaluate


def _check_expr(v: str) -> str:
    if v in ("same", "valid"):
        return v
    compile_expr(v)
    return v


def _bounded_int(v: int) -> int:
    from ..expr import MAX_LITERAL
    if abs(v) > MAX_LITERAL:  # never str(v): past 4,300 digits it raises
        raise ValueError(f"integers are limited to 10**{len(str(MAX_LITERAL)) - 1} in "
                         "magnitude (as expression literals are); give a smaller value")
    return v


StrictInt = Annotated[int, Strict(), AfterValidator(_bounded_int)]
"""A JSON integer (not a float, string or boolean) of at most 10**12 in magnitude."""
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


def decide_ge(lhs: Value, rhs: Value) -> bool | None:
    """Decide ``lhs >= rhs`` for every positive-integer value of the symbols: True, False, or
    None when it depends on them. Cheap: numbers, or a polynomial whose non-constant terms have
    positive coefficients (each monomial is then at least 1)."""
    if is_num(lhs) and is_num(rhs):
        return lhs >= rhs  # type: ignore[operator]
    d = sympy.expand(sympy.sympify(lhs) - rhs)
    if d.is_Number:
        return bool(d >= 0)
    low = 0
    for term in sympy.Add.make_args(d):
        coeff, rest = term.as_coeff_Mul()
        if rest == 1:
            low += coeff
            continue
        if coeff <= 0 or not all(f.is_Symbol or (f.is_Pow and f.base.is_Symbol
                                                 and f.exp.is_Integer and f.exp > 0)
                                 for f in sympy.Mul.make_args(rest)):
            return None
        low += coeff
    return True if low >= 0 else None


@functools.lru_cache(maxsize=4096)
def _divisions(text: str) -> tuple[tuple[str, str, bool], ...]:
    """(numerator text, divisor text, must be exact) for every division in an expression that
    :func:`cnncalc.expr.compile_expr` accepted: ``/`` must divide exactly, except directly under
    ``floor``/``ceil``; ``//``, ``%`` and those only need a positive divisor."""
    src = text.strip()
    raw = src.encode()
    tree = ast.parse(src, mode="eval")

    def part(n: ast.AST) -> str:
        return raw[n.col_offset:n.end_col_offset].decode()  # type: ignore[attr-defined]

    out: list[tuple[str, str, bool]] = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("floor", "ceil") and len(node.args) == 1 \
                and isinstance(node.args[0], ast.BinOp) and isinstance(node.args[0].op, ast.Div):
            div = node.args[0]
            out.append((part(div.left), part(div.right), False))
            walk(div.left)
            walk(div.right)
            return
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            out.append((part(node.left), part(node.right), isinstance(node.op, ast.Div)))
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree.body)
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def _arithmetic(text: str) -> tuple[str, ...]:
    """Texts of the ``+ - * **`` sub-expressions of an accepted expression (each result is
    checked against 10**30 by the evaluator)."""
    src = text.strip()
    raw = src.encode()
    return tuple(dict.fromkeys(
        raw[n.col_offset:n.end_col_offset].decode() for n in ast.walk(ast.parse(src, mode="eval"))
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub, ast.Mult, ast.Pow))))


def _abs_bound(e: sympy.Basic) -> float:
    """An upper bound on ``|e|`` for symbols in 1..10**9 (the bindings' range); inf when
    unknown."""
    if e.is_Number:
        return float(abs(e))
    if e.is_Symbol:
        return 1e9
    if e.is_Add:
        return sum(_abs_bound(a) for a in e.args)
    if e.is_Mul:
        out = 1.0
        for a in e.args:
            out *= _abs_bound(a)
        return out
    if e.is_Pow:
        ex = e.exp
        if ex.is_Integer and ex >= 0:
            return _abs_bound(e.base) ** int(ex)
        return 1.0 if ex.is_negative else math.inf  # 1/x of a size >= 1
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        return _abs_bound(e.args[0]) + 1
    if isinstance(e, (sympy.Max, sympy.Min)):
        return max(_abs_bound(a) for a in e.args)
    return math.inf


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
        """An integer field under the bindings; checks the minimum, and that every ``/`` in its
        expression divides exactly, when decidable, and records them as notes otherwise."""
        try:
            v = evaluate(x, self.env)
        except CnnCalcError as e:
            raise self.error(f"{what}: {e.message}") from None
        if not is_num(v) and getattr(v, "is_Number", False):
            raise self.error(f"{what} must be an integer, got {v}")
        if isinstance(x, str) and not is_num(v):
            self.integer(x, v, what)
        if minimum is not None:
            self.check_ge(v, minimum, f"{what} >= {minimum}",
                          lambda: f"{what} must be >= {minimum}, got {v}")
        return v

    def integer(self, x: str, v: Value, what: str) -> None:
        """Record what makes expression ``x`` (value ``v``) an integer at every binding, as the
        bound evaluation requires: its divisions (:meth:`exact`) and, for a value that is not
        integer-valued (a block argument ``"K/2"`` reaching this field), ``v`` itself."""
        start = len(self.notes)
        self.exact(x, what)
        self.magnitude(x, what)
        if _int_valued(sympy.expand(v)):
            return
        num, den = sympy.fraction(sympy.together(v))
        note = Note("eq", self.name, self.index, f"{what} = {v} must be an integer",
                    norm(floordiv(num, den) * den), norm(num))
        if not any(n.lhs == note.lhs and n.rhs == note.rhs for n in self.notes[start:]):
            self.notes.append(note)

    def exact(self, x: str, what: str) -> None:
        """Record the conditions under which expression ``x`` evaluates without error at every
        binding: each divisor >= 1 and each ``/`` exact (the bound evaluation refuses
        otherwise)."""
        if "/" not in x and "%" not in x:
            return
        names = compile_expr(x).names
        if all(is_num(self.env.get(n)) for n in names):
            return  # every division was checked on numbers
        for num_text, den_text, is_exact in _divisions(x):
            a = evaluate(num_text, self.env)
            b = evaluate(den_text, self.env)
            if is_num(a) and is_num(b):
                continue  # checked when the expression was evaluated
            self.check_ge(b, 1, f"{what}: divisor {b} >= 1 in {x!r}",
                          lambda: f"{what}: expression {x!r}: division by zero or by a negative "
                                  "number")
            if is_exact:
                q = floordiv(a, b)
                if same(q * b, a) is not True:  # type: ignore[operator]
                    self.require("eq", f"{what}: {b} divides {a} in {x!r}",
                                 norm(q * b), a)  # type: ignore[operator]

    def magnitude(self, x: str, what: str) -> None:
        """The bound evaluation refuses any intermediate value of ``x`` beyond 10**30: where a
        product of symbols could pass it (bindings go up to 10**9), record that as notes."""
        if "*" not in x or all(is_num(self.env.get(n)) for n in compile_expr(x).names):
            return
        from ..expr import MAX_MAGNITUDE
        for sub in _arithmetic(x):
            v = evaluate(sub, self.env)
            if not is_num(v) and _abs_bound(sympy.sympify(v)) > MAX_MAGNITUDE:
                self.require("ge", f"{what}: {sub!r} <= 10**30", MAX_MAGNITUDE, v)
                self.require("ge", f"{what}: {sub!r} >= -10**30", v, -MAX_MAGNITUDE)

    def check_ge(self, lhs: Value, rhs: Value, text: str, msg: Callable[[], str]) -> None:
        """The rule ``lhs >= rhs``: an error ``msg()`` when it fails on numbers, a 'ge' note
        (``text`` says what must hold) when the free symbols decide it."""
        ok = decide_ge(lhs, rhs)
        if ok is False:
            raise self.error(msg())
        if ok is None:
            self.require("ge", text, lhs, rhs)

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
