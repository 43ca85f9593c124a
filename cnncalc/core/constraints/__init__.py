"""Constraints on the free symbols, derived from the symbolic analysis of an architecture.

Every condition a valid network must meet is collected: each symbolic output length >= 1, and
each note a layer recorded (``lhs >= rhs``: kernel >= 1, padding >= 0, pool padding <= k/2...;
``lhs == rhs``: merges of symbolic sizes, divisors of symbolic channels, exact ``/`` in
expressions). A condition in one symbol ``s`` is solved exactly over the bindings allowed,
``1 <= s <= MAX_BINDING`` (:mod:`.solve`: half-lines of monotone conditions, residue classes
of periodic ones: ``H >= 63``, ``K <= 32``, ``H mod 16 == 0``, ``H in {5000}``); anything
else (several symbols, a symbolic divisor) is printed as the condition itself.

The solutions of all one-symbol conditions on ``s`` are intersected (:mod:`.sets`) and
described in words (:mod:`.describe`); an empty intersection is an error (kind
``constraint``) naming the condition that emptied it.

**Exact sizes** (advice): sizes at which no strided window leaves input rows unread,
``(in + pad - k_eff) mod stride == 0`` at every layer, solved the same way and intersected with
the required set, so the advice never names a size the network refuses; where no valid size
satisfies every layer, one line says so and names the layers.

:func:`derive` takes the output shapes and notes of an analysis, not the analysis itself, so
that :class:`~cnncalc.core.analysis.Analysis` can derive its own constraints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sympy

from ...algebra.arith import Value, free_names, is_num
from ...algebra.compile import pretty
from ...errors import CnnCalcError
from ...layers.base import Note
from .describe import LIST_MAX, describe_sol, listed, pieces, residues, same
from .sets import TOP, ConstraintKind, Sol, between, count, empty, join, meet
from .signs import sign_of
from .solve import solve_one, tile_solutions

__all__ = ["TOP", "ConstraintKind", "ConstraintReport", "derive", "sign_of"]


@dataclass(frozen=True)
class ConstraintReport:
    """``required``: conditions for a valid network; ``exact``: sizes that drop no pixel."""

    required: tuple[str, ...]
    exact: tuple[str, ...]


@dataclass
class _Cond:
    expr: sympy.Expr   # condition: expr >= 0 ('ge') or expr == 0 ('eq')
    kind: ConstraintKind
    text: str          # the condition in words, when printed as it is
    note: Note | None  # where it comes from (None: an output length)
    alts: tuple[sympy.Expr, ...] = ()  # 'eq': other expressions whose zeros also satisfy it


def _conditions(shapes: Iterable[Sequence[Value]], notes: Sequence[Note]) -> list[_Cond]:
    out: dict[str, _Cond] = {}
    for shape in shapes:
        for v in shape:
            if not is_num(v):
                # A size that is a product of sizes (after a flatten) is >= 1 when each is; a
                # quotient (a reshape's -1 axis, C*H/S) is not such a product: it must be.
                factors = sympy.Mul.make_args(v)
                if any(f.is_Pow and f.exp.is_negative for f in factors):
                    factors = (v,)
                for f in factors:
                    if not f.is_Number:
                        out.setdefault(f"{pretty(f)} >= 1", _Cond(f - 1, "ge",
                                                                  f"{pretty(f)} >= 1", None))
    for n in notes:
        if n.kind not in ("ge", "eq"):
            continue
        kind: ConstraintKind = "ge" if n.kind == "ge" else "eq"
        lhs, rhs = sympy.sympify(n.lhs), sympy.sympify(n.rhs)
        e = sympy.expand(lhs - rhs)
        if not free_names(e):
            if (e >= 0) if kind == "ge" else (e == 0):
                continue
            raise CnnCalcError(f"{n.text}: {pretty(n.lhs)} {'>=' if kind == 'ge' else '=='} "
                               f"{pretty(n.rhs)} does not hold", layer=n.layer,
                               index=n.layer_index, kind="constraint")
        if kind == "ge":
            text = f"{pretty(n.lhs)} >= {pretty(n.rhs)}"
        else:
            text = f"{pretty(n.lhs)} == {pretty(n.rhs)} ({n.layer}: {n.text})"
        # A merge of sizes that differ still works where one of them is 1 (it broadcasts).
        alts = (sympy.expand(lhs - 1), sympy.expand(rhs - 1)) if "broadcast" in n.text else ()
        out.setdefault(f"{kind} {text}", _Cond(e, kind, text, n, alts))
    return list(out.values())


def _fail(c: _Cond, s: str, alone: bool) -> CnnCalcError:
    if c.note is None:
        return CnnCalcError(f"no value of {s} gives every layer an output ({pretty(c.expr + 1)} "
                            "stays below 1)" if alone else
                            f"no value of {s} gives every layer an output ({pretty(c.expr + 1)} "
                            "is below 1 wherever the other conditions hold)", kind="constraint")
    n = c.note
    op = ">=" if c.kind == "ge" else "=="
    msg = (f"{n.text}: {pretty(n.lhs)} {op} {pretty(n.rhs)} holds for no value of {s}" if alone
           else f"{n.text}: no value of {s} satisfies this together with the other conditions")
    return CnnCalcError(msg, layer=n.layer, index=n.layer_index, kind="constraint")


def derive(shapes: Iterable[Sequence[Value]], notes: Sequence[Note]) -> ConstraintReport:
    """Constraints on the free symbols of a (symbolic) analysis, from the output shape of
    every layer and the notes the layers recorded."""
    sols: dict[str, Sol] = {}
    ranges: dict[str, Sol] = {}   # from the monotone ('ge') conditions alone
    multi: list[str] = []
    loose: list[str] = []         # one-symbol conditions not solved exactly
    conds = _conditions(shapes, notes)
    for c in sorted(conds, key=lambda c: c.kind != "ge"):  # stable: sizes and 'ge' first
        names = free_names(c.expr)
        if len(names) != 1:
            (multi if c.kind == "ge" else loose).append(c.text)
            continue
        (s,) = names
        got = solve_one(c.expr, s, c.kind)
        for alt in c.alts:
            if got is None:
                break
            if not free_names(alt):
                if alt == 0:
                    got = between()
                continue
            other = solve_one(alt, s, "eq") if free_names(alt) == {s} else None
            got = join(got, other) if other is not None else None
        if got is None:
            loose.append(c.text)
            continue
        if empty(got):
            raise _fail(c, s, alone=True)
        both = meet(sols.get(s, between()), got)
        if both is None:
            loose.append(c.text)
            continue
        if empty(both):
            raise _fail(c, s, alone=False)
        sols[s] = both
        if c.kind == "ge" and got[0] == 1:
            ranges[s] = meet(ranges.get(s, between()), got) or got

    bounds: list[str] = []
    others: list[str] = []
    for s, sol in sorted(sols.items()):
        b, o = describe_sol(s, sol, ranges.get(s))
        bounds.extend(b)
        others.extend(o)
    required = [*bounds, *dict.fromkeys(multi), *others, *dict.fromkeys(loose)]
    return ConstraintReport(tuple(required), tuple(_advice(notes, sols)))


def _advice(notes: Sequence[Note], sols: Mapping[str, Sol]) -> list[str]:
    """The 'exact sizes' lines: tile notes solved and intersected with the required sets."""
    exact: list[str] = []
    tiles: dict[str, Sol] = {}
    clash: dict[str, list[str]] = {}
    for note in notes:
        if note.kind != "tile":
            continue
        span, stride, text = note.lhs, note.rhs, f"{note.layer}: {note.text}"
        if is_num(span) and is_num(stride):
            if span % stride:
                exact.append(f"{text}: {span % stride} input row(s) are never read")
            continue
        names = free_names(span) | free_names(stride)
        got = None
        if len(names) == 1 and is_num(stride):
            x = sympy.Symbol(next(iter(names)), integer=True, positive=True)
            got = tile_solutions(sympy.sympify(span), x, int(stride))
            if got is None:
                e = sympy.sympify(span) - stride * sympy.floor(sympy.sympify(span) / stride)
                got = solve_one(sympy.expand(e), str(x), "eq")
        if got is None:
            exact.append(f"{pretty(span)} mod {pretty(stride)} == 0 ({text})")
            continue
        (s,) = names
        both = meet(tiles.get(s, sols.get(s, between())), got)
        if both is None or empty(both):
            clash.setdefault(s, []).append(text)
            continue
        tiles[s] = both
    for s in sorted(tiles.keys() | clash.keys()):
        if s in clash:
            exact.append(f"no valid value of {s} avoids unread input rows at every layer: "
                         f"{'; '.join(dict.fromkeys(clash[s]))} leave(s) rows unread at every "
                         "valid size at which the other layers read them all")
            continue
        sol = tiles[s]
        if same(sols.get(s, between()), sol):
            line = residues(s, sol[0], set(sol[1]))
        elif count(sol) <= LIST_MAX:
            line = listed(s, sol)
        else:
            line = pieces(s, sol)
        exact.append(f"{line} (no layer leaves input pixels unread)")
    return exact
