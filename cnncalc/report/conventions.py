"""The MACs other tools report, reproduced from cnncalc's per-layer facts.

cnncalc counts one multiply-accumulate per weight use in convolutions, dense layers, matrix
products and attention, and nothing for biases, normalisation, activations or pooling (those
are ``other_ops``). torchinfo, fvcore, ptflops and thop each count a little differently; a
*convention* is one tool's rules, written here as plain functions of a layer's facts (its type,
its spec's fields such as ``bias`` or ``affine``, its input and output shapes, its params and
cnncalc's MACs), so they hold for symbolic sizes too (a formula in ``H`` and ``W``).

Each rule returns the tool's count for one layer. A layer type with no rule counts as cnncalc
counts it when the convention lists it in ``same`` (checked against the tool), and is reported
as *unchecked* otherwise (cnncalc's MACs stand in for it). Rules are registered with
:func:`rule`, which refuses a second rule for the same convention and layer type (as
``torch.utils.flop_counter.register_flop_formula`` does). docs/conventions.md tabulates them;
tests/pytorch/test_peers.py checks them against the installed tools.

Every rule describes the tool running the network as :func:`cnncalc.to_torch` builds it
(standard ``torch.nn`` modules) in eval mode, with the tool's usual call: torchinfo
``summary(model, input_size=...)``, fvcore ``FlopCountAnalysis(model, x).total()``, ptflops
``get_model_complexity_info(model, (C, H, W))`` (pytorch backend), thop
``profile(model, inputs=(x,))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..algebra.arith import Value, floordiv, is_num, norm, prod, ratio, total
from ..algebra.expr import evaluate
from ..core.analysis import Analysis
from ..core.graph import INPUT, expand
from ..core.results import ConventionTotals
from ..errors import CnnCalcError
from ..layers.base import LayerBase

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # a bound analysis needs no sympy

__all__ = ["CONVENTIONS", "Convention", "Facts", "apply", "check_name", "count", "facts", "names",
           "rule", "summary_line"]


@dataclass(frozen=True)
class Facts:
    """What a rule reads about one layer."""

    type: str
    spec: LayerBase
    in_shape: tuple[Value, ...]
    """The shape of the first input."""
    out_shape: tuple[Value, ...]
    params: Value
    macs: Value
    """cnncalc's MACs."""
    env: Mapping[str, Value] = field(default_factory=dict)
    """The sizes and block arguments the spec's expressions read."""

    @property
    def n_in(self) -> Value:
        """Input elements (first input)."""
        return prod(self.in_shape)

    @property
    def n_out(self) -> Value:
        """Output elements."""
        return prod(self.out_shape)

    @property
    def batch(self) -> Value:
        """The output's first axis (the batch)."""
        return self.out_shape[0]

    @property
    def out_positions(self) -> Value:
        """Batch times output spatial positions (channels left out)."""
        return prod([self.out_shape[0], *self.out_shape[2:]])

    def val(self, name: str) -> Value:
        """An integer field of the spec (a number or an expression), evaluated."""
        return evaluate(getattr(self.spec, name), dict(self.env))

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean field of the spec (``bias``, ``affine``...)."""
        return bool(getattr(self.spec, name, default))


Rule = Callable[[Facts], Value | None]
"""A layer's count under a convention; None where the rule does not reproduce the tool for
this layer (cnncalc's MACs stand in, and the layer's type is reported as unchecked)."""


@dataclass
class Convention:
    """One tool's way of counting."""

    name: str
    reports: str
    """What the tool calls its figure."""
    counts: str
    """One line: what it counts beyond or short of cnncalc's MACs."""
    same: frozenset[str] = frozenset()
    """Layer types the tool counts as cnncalc does (checked against the tool)."""
    per_sample: bool = False
    """The tool runs a batch of one: its figure is the total divided by the batch size."""
    rules: dict[str, Rule] = field(default_factory=dict)
    params: Callable[[Facts], Value] | None = None
    """The parameters the tool counts for a layer, where they are not the layer's own."""


CONVENTIONS: dict[str, Convention] = {}
"""Every convention by name, in the order of ``--convention``'s choices."""


def _register(c: Convention) -> Convention:
    if c.name in CONVENTIONS:
        raise RuntimeError(f"duplicate convention {c.name!r}")
    CONVENTIONS[c.name] = c
    return c


def rule(convention: str, *types: str) -> Callable[[Rule], Rule]:
    """Register ``fn(facts) -> count`` as ``convention``'s count for each layer type in
    ``types``; a second rule for the same pair is an error."""
    def register(fn: Rule) -> Rule:
        c = CONVENTIONS[convention]
        for t in types:
            if t in c.rules or t in c.same:
                raise RuntimeError(f"duplicate rule for {t!r} in convention {convention!r}")
            c.rules[t] = fn
        return fn
    return register


def names() -> tuple[str, ...]:
    """The convention names (``cnncalc`` first)."""
    return tuple(CONVENTIONS)


# --- the types every tool sees the same way ---------------------------------------------------

_NO_MACS = frozenset({
    "add", "sub", "mul", "div", "concat", "flatten", "reshape", "permute", "transpose", "slice",
    "index", "split", "chunk", "expand", "identity", "dropout", "pad", "channel_shuffle",
    "sigmoid", "tanh", "hardswish", "hardsigmoid", "mish", "softplus", "amax", "sum", "mean"})
"""Layer types with no MACs in cnncalc that none of the tools counts in a network built by
:func:`cnncalc.to_torch` (adds and products run as ``torch.add``/``torch.mul`` captured at build
time, which ptflops' patch does not see). Activations here are those no tool hooks."""

_CONV = frozenset({"conv", "separable_conv"})
_POOLS = ("max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool", "global_avg_pool")


def _mha_sizes(f: Facts) -> tuple[Value, Value, Value]:
    """Batch, tokens and embedding size of a ``multihead_attention`` input (rank 3; an
    unbatched ``[L, E]`` is one item)."""
    shape = f.in_shape
    e = shape[-1]
    if len(shape) == 2:
        return 1, shape[0], e
    t = 1 if f.flag("batch_first") else 0
    return shape[1 - t], shape[t], e


# --- cnncalc -------------------------------------------------------------------------------------

_register(Convention(
    "cnncalc", "MACs (FLOPs = 2*MACs)",
    "one per weight use in conv, linear, matmul and attention; biases, normalisation, "
    "activations and pooling are other_ops"))


# --- torchinfo 1.8 ------------------------------------------------------------------------------

_register(Convention(
    "torchinfo", "Total mult-adds (summary)",
    "params x batch x output positions for convs (biases included), params x batch for other "
    "layers with parameters (Linear, norms), nothing for layers without parameters",
    same=_NO_MACS | {"relu", "relu6", "leaky_relu", "gelu", "silu", "elu", "softmax",
                     "upsample", *_POOLS}))


@rule("torchinfo", "conv", "separable_conv", "conv_transpose")
def _torchinfo_conv(f: Facts) -> Value:
    """Every parameter (weight and bias) once per output position of every sample; for a
    transposed conv that is the output's positions, not the input's."""
    return prod([f.params, f.out_positions])


@rule("torchinfo", "linear", "batch_norm", "group_norm", "layer_norm", "prelu", "parameter")
def _torchinfo_params(f: Facts) -> Value:
    """Every parameter once per sample (the output's first axis): a Linear on ``[N, L, F]``
    counts ``N``, not ``N*L``, rows; a ``parameter`` of shape ``[1, L, E]`` counts once."""
    return prod([f.params, f.batch])


@rule("torchinfo", "matmul", "attention", "multihead_attention")
def _torchinfo_none(f: Facts) -> Value:
    """No parameters, no mult-adds: torchinfo only counts parameter uses of leaf modules;
    ``nn.MultiheadAttention`` is not a leaf (it holds ``out_proj``, which it never calls)."""
    return 0


# --- fvcore 0.1.5 --------------------------------------------------------------------------------

_register(Convention(
    "fvcore", "FlopCountAnalysis.total() (one per multiply-add, called flops)",
    "no biases; batch norm 2 per element (1 without affine); adaptive average pooling "
    "(2-D) 1 per input element; layer/group norm 5 per element; upsample nearest 1, "
    "bilinear 4 per output element (2-D); no activations, max/avg pooling or adds",
    same=_NO_MACS | _CONV | {"parameter", "conv_transpose", "linear", "matmul", "relu", "relu6",
                             "leaky_relu", "gelu", "silu", "elu", "prelu", "softmax",
                             "max_pool", "avg_pool", "adaptive_max_pool"}))


@rule("fvcore", "batch_norm")
def _fvcore_bn(f: Facts) -> Value:
    """``aten::batch_norm`` in eval mode: 2 per input element with affine, 1 without."""
    return prod([2 if f.flag("affine") else 1, f.n_in])


@rule("fvcore", "group_norm")
def _fvcore_gn(f: Facts) -> Value:
    """``aten::group_norm``: 5 per input element with affine, 4 without."""
    return prod([5 if f.flag("affine") else 4, f.n_in])


@rule("fvcore", "layer_norm")
def _fvcore_ln(f: Facts) -> Value:
    """``aten::layer_norm``: 5 per input element with elementwise affine, 4 without."""
    return prod([5 if f.flag("elementwise_affine") else 4, f.n_in])


@rule("fvcore", "adaptive_avg_pool", "global_avg_pool")
def _fvcore_adaptive(f: Facts) -> Value:
    """``aten::adaptive_avg_pool2d``: 1 per input element; 1-D and 3-D pools are not
    counted."""
    return f.n_in if len(f.in_shape) == 4 else 0


@rule("fvcore", "upsample")
def _fvcore_upsample(f: Facts) -> Value:
    """``aten::upsample_nearest2d`` 1 and ``aten::upsample_bilinear2d`` 4 per output element;
    other modes and 1-D/3-D resizing are not counted."""
    mode = getattr(f.spec, "mode", "nearest")
    if len(f.out_shape) != 4 or mode not in ("nearest", "bilinear"):
        return 0
    return prod([1 if mode == "nearest" else 4, f.n_out])


@rule("fvcore", "attention")
def _fvcore_sdpa(f: Facts) -> Value:
    """``aten::scaled_dot_product_attention`` has no handle: not counted."""
    return 0


@rule("fvcore", "multihead_attention")
def _fvcore_mha(f: Facts) -> Value:
    """The in- and out-projections (``aten::linear``), ``N*L*E*4E``; the scores and the
    weighted sum run in ``scaled_dot_product_attention`` (``need_weights=False``): not
    counted."""
    n, big_l, e = _mha_sizes(f)
    return prod([n, big_l, e, 4, e])


# --- ptflops 0.7.5 (pytorch backend) -------------------------------------------------------------

_register(Convention(
    "ptflops", "MACs (get_model_complexity_info, per sample)",
    "biases; batch norm 2 per element (1 without affine); ReLU, GELU, ELU, PReLU, every "
    "pooling and upsample counted twice (module hook and patched functional), ReLU6, "
    "LeakyReLU, SiLU and softmax once; per sample (it runs a batch of one)",
    per_sample=True,
    same=_NO_MACS | {"matmul", "parameter"}))


@rule("ptflops", "conv", "separable_conv", "linear", "conv_transpose")
def _ptflops_bias(f: Facts) -> Value:
    """cnncalc's MACs plus one addition per output element for the bias."""
    return norm(f.macs + (f.n_out if f.flag("bias") else 0))


@rule("ptflops", "relu", "gelu", "elu", "prelu")
def _ptflops_twice(f: Facts) -> Value:
    """1 per output element by the module hook, and again by ``F.relu`` (``F.gelu``...)
    patched, which the module calls."""
    return prod([2, f.n_out])


@rule("ptflops", "relu6", "leaky_relu", "silu", "softmax")
def _ptflops_once(f: Facts) -> Value:
    """1 per element once: ReLU6 and LeakyReLU by the module hook only (they call
    ``F.hardtanh``/``F.leaky_relu``, not patched), SiLU and softmax by the patched functional
    only (no module hook)."""
    return f.n_out


@rule("ptflops", *_POOLS)
def _ptflops_pool(f: Facts) -> Value:
    """1 per input element by the module hook and again by the patched ``F.*_pool*d``."""
    return prod([2, f.n_in])


@rule("ptflops", "batch_norm", "group_norm")
def _ptflops_norm(f: Facts) -> Value:
    """1 per input element, 2 with affine (module hook only)."""
    return prod([2 if f.flag("affine") else 1, f.n_in])


def _moved_layer_norm(f: Facts) -> bool:
    """A layer norm over axes that are not the trailing ones (``dims: [1]``, timm's
    ``LayerNorm2d``): a subclass of ``nn.LayerNorm``, which ptflops and thop match by exact
    class and so do not recognise."""
    dims = getattr(f.spec, "dims", None)
    if dims is None:
        return False
    rank = len(f.in_shape)
    axes = sorted(int(a) % rank for a in dims)
    return axes != list(range(rank - len(axes), rank))


@rule("ptflops", "layer_norm")
def _ptflops_ln(f: Facts) -> Value:
    """1 per input element: the hook looks for ``affine``, which LayerNorm does not have;
    0 for a layer norm over non-trailing axes (a subclass, no hook)."""
    return 0 if _moved_layer_norm(f) else f.n_in


@rule("ptflops", "upsample")
def _ptflops_upsample(f: Facts) -> Value:
    """1 per output element by the module hook and again by the patched ``F.interpolate``."""
    return prod([2, f.n_out])


@rule("ptflops", "attention")
def _ptflops_sdpa(f: Facts) -> Value:
    """``F.scaled_dot_product_attention`` is not patched: not counted."""
    return 0


@rule("ptflops", "multihead_attention")
def _ptflops_mha(f: Facts) -> Value | None:
    """ptflops' hook for ``nn.MultiheadAttention`` (the class itself; it matches classes
    exactly): per item, the query scaling ``L*E``, the projections ``3*L*E*E`` (and ``3*L*E``
    for their bias), per head ``2*L*L*E/H`` for scores and weighted sum and ``L*L`` for the
    softmax, and the out-projection ``L*E*(E + 1)``. Only ``batch_first`` inputs: ptflops
    prepends its batch of one to the input, so an ``[L, N, E]`` layer is not reproduced."""
    if not (f.flag("batch_first") and len(f.in_shape) == 3):
        return None
    n, big_l, e = _mha_sizes(f)
    h = f.val("num_heads")
    per = norm(big_l * e + 3 * big_l * e * e + (3 * big_l * e if f.flag("bias") else 0)
               + h * (2 * big_l * big_l * floordiv(e, h) + big_l * big_l)
               + big_l * e * (e + 1))
    return prod([n, per])


# --- thop 0.1.1 ----------------------------------------------------------------------------------

_THOP_HOOKED = frozenset({"conv", "separable_conv", "conv_transpose", "linear", "batch_norm",
                          "layer_norm", "prelu", "softmax", "relu", "relu6", "leaky_relu",
                          "max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool",
                          "global_avg_pool", "dropout", "upsample"})
"""The layer types whose torch module thop has a rule for; it counts the parameters of these
modules only."""


def _thop_params(f: Facts) -> Value:
    """thop adds a module's parameters only when it has a rule for the module's class."""
    return f.params if f.type in _THOP_HOOKED and not _moved_layer_norm(f) else 0


_register(Convention(
    "thop", "macs (profile)",
    "no biases; batch norm 4 per element (2 without affine); adaptive average pooling "
    "(kernel + 1) per output element, average pooling 1; no activations; modules it has no "
    "rule for (group norm, attention, matmul) count 0 MACs and 0 params",
    same=_NO_MACS | _CONV | {"parameter", "linear", "relu", "relu6", "leaky_relu", "gelu",
                             "silu", "elu", "max_pool", "adaptive_max_pool"},
    params=_thop_params))


@rule("thop", "batch_norm", "layer_norm")
def _thop_norm(f: Facts) -> Value:
    """2 per input element, doubled with affine (``elementwise_affine`` for layer norm); 0
    for a layer norm over non-trailing axes (a subclass, which thop does not recognise)."""
    if _moved_layer_norm(f):
        return 0
    affine = f.flag("affine") or f.flag("elementwise_affine")
    return prod([4 if affine else 2, f.n_in])


@rule("thop", "adaptive_avg_pool", "global_avg_pool")
def _thop_adaptive(f: Facts) -> Value:
    """``(prod(in/out) + 1)`` per output element (its additions and one division): exactly
    one per input element plus one per output element (thop computes it in floating point and
    truncates, which can lose 1: with every size bound, its floating-point sum is
    reproduced)."""
    ins = f.in_shape[2:]
    # global_avg_pool is AdaptiveAvgPool(1), then a flatten when keepdim is false
    outs = f.out_shape[2:] if f.type == "adaptive_avg_pool" else (1,) * len(ins)
    n_out = prod([*f.in_shape[:2], *outs])
    if all(is_num(v) for v in (*ins, *outs, n_out)):
        kernel = 1.0
        for i, o in zip(ins, outs, strict=True):
            kernel *= float(i) / float(o)
        return int((kernel + 1.0) * float(n_out))
    return norm(f.n_in + n_out)


@rule("thop", "avg_pool")
def _thop_avg(f: Facts) -> Value:
    """1 per output element."""
    return f.n_out


@rule("thop", "conv_transpose")
def _thop_conv_t(f: Facts) -> Value:
    """thop's conv rule applied to a transposed conv: every output element times
    ``C_in/groups * prod(kernel)``, i.e. the weights per output channel."""
    c_out = f.out_shape[1]
    weights = norm(f.params - (c_out if f.flag("bias") else 0))
    return prod([f.n_out, ratio(weights, c_out)])


@rule("thop", "prelu")
def _thop_prelu(f: Facts) -> Value:
    """1 per input element (eval mode)."""
    return f.n_in


@rule("thop", "softmax")
def _thop_softmax(f: Facts) -> Value:
    """Per row of ``n`` features: ``n`` exponentials, ``n - 1`` additions, ``n`` divisions."""
    dim = int(getattr(f.spec, "dim", -1))
    n = f.in_shape[dim]
    return prod([ratio(f.n_in, n), norm(3 * n - 1)])


@rule("thop", "upsample")
def _thop_upsample(f: Facts) -> Value:
    """Per output element: nearest 1, linear 5, bilinear 11, bicubic 259; trilinear 0 (thop
    warns that it is not implemented)."""
    per = {"nearest": 1, "linear": 5, "bilinear": 11, "bicubic": 259}
    return prod([per.get(str(getattr(f.spec, "mode", "nearest")), 0), f.n_out])


@rule("thop", "matmul", "attention", "multihead_attention", "group_norm")
def _thop_unhooked(f: Facts) -> Value:
    """No rule for the module: 0 MACs (and its parameters are not counted)."""
    return 0


# --- the lecture ---------------------------------------------------------------------------------

_register(Convention(
    "lecture", "flops (the lecture's word for these MACs)",
    "the lecture's flops are cnncalc's MACs: K1*K2*C_in*C_out*W_out*H_out per conv, "
    "S_in*S_out per dense layer; biases, activations and pooling not counted"))


# --- applying a convention ---------------------------------------------------------------------

def facts(an: Analysis) -> list[Facts]:
    """The facts of every layer of ``an``, in order; specs come from the expanded graph (the
    same names the analysis reports)."""
    nodes = {n.name: n for n in expand(an.arch, dict(an.bindings))}
    shapes: dict[str, tuple[Value, ...]] = {INPUT: an.input_shape}
    out: list[Facts] = []
    for r in an.layers:
        first = r.inputs[0] if r.inputs else INPUT
        node = nodes[r.name]
        out.append(Facts(r.type, node.layer, shapes.get(first, an.input_shape),
                         r.output_shape, r.params, r.macs, node.env))
        shapes[r.name] = r.output_shape
        for i, s in enumerate(r.output_shapes):
            shapes[f"{r.name}.{i}"] = s
    return out


def check_name(name: str) -> Convention:
    """The convention called ``name``, or an ``input`` error listing them."""
    c = CONVENTIONS.get(name)
    if c is None:
        raise CnnCalcError(f"unknown convention {name!r}; one of {', '.join(CONVENTIONS)}",
                           kind="input")
    return c


def count(an: Analysis, name: str) -> ConventionTotals:
    """``an``'s totals as the tool ``name`` reports them (see the module docstring)."""
    c = check_name(name)
    if name in ("cnncalc", "lecture"):
        t = an.totals
        return ConventionTotals(name, t.macs, t.flops, t.params, c.reports, c.counts)
    rows = facts(an)
    counts: list[Value] = []
    unchecked: dict[str, None] = {}
    for f in rows:
        got = c.rules[f.type](f) if f.type in c.rules else f.macs
        if got is None or (f.type not in c.rules and f.type not in c.same):
            unchecked[f.type] = None
        counts.append(f.macs if got is None else got)
    macs = total(counts)
    params = total(c.params(f) for f in rows) if c.params else an.totals.params
    if c.per_sample:  # every count is linear in the batch: the quotient is a polynomial
        macs = ratio(macs, an.input_shape[0])
        if not is_num(macs):
            macs = norm(sympy.expand(macs))
    return ConventionTotals(name, norm(macs), prod([2, macs]), params, c.reports, c.counts,
                            tuple(unchecked))


def apply(an: Analysis, name: str) -> Analysis:
    """``an`` with :attr:`Analysis.convention` set to the totals of convention ``name`` (left
    None for ``cnncalc``, whose totals are the analysis's own)."""
    check_name(name)
    an.convention = None if name == "cnncalc" else count(an, name)
    return an


def summary_line(ct: ConventionTotals, fmt: Callable[[Value], str],
                 params: Value | None = None) -> str:
    """``fvcore counts 4111512576 MACs (no biases; ...)`` for the notes under a table; the
    tool's params too where they differ from ``params`` (the analysis's own)."""
    line = f"{ct.name} counts {fmt(ct.macs)} MACs"
    if params is None or ct.params != params:
        line += f", {fmt(ct.params)} params"
    line += f" ({ct.counts})"
    if ct.unchecked:
        line += f"; not reproduced for {', '.join(ct.unchecked)} (cnncalc's MACs used)"
    return line


def types_covered(name: str) -> Iterable[str]:
    """Layer types ``name`` has a rule for or counts as cnncalc does."""
    c = check_name(name)
    return sorted(set(c.rules) | c.same)
