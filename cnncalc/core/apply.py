"""One layer's rules under the symbolic budget, every result it reports bounded.

A layer whose symbolic work passes the budget, or whose result could pass ``10**300`` at some
allowed binding, is a :class:`~cnncalc.errors.CnnCalcError` (kind ``limit``) that says which
symbols to bind (:mod:`cnncalc.algebra.arith` holds the budget and the limits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..algebra.arith import (
    BUDGET_ENV,
    MAX_RESULT_LOG10,
    MAX_SYMBOLIC_LOG10,
    SymbolicLimit,
    Value,
    free_names,
    is_num,
    log10_bound,
)
from ..algebra.bounds import log10_bound_expr
from ..algebra.budget import close_layer, open_layer
from ..algebra.expr import names_in
from ..errors import CnnCalcError
from ..layers.base import Ctx, LayerBase, Out, RFAxis, Tensor, expr_fields
from .bindings import MAX_BINDING

Checked = tuple[tuple[Value, ...] | None, tuple[RFAxis, ...] | None]
"""A shape and a receptive field (the very objects) that an earlier result reported, and so
were checked already: a layer that returns them as they are (element-wise) is not checked on
them again."""


def apply_layer(layer: LayerBase, ins: Sequence[Tensor], ctx: Ctx, *,
                symbolic: bool = True, checked: Checked = (None, None)) -> Out:
    """``layer.apply(ins, ctx)`` within the symbolic budget
    (:func:`cnncalc.algebra.arith.layer_budget`), and every result it reports bounded
    (:data:`cnncalc.algebra.arith.MAX_RESULT_LOG10`).

    Past the budget, or with a result that could pass ``10**300`` at some allowed binding, a
    :class:`CnnCalcError` (kind ``limit``) says which symbols to bind. ``symbolic=False`` (every
    size bound: the rules make no formula) skips the budget. ``checked``: see
    :data:`Checked`."""
    if not symbolic:
        out = layer.apply(ins, ctx)
        if not _small_ints(out, checked):  # the common case: nothing more to check
            _check_results(out, layer, ins, ctx, checked)
        return out
    budget, token = open_layer()  # layer_budget(), without a context manager's cost
    try:
        try:
            out = layer.apply(ins, ctx)
        except SymbolicLimit:
            raise _over_budget(layer, ins, ctx, budget.why) from None
        except CnnCalcError:
            if budget.why is not None:  # a rule caught and re-worded the limit
                raise _over_budget(layer, ins, ctx, budget.why) from None
            raise
        if budget.why is not None:  # a rule caught the limit and went on
            raise _over_budget(layer, ins, ctx, budget.why)
    finally:
        close_layer(token)
    _check_values(out, layer, ins, ctx, checked)  # formulas: the quick int test seldom holds
    return out


def _field_names(layer: LayerBase) -> list[str]:
    """The free size names this layer's fields use under its bindings (block arguments
    resolved), sorted."""
    found: set[str] = set()

    def walk(obj: Any) -> None:
        if isinstance(obj, str):
            if obj not in ("same", "valid"):
                found.update(names_in(obj))
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    for fname in expr_fields(type(layer)):
        walk(getattr(layer, fname))
    return sorted(found)


def _free_names(layer: LayerBase, ins: Sequence[Tensor], ctx: Ctx) -> tuple[list[str],
                                                                            list[str]]:
    """(free symbols of the layer's fields, free symbols of its inputs)."""
    fields: set[str] = set()
    for n in _field_names(layer):
        v = ctx.env.get(n)
        if v is None:
            fields.add(n)
        elif not is_num(v):
            fields |= free_names(v)
    inputs: set[str] = set()
    for t in ins:
        for v in t.shape:
            inputs |= free_names(v)
    return sorted(fields), sorted(inputs - fields)


def _bind_hint(layer: LayerBase, ins: Sequence[Tensor], ctx: Ctx) -> str:
    fields, inputs = _free_names(layer, ins, ctx)
    if fields:
        hint = f"bind {', '.join(fields)} (the symbols of this layer's fields)"
        if inputs:
            hint += f" or some of {', '.join(inputs)}"
    elif inputs:
        hint = f"bind some of {', '.join(inputs)} (the sizes its input depends on)"
    else:
        hint = "bind the sizes it uses"
    return hint + " to numbers"


def _over_budget(layer: LayerBase, ins: Sequence[Tensor], ctx: Ctx,
                 why: str | None) -> CnnCalcError:
    return CnnCalcError(f"symbolic work over budget: {why}; {_bind_hint(layer, ins, ctx)}, or "
                        f"raise the budget (${BUDGET_ENV} seconds per analysis, or "
                        "cnncalc.algebra.arith.symbolic_budget(seconds=..., max_nodes=...))",
                        kind="limit", layer=ctx.name, index=ctx.index)


_SAFE_BITS = int(MAX_RESULT_LOG10 / math.log10(2))
_LOG10_BINDING = math.log10(MAX_BINDING)
_SYMBOL_OK = _LOG10_BINDING <= MAX_RESULT_LOG10
"""Whether a size name (its bound: the largest binding) is within every limit."""


def _reported(out: Out, checked: Checked) -> list[Any]:
    """Every value ``out`` reports (counts, shape, field, work); a shape or field in
    ``checked`` was checked already and is left out."""
    vals: list[Any] = [out.params, out.buffers, out.macs, out.other_ops]
    if out.shape is not checked[0]:
        vals += out.shape
    if out.rf is not checked[1]:
        for ax in out.rf:
            vals += (ax.size, ax.stride, ax.start)
    for w in out.work:
        vals += w
    return vals


def _small_ints(out: Out, checked: Checked = (None, None)) -> bool:
    """Whether every value ``out`` reports is an int far below the limits (the common case of
    a bound analysis: nothing more to check); a shape or field in ``checked`` was checked
    already. ``int.bit_length`` refuses anything but an int (a formula, a Fraction): those
    take the full check."""
    vals = _reported(out, checked)
    try:
        return max(map(int.bit_length, vals)) < _SAFE_BITS
    except TypeError:
        return False


def _check_results(out: Out, layer: LayerBase, ins: Sequence[Tensor], ctx: Ctx,
                   checked: Checked = (None, None)) -> None:
    """Every number a layer reports stays below ``10**MAX_RESULT_LOG10`` (sums over
    ``MAX_LAYERS`` layers then still convert to floats and print), every formula below
    ``10**MAX_SYMBOLIC_LOG10`` at every allowed binding (its values print); a shape or field
    in ``checked`` (:data:`Checked`) was checked already."""
    if not _small_ints(out, checked):
        _check_values(out, layer, ins, ctx, checked)


def _check_values(out: Out, layer: LayerBase, ins: Sequence[Tensor], ctx: Ctx,
                  checked: Checked = (None, None)) -> None:
    """:func:`_check_results` without its quick test for small ints first."""
    ls = _LOG10_BINDING
    # the common case, every value within its limit: said without labels
    for v in _reported(out, checked):
        if isinstance(v, int):  # a bool too (log10_bound takes it as an int)
            if v.bit_length() < _SAFE_BITS:
                continue
            if log10_bound(v, ls) > MAX_RESULT_LOG10:
                break
            continue
        if getattr(v, "is_Symbol", False) and _SYMBOL_OK:
            continue  # a size name: bounded by the largest binding
        b = log10_bound_expr(v, ls)  # log10_bound of a formula (v is no int)
        if b <= MAX_RESULT_LOG10:  # within either limit
            continue
        if b > (MAX_RESULT_LOG10 if getattr(v, "is_Number", False) else MAX_SYMBOLIC_LOG10):
            break
    else:
        return
    # Some value is past its limit: the first in this order is the one reported.
    items: list[tuple[str, Value]] = []
    if out.shape is not checked[0]:
        items += [("output shape", v) for v in out.shape]
    if out.rf is not checked[1]:
        for ax in out.rf:
            items += [("receptive field size", ax.size), ("receptive field stride", ax.stride),
                      ("receptive field start", ax.start)]
    items += [("params", out.params), ("buffers", out.buffers), ("MACs", out.macs),
              ("other ops", out.other_ops)]
    for w in out.work:
        items += [("work", v) for v in w]
    for what, v in items:
        if is_num(v) and v.bit_length() < _SAFE_BITS:
            continue
        b = log10_bound(v, ls)
        numeric = is_num(v) or bool(getattr(v, "is_Number", False))
        limit = MAX_RESULT_LOG10 if numeric else MAX_SYMBOLIC_LOG10
        if b > limit:
            size = f"about 10**{math.ceil(b)}" if math.isfinite(b) else "unbounded"
            if numeric:
                msg = (f"the {what} would be {size}, more than the 10**{limit} cnncalc keeps "
                       "numbers below (so totals convert to floats and print)")
            else:
                msg = (f"the {what} would be {size} at the largest bindings (every size "
                       f"10**{round(ls)}), more than the 10**{limit} cnncalc keeps formulas "
                       f"below (so every value prints); {_bind_hint(layer, ins, ctx)}")
            raise CnnCalcError(msg, kind="limit",
                               layer=ctx.name, index=ctx.index)
