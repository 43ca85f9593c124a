"""The working behind a layer's numbers: the lecture's formulas, with names and with values.

A :class:`Formula` is a template in two forms, text and LaTeX, with ``$name`` placeholders
(:class:`string.Template`). The text form is written in the expression grammar that cnncalc
reads (:mod:`cnncalc.algebra.expr`), so a formula with the values substituted parses back to a
value: the tests check that it is the result the analysis reports. A :class:`Step` is one
quantity of one layer: a formula, the textbook names and the values of its placeholders, and
the result, which is always the number the layer's rule returned (never recomputed here).

Every formula is registered once (:func:`formula` refuses a second one of the same key); every
quantity states its counting convention in one line (:data:`CONVENTIONS`,
docs/conventions.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any, Literal

from ..algebra.arith import Value, is_num, norm
from ..algebra.printing import pretty
from .base import Ctx, Out, Tensor, resolve_padding, rf_of
from .fields import Axes, Padding
from .tensor import RFAxis, Work

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # a bound analysis needs no sympy

Quantity = Literal["output size", "effective kernel", "params", "buffers", "MACs",
                   "receptive field", "memory"]

CONVENTIONS: dict[str, str] = {
    "output size": "per spatial axis floor((W + P - K)/S) + 1, P the padding of both sides "
                   "together, K the effective kernel; ceil with ceil_mode (the last window must "
                   "start inside the input, PyTorch's rule); \"same\" padding gives ceil(W/S)",
    "effective kernel": "a kernel of size K dilated by D spans D*(K - 1) + 1 input pixels",
    "params": "every learned weight plus the biases (PyTorch's parameters()); running "
              "statistics are buffers",
    "buffers": "state that is not learned: batch norm's running mean and variance",
    "MACs": "multiply-accumulates, one per weight per output position, bias additions not "
            "included: the lecture's \"flops\"; FLOPs = 2*MACs",
    "receptive field": "r: input pixels one output position sees along an axis; j: input step "
                       "between neighbouring outputs (the product of the strides so far); k: "
                       "the effective kernel",
    "memory": "activations: elements of the layer's output; bytes: activations times the "
              "bytes per element of the input dtype",
}
"""One line per quantity: what is counted and how (docs/conventions.md)."""

Fmt = Literal["text", "latex"]


@dataclass(frozen=True)
class Formula:
    """A registered formula: ``text`` in the expression grammar, ``latex`` for LaTeX, both with
    the same ``$name`` placeholders."""

    key: str
    quantity: Quantity
    text: str
    latex: str

    @property
    def placeholders(self) -> tuple[str, ...]:
        return _placeholders(self.text)

    def render(self, words: Mapping[str, str], fmt: Fmt = "text") -> str:
        """The template with each placeholder replaced by ``words[name]`` (already rendered)."""
        return Template(self.text if fmt == "text" else self.latex).substitute(words)


_REGISTRY: dict[str, Formula] = {}
_PLACEHOLDER = re.compile(r"\$(?:([_A-Za-z][_A-Za-z0-9]*)|\{([_A-Za-z][_A-Za-z0-9]*)\}|(.?))")


def _placeholders(template: str) -> tuple[str, ...]:
    """The names a template substitutes, in order (ValueError for a stray ``$``)."""
    out: list[str] = []
    for m in _PLACEHOLDER.finditer(template):
        if m.group(3) is not None:
            raise ValueError(f"a malformed placeholder in {template!r}")
        out.append(m.group(1) or m.group(2))
    return tuple(dict.fromkeys(out))


def formula(key: str, quantity: Quantity, text: str, latex: str) -> Formula:
    """Register a formula; a key registered twice, or a LaTeX form whose placeholders differ
    from the text form's, is a programming error (ValueError)."""
    if key in _REGISTRY:
        raise ValueError(f"formula {key!r} is registered twice")
    f = Formula(key, quantity, text, latex)
    if set(_placeholders(latex)) != set(_placeholders(text)):
        raise ValueError(f"formula {key!r}: the text and LaTeX forms name different values")
    _REGISTRY[key] = f
    return f


def registered(key: str) -> Formula:
    """The formula registered under ``key`` (KeyError if none)."""
    return _REGISTRY[key]


def formulas() -> dict[str, Formula]:
    """Every registered formula, by key."""
    return dict(_REGISTRY)


# --- how names and values are written ---------------------------------------------------------

_DIGITS = re.compile(r"^([A-Za-z]+)([0-9]+)$")


def latex_name(name: str) -> str:
    """A textbook name in LaTeX: ``K1`` as ``K_{1}``, ``C_in`` as ``C_{\\mathrm{in}}``, a
    word as ``\\mathrm{word}``."""
    m = _DIGITS.match(name)
    if m:
        return f"{m.group(1)}_{{{m.group(2)}}}"
    base, sep, sub = name.partition("_")
    if sep:
        return f"{latex_name(base)}_{{\\mathrm{{{sub.replace('_', ' ')}}}}}"
    return name if len(name) == 1 else f"\\mathrm{{{name}}}"


def _atomic(v: Value) -> bool:
    """Whether ``v`` can stand in a formula without brackets: a non-negative integer, a name, a
    function call."""
    if is_num(v):
        return v >= 0
    e = sympy.sympify(v)
    if e.is_Integer:
        return bool(e >= 0)
    return bool(e.is_Symbol or isinstance(e, (sympy.floor, sympy.ceiling, sympy.Min,
                                              sympy.Max)))


def _name_or_number(v: Value) -> bool:
    return is_num(v) and v >= 0 or bool(sympy.sympify(v).is_Symbol)


def _bracketed(v: Value, fmt: Fmt) -> str:
    return f"({pretty(v)})" if fmt == "text" else f"\\left({sympy.latex(v)}\\right)"


def value_text(v: Value, fmt: Fmt = "text") -> str:
    """A value as it stands in a formula (bracketed unless atomic)."""
    if fmt == "text":
        s = pretty(v)
        return s if _atomic(v) else f"({s})"
    s = str(v) if is_num(v) else sympy.latex(v)
    return s if _atomic(v) else f"\\left({s}\\right)"


def result_text(v: Value | tuple[Value, ...], fmt: Fmt = "text") -> str:
    """A result: a value, or a shape written ``1x12x14x14`` (LaTeX: with ``\\times``)."""
    if isinstance(v, tuple):
        # as the tables write shapes: every size but a number or a name in brackets
        sep = "x" if fmt == "text" else r" \times "
        return sep.join(value_text(x, fmt) if _name_or_number(x) else _bracketed(x, fmt)
                        for x in v)
    if fmt == "text":
        return pretty(v)
    return str(v) if is_num(v) else sympy.latex(v)


Result = Value | tuple[Value, ...]


@dataclass(frozen=True)
class Step:
    """One quantity of one layer: ``label`` (what it is), the formula (None where the layer's
    rule has no textbook formula), the textbook name and the value of each placeholder, the
    result, and ``of``: where the analysis reports the same number (``params``, ``macs``,
    ``output_shape.2``, ``receptive_field.size.0``, ...; None for an intermediate value)."""

    quantity: Quantity
    label: str
    formula: Formula | None
    names: Mapping[str, str]
    values: Mapping[str, Value]
    result: Result
    of: str | None
    note: str = ""

    def textbook(self, fmt: Fmt = "text") -> str:
        """The formula in names (empty without a formula)."""
        if self.formula is None:
            return ""
        if fmt == "text":
            return self.formula.render(self.names, "text")
        return self.formula.render({k: latex_name(v) for k, v in self.names.items()}, "latex")

    def substituted(self, fmt: Fmt = "text") -> str:
        """The formula with the layer's values (empty without a formula)."""
        if self.formula is None:
            return ""
        return self.formula.render({k: value_text(v, fmt) for k, v in self.values.items()},
                                   fmt)

    def result_text(self, fmt: Fmt = "text") -> str:
        return result_text(self.result, fmt)

    def line(self, fmt: Fmt = "text") -> str:
        """``textbook = substituted = result``, each part once (a formula that is already its
        value is not repeated)."""
        parts: list[str] = []
        for p in (self.textbook(fmt), self.substituted(fmt), self.result_text(fmt)):
            if p and p not in parts:
                parts.append(p)
        return " = ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON: the formula's key and both forms of each part; values and result as the
        output JSON writes them (integers, or formula strings)."""
        def j(v: Value) -> Any:
            return int(v) if is_num(v) else pretty(v)

        res = [j(x) for x in self.result] if isinstance(self.result, tuple) else j(self.result)
        return {"quantity": self.quantity, "label": self.label,
                "formula": self.formula.key if self.formula else None,
                "textbook": self.textbook("text"), "substituted": self.substituted("text"),
                "result": res, "of": self.of, "note": self.note,
                "latex": {"textbook": self.textbook("latex"),
                          "substituted": self.substituted("latex"),
                          "result": self.result_text("latex")},
                "values": {k: j(v) for k, v in self.values.items()}}


def step(quantity: Quantity, label: str, f: Formula | None, result: Result, of: str | None,
         **values: tuple[str, Value]) -> Step:
    """A :class:`Step`; each keyword is a placeholder and its (textbook name, value)."""
    return Step(quantity, label, f, {k: n for k, (n, _) in values.items()},
                {k: v for k, (_, v) in values.items()}, result, of)


def noted(quantity: Quantity, label: str, result: Result, of: str | None, note: str) -> Step:
    """A :class:`Step` without a formula: the rule's result, and a word on it."""
    return Step(quantity, label, None, {}, {}, result, of, note)


# --- the formulas -----------------------------------------------------------------------------

WINDOW = formula("window.out", "output size", "floor(($W + $P - $K)/$S) + 1",
                 r"\left\lfloor \frac{$W + $P - $K}{$S} \right\rfloor + 1")
WINDOW_CEIL = formula("window.out.ceil", "output size", "ceil(($W + $P - $K)/$S) + 1",
                      r"\left\lceil \frac{$W + $P - $K}{$S} \right\rceil + 1")
WINDOW_CEIL_LAST = formula(
    "window.out.ceil.last", "output size",
    "min(ceil(($W + $P - $K)/$S) + 1, floor(($W + $P_b - 1)/$S) + 1)",
    r"\min\left(\left\lceil \frac{$W + $P - $K}{$S} \right\rceil + 1, "
    r"\left\lfloor \frac{$W + $P_b - 1}{$S} \right\rfloor + 1\right)")
WINDOW_SAME = formula("window.out.same", "output size", "ceil($W/$S)",
                      r"\left\lceil \frac{$W}{$S} \right\rceil")
K_EFF = formula("window.k_eff", "effective kernel", "$D*($K - 1) + 1",
                r"$D \cdot \left($K - 1\right) + 1")
TRANSPOSED = formula("conv_transpose.out", "output size",
                     "($W - 1)*$S - 2*$P + $D*($K - 1) + $O + 1",
                     r"\left($W - 1\right) \cdot $S - 2 \cdot $P + $D \cdot \left($K - 1\right)"
                     r" + $O + 1")
RF_SIZE = formula("rf.size", "receptive field", "$r + ($k - 1)*$j",
                  r"$r + \left($k - 1\right) \cdot $j")
RF_STRIDE = formula("rf.stride", "receptive field", "$j*$s", r"$j \cdot $s")
RF_SIZE_T = formula("rf.size.transposed", "receptive field", "$r + (ceil($k/$s) - 1)*$j",
                    r"$r + \left(\left\lceil \frac{$k}{$s} \right\rceil - 1\right) \cdot $j")
RF_STRIDE_T = formula("rf.stride.transposed", "receptive field", "$j/$s", r"\frac{$j}{$s}")
LINEAR_PARAMS = formula("linear.params", "params", "$S_in*$S_out + $S_out",
                        r"$S_in \cdot $S_out + $S_out")
LINEAR_PARAMS_NB = formula("linear.params.nobias", "params", "$S_in*$S_out",
                           r"$S_in \cdot $S_out")
LINEAR_MACS = formula("linear.macs", "MACs", "$N*$S_in*$S_out", r"$N \cdot $S_in \cdot $S_out")
LINEAR_MACS_ROWS = formula("linear.macs.rows", "MACs", "$N*$L*$S_in*$S_out",
                           r"$N \cdot $L \cdot $S_in \cdot $S_out")
BN_PARAMS = formula("batch_norm.params", "params", "2*$C", r"2 \cdot $C")
BN_BUFFERS = formula("batch_norm.buffers", "buffers", "2*$C", r"2 \cdot $C")
WORK_MACS = formula("work.macs", "MACs", "$N*$S*$K*$C_in*$C_out",
                    r"$N \cdot $S \cdot $K \cdot $C_in \cdot $C_out")
BYTES = formula("memory.bytes", "memory", "$A*$B", r"$A \cdot $B")


def _product(names: Sequence[str]) -> tuple[str, str]:
    """Text and LaTeX of the product of placeholders (a ``/`` factor is bracketed)."""
    def t(n: str) -> str:
        a, _, b = n.partition("/")
        return f"(${a}/${b})" if b else f"${n}"

    def tex(n: str) -> str:
        a, _, b = n.partition("/")
        return rf"\frac{{${a}}}{{${b}}}" if b else f"${n}"

    return "*".join(t(n) for n in names), r" \cdot ".join(tex(n) for n in names)


def _kernel(nd: int) -> list[str]:
    return [f"K{i + 1}" for i in range(nd)]


def _conv_formulas() -> None:
    """Params and MACs of conv, conv_transpose and separable_conv, per spatial rank, with and
    without groups and bias."""
    for nd in (1, 2, 3):
        k = _kernel(nd)
        outs = [f"O{i + 1}" for i in range(nd)]
        for groups in (False, True):
            g = ".g" if groups else ""
            cin = "C_in/G" if groups else "C_in"
            cout = "C_out/G" if groups else "C_out"
            for bias in (True, False):
                b = "" if bias else ".nobias"
                for kind, ws in (("conv", [*k, cin, "C_out"]), ("conv_transpose",
                                                                [*k, "C_in", cout])):
                    t, tex = _product(ws)
                    if bias:
                        t, tex = f"{t} + $C_out", f"{tex} + $C_out"
                    formula(f"{kind}.params.{nd}d{g}{b}", "params", t, tex)
            t, tex = _product(["N", *k, cin, "C_out", *outs])
            formula(f"conv.macs.{nd}d{g}", "MACs", t, tex)
            t, tex = _product(["N", *[f"I{i + 1}" for i in range(nd)], *k, "C_in", cout])
            formula(f"conv_transpose.macs.{nd}d{g}", "MACs", t, tex)
        for bias in (True, False):
            t1, x1 = _product([*k, "C_in", "M"])
            t2, x2 = _product(["C_in", "M", "C_out"])
            t, tex = f"{t1} + {t2}", f"{x1} + {x2}"
            if bias:
                t, tex = f"{t} + $C_out", f"{tex} + $C_out"
            formula(f"separable_conv.params.{nd}d{'' if bias else '.nobias'}", "params", t, tex)
        t1, x1 = _product(["N", *outs, *k, "C_in", "M"])
        t2, x2 = _product(["N", *outs, "C_in", "M", "C_out"])
        formula(f"separable_conv.macs.{nd}d", "MACs", f"{t1} + {t2}", f"{x1} + {x2}")


def _activation_formulas() -> None:
    for rank in range(1, 9):
        t, tex = _product([f"d{i}" for i in range(rank)])
        formula(f"memory.activations.r{rank}", "memory", t, tex)


_conv_formulas()
_activation_formulas()


# --- names of axes ----------------------------------------------------------------------------

def spatial_names(nd: int) -> tuple[str, ...]:
    """Textbook names of the spatial axes: ``W``; ``H, W``; ``T, H, W``."""
    return {1: ("W",), 2: ("H", "W"), 3: ("T", "H", "W")}.get(nd, tuple(f"X{i + 1}"
                                                                        for i in range(nd)))


def shape_names(rank: int, suffix: str = "") -> tuple[str, ...]:
    """Textbook names of the axes of a tensor: ``N, C, H, W`` (with ``suffix``: ``C_out``)."""
    if rank == 2:
        return ("N", "S" + suffix)
    if 3 <= rank <= 5:
        return ("N", "C" + suffix, *(n + suffix for n in spatial_names(rank - 2)))
    return ("N", *(f"d{i}" for i in range(1, rank)))


# --- steps every layer can give -----------------------------------------------------------------

def shape_step(shape: tuple[Value, ...]) -> Step:
    return step("output size", "output shape", None, tuple(shape), "output_shape")


def params_step(params: Value) -> Step:
    return noted("params", "params", params, "params",
                 "" if not is_num(params) or params else "no weights")


def macs_steps(macs: Value, work: Sequence[Work]) -> list[Step]:
    """MACs from the layer's work (``N*S*K*C_in*C_out`` each), or the rule's count."""
    if len(work) == 1:
        w = work[0]
        return [step("MACs", "MACs", WORK_MACS, macs, "macs", N=("N", w.n),
                     S=("S_out", w.s), K=("K", w.k), C_in=("C_in", w.cin),
                     C_out=("C_out", w.cout))]
    out = [step("MACs", f"MACs, part {i + 1}", WORK_MACS, w.macs(), None, N=("N", w.n),
                S=("S_out", w.s), K=("K", w.k), C_in=("C_in", w.cin), C_out=("C_out", w.cout))
           for i, w in enumerate(work)]
    return [*out, noted("MACs", "MACs", macs, "macs",
                        "" if not is_num(macs) or macs else "no multiply-accumulates")]


def memory_steps(shape: tuple[Value, ...] | None, activations: Value, dtype_bytes: int,
                 activation_bytes: Value) -> list[Step]:
    """Activations (the output's elements) and their bytes."""
    if shape is not None and 1 <= len(shape) <= 8:
        names = shape_names(len(shape), "_out") if len(shape) > 1 else ("d0",)
        f = registered(f"memory.activations.r{len(shape)}")
        first = step("memory", "activations", f, activations, "activations",
                     **{f"d{i}": (names[i], v) for i, v in enumerate(shape)})
    else:
        first = step("memory", "activations", None, activations, "activations")
    return [first, step("memory", "activation bytes", BYTES, activation_bytes,
                        "activation_bytes", A=("activations", activations),
                        B=("B", dtype_bytes))]


# --- sliding windows (conv, pools) ---------------------------------------------------------------

def _one(v: Value) -> bool:
    return is_num(v) and v == 1


def window_steps(t: Tensor, ctx: Ctx, out: Out, kernel_size: Axes, stride: Axes,
                 padding: Padding, dilation: Axes, ceil_mode: bool = False
                 ) -> tuple[list[Step], tuple[Value, ...], tuple[Value, ...], tuple[Value, ...]]:
    """The output length along each spatial axis (with the effective kernel first where the
    dilation is not 1), and the kernel, effective kernel and stride per axis. ``ctx`` must be
    one whose notes may be discarded: the fields are read again."""
    nd = t.ndim_spatial
    k = ctx.axes(kernel_size, nd, "kernel_size")
    s = ctx.axes(stride, nd, "stride")
    d = ctx.axes(dilation, nd, "dilation")
    k_eff = tuple(norm(di * (ki - 1) + 1) for ki, di in zip(k, d, strict=True))
    pads = resolve_padding(padding, nd, k_eff, s, t.spatial, ctx)
    names = spatial_names(nd)
    steps: list[Step] = []
    for i, a in enumerate(names):
        kname = "K"
        if not _one(d[i]):
            kname = "K_eff"
            steps.append(step("effective kernel", f"effective kernel, {a}", K_EFF, k_eff[i],
                              None, D=("D", d[i]), K=("K", k[i])))
        res, of, label = out.shape[2 + i], f"output_shape.{2 + i}", f"output {a}"
        if padding == "same":
            steps.append(step("output size", label, WINDOW_SAME, res, of,
                              W=(a, t.spatial[i]), S=("S", s[i])))
            continue
        pb, pa = pads[i]
        vals = {"W": (a, t.spatial[i]), "P": ("P", norm(pb + pa)), "K": (kname, k_eff[i]),
                "S": ("S", s[i])}
        f = WINDOW
        if ceil_mode:
            # PyTorch drops a last window that would start in the right padding; it never
            # can when S <= K_eff - P_after (as the rule decides, cnncalc.layers.base).
            simple = is_num(s[i]) and is_num(k_eff[i]) and is_num(pa) and s[i] <= k_eff[i] - pa
            f = WINDOW_CEIL if simple else WINDOW_CEIL_LAST
            if not simple:
                vals["P_b"] = ("P_before", pb)
        steps.append(step("output size", label, f, res, of, **vals))
    steps.append(shape_step(out.shape))
    return steps, k, k_eff, s


def _input_axis_names(ctx: Ctx) -> tuple[str, ...]:
    return spatial_names(len(ctx.input_extent))


def rf_steps(t: Tensor, ctx: Ctx, out: Out, k_eff: Sequence[Value], s: Sequence[Value],
             transposed: bool = False) -> list[Step]:
    """The receptive-field recursion along each spatial axis of a window (``r = r_prev + (k -
    1)*j_prev``, ``j = j_prev*s``; a transposed conv divides the step by ``s``), results from
    the layer's field ``out.rf``."""
    names = _input_axis_names(ctx)
    steps: list[Step] = []
    srcs = [t.src(i + 2) for i in range(t.ndim_spatial)]
    for i in range(t.ndim_spatial):
        prev, ax = rf_of(t, i), srcs[i]
        if prev is None or ax is None:
            continue
        new = out.rf[ax]
        a = names[ax] if ax < len(names) else str(ax)
        # Two tensor axes made of one input axis: the field is the rule's, not one recursion.
        if not (prev.window and new.window) or srcs.count(ax) > 1:
            steps += _rf_generic(prev, new, ax, a)
            continue
        fs, fj = (RF_SIZE_T, RF_STRIDE_T) if transposed else (RF_SIZE, RF_STRIDE)
        steps.append(step("receptive field", f"RF size r, {a}", fs, new.size,
                          f"receptive_field.size.{ax}", r=("r_prev", prev.size),
                          k=("k", k_eff[i]), j=("j_prev", prev.stride),
                          **({"s": ("s", s[i])} if transposed else {})))
        steps.append(step("receptive field", f"RF stride j, {a}", fj, new.stride,
                          f"receptive_field.stride.{ax}", j=("j_prev", prev.stride),
                          s=("s", s[i])))
    return steps


def _rf_generic(prev: RFAxis | None, new: RFAxis, ax: int, a: str) -> list[Step]:
    """The field along input axis ``ax`` without a textbook formula: unchanged, the whole
    input, or as the layer's rule computes it."""
    if new.undefined or new.empty:
        return []
    if prev is not None and prev == new:
        return [noted("receptive field", f"RF size r, {a}", new.size,
                      f"receptive_field.size.{ax}", "unchanged")]
    note = "the whole input axis" if new.whole else "as the layer's rule computes it"
    return [noted("receptive field", f"RF size r, {a}", new.size,
                  f"receptive_field.size.{ax}", note),
            noted("receptive field", f"RF stride j, {a}", new.stride,
                  f"receptive_field.stride.{ax}", note)]


def generic_rf_steps(ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
    """The field along each input axis, compared with the first input's."""
    names = _input_axis_names(ctx)
    first = ins[0] if ins else None
    steps: list[Step] = []
    for ax, new in enumerate(out.rf):
        prev = first.rf[ax] if first is not None and ax < len(first.rf) else None
        steps += _rf_generic(prev, new, ax, names[ax] if ax < len(names) else str(ax))
    return steps


def generic_steps(ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
    """What any layer can show: the output shape, params, buffers, MACs (from its work) and
    the receptive field, each the result of its rule."""
    steps = [shape_step(out.shape), params_step(out.params)]
    if not (is_num(out.buffers) and out.buffers == 0):
        steps.append(step("buffers", "buffers", None, out.buffers, "buffers"))
    return [*steps, *macs_steps(out.macs, out.work), *generic_rf_steps(ins, ctx, out)]


__all__ = ["CONVENTIONS", "Formula", "Quantity", "Result", "Step", "formula", "formulas",
           "generic_rf_steps", "generic_steps", "latex_name", "macs_steps", "memory_steps",
           "noted", "params_step", "registered", "result_text", "rf_steps", "shape_names",
           "shape_step", "spatial_names", "step", "value_text", "window_steps"]


def explain_layer(layer: Any, ins: Sequence[Tensor], ctx: Ctx, out: Out) -> list[Step]:
    """The working of ``out`` (what ``layer.apply`` returned for ``ins``): the lecture's
    formulas with this layer's values, each result taken from ``out``. A class with textbook
    formulas (conv, pools, linear, batch norm) defines ``explain(ins, ctx, out)``; any other
    gets :func:`generic_steps`: the output shape, params, buffers, MACs from ``out.work``
    (``N*S_out*K*C_in*C_out``) and the receptive field. ``ctx``'s notes are not the
    analysis's: a field read again records nothing there."""
    own = getattr(layer, "explain", None)
    steps: list[Step] = own(ins, ctx, out) if own is not None else generic_steps(ins, ctx, out)
    return steps
