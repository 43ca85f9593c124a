"""Walk the expanded graph in topological order, apply each layer's rules, build the Analysis.

The engine knows nothing about particular layer types: it resolves inputs, calls
``layer.apply``, checks the result, and records it. Memory totals (peak live activations at
inference, everything kept for training) come from the liveness of each output along the order.
Each :class:`~cnncalc.core.analysis.Analysis` it builds gets :func:`run` itself, to check
bindings by a bound analysis where its formulas cannot.
"""

from __future__ import annotations

import functools
import gc
import operator
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple, cast

from ..algebra.arith import Value, all_ints, floordiv, is_num, norm, prod, total
from ..algebra.expr import evaluate
from ..algebra.printing import pretty
from ..errors import CnnCalcError
from ..layers.base import Ctx, Note, Out, RFAxis, Tensor, decide_ge
from .analysis import Analysis
from .apply import apply_layer
from .bindings import MAX_BINDING, check_bindings
from .constraints.signs import sign_of
from .dtypes import DTYPE_BYTES
from .graph import INPUT, Node, expansion, symbols
from .results import LayerResult, ReceptiveField
from .schema import Architecture

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # imported on first symbolic use

__all__ = ["MAX_BINDING", "Step", "liveness", "run"]


def run(arch: Architecture, bindings: Mapping[str, int] | None = None, *,
        constraints: bool = True, trace: list[Step] | None = None) -> Analysis:
    """Analyse ``arch`` with the given sizes bound (the rest stay symbolic).

    ``trace``, when given, receives one :class:`Step` per layer instance, in order: the node,
    the tensors it read and what its rule returned (``cnncalc.core.explain`` shows the working
    from them).

    With free symbols left, the constraints are derived at once, so that a merge no size can
    satisfy is an error here; with every symbol bound they are derived when first asked for.

    The cyclic garbage collector is paused for the run: an analysis allocates many small
    objects and no cycles worth collecting, and a full collection in the middle of a long
    network otherwise costs as much as the analysis itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        an = _run(arch, bindings, trace)
        if constraints and an.free_symbols:
            an.constraints  # noqa: B018 - derive now: errors belong to analyze()
        return an
    except CnnCalcError as e:
        raise _from_zero(e, arch, bindings) from None
    finally:
        if was_enabled:
            gc.enable()


def _from_zero(e: CnnCalcError, arch: Architecture, bindings: Mapping[str, int] | None
               ) -> CnnCalcError:
    """A free size is analysed as >= 1: where one declared from 0 is left free, a refusal
    that names it says that it holds from 1 and how to analyse 0."""
    free0 = [k for k, (lo, _) in arch.ranges().items()
             if lo == 0 and k not in (bindings or {}) and re.search(rf"\b{k}\b", e.message)]
    if not free0 or e.kind in ("schema", "binding", "limit", "expression"):
        return e
    names = ", ".join(free0)
    e.message += (f" (with {names} free, sizes are analysed from 1; {names} "
                  f"{'is' if len(free0) == 1 else 'are'} declared from 0: bind "
                  f"{free0[0]}=0 to analyse that)")
    e.args = (str(e),)
    return e


class Step(NamedTuple):
    """One layer instance as the engine applied it (for :func:`run`'s ``trace``)."""

    node: Node
    inputs: tuple[Tensor, ...]
    out: Out
    ctx: Ctx


def _run(arch: Architecture, bindings: Mapping[str, int] | None,
         trace: list[Step] | None = None) -> Analysis:
    names = symbols(arch)
    env: dict[str, Value] = dict(check_bindings(names, bindings, arch.ranges()))
    notes: list[Note] = []
    shape = []
    for i, v in enumerate(arch.input.shape):
        try:
            x = evaluate(v, env)
        except CnnCalcError as e:
            raise CnnCalcError(e.message, path=["input", "shape", i]) from None
        if not is_num(x):
            # What the bound evaluation checks, as notes: exact divisions, size >= 1.
            ictx = Ctx(env, INPUT, -1, (), notes)
            ictx.integer(str(v), x, f"input size {i}")  # v is text: a number evaluates to one
        ok = decide_ge(x, 1)
        if ok is None:
            ictx.require("ge", f"input size {i} >= 1", x, 1)
        elif not ok:
            raise CnnCalcError(f"input size must be >= 1, got {x}", path=["input", "shape", i])
        shape.append(x)
    extent = tuple(shape[2:])
    inp = Tensor.network_input(tuple(shape))
    plan = expansion(arch, env)
    tensors: dict[str, Tensor] = {INPUT: inp}
    parts: dict[str, int] = {}  # layers with several outputs: how many
    results: list[LayerResult] = []
    byte = DTYPE_BYTES[arch.input.dtype]
    layout_warned = False
    symbolic = any(n not in env for n in names)  # else every rule works on ints
    # One context for every layer, moved from one to the next (a rule keeps none past its
    # call); a trace keeps each step's, so it gets its own.
    ctx = Ctx(env, INPUT, -1, extent, notes)
    rf_prev: tuple[RFAxis, ...] | None = None  # the field reported last, and its record:
    field = ReceptiveField.of(())  # an element-wise layer returns its input's field as is
    shape_prev: tuple[Value, ...] | None = None  # likewise the shape, and its element count
    numel_prev: Value = 0
    for node, scope in zip(plan.nodes, plan.scopes_for(env), strict=True):
        layer = node.layer
        ins = [tensors.get(n) or _read(tensors, parts, n, node) for n in node.inputs]
        lo, hi = layer.n_inputs
        if not lo <= len(ins) <= hi:
            raise CnnCalcError(f"{node.type} takes {lo}" + (f" to {hi}" if hi != lo else "")
                               + f" input(s), got {len(ins)}", layer=node.name,
                               index=node.index, path=node.path)
        if trace is not None:
            ctx = Ctx(scope, node.name, node.index, extent, notes)
        else:
            ctx.env, ctx.name, ctx.index = scope, node.name, node.index
        before = len(notes)
        try:
            # within the symbolic budget; the shape and field reported last were checked
            out = apply_layer(layer, ins, ctx, symbolic=symbolic,
                              checked=(shape_prev, rf_prev))
        except CnnCalcError as e:
            raise _hinted(e, node, ins, arch.input.shape, shape).at(
                node.name, node.index, node.path) from None
        except (ZeroDivisionError, TypeError, ValueError) as e:  # sympy on degenerate input
            raise CnnCalcError(f"cannot analyse: {e}", layer=node.name, index=node.index,
                               path=node.path) from None
        if ins and len(notes) > before:
            notes.extend(_unread(notes[before:], ins[0], out))
        if not layout_warned and INPUT in node.inputs and node.type == "conv":
            warn = _channels_last_conv(arch.input.shape, shape, out)
            if warn:  # once: the first conv on the input says it
                notes.append(Note("warn", node.name, node.index, warn, 0, 0))
                layout_warned = True
        if trace is not None:
            trace.append(Step(Node(node.name, layer, scope, node.index, node.path, [],
                                   node.inputs), tuple(ins), out, ctx))
        if out.parts:
            parts[node.name] = len(out.parts)
            for i, part in enumerate(out.parts):
                tensors[f"{node.name}.{i}"] = part
            n_out = total(prod(p.shape) for p in out.parts)
        else:
            t0 = ins[0] if ins else None
            if (t0 is not None and out.shape is t0.shape and out.rf is t0.rf
                    and out.axes is t0.axes and out.segments is t0.segments):
                tensors[node.name] = t0  # element-wise: the input's tensor, as it is
            else:
                tensors[node.name] = out.tensor()
            if out.shape is not shape_prev:  # an element-wise layer keeps its input's shape
                shape_prev, numel_prev = out.shape, prod(out.shape)
            n_out = numel_prev
        if out.rf is not rf_prev:
            rf_prev, field = out.rf, ReceptiveField.of(out.rf)
        # In field order (positional: a dataclass matches 16 keywords at some cost per layer):
        # name, type, inputs, output_shape, params, buffers, macs, other_ops, activations,
        # receptive_field, aliases_input, path, dtype_bytes (set by Analysis), work,
        # output_shapes, opaque.
        results.append(LayerResult(
            node.name, layer.type, list(node.inputs), out.shape, out.params, out.buffers,
            out.macs, out.other_ops, n_out, field, out.aliases_input, list(node.path), byte,
            out.work, tuple(p.shape for p in out.parts) if out.parts else (), out.opaque))
    peak, kept = _memory(results, prod(shape), byte)
    return Analysis(arch=arch, bindings=env, symbols=names, input_shape=tuple(shape),
                    layers=results, notes=notes, dtype_bytes=byte, peak_activation_bytes=peak,
                    training_activation_bytes=kept, rerun=run)


# --- beginner-proof errors: inputs without spatial axes, channels-last inputs ------------------

_LAYOUTS = {3: ("NLC", "[N, C, L]"), 4: ("NHWC", "[N, C, H, W]"), 5: ("NDHWC", "[N, C, D, H, W]")}


def _shape_text(spec: Sequence[object]) -> str:
    """An input shape as the user wrote it: ``[1, 32, 32, 3]``, ``[N, 3, H, W]``."""
    return "[" + ", ".join(str(v) for v in spec) + "]"


def _channels_last(spec: Sequence[object], shape: Sequence[Value]) -> str | None:
    """The hint for a network input that looks channels-last, or None.

    It looks so when it has 1 to 3 spatial axes, its last axis is 1, 3 or 4 (grey, RGB, RGBA)
    and its "channels" axis is symbolic or at least 8 (a row count rather than a channel
    count): ``[1, 32, 32, 3]``, ``[N, 28, 28, 1]``, ``[N, H, W, 3]``.
    """
    if len(shape) not in _LAYOUTS:
        return None
    last, chan = shape[-1], shape[1]
    if not (is_num(last) and last in (1, 3, 4)) or (is_num(chan) and chan < 8):
        return None
    name, first = _LAYOUTS[len(shape)]
    fixed = [spec[0], spec[-1], *spec[1:-1]]
    return (f"the input {_shape_text(spec)} looks channels-last ({name}); cnncalc shapes are "
            f"channels-first {first}: give {_shape_text(fixed)}")


def _hinted(e: CnnCalcError, node: Node, ins: Sequence[Tensor], spec: Sequence[object],
            shape: Sequence[Value]) -> CnnCalcError:
    """A layer's error, with what a beginner most likely got wrong where it is recognisable:
    an input without spatial axes given to a spatial layer, or a channels-last input."""
    if e.kind not in ("invalid", "constraint"):
        return e
    flat = [t for t in ins if len(t.shape) < 3]
    if flat and "spatial axes" in e.message:
        t = flat[0]
        given = "[" + ", ".join(pretty(v) for v in t.shape) + "]"
        why = (": give the network input its spatial axes (an image is [N, C, H, W])"
               if len(spec) < 3 else " (a flatten or linear layer before it removed them)")
        e.message = (f"{node.type} needs [N, C, L], [N, C, H, W] or [N, C, D, H, W]; its input "
                     f"{given} is [N, features], without spatial axes{why}")
        return e
    hint = _channels_last(spec, shape)
    if hint and hint not in e.message:
        e.message = f"{e.message}; {hint}"
    return e


def _channels_last_conv(spec: Sequence[object], shape: Sequence[Value], out: Out) -> str | None:
    """A warning for a conv on the network input whose kernel is longer than the input's last
    axis (it then reads mostly padding) when that input looks channels-last: a channels-last
    RGB image analyses without error but with its rows taken for channels."""
    hint = _channels_last(spec, shape)
    if hint is None or not out.rf:
        return None
    rf = out.rf[-1]  # the field along the last input axis: the conv's window there
    if not (rf.window and is_num(rf.size) and is_num(shape[-1]) and rf.size > shape[-1]):
        return None
    return (f"its kernel ({rf.size}) is longer than the input's last axis ({shape[-1]}), and "
            f"{hint} (as given, its {pretty(shape[1])} rows are read as channels)")


# --- input positions past the last window of a strided layer -----------------------------------

def _axis_word(i: int, nd: int) -> str:
    """What a position along spatial axis ``i`` of ``nd`` is called: rows and columns in 2-D."""
    if nd == 2:
        return ("row", "column")[i]
    return f"position along spatial axis {i}"


def _unread(new: Sequence[Note], t: Tensor, out: Out) -> list[Note]:
    """An 'unread' note for each 'tile' note a layer recorded (``new``): how many input
    positions along that axis lie past its last window, padding excluded.

    The last window ends at padded index ``(out - 1)*s + k_eff - 1`` and the last input
    position is at padded index ``pb + in - 1``, so ``pb + in - (out - 1)*s - k_eff`` positions
    are never read where that is positive; with ``span = in + pb + pa - k_eff`` (the tile
    note) and ``(out - 1)*s = span - span mod s``, that is ``span mod s - pa``. The kernel and
    the padding before come from the receptive fields in and out (``size_out = size_in +
    (k_eff - 1)*j``, ``start_out = start_in - pb*j``).

    Nothing is counted as unread (``lhs = 0``) where the fields are not windows (the padding
    cannot be told), nor for a window narrower than its stride (a 1x1 stride-2 shortcut): it
    skips positions between its windows at every size, by design, and the last one is no
    different. ``rhs``, the padded positions left over, is kept for
    :func:`cnncalc.core.constraints.tiling_state`. Where the stride or the kernel is symbolic
    the count has no formula here: a 'recheck' note makes
    :meth:`~cnncalc.core.analysis.Analysis.evaluate` analyse again once they are bound.
    """
    found: list[Note] = []
    for n in new:
        if n.kind != "tile":
            continue
        word = n.text.rsplit(" ", 1)[-1]  # "axis i", spatial axis i of the layer's input
        span, s = n.lhs, n.rhs
        if not (word.isdigit() and int(word) < t.ndim_spatial):
            continue
        if not is_num(s):  # the exact-sizes advice prints the condition
            found.append(Note("recheck", n.layer, n.layer_index, "rows past the last window "
                              "depend on the stride", s, 0))
            continue
        i = int(word)
        left = span % s if is_num(span) else _left_over(span, s)
        unread: Value = 0
        src = t.src(i + 2)
        if src is not None and src < len(out.rf) and t.rf[src].window and out.rf[src].window:
            k_eff, pa = _kernel_and_pad_after(t.rf[src], out.rf[src], span, t.spatial[i])
            if not is_num(k_eff):
                found.append(Note("recheck", n.layer, n.layer_index, "rows past the last "
                                  "window depend on the kernel", k_eff, 0))
            elif k_eff >= s:
                unread = norm(left - pa)
        found.append(Note("unread", n.layer, n.layer_index, _axis_word(i, t.ndim_spatial),
                          unread, left))
    return found


def _kernel_and_pad_after(a: RFAxis, b: RFAxis, span: Value, n: Value) -> tuple[Value, Value]:
    """``(k_eff, pa)`` of a window from its receptive fields in (``a``) and out (``b``), its
    padded span and its input length ``n``: ``k_eff = (size_out - size_in)/j + 1``,
    ``pa = span - n - pb + k_eff`` with ``pb = (start_in - start_out)/j``. Integer work where
    every value is a number (a bound analysis never calls sympy)."""
    vals = (b.size, a.size, a.stride, a.start, b.start, span, n)
    if all_ints(vals):
        bs, as_, j, a0, b0, sp, n_ = (int(v) for v in vals)
        k_eff = (bs - as_) // j + 1
        return k_eff, sp - n_ - (a0 - b0) // j + k_eff
    return _kernel_and_pad_sym(*vals)


@functools.lru_cache(maxsize=4096)
def _left_over(span: sympy.Expr, s: int) -> Value:
    """``span mod s`` of a formula ``span`` (cached: a network's tilings recur from one
    analysis to the next)."""
    return norm(span - s * floordiv(span, s))


@functools.lru_cache(maxsize=4096)
def _kernel_and_pad_sym(bsize: Value, asize: Value, astride: Value, astart: Value,
                        bstart: Value, span: Value, n: Value) -> tuple[Value, Value]:
    """:func:`_kernel_and_pad_after` where some value is a formula (cached likewise)."""
    k = norm(sympy.expand((sympy.sympify(bsize) - asize) / astride + 1))
    pa = norm(sympy.expand(span - n - (sympy.sympify(astart) - bstart) / astride + k))
    return k, pa


def _read(tensors: dict[str, Tensor], parts: dict[str, int], name: str, node: Node) -> Tensor:
    """The tensor ``name`` that ``node`` reads; a layer with several outputs is read by part."""
    t = tensors.get(name)
    if t is not None:
        return t
    base, _, i = name.rpartition(".")
    if base in tensors:
        raise CnnCalcError(f"{base!r} has one output: read it as {base!r}", layer=node.name,
                           index=node.index, path=[*node.path, "inputs"])
    n = parts.get(name, parts.get(base, 0))
    which = ", ".join(f"{name if name in parts else base}.{j}" for j in range(n))
    msg = (f"{name!r} has {n} outputs: read one of {which}" if name in parts
           else f"{base!r} has {n} outputs ({which}); there is no output {i}")
    raise CnnCalcError(msg, layer=node.name, index=node.index, path=[*node.path, "inputs"])


def liveness(results: list[LayerResult]) -> tuple[dict[str, str], dict[str, int]]:
    """Who owns each tensor and when its last reader runs, along the layer order.

    A layer that returns its input (identity, dropout, flatten views) allocates nothing: its
    output is owned by its input's owner, whose life it extends. ``owner[name] == name`` for an
    allocated output; ``last_use[owner]`` is the index of its last reader (the network output
    lives past the end, ``len(results)``)."""
    owner: dict[str, str] = {INPUT: INPUT}
    last_use: dict[str, int] = {INPUT: -1}
    for i, r in enumerate(results):
        name, ins = r.name, r.inputs
        if r.aliases_input and ins:
            owner[name] = o = owner[ins[0]]
        else:
            owner[name] = o = name
            last_use[name] = i
        if r.output_shapes:  # the parts of a split, read as "NAME.j"
            for j in range(len(r.output_shapes)):
                owner[f"{name}.{j}"] = o
        for n in ins:
            last_use[owner[n]] = i
    if results:
        last_use[owner[results[-1].name]] = len(results)
    return owner, last_use


def _memory(results: list[LayerResult], n_input: Value, byte: int) -> tuple[Value, Value]:
    """Peak live activation bytes at inference and total kept for training.

    Inference: walking the order, a tensor lives from its producer until its last reader has
    run; at each step the live set plus the new output is a candidate peak. Layers that return
    their input (identity, dropout, flatten views) allocate nothing and extend its life.
    Training: the input plus every allocated output, all kept for the backward pass.
    """
    owner, last_use = liveness(results)
    size: dict[str, Value] = {INPUT: n_input}
    for r in results:
        if owner[r.name] == r.name:
            size[r.name] = r.activations
    if all_ints(size.values()):
        return _memory_numeric(results, last_use, cast(dict[str, int], size), byte)
    live: dict[str, Value] = {INPUT: n_input}
    sets: list[frozenset[str]] = [frozenset(live)]
    for i, r in enumerate(results):
        if owner[r.name] == r.name:
            live[r.name] = r.activations
            sets.append(frozenset(live))
        for n in list(live):
            if last_use[n] <= i:
                del live[n]
    # A live set contained in its neighbour can never be the peak: drop it (linear; keeps
    # the symbolic Max short). Unevaluated Max: sympy's pairwise comparisons cost seconds.
    keep = [st for i, st in enumerate(sets)
            if not (i + 1 < len(sets) and st < sets[i + 1])
            and not (i > 0 and st <= sets[i - 1])]
    cands = _peak_candidates(keep, size, [v for r in results for v in r.output_shape])
    peak = cands[0] if len(cands) == 1 else _max(tuple(cands))
    kept = total(size.values())
    return norm(prod([peak, byte])), norm(prod([kept, byte]))


def _memory_numeric(results: list[LayerResult], last_use: dict[str, int],
                    size: dict[str, int], byte: int) -> tuple[int, int]:
    """:func:`_memory` where every size is a number: the same walk, with a running sum (a
    tensor is released after the step of its last reader; the input at step 0 at the
    latest)."""
    freed = [0] * (len(results) + 1)  # per step, the bytes released after it
    for n, i in last_use.items():
        freed[i if i > 0 else 0] += size[n]
    running = best = size[INPUT]
    for i, r in enumerate(results):
        grown = size.get(r.name)  # an allocated output (size holds those and the input)
        if grown is not None:
            running += grown
            if running > best:
                best = running
        running -= freed[i]
    return best * byte, sum(size.values()) * byte


@functools.lru_cache(maxsize=16384)
def _terms(v: sympy.Expr) -> tuple[tuple[sympy.Expr, object], ...]:
    """The monomials of ``v`` expanded, with their coefficients (an int or a Fraction where
    the coefficient is rational, else as sympy has it); cached: a network's sizes recur."""
    out = []
    for m, k in sympy.expand(v).as_coefficients_dict().items():
        coeff: object = k
        if isinstance(k, sympy.Rational):
            coeff = int(k.p) if k.q == 1 else Fraction(int(k.p), int(k.q))
        out.append((m, coeff))
    return tuple(out)


def _peak_candidates(sets: list[frozenset[str]], size: Mapping[str, Value],
                     sizes: list[Value]) -> list[Value]:
    """The totals of the live ``sets`` that :func:`_undominated` keeps, in the order of
    their first set: ``_undominated`` of the distinct totals, without building every total.

    The totals are compared as sums of the sizes' expanded terms (the expansion of a sum is
    the sum of the expansions), one per distinct multiset of sizes, then one per distinct
    polynomial: of candidates with the same polynomial ``_undominated`` keeps the first
    alone, and whether any other candidate is beaten does not depend on the repeats. Only
    the totals kept are built. Where a coefficient is not rational, the totals go to
    :func:`_undominated` as they are.
    """
    ids: dict[Value, int] = {}  # the distinct sizes, numbered
    nid = {n: ids.setdefault(v, len(ids)) for n, v in size.items()}
    first: dict[tuple[int, ...], frozenset[str]] = {}  # per multiset of sizes, its first set
    for st in sets:
        first.setdefault(tuple(sorted([nid[n] for n in st])), st)
    exact = (int, Fraction)
    mono: dict[sympy.Expr, int] = {}  # the monomials, numbered (ints hash cheaply)
    terms: list[list[tuple[int, int | Fraction]]] = []
    for v in ids:
        got = ((sympy.Integer(1), v),) if is_num(v) else _terms(v)
        if not all(type(c) in exact for _, c in got):
            return _undominated(list(dict.fromkeys(total(size[n] for n in st)
                                                   for st in sets)), sizes)
        terms.append([(mono.setdefault(m, len(mono)), cast("int | Fraction", c))
                      for m, c in got])
    polys: dict[frozenset[tuple[int, int | Fraction]], frozenset[str]] = {}
    for key, st in first.items():
        poly: dict[int, int | Fraction] = {}
        for i in key:
            for m, c in terms[i]:
                poly[m] = poly.get(m, 0) + c
        polys.setdefault(frozenset((m, c) for m, c in poly.items() if c != 0), st)
    if len(polys) == 1:
        return [total(size[n] for n in st) for st in polys.values()]
    known = _known_nonneg(sizes)
    monos = list(mono)
    signs = {m: sign_of(monos[m], known) for m in sorted({m for p in polys for m, _ in p})}
    # ``p`` beats ``q`` (``_undominated``: every monomial of ``p - q`` non-zero has a known
    # sign that makes it non-negative) when their monomials of unknown sign have the same
    # coefficients and ``sign * coefficient`` is no smaller in ``p`` for every other one.
    # Distinct polynomials: then the sum of ``sign * coefficient`` is larger in ``p``, so
    # in that order each one is beaten by one kept before it (the relation is transitive)
    # or by none.
    axes = [m for m, sg in signs.items() if sg]
    cands = []
    for i, p in enumerate(polys):
        coef = dict(p)
        vec = tuple(signs[m] * coef.get(m, 0) for m in axes)
        rest = frozenset((m, c) for m, c in p if not signs[m])
        cands.append((sum(vec), i, vec, rest))
    cands.sort(key=lambda c: c[0], reverse=True)
    kept: list[tuple[int | Fraction, int, tuple[int | Fraction, ...],
                     frozenset[tuple[int, int | Fraction]]]] = []
    for cand in cands:
        if not any(k[3] == cand[3] and all(map(operator.ge, k[2], cand[2])) for k in kept):
            kept.append(cand)
    sets_kept = list(polys.values())
    return [total(size[n] for n in sets_kept[i]) for i in sorted(k[1] for k in kept)]


def _undominated(cands: list[Value], sizes: list[Value] | None = None) -> list[Value]:
    """Drop every candidate that another one provably bounds for all valid sizes.

    ``b >= a`` is proved term by term on the expanded ``b - a``: every monomial must have a
    known sign (:func:`cnncalc.core.constraints.signs.sign_of`) that its coefficient makes
    non-negative.
    A monomial whose sign is unknown (``floor(H/2 - K/2)`` with nothing known about it) must
    cancel exactly.
    ``sizes`` are output lengths, each >= 1 in a valid network: they prove atoms such as
    ``floor(H/2 - K/2) >= 0`` from ``floor(H/2 - K/2) + 1 >= 1``. Comparing coefficient
    dictionaries is exact and cheap.
    """
    known = _known_nonneg(sizes or [])
    # Monomials numbered once, exact rationals as Fractions: comparing plain dicts of ints
    # and Fractions is much cheaper than comparing sympy numbers keyed by expressions.
    index: dict[sympy.Expr, int] = {}
    polys: list[dict[int, object]] = []
    for c in cands:
        poly: dict[int, object] = {}
        for m, k in sympy.expand(c).as_coefficients_dict().items():
            coeff: object = k
            if isinstance(k, sympy.Rational):  # an int where it is one: cheaper than Fraction
                coeff = int(k.p) if k.q == 1 else Fraction(int(k.p), int(k.q))
            poly[index.setdefault(m, len(index))] = coeff
        polys.append(poly)
    monomials = list(index)
    signs: dict[int, int] = {}

    def sign(i: int) -> int:
        if i not in signs:
            signs[i] = sign_of(monomials[i], known)
        return signs[i]

    def dominates(p: dict, q: dict) -> bool:
        for m, a in p.items():  # the monomials of p, then those of q alone
            d = a - q.get(m, 0)
            if d != 0 and (sign(m) * d <= 0):
                return False
        for m, b in q.items():
            if m not in p and b != 0 and (sign(m) * -b <= 0):
                return False
        return True

    keep = []
    for i, q in enumerate(polys):
        beaten = any(j != i and dominates(p, q) and (not dominates(q, p) or j < i)
                     for j, p in enumerate(polys))
        if not beaten:
            keep.append(cands[i])
    return keep


def _known_nonneg(sizes: list[Value]) -> frozenset[sympy.Expr]:
    """Floor/ceiling atoms ``a`` that are >= 0 because some size ``c*a + k`` (``c > 0``) is >= 1.

    ``a`` is an integer, so ``a >= (1 - k)/c > -1`` gives ``a >= 0``.
    """
    out: set[sympy.Expr] = set()
    for v in dict.fromkeys(sizes):  # the same length recurs along a network
        if is_num(v):
            continue
        a = _nonneg_atom(v)
        if a is not None:
            out.add(a)
    return frozenset(out)


@functools.lru_cache(maxsize=16384)
def _nonneg_atom(v: sympy.Expr) -> sympy.Expr | None:
    """The atom of :func:`_known_nonneg` that the size ``v`` proves >= 0, or None; cached (a
    network's sizes recur from one analysis to the next)."""
    k, rest = sympy.expand(v).as_coeff_Add()
    c, a = rest.as_coeff_Mul()
    if isinstance(a, (sympy.floor, sympy.ceiling)) and c > 0 and (1 - k) / c > -1:
        return a
    return None


@functools.lru_cache(maxsize=1024)
def _max(cands: tuple[Value, ...]) -> sympy.Expr:
    """``Max(*cands)`` unevaluated (sympy's pairwise comparisons cost seconds), cached: it
    sorts its arguments, and the same peak recurs in every analysis of a network."""
    return sympy.Max(*cands, evaluate=False)

