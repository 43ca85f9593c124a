"""A bound on symbolic work: a deadline per analysis and a node cap per value.

With symbolic kernels and strides some rules nest a size inside itself more than once (a
ceil_mode window's Min of two floors of the input length), so expressions can double per layer
and sympy's work on them grows faster still. While a layer is analysed (:func:`layer_budget`,
used by the engine around every ``apply``) every symbolic value the helpers of
:mod:`cnncalc.algebra.arith` produce is checked against a size cap and the analysis's deadline
(started by :func:`start_clock` when the graph is expanded); past either the layer is refused
with a CnnCalcError (kind ``limit``) that says which symbols to bind.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..envvars import env_int
from ..errors import CnnCalcError

if TYPE_CHECKING:
    import sympy
else:
    from .lazy import sympy  # ints need no sympy

BUDGET_ENV = "CNNCALC_SYMBOLIC_BUDGET"
DEFAULT_SECONDS = 20
"""Seconds of symbolic work one analysis may take (``$CNNCALC_SYMBOLIC_BUDGET`` sets it)."""
MAX_SECONDS = 86_400
MAX_EXPR_NODES = 2000
"""Nodes (as printed: shared sub-expressions count each time) one symbolic value may have.
Zoo models stay below 30 per layer; a doubling expression passes this after a few layers. The
arguments of one Min or Max (which sympy compares pairwise) may have a quarter of it together."""


@dataclass(frozen=True)
class _Settings:
    seconds: float | None = None
    max_nodes: int | None = None


_SETTINGS: contextvars.ContextVar[_Settings | None] = contextvars.ContextVar(
    "cnncalc_symbolic_budget", default=None)


class LayerBudget:
    """The symbolic budget of one layer being analysed: a deadline and a node cap."""

    __slots__ = ("deadline", "max_nodes", "seconds", "why")

    def __init__(self, seconds: float, max_nodes: int) -> None:
        self.seconds = seconds
        self.max_nodes = max_nodes
        self.deadline = time.monotonic() + seconds
        self.why: str | None = None

    def trip(self, why: str) -> None:
        """Record why the budget is spent and stop the layer's work."""
        if self.why is None:
            self.why = why
        raise SymbolicLimit(f"symbolic work over budget: {self.why}")


class SymbolicLimit(CnnCalcError):
    """The symbolic budget of a layer is spent (kind ``limit``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="limit")


_ACTIVE: contextvars.ContextVar[LayerBudget | None] = contextvars.ContextVar(
    "cnncalc_layer_budget", default=None)
_DEADLINE: contextvars.ContextVar[tuple[float, float, int] | None] = contextvars.ContextVar(
    "cnncalc_analysis_deadline", default=None)


@contextlib.contextmanager
def symbolic_budget(seconds: float | None = None,
                    max_nodes: int | None = None) -> Iterator[None]:
    """Library setting for the symbolic budget inside the ``with`` block (this thread or task
    only): ``seconds`` of symbolic work per analysis (default ``$CNNCALC_SYMBOLIC_BUDGET`` or
    20) and ``max_nodes`` per symbolic value (default 2000). ``None`` keeps the current value.

    ``with symbolic_budget(seconds=120): cnncalc.analyze(arch)``
    """
    cur = _SETTINGS.get() or _Settings()
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not math.isfinite(seconds) or not 0 < seconds <= MAX_SECONDS:
            raise CnnCalcError(f"symbolic_budget seconds must be a number above 0 and at most "
                               f"{MAX_SECONDS}, got {seconds!r}", kind="limit")
    if max_nodes is not None:
        if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) \
                or not 1 <= max_nodes <= 10**7:
            raise CnnCalcError(f"symbolic_budget max_nodes must be an integer from 1 to "
                               f"10**7, got {max_nodes!r}", kind="limit")
    token = _SETTINGS.set(_Settings(cur.seconds if seconds is None else float(seconds),
                                    cur.max_nodes if max_nodes is None else max_nodes))
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def budget_settings() -> tuple[float, int]:
    """(seconds per analysis, nodes per value) in force: :func:`symbolic_budget`, else
    ``$CNNCALC_SYMBOLIC_BUDGET`` (whole seconds; an invalid value is an error naming it)."""
    cur = _SETTINGS.get() or _Settings()
    seconds = cur.seconds
    if seconds is None:
        seconds = float(env_int(BUDGET_ENV, DEFAULT_SECONDS, 1, MAX_SECONDS))
    return seconds, cur.max_nodes if cur.max_nodes is not None else MAX_EXPR_NODES


def start_clock() -> None:
    """Start the symbolic-work clock of an analysis (the graph expansion calls it): the layers
    analysed after it share one deadline and the settings in force now. Also checks
    ``$CNNCALC_SYMBOLIC_BUDGET``."""
    seconds, nodes = budget_settings()
    _DEADLINE.set((seconds, time.monotonic() + seconds, nodes))


@contextlib.contextmanager
def layer_budget() -> Iterator[LayerBudget]:
    """Check every symbolic value made inside the block against the budget in force: the
    analysis's deadline (:func:`start_clock`; without one, ``seconds`` from now)."""
    b, token = open_layer()
    try:
        yield b
    finally:
        close_layer(token)


def open_layer() -> tuple[LayerBudget, contextvars.Token[LayerBudget | None]]:
    """:func:`layer_budget` without the context manager (a call per layer of an analysis):
    the budget now in force, and the token that :func:`close_layer` takes, in a ``finally``."""
    run = _DEADLINE.get()
    if run is not None:
        b = LayerBudget(run[0], run[2])
        b.deadline = run[1]
    else:
        b = LayerBudget(*budget_settings())
    return b, _ACTIVE.set(b)


def close_layer(token: contextvars.Token[LayerBudget | None]) -> None:
    """End the budget that :func:`open_layer` started."""
    _ACTIVE.reset(token)


@functools.lru_cache(maxsize=65536)
def _nodes(x: sympy.Basic, cap: int) -> int:
    """The nodes of ``x`` (as printed: shared sub-expressions count each time), counted up to
    ``cap + 1`` (cheap); cached: a network passes the same values from layer to layer."""
    stack = [x]
    n = 0
    while stack:
        n += 1
        if n > cap:
            return n
        stack.extend(stack.pop().args)
    return n


def _nodes_over(roots: list[sympy.Basic], cap: int) -> bool:
    """True when the expressions ``roots`` have more than ``cap`` nodes together."""
    return sum(_nodes(x, cap) for x in roots) > cap


def in_layer() -> bool:
    """True while a layer is analysed under a budget (:func:`layer_budget`)."""
    return _ACTIVE.get() is not None


def guard1(v: object) -> None:
    """:func:`guard` of one value (every :func:`~cnncalc.algebra.arith.norm` of a formula),
    without packing it."""
    b = _ACTIVE.get()
    if b is None:
        return
    if time.monotonic() > b.deadline:
        b.trip(f"more than {b.seconds:g} seconds of symbolic work in this analysis, "
               "reached in this layer")
    if isinstance(v, sympy.Basic) and _nodes(v, b.max_nodes) > b.max_nodes:  # not an int
        b.trip(f"an expression grew past {b.max_nodes} nodes (sympy's work on such "
               "expressions grows faster than their size)")


def guard(*vals: object) -> None:
    """Inside a layer: the deadline, and the node cap on ``vals`` together."""
    b = _ACTIVE.get()
    if b is None:
        return
    if time.monotonic() > b.deadline:
        b.trip(f"more than {b.seconds:g} seconds of symbolic work in this analysis, "
               "reached in this layer")
    if len(vals) == 1:  # one value (every norm of a formula): the node cap on it
        v = vals[0]
        if (not isinstance(v, int) and isinstance(v, sympy.Basic)
                and _nodes(v, b.max_nodes) > b.max_nodes):
            b.trip(f"an expression grew past {b.max_nodes} nodes (sympy's work on such "
                   "expressions grows faster than their size)")
        return
    syms = [v for v in vals if not isinstance(v, int) and isinstance(v, sympy.Basic)]
    if not syms:
        return
    if len(vals) > 1:  # the arguments of a Min or Max
        cap = max(b.max_nodes // 4, 1)
        if _nodes_over(syms, cap):
            b.trip(f"a Min/Max of expressions with more than {cap} nodes together (a quarter "
                   f"of the {b.max_nodes}-node cap: sympy compares them pairwise, and its work "
                   "grows much faster than their size)")
    elif _nodes_over(syms, b.max_nodes):
        b.trip(f"an expression grew past {b.max_nodes} nodes (sympy's work on such "
               "expressions grows faster than their size)")
