"""Hypothesis strategies: random architectures where *any* integer field may be a symbol.

``symbolic_cases()`` draws a concrete valid architecture with :func:`strategies.architectures`
(shape-tracking arithmetic, so every layer fits its input; ``opaque`` layers included), then
replaces a random subset of its integer fields by symbols or affine expressions in symbols
(``"K0"``, ``"K0 - 2"``, ``"2*O1"``, ``"S2 + 1"``, ``"Z0 // 2"``, or a symbol already in use
such as ``"H"`` or ``"C + 1"``), recording the binding of each so that the drawn network is
unchanged under ``bindings``. Fields that hold
a default (stride 1, dilation 1, groups 1, padding 0) are sometimes written out as symbols too.

It then draws further bindings near (and far from) the first one: small values, neighbours,
doubles and huge sizes (up to 10**9, for the int64 edge of ``evaluate_many``). Many of these make
the network invalid (a kernel larger than its input, a group count that does not divide the
channels, a padding above half a pool's kernel...): every path must then refuse it.

Fields that may be symbols: out_channels, kernel_size, stride, padding (ints, per-axis lists and
[before, after] pairs), dilation, groups, depth_multiplier, output_padding, output_size,
out_features, num_groups, num_heads, num_parameters, scale_factor, size, pad widths, the sizes
of reshape, expand, parameter and opaque shapes and of split lists, slice start/end/step, index,
repeat ``times`` and block arguments. Not symbolised: ``-1`` and the negative (from the end)
numbers of those fields, and a shape's 1s (a symbol is taken as never 1 where tensors
broadcast), the one-number ``sizes`` of ``split`` and ``chunks`` (the number of parts
must be known), a slice ``end`` past the axis (Python clamps a number; an expression must lie
within the axis).
A symbol in a repeat count changes the structure of the graph, so it is "structural": the
symbolic side binds it (``analyze(arch, {R: v})``) and the other bindings keep its value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from strategies import architectures
from strategies_tensor import PAST_END

SYM_FIELDS: dict[str, tuple[str, ...]] = {
    "conv": ("out_channels", "kernel_size", "stride", "padding", "dilation", "groups"),
    "separable_conv": ("out_channels", "kernel_size", "stride", "padding", "dilation",
                       "depth_multiplier"),
    "conv_transpose": ("out_channels", "kernel_size", "stride", "padding", "output_padding",
                       "dilation", "groups"),
    "max_pool": ("kernel_size", "stride", "padding", "dilation"),
    "avg_pool": ("kernel_size", "stride", "padding"),
    "adaptive_avg_pool": ("output_size",),
    "adaptive_max_pool": ("output_size",),
    "linear": ("out_features",),
    "group_norm": ("num_groups",),
    "multihead_attention": ("num_heads",),
    "prelu": ("num_parameters",),
    "upsample": ("scale_factor", "size"),
    "pad": ("padding",),
    "channel_shuffle": ("groups",),
    "repeat": ("times",),
    "reshape": ("shape",),
    "expand": ("shape",),
    "split": ("sizes",),
    "slice": ("start", "end", "step"),
    "index": ("index",),
    "parameter": ("shape",),
    "opaque": ("shape",),
}
"""Per layer type, the integer fields that accept expressions."""

DEFAULTS: dict[str, dict[str, int]] = {
    "conv": {"stride": 1, "padding": 0, "dilation": 1, "groups": 1},
    "separable_conv": {"stride": 1, "padding": 0, "dilation": 1, "depth_multiplier": 1},
    "conv_transpose": {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1,
                       "groups": 1},
    "max_pool": {"padding": 0, "dilation": 1},
    "avg_pool": {"padding": 0},
}
"""Fields whose default may be written out as a symbol bound to that default."""

PREFIX = {"out_channels": "O", "kernel_size": "K", "stride": "S", "padding": "P",
          "dilation": "Dl", "groups": "G", "depth_multiplier": "M", "output_padding": "Q",
          "output_size": "U", "out_features": "E", "num_groups": "Gn", "scale_factor": "F",
          "size": "Z", "times": "R", "args": "A", "num_parameters": "Np", "num_heads": "Nh",
          "shape": "Sh", "sizes": "Sz", "start": "B", "end": "Ed", "step": "St", "index": "I"}

INPUT_NAMES = ("N", "C", "L", "D", "H", "W")
BIG = 10**9
"""engine.MAX_BINDING: the largest binding analyze accepts."""


@dataclass
class SymCase:
    """One drawn example."""

    arch: dict[str, Any]
    """The architecture with symbolic fields."""
    concrete: dict[str, Any]
    """The same network before symbolisation (only the input sizes are symbols)."""
    concrete_bindings: dict[str, int]
    bindings: list[dict[str, int]]
    """``bindings[0]`` reproduces ``concrete``; the others may make the network invalid."""
    structural: tuple[str, ...] = ()
    """Symbols that change the graph (repeat counts): bound on the symbolic side too."""
    fields: list[str] = field(default_factory=list)
    """``layer.field = expression`` for every symbolised field (for reports)."""

    def describe(self) -> str:
        import json
        return (f"arch = {json.dumps(self.arch)}\nbindings = {self.bindings}\n"
                f"symbolised: {', '.join(self.fields) or 'input sizes only'}")


class _Symbolizer:
    def __init__(self, draw: Callable[[Any], Any], bindings: dict[str, int], p: float) -> None:
        self.draw = draw
        self.bindings = bindings
        self.p = p
        self.count = 0
        self.structural: list[str] = []
        self.fields: list[str] = []
        self.zero: list[str] = []
        """Symbols declared with ``"min": 0`` (a padding written as ``P3``, bound to 0)."""

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def expr(self, v: int, prefix: str, minimum: int) -> str:
        """An expression equal to ``v`` under the bindings (new symbols bound as needed)."""
        draw = self.draw
        if self.bindings and draw(st.integers(0, 3)) == 0:
            # reuse a symbol already bound (couples fields: kernel "H", channels "C + 1")
            forms = []
            for name, b in sorted(self.bindings.items()):
                if b == v:
                    forms.append(name)
                if b + 1 == v:
                    forms.append(f"{name} + 1")
                if b - 1 == v:
                    forms.append(f"{name} - 1")
                if 2 * b == v:
                    forms.append(f"2*{name}")
                if b // 2 == v:
                    forms.append(f"{name} // 2")
            if forms:
                return draw(st.sampled_from(forms))
        forms = ["sym", "minus"]
        if v == 0 and prefix in ("P", "Q"):
            forms += ["zero", "zero"]  # declared with min 0: the size itself may be 0
        if v >= 1:
            forms += ["sym", "sym"]
        if v >= 2 and v % 2 == 0:
            forms.append("double")
        if v >= 2:
            forms.append("plus")
        if v >= 1:
            forms.append("half")
        form = draw(st.sampled_from(forms))
        name = self.fresh(prefix)
        if form == "zero":
            self.bindings[name] = 0
            self.zero.append(name)
            return name
        if form == "sym" and v >= 1:
            self.bindings[name] = v
            return name
        if form == "double":
            self.bindings[name] = v // 2
            return f"2*{name}"
        if form == "plus":
            self.bindings[name] = v - 1
            return f"{name} + 1"
        if form == "half":
            self.bindings[name] = 2 * v + draw(st.integers(0, 1))
            return f"{name} // 2"
        off = draw(st.integers(1, 2))  # "minus"; also the only form for 0
        self.bindings[name] = v + off
        return f"{name} - {off}"

    def leaf(self, v: Any, prefix: str, where: str, force: bool = False, lo: int = 0) -> Any:
        """``v`` with its int leaves (lists, pairs) of at least ``lo`` replaced at random."""
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and v >= lo:
            if force or self.draw(st.floats(0, 1)) < self.p:
                e = self.expr(v, prefix, 0)
                self.fields.append(f"{where}={e!r}")
                return e
            return v
        if isinstance(v, list):
            return [self.leaf(x, prefix, where, force, lo) for x in v]
        return v

    def layer(self, layer: dict[str, Any], where: str) -> dict[str, Any]:
        t = layer.get("type")
        out = dict(layer)
        name = layer.get("name", t)
        if t == "repeat":
            if self.draw(st.floats(0, 1)) < self.p:
                e = self.expr(int(layer["times"]), "R", 1)
                for n in _names(e):
                    if n not in self.structural:
                        self.structural.append(n)
                self.fields.append(f"{where}.{name}.times={e!r}")
                out["times"] = e
            out["body"] = [self.layer(x, f"{where}.{name}") for x in layer["body"]]
            return out
        if t == "block":
            out["args"] = {k: self.leaf(v, "A", f"{where}.{name}.args.{k}")
                           for k, v in layer.get("args", {}).items()}
            return out
        for f in SYM_FIELDS.get(t, ()):  # type: ignore[arg-type]
            if f in layer and not _kept(t, f, layer[f]):
                out[f] = self.leaf(layer[f], PREFIX[f], f"{where}.{name}.{f}",
                                   lo=2 if f == "shape" else 0)
        for f, d in DEFAULTS.get(t, {}).items():  # type: ignore[arg-type]
            if f not in layer and self.draw(st.floats(0, 1)) < self.p / 3:
                out[f] = self.leaf(d, PREFIX[f], f"{where}.{name}.{f}", force=True)
        return out


def _kept(t: str, f: str, v: Any) -> bool:
    """Fields left as drawn: a one-number split size (the number of parts must be known), a
    slice end past the axis (a number is clamped, an expression must lie within the axis)."""
    return (t == "split" and f == "sizes" and not isinstance(v, list)
            or t == "slice" and f == "end" and v == PAST_END)


def _names(e: str) -> list[str]:
    import re
    return re.findall(r"[A-Za-z][A-Za-z0-9_]*", e)


def _perturb(draw: Callable[[Any], Any], b0: dict[str, int], fixed: tuple[str, ...],
             zero: frozenset[str], big: bool) -> dict[str, int]:
    """Other bindings near ``b0`` (or huge); the sizes in ``zero`` (declared with min 0) may
    become 0 or leave it."""
    b = dict(b0)
    names = [n for n in sorted(b0) if n not in fixed]
    if not names:
        return b
    if big:
        # huge sizes: the int64 edge of evaluate_many; structure unchanged
        for n in names:
            if n in ("H", "W", "L", "D", "C", "N") or draw(st.booleans()):
                b[n] = draw(st.sampled_from([b0[n] * 1000, 10**6, 2**20, 10**7, 3 * 10**8,
                                             BIG, draw(st.integers(1, BIG))]))
        return {k: min(max(v, 0 if k in zero else 1), BIG) for k, v in b.items()}
    for n in draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)):
        v = b0[n]
        b[n] = max(0 if n in zero else 1,
                   draw(st.sampled_from([0, 1, 2, 3, v - 1, v + 1, v + 2, 2 * v, 3 * v + 1,
                                         draw(st.integers(1, 4 * v + 4))])))
    return b


@st.composite
def symbolic_cases(draw: Callable[[Any], Any], max_steps: int = 5) -> SymCase:
    """A random architecture with symbolic fields, and 2 to 5 bindings of its symbols."""
    concrete, cb = draw(architectures(max_steps=max_steps, opaque=True))
    arch = copy.deepcopy(concrete)
    p = draw(st.sampled_from([0.15, 0.3, 0.6, 1.0]))
    bindings = dict(cb)
    sz = _Symbolizer(draw, bindings, p)
    arch["layers"] = [sz.layer(x, "layers") for x in concrete["layers"]]
    if "blocks" in concrete:
        blocks = {}
        for bname, blk in concrete["blocks"].items():
            blocks[bname] = {**blk, "layers": [sz.layer(x, f"blocks.{bname}")
                                               for x in blk["layers"]]}
        arch["blocks"] = blocks
    # expressions may reuse a symbol that is then no longer used anywhere else; keep only used
    text = repr(arch["layers"]) + repr(arch.get("blocks", {})) + repr(arch["input"])
    used = set(_names(text))
    bindings = {k: v for k, v in bindings.items() if k in used}
    # Sizes the input shape does not name are declared (an undeclared name is refused).
    in_shape = set(_names(repr([x for x in arch["input"]["shape"] if isinstance(x, str)])))
    declared = sorted(k for k in bindings if k not in in_shape)
    if declared:
        arch["symbols"] = {k: {"min": 0} if k in sz.zero else {} for k in declared}
    fixed = tuple(s for s in sz.structural if s in bindings)
    zero = frozenset(k for k in sz.zero if k in bindings)
    extra = [_perturb(draw, bindings, fixed, zero, big=draw(st.integers(0, 4)) == 0)
             for _ in range(draw(st.integers(1, 4)))]
    seen: list[dict[str, int]] = [bindings]
    for b in extra:
        if b not in seen:
            seen.append(b)
    return SymCase(arch=arch, concrete=concrete, concrete_bindings=cb, bindings=seen,
                   structural=fixed, fields=sz.fields)
