"""Walk the expanded graph in topological order, apply each layer's rules, build the Analysis.

The engine knows nothing about particular layer types: it resolves inputs, calls
``layer.apply``, checks the result, and records it. Memory totals (peak live activations at
inference, everything kept for training) come from the liveness of each output along the order.
Each :class:`~cnncalc.core.analysis.Analysis` it builds gets :func:`run` itself, to check
bindings by a bound analysis where its formulas cannot.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from fractions import Fraction

import sympy

from ..algebra.arith import Value, is_num, norm, prod, total
from ..algebra.expr import evaluate
from ..errors import CnnCalcError
from ..layers.base import Ctx, Note, Tensor, decide_ge
from .analysis import Analysis
from .apply import apply_layer
from .bindings import MAX_BINDING, check_bindings
from .constraints.signs import sign_of
from .dtypes import DTYPE_BYTES
from .graph import INPUT, Node, expand, symbols
from .results import LayerResult, ReceptiveField
from .schema import Architecture

__all__ = ["MAX_BINDING", "liveness", "run"]


def run(arch: Architecture, bindings: Mapping[str, int] | None = None, *,
        constraints: bool = True) -> Analysis:
    """Analyse ``arch`` with the given sizes bound (the rest stay symbolic).

    With free symbols left, the constraints are derived at once, so that a merge no size can
    satisfy is an error here; with every symbol bound they are derived when first asked for.

    The cyclic garbage collector is paused for the run: an analysis allocates many small
    objects and no cycles worth collecting, and a full collection in the middle of a long
    network otherwise costs as much as the analysis itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        an = _run(arch, bindings)
        if constraints and an.free_symbols:
            an.constraints  # noqa: B018 - derive now: errors belong to analyze()
        return an
    finally:
        if was_enabled:
            gc.enable()


def _run(arch: Architecture, bindings: Mapping[str, int] | None) -> Analysis:
    names = symbols(arch)
    env: dict[str, Value] = dict(check_bindings(names, bindings))
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
    nodes = expand(arch, env)
    tensors: dict[str, Tensor] = {INPUT: inp}
    parts: dict[str, int] = {}  # layers with several outputs: how many
    results: list[LayerResult] = []
    byte = DTYPE_BYTES[arch.input.dtype]
    for node in nodes:
        layer = node.layer
        ins = [_read(tensors, parts, n, node) for n in node.inputs]
        lo, hi = layer.n_inputs
        if not lo <= len(ins) <= hi:
            raise CnnCalcError(f"{node.type} takes {lo}" + (f" to {hi}" if hi != lo else "")
                               + f" input(s), got {len(ins)}", layer=node.name,
                               index=node.index, path=node.path)
        ctx = Ctx(node.env, node.name, node.index, extent, notes)
        try:
            out = apply_layer(layer, ins, ctx)  # within the symbolic budget
        except CnnCalcError as e:
            raise e.at(node.name, node.index, node.path) from None
        except (ZeroDivisionError, TypeError, ValueError) as e:  # sympy on degenerate input
            raise CnnCalcError(f"cannot analyse: {e}", layer=node.name, index=node.index,
                               path=node.path) from None
        if out.parts:
            parts[node.name] = len(out.parts)
            for i, part in enumerate(out.parts):
                tensors[f"{node.name}.{i}"] = part
            n_out = total(prod(p.shape) for p in out.parts)
        else:
            tensors[node.name] = out.tensor()
            n_out = prod(out.shape)
        results.append(LayerResult(
            name=node.name, type=node.type, inputs=list(node.inputs), output_shape=out.shape,
            params=out.params, buffers=out.buffers, macs=out.macs, other_ops=out.other_ops,
            activations=n_out, receptive_field=ReceptiveField.of(out.rf),
            aliases_input=out.aliases_input, path=node.path, work=out.work,
            output_shapes=tuple(p.shape for p in out.parts), opaque=out.opaque))
    peak, kept = _memory(results, prod(shape), byte)
    return Analysis(arch=arch, bindings=env, symbols=names, input_shape=tuple(shape),
                    layers=results, notes=notes, dtype_bytes=byte, peak_activation_bytes=peak,
                    training_activation_bytes=kept, rerun=run)


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
        if r.aliases_input and r.inputs:
            owner[r.name] = owner[r.inputs[0]]
        else:
            owner[r.name] = r.name
            last_use[r.name] = i
        for j in range(len(r.output_shapes)):  # the parts of a split, read as "NAME.j"
            owner[f"{r.name}.{j}"] = owner[r.name]
        for n in r.inputs:
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
    live: dict[str, Value] = {INPUT: n_input}
    numeric = all(is_num(v) for v in size.values())
    running, best = (n_input, n_input) if numeric else (0, 0)
    sets: list[frozenset[str]] = [frozenset(live)]
    for i, r in enumerate(results):
        if owner[r.name] == r.name:
            live[r.name] = r.activations
            if numeric:
                running += r.activations
                best = max(best, running)
            else:
                sets.append(frozenset(live))
        for n in list(live):
            if last_use[n] <= i:
                if numeric:
                    running -= live[n]
                del live[n]
    if numeric:
        peak: Value = best
    else:
        # A live set contained in its neighbour can never be the peak: drop it (linear; keeps
        # the symbolic Max short). Unevaluated Max: sympy's pairwise comparisons cost seconds.
        keep = [st for i, st in enumerate(sets)
                if not (i + 1 < len(sets) and st < sets[i + 1])
                and not (i > 0 and st <= sets[i - 1])]
        cands = _undominated(list(dict.fromkeys(total(size[n] for n in st) for st in keep)),
                             [v for r in results for v in r.output_shape])
        peak = cands[0] if len(cands) == 1 else sympy.Max(*cands, evaluate=False)
    kept = total(size.values())
    return norm(prod([peak, byte])), norm(prod([kept, byte]))


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
            poly[index.setdefault(m, len(index))] = (Fraction(int(k.p), int(k.q))
                                                      if isinstance(k, sympy.Rational) else k)
        polys.append(poly)
    monomials = list(index)
    signs: dict[int, int] = {}

    def sign(i: int) -> int:
        if i not in signs:
            signs[i] = sign_of(monomials[i], known)
        return signs[i]

    def dominates(p: dict, q: dict) -> bool:
        for m in p.keys() | q.keys():
            d = p.get(m, 0) - q.get(m, 0)
            if d != 0 and (sign(m) * d <= 0):
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
    for v in sizes:
        if is_num(v):
            continue
        k, rest = sympy.expand(v).as_coeff_Add()
        c, a = rest.as_coeff_Mul()
        if isinstance(a, (sympy.floor, sympy.ceiling)) and c > 0 and (1 - k) / c > -1:
            out.add(a)
    return frozenset(out)

