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

**Exact sizes** (advice): sizes at which every strided window tiles its padded input exactly,
``(in + pad - k_eff) mod stride == 0`` at every layer, solved the same way and intersected with
the required set, so the advice never names a size the network refuses; where no valid size
satisfies every layer, one line says so and names the layers. At bound sizes
:func:`tiling_state` says whether the strides tile, and :func:`unread_warnings` which input
rows or columns are never read (the engine's 'unread' notes).

:func:`derive` takes the output shapes and notes of an analysis, not the analysis itself, so
that :class:`~cnncalc.core.analysis.Analysis` can derive its own constraints.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...algebra.arith import Value, free_names, is_num
from ...algebra.compile import pretty
from ...errors import CnnCalcError
from ...layers.base import Note
from .describe import LIST_MAX, describe_sol, listed, pieces, residues, same
from .sets import TOP, ConstraintKind, Sol, between, count, empty, join, meet
from .signs import sign_of
from .solve import solve_one, tile_solutions

if TYPE_CHECKING:
    import sympy
else:
    from ...algebra.lazy import sympy  # imported on first symbolic use

__all__ = ["TOP", "ConstraintKind", "ConstraintReport", "derive", "sign_of", "tiling_state",
           "unread_warnings"]


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


@functools.lru_cache(maxsize=16384)
def _difference(lhs: sympy.Expr, rhs: sympy.Expr) -> sympy.Expr:
    """``lhs - rhs`` expanded (the same conditions recur in every analysis of a network)."""
    return sympy.expand(lhs - rhs)


@functools.lru_cache(maxsize=16384)
def _size_conditions(v: sympy.Expr) -> tuple[tuple[str, sympy.Expr], ...]:
    """``(text, f - 1)`` for each condition ``f >= 1`` that a symbolic size ``v`` makes
    (cached: a network's sizes recur from one analysis to the next).

    A size that is a product of sizes (after a flatten) is >= 1 when each is; a quotient (a
    reshape's -1 axis, C*H/S) is not such a product: it must be."""
    factors = sympy.Mul.make_args(v)
    if any(f.is_Pow and f.exp.is_negative for f in factors):
        factors = (v,)
    return tuple((f"{pretty(f)} >= 1", f - 1) for f in factors if not f.is_Number)


def _conditions(shapes: Iterable[Sequence[Value]], notes: Sequence[Note]) -> list[_Cond]:
    out: dict[str, _Cond] = {}
    sizes = dict.fromkeys(v for shape in shapes for v in shape)  # the same length recurs
    for v in sizes:
        if not is_num(v):
            for text, e in _size_conditions(v):
                if text not in out:
                    out[text] = _Cond(e, "ge", text, None)
    seen: set[tuple[Value, Value]] = set()  # the 'ge' conditions met so far (the first is kept)
    for n in notes:
        if n.kind not in ("ge", "eq"):
            continue
        if n.kind == "ge":  # "lhs >= rhs" says it all: a repeat (every conv) adds nothing
            if (n.lhs, n.rhs) in seen:
                continue
            seen.add((n.lhs, n.rhs))
        kind: ConstraintKind = "ge" if n.kind == "ge" else "eq"
        lhs, rhs = sympy.sympify(n.lhs), sympy.sympify(n.rhs)
        e = _difference(lhs, rhs)
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


def _fail(c: _Cond, s: str, alone: bool,
          declared: tuple[int, int] | None = None) -> CnnCalcError:
    if declared is not None and not alone:
        e = _fail(c, s, alone)
        e.message += f" ({s} is declared in {declared[0]}..{declared[1]})"
        e.args = (str(e),)
        return e
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


def derive(shapes: Iterable[Sequence[Value]], notes: Sequence[Note],
           declared: Mapping[str, tuple[int, int]] | None = None) -> ConstraintReport:
    """Constraints on the free symbols of a (symbolic) analysis, from the output shape of
    every layer and the notes the layers recorded; ``declared`` ranges of sizes (the
    architecture's ``symbols``) are conditions too. A free size is analysed as >= 1, so a
    range that starts at 0 is solved from 1 (a size bound to 0 is analysed as a number); where
    no value from 1 up satisfies such a size's conditions, the line is ``P == 0``."""
    sols: dict[str, Sol] = {s: between(max(lo, 1), hi) for s, (lo, hi) in (declared or {}).items()
                            if (max(lo, 1), hi) != (1, TOP)}
    zero_ok = {s for s, (lo, _) in (declared or {}).items() if lo == 0}
    zero_only: list[str] = []     # sizes declared from 0 that only 0 may satisfy
    ranges: dict[str, Sol] = dict(sols)   # from the monotone ('ge') conditions alone
    multi: list[str] = []
    loose: list[str] = []         # one-symbol conditions not solved exactly
    conds = _conditions(shapes, notes)
    for c in sorted(conds, key=lambda c: c.kind != "ge"):  # stable: sizes and 'ge' first
        names = free_names(c.expr)
        if len(names) != 1:
            (multi if c.kind == "ge" else loose).append(c.text)
            continue
        (s,) = names
        if s in zero_only:
            continue
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
        both = meet(sols.get(s, between()), got)
        if both is None:
            loose.append(c.text)
            continue
        if (empty(got) or empty(both)) and s in zero_ok:
            zero_only.append(s)
            sols.pop(s, None)
            continue
        if empty(got):
            raise _fail(c, s, alone=True)
        if empty(both):
            raise _fail(c, s, alone=False, declared=(declared or {}).get(s))
        sols[s] = both
        if c.kind == "ge" and got[0] == 1:
            ranges[s] = meet(ranges.get(s, between()), got) or got

    bounds: list[str] = []
    others: list[str] = []
    for s, sol in sorted(sols.items()):
        b, o = describe_sol(s, sol, ranges.get(s))
        bounds.extend(b)
        others.extend(o)
    required = [*bounds, *(f"{s} == 0" for s in zero_only), *dict.fromkeys(multi), *others,
                *dict.fromkeys(loose)]
    return ConstraintReport(tuple(required), tuple(_advice(notes, sols)))


def _advice(notes: Sequence[Note], sols: Mapping[str, Sol]) -> list[str]:
    """The 'exact sizes' advice on the free symbols: tile notes solved and intersected with the
    required sets, each line phrased as advice (``H mod 32 == 0 tiles every stride exactly``).
    Bound sizes are not advised on but reported as they are (:func:`tiling_state`)."""
    exact: list[str] = []
    tiles: dict[str, Sol] = {}
    clash: dict[str, list[str]] = {}
    alone: dict[str, bool] = {}  # the first clash of a symbol came before any tiling of it
    for note in notes:
        if note.kind != "tile":
            continue
        span, stride = note.lhs, note.rhs
        if is_num(span) and is_num(stride):
            continue
        names = free_names(span) | free_names(stride)
        got = None
        if len(names) == 1 and is_num(stride):
            x = sympy.Symbol(next(iter(names)), integer=True, positive=True)
            # read only: meet() below makes a set of its own
            got = tile_solutions(sympy.sympify(span), x, int(stride), shared=True)
            if got is None:
                e = sympy.sympify(span) - stride * sympy.floor(sympy.sympify(span) / stride)
                got = solve_one(sympy.expand(e), str(x), "eq")
        if got is None:
            exact.append(f"{_operand(span)} mod {_operand(stride)} == 0 tiles the stride of "
                         f"{note.layer} exactly")
            continue
        (s,) = names
        both = meet(tiles.get(s, sols.get(s, between())), got)
        if both is None or empty(both):
            clash.setdefault(s, []).append(note.layer)
            alone.setdefault(s, s not in tiles)
            continue
        tiles[s] = both
    for s in sorted(tiles.keys() | clash.keys()):
        if s in clash:
            where = ("at every valid size" if alone[s] else "at every valid size at which the "
                     "other layers tile theirs")
            exact.append(f"no valid value of {s} tiles every stride exactly: {where}, input is "
                         f"left past the last window of {', '.join(dict.fromkeys(clash[s]))}")
            continue
        sol = tiles[s]
        if same(sols.get(s, between()), sol):
            line = residues(s, sol[0], set(sol[1]))
        elif count(sol) <= LIST_MAX:
            line = listed(s, sol)
        else:
            line = pieces(s, sol)
        exact.append(f"{line} tiles every stride exactly")
    return exact


def _operand(v: Value) -> str:
    """``v`` as the left operand of ``mod``: bracketed unless it is a number or a name."""
    text = pretty(v)
    return text if is_num(v) or v.is_Symbol else f"({text})"


def _counted(word: str, n: int, last: bool = False) -> str:
    """``1 row``, ``2 rows``, ``3 positions along spatial axis 0``; ``last``: ``the last row``,
    ``the last 2 rows``."""
    head, _, tail = word.partition(" ")
    noun = head if n == 1 else head + "s"
    text = " ".join(x for x in (noun, tail) if x)
    if last:
        return f"the last {text}" if n == 1 else f"the last {n} {text}"
    return f"{n} {text}"


def _and(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _by_layer(notes: Sequence[Note], which: str) -> dict[str, list[tuple[str, int]]]:
    """Per layer (in order), the (position word, count) of its bound 'unread' notes whose
    ``which`` side (``lhs``: input never read; ``rhs``: padded input left over) is positive."""
    out: dict[str, list[tuple[str, int]]] = {}
    for n in notes:
        v = n.lhs if which == "lhs" else n.rhs
        if n.kind == "unread" and is_num(v) and v > 0:
            out.setdefault(n.layer, []).append((n.text, v))
    return out


def unread_warnings(notes: Sequence[Note]) -> list[str]:
    """One warning per layer whose strided windows leave input positions unread at the bound
    sizes: ``conv0: the last row of its input is never read (it lies past the last
    window)``; padding left over is not counted (it holds no input)."""
    out = []
    for layer, got in _by_layer(notes, "lhs").items():
        what = _and([_counted(w, v, last=True) for w, v in got])
        one = len(got) == 1 and got[0][1] == 1
        out.append(f"{layer}: {what} of its input {'is' if one else 'are'} never read "
                   f"({'it lies' if one else 'they lie'} past the last window)")
    return out


def tiling_state(notes: Sequence[Note]) -> str | None:
    """At bound sizes, whether the exact-sizes advice holds: ``every strided window tiles its
    input exactly``, or which layers leave how many rows or columns of their padded input past
    the last window, padding or not (grouped: ``1 row and 1 column past the last window at
    conv1, maxpool``). None when no strided window has bound sizes."""
    if not any(n.kind == "unread" and is_num(n.rhs) for n in notes):
        return None
    left = _by_layer(notes, "rhs")
    if not left:
        return "every strided window tiles its input exactly"
    groups: dict[str, list[str]] = {}
    for layer, got in left.items():
        groups.setdefault(_and([_counted(w, v) for w, v in got]), []).append(layer)
    return ("not every strided window tiles its input exactly: " + "; ".join(
        f"{what} past the last window at {', '.join(layers)}"
        for what, layers in groups.items()))
