"""The result of an analysis: per-layer results, totals, constraints; JSON form; evaluation.

``to_dict()`` gives the output JSON (docs/output.md). ``evaluate(**bindings)`` binds a
symbolic analysis without redoing it; ``evaluate_many`` does the same for NumPy arrays of
bindings with exact integer floors (design sweeps).

The engine (:mod:`cnncalc.core.engine`) produces an ``Analysis`` and hands it ``rerun``, its own
run, for the cases where a binding must be checked by a bound analysis; this module never
imports the engine. Constraints come from :func:`cnncalc.core.constraints.derive` on the
output shapes and notes. :meth:`Analysis.to_table` calls the renderer that :mod:`cnncalc`
installs from :mod:`cnncalc.report.tables` (:func:`set_table_renderer`): the core does not
import the report wing. In a notebook an analysis shows that table (``_repr_html_``,
``_repr_markdown_``); ``to_dataframe()`` gives one pandas row per layer.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import sympy

from ..algebra.arith import Value, free_names, is_num, norm, prod, total
from ..algebra.compile import (
    Node,
    compile_int,
    compile_node,
    compile_sign,
    evaluate_rows,
    holds_everywhere,
)
from ..algebra.expr import names_in
from ..errors import CnnCalcError
from ..layers.base import Note, Work
from .bindings import check_binding_arrays, check_bindings, check_free, format_bindings
from .constraints import ConstraintKind, ConstraintReport, derive, tiling_state, unread_warnings
from .results import (
    QUANTITIES,
    RECORD_COLUMNS,
    TOTALS,
    ConventionTotals,
    LayerResult,
    ReceptiveField,
    Totals,
    jsonable,
    shape_text,
)
from .schema import Architecture

__all__ = ["QUANTITIES", "TOTALS", "Analysis", "LayerResult", "ReceptiveField", "Totals",
           "jsonable", "set_table_renderer"]


_MD_SPECIAL = re.compile(r"([\\`*|<>\[\]#])|(?<!\w)_|_(?!\w)")


def _escape_md(s: str) -> str:
    """``s`` as Markdown text: the characters that would mark it up escaped."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), s)


class Rerun(Protocol):
    """The engine's run: the analysis of ``arch`` under ``bindings``."""

    def __call__(self, arch: Architecture, bindings: Mapping[str, int]) -> Analysis: ...


class TableRenderer(Protocol):
    """:func:`cnncalc.report.tables.render`."""

    def __call__(self, an: Analysis, fmt: str, *, columns: Sequence[str] | str | None,
                 depth: int | None, units: bool | str,
                 times: Mapping[str, float] | None) -> str: ...


_renderer: TableRenderer | None = None


def set_table_renderer(render: TableRenderer) -> None:
    """Install the renderer behind :meth:`Analysis.to_table` (:mod:`cnncalc` does, at import)."""
    global _renderer
    _renderer = render


class Explainer(Protocol):
    """:func:`cnncalc.report.explain.explain`."""

    def __call__(self, an: Analysis, layer: str | None, fmt: str) -> str: ...


_explainer: Explainer | None = None


def set_explainer(explain: Explainer) -> None:
    """Install the explainer behind :meth:`Analysis.explain` (:mod:`cnncalc` does, at import)."""
    global _explainer
    _explainer = explain


class Analysis:
    """Per-layer results and totals of one architecture under some bindings."""

    def __init__(self, arch: Architecture, bindings: Mapping[str, Value], symbols: list[str],
                 input_shape: tuple[Value, ...], layers: list[LayerResult],
                 notes: list[Note], dtype_bytes: int,
                 peak_activation_bytes: Value, training_activation_bytes: Value, *,
                 rerun: Rerun) -> None:
        self.arch = arch
        self.name = arch.name
        self.bindings = {k: v for k, v in bindings.items() if k in symbols}
        self.symbols = symbols
        self.input_shape = input_shape
        self.layers = layers
        self.notes = notes
        self.dtype_bytes = dtype_bytes
        self._rerun = rerun
        for r in layers:
            r.dtype_bytes = dtype_bytes
        params = total(r.params for r in layers)
        macs = total(r.macs for r in layers)
        acts = total(r.activations for r in layers)
        self.totals = Totals(
            params=params, buffers=total(r.buffers for r in layers), macs=macs,
            flops=prod([2, macs]), other_ops=total(r.other_ops for r in layers),
            activations=acts, activation_bytes=prod([dtype_bytes, acts]),
            param_bytes=prod([dtype_bytes, params]), peak_activation_bytes=peak_activation_bytes,
            training_activation_bytes=training_activation_bytes,
            receptive_field=layers[-1].receptive_field,
            incomplete=tuple(r.name for r in layers if r.opaque))
        self.convention: ConventionTotals | None = None
        """Another tool's totals (``analyze(..., convention=...)``), beside ours; None for
        cnncalc's own. :meth:`evaluate` does not carry it: apply
        :func:`cnncalc.report.conventions.apply` to the evaluated analysis."""

    def __repr__(self) -> str:
        t = self.totals
        return (f"<Analysis {self.name!r}: {len(self.layers)} layers, "
                f"params={jsonable(t.params)}, macs={jsonable(t.macs)}>")

    @property
    def free_symbols(self) -> list[str]:
        """Symbols not bound in this analysis."""
        return [s for s in self.symbols if s not in self.bindings]

    def layer(self, name: str) -> LayerResult:
        """The result of the layer called ``name``."""
        for r in self.layers:
            if r.name == name:
                return r
        raise KeyError(name)

    @functools.cached_property
    def _constraint_report(self) -> ConstraintReport:
        """Conditions on this analysis's free symbols (a bound symbol's conditions held, or the
        analysis would have failed)."""
        return derive((r.output_shape for r in self.layers), self.notes, self.arch.ranges())

    @property
    def constraints(self) -> list[str]:
        """What the free symbols must satisfy for every layer to have an output and every merge
        to match, in words (derived from the symbolic analysis of the architecture)."""
        return list(self._constraint_report.required)

    @property
    def exact_sizes(self) -> list[str]:
        """Advice, not a requirement: the free sizes at which every strided window tiles its
        padded input exactly (``(in + pad - k_eff) mod stride == 0`` at every layer:
        ``H mod 32 == 1 tiles every stride exactly``), then, where strided windows have bound
        sizes, whether they do at those bindings (``H=224, W=224: not every strided window
        tiles its input exactly: 1 row and 1 column past the last window at conv1, ...``)."""
        out = list(self._constraint_report.exact)
        state = tiling_state(self.notes)
        if state is not None:
            spatial = {n for v in self.arch.input.shape[2:] if isinstance(v, str)
                       for n in names_in(v)}
            bound = {k: v for k, v in self._numbers().items() if k in spatial}
            if bound:
                out.append(f"{format_bindings(bound)}: {state}")
            elif not out:  # every size written as a number
                out.append(state)
            elif not state.startswith("every"):  # beside advice on the free sizes
                out.append(f"where the sizes are numbers: {state}")
        return out

    @property
    def warnings(self) -> list[str]:
        """Things worth knowing that are not errors: merges of different strides, an input
        that looks channels-last, and input rows or columns that a strided window never reads
        at the bound sizes (``conv0: the last row of its input is never read ...``), and
        sizes declared from 0 left free (the formulas hold from 1)."""
        zero = [k for k, (lo, _) in self.arch.ranges().items()
                if lo == 0 and k in self.free_symbols]
        return ([f"{n.layer}: {n.text}" for n in self.notes if n.kind == "warn"]
                + unread_warnings(self.notes)
                + [f"{k} is declared from 0 but left free: the formulas and constraints here "
                   f"hold for {k} >= 1; bind {k}=0 to analyse 0" for k in zero])

    def to_dict(self) -> dict[str, Any]:
        """The output JSON (docs/output.md)."""
        return {
            "name": self.name,
            "symbols": self.symbols,
            "bindings": dict(self.bindings),
            "input_shape": [jsonable(v) for v in self.input_shape],
            "layers": [r.to_dict() for r in self.layers],
            "totals": self.totals.to_dict(),
            "constraints": self.constraints,
            "exact_sizes": self.exact_sizes,
            "warnings": self.warnings,
            **({"convention": self.convention.to_dict()} if self.convention else {}),
        }

    def to_table(self, fmt: str = "table", columns: Sequence[str] | str | None = None,
                 depth: int | None = None, units: bool | str = False,
                 times: Mapping[str, float] | None = None) -> str:
        """The analysis as a table: ``table`` (plain text), ``markdown``, ``latex``, ``csv`` or
        ``html``; ``times`` (ms per layer, :func:`cnncalc.cost.predicted_ms`) adds predicted
        time. See :func:`cnncalc.report.tables.render`."""
        if _renderer is None:
            raise RuntimeError("no table renderer installed: import cnncalc (it installs "
                               "cnncalc.report.tables.render)")
        return _renderer(self, fmt, columns=columns, depth=depth, units=units, times=times)

    # --- notebooks (Jupyter calls _repr_html_ / _repr_markdown_) ------------------------------

    def _repr_html_(self) -> str:
        """The design table (:meth:`to_table` ``html``, with its totals row), then the
        constraints, exact sizes, warnings and incomplete counts as a list."""
        items = "".join(f"<li>{html.escape(n)}</li>\n" for n in self._notebook_notes(True))
        return self.to_table("html") + (f'<ul class="cnncalc-notes">\n{items}</ul>\n'
                                        if items else "")

    def _repr_markdown_(self) -> str:
        """A title line, the design table (:meth:`to_table` ``markdown``, which lists the
        warnings and incomplete counts under it), then the constraints and exact sizes."""
        title = f"**{_escape_md(self.name)}**, input `{shape_text(self.input_shape)}`"
        if self.bindings:
            title += f", bindings `{format_bindings(self.bindings)}`"
        notes = "".join(f"- *{_escape_md(n)}*\n" for n in self._notebook_notes(False))
        return f"{title}\n\n{self.to_table('markdown')}" + (f"\n{notes}" if notes else "")

    def _notebook_notes(self, caveats: bool) -> list[str]:
        """What the notebook shows under the table: the constraints and exact sizes, and with
        ``caveats`` the warnings and incomplete counts (the Markdown table has these)."""
        out = []
        if caveats and self.totals.incomplete:
            out.append("incomplete: counts of opaque layers "
                       f"{', '.join(self.totals.incomplete)} are unknown")
        if self.constraints:
            out.append("constraints: " + "; ".join(self.constraints))
        if self.exact_sizes:
            out.append("exact sizes: " + "; ".join(self.exact_sizes))
        return out + (["warning: " + w for w in self.warnings] if caveats else [])

    def to_dataframe(self) -> Any:
        """One row per layer as a pandas DataFrame (the ``tables`` extra), columns
        :data:`~cnncalc.core.results.RECORD_COLUMNS` (:meth:`LayerResult.record`): an int where
        every symbol is bound, else the formula as text in cnncalc's grammar; shapes, inputs and
        the receptive field's ``rf_size``/``rf_stride``/``rf_start`` as tuples."""
        try:
            import pandas as pd
        except ImportError:
            raise CnnCalcError("to_dataframe needs pandas: pip install 'cnncalc[tables]' (or "
                               "pip install pandas)", kind="dependency") from None
        return pd.DataFrame([r.record() for r in self.layers], columns=list(RECORD_COLUMNS))

    def explain(self, layer: str | None = None, fmt: str = "text") -> str:
        """The working of every layer (or of the layer or block named ``layer``): the lecture's
        formulas in names, with this analysis's values, and the result, as ``text``,
        ``markdown`` or ``latex``. See :func:`cnncalc.report.explain.explain`."""
        if _explainer is None:
            raise RuntimeError("no explainer installed: import cnncalc (it installs "
                               "cnncalc.report.explain.explain)")
        return _explainer(self, layer, fmt)

    # --- binding a symbolic analysis ---------------------------------------------------------

    def _numbers(self) -> dict[str, int]:
        """The bindings of this analysis that are numbers."""
        return {k: v for k, v in self.bindings.items() if is_num(v)}

    def evaluate(self, **bindings: int) -> Analysis:
        """A new Analysis with more symbols bound, computed from the formulas (no re-analysis).

        It checks what the bound analysis checks: every 'ge'/'eq' note (a rule a layer could
        not decide on symbols) that these bindings decide. Where one fails, the answer is the
        bound analysis's, numbers or error (a merge's sizes may broadcast a 1 instead of being
        equal). Notes still undecided stay, with the bound values substituted."""
        check_free(self.free_symbols, bindings)
        b = check_bindings(self.symbols, bindings, self.arch.ranges())
        if any(v < 1 for v in b.values()):
            # A size declared with min 0, bound to 0: the formulas were derived for sizes >= 1.
            return self._rerun(self.arch, {**self._numbers(), **b})
        reps = {sympy.Symbol(k, integer=True, positive=True): v for k, v in b.items()}
        env = {**self._numbers(), **b}

        def bound() -> Analysis:
            return self._rerun(self.arch, env)

        def holds(n: Note) -> bool:
            try:
                lhs, rhs = (x if is_num(x) else compile_int(x)(env) for x in (n.lhs, n.rhs))
            except (ArithmeticError, CnnCalcError, TypeError, ValueError, KeyError):
                return False  # e.g. a divisor bound to 0: the bound analysis says why
            return bool(lhs >= rhs) if n.kind == "ge" else bool(lhs == rhs)

        for n in self.notes:
            if n.kind not in ("ge", "eq", "recheck") or (is_num(n.lhs) and is_num(n.rhs)) \
                    or not (free_names(n.lhs) | free_names(n.rhs)) <= env.keys():
                continue
            # 'recheck': a result (a bound) that is exact only once its symbols are bound.
            if n.kind == "recheck" or not holds(n):
                return bound()

        def ev(v: Value) -> Value:
            """Integer quantities: exact integer evaluation."""
            if is_num(v) or not (free_names(v) & b.keys()):
                return v
            if free_names(v) <= b.keys():
                return int(compile_int(v)(b))
            return norm(sympy.sympify(v).xreplace(reps))

        def ev_exact(v: Value | None) -> Value | None:
            """Receptive fields may be rational (after upsampling): substitute exactly."""
            if v is None or is_num(v) or not (free_names(v) & b.keys()):
                return v
            return norm(sympy.sympify(v).xreplace(reps))

        new_layers = []
        for r in self.layers:
            rf = r.receptive_field
            try:
                rf_new = ReceptiveField(tuple(ev_exact(v) for v in rf.size),
                                        tuple(ev_exact(v) for v in rf.stride),
                                        tuple(ev_exact(v) for v in rf.start))
                shape = tuple(ev(v) for v in r.output_shape)
            except ArithmeticError:  # a rule no note recorded: the bound analysis says why
                return bound()
            new_layers.append(LayerResult(
                name=r.name, type=r.type, inputs=r.inputs,
                output_shape=shape, params=ev(r.params),
                buffers=ev(r.buffers), macs=ev(r.macs), other_ops=ev(r.other_ops),
                activations=ev(r.activations), receptive_field=rf_new,
                aliases_input=r.aliases_input, path=r.path,
                work=tuple(Work(*(ev(x) for x in w)) for w in r.work),
                output_shapes=tuple(tuple(ev(x) for x in s) for s in r.output_shapes),
                opaque=r.opaque))
        for r in new_layers:
            if any(is_num(v) and v < 1 for v in r.output_shape):
                return bound()  # a rule no note recorded: the bound analysis says why
        return Analysis(self.arch, {**self.bindings, **b}, self.symbols,
                        tuple(ev(v) for v in self.input_shape), new_layers,
                        [n._replace(lhs=ev(n.lhs), rhs=ev(n.rhs)) for n in self.notes],
                        self.dtype_bytes,
                        ev(self.totals.peak_activation_bytes),
                        ev(self.totals.training_activation_bytes), rerun=self._rerun)

    def evaluate_many(self, quantities: tuple[str, ...] = ("params", "macs", "flops",
                                                           "activations"),
                      **arrays: Any) -> dict[str, Any]:
        """Totals for arrays of bindings (NumPy), exactly: integer floors; each total is an int64
        array when every value fits in int64, else an object array of Python ints.

        ``evaluate_many(H=np.arange(32, 512), W=...)`` returns ``{"params": array, ...}``.
        Bindings are integers in 1..MAX_BINDING, as :func:`cnncalc.analyze` takes them. Every
        row is checked as a bound analysis checks it: a row that leaves a layer without output
        or breaks a layer's rule is a :class:`CnnCalcError` naming the row, with the message
        ``analyze`` gives there; a row where merged sizes differ (a size of 1 may broadcast) is
        analysed on its own (at most ``MAX_ROW_ANALYSES`` such rows).
        """
        return _evaluate_many(self, tuple(quantities), arrays)

    @functools.cached_property
    def _row_checks(self) -> list[tuple[Node | None, ConstraintKind]]:
        """(sign node, kind) for every condition a row must meet, as a bound analysis checks
        it: every output length >= 1, every 'ge' note's ``lhs - rhs >= 0`` and every 'eq'
        note's ``lhs - rhs == 0``; a numeric condition that fails is ``(None, kind)``."""
        # Keyed by kind too: a 'ge' and an 'eq' of the same expression are two checks.
        exprs: dict[tuple[sympy.Expr, ConstraintKind], None] = {}
        for r in self.layers:
            for v in r.output_shape:
                if not is_num(v):
                    exprs[sympy.sympify(v) - 1, "ge"] = None
        for n in self.notes:
            if n.kind in ("ge", "eq"):
                exprs[sympy.sympify(n.lhs) - sympy.sympify(n.rhs),
                      "ge" if n.kind == "ge" else "eq"] = None
        out: list[tuple[Node | None, ConstraintKind]] = []
        for e, kind in exprs:
            v = norm(e)
            if not free_names(v):
                if not (v >= 0 if kind == "ge" else v == 0):
                    out.append((None, kind))
                continue
            out.append((compile_sign(v), kind))
        return out


# --- evaluate_many: exact totals over arrays of bindings, every row checked ----------------------

MAX_ROW_ANALYSES = 2_000
"""Most rows of one ``evaluate_many`` call analysed on their own (merged sizes that differ)."""


def _row_totals(an: Analysis, point: dict[str, int], i: int, n: int,
                quantities: tuple[str, ...]) -> dict[str, int]:
    """The totals of one row by a bound analysis (the reference), or its error naming the row."""
    where = f" (row {i})" if n > 1 else ""
    try:
        t = an._rerun(an.arch, {**an._numbers(), **point}).totals
        got = {q: getattr(t, q) for q in quantities}
        for q, v in got.items():
            if not is_num(v):
                raise CnnCalcError(f"{q} is not an integer there ({jsonable(v)})")
        return got
    except CnnCalcError as e:
        try:
            cons = "; ".join(an.constraints)
        except CnnCalcError:
            cons = ""
        raise CnnCalcError(f"{format_bindings(point)} is not a valid size{where}: {e}"
                           + (f" (constraints: {cons})" if cons else ""),
                           kind="binding") from None


def _evaluate_many(an: Analysis, quantities: tuple[str, ...],
                   arrays: Mapping[str, Any]) -> dict[str, Any]:
    import numpy as np

    for q in quantities:
        if q not in TOTALS:
            raise CnnCalcError(f"unknown quantity {q!r}; one of {', '.join(TOTALS)}",
                               kind="input")
    order, cols, shape = check_binding_arrays(an.free_symbols, arrays, an.arch.ranges())
    n = 1
    for d in shape:
        n *= d
    lo = {k: int(c.min()) if n else 1 for k, c in cols.items()}
    hi = {k: int(c.max()) if n else 1 for k, c in cols.items()}
    invalid = np.zeros(n, dtype=bool)   # a rule fails: expected to be an error
    merge = np.zeros(n, dtype=bool)     # merged sizes differ: analysed on its own
    for c in cols.values():
        merge |= c < 1  # a size declared with min 0 at 0: the formulas hold for sizes >= 1
    for node, kind in an._row_checks:
        if node is None:
            invalid[:] = True
            continue
        if holds_everywhere(node, lo, hi, kind):
            continue
        vals, bad = evaluate_rows(node, cols, n)
        invalid |= bad
        if kind == "ge":
            invalid |= np.asarray(vals < 0, dtype=bool)
        else:
            merge |= np.asarray(vals != 0, dtype=bool)
    out: dict[str, Any] = {}
    for q in quantities:
        v = getattr(an.totals, q)
        if is_num(v):
            fits = -2**63 <= v < 2**63
            out[q] = np.full(n, v, dtype=np.int64 if fits else object)
            continue
        vals, bad = evaluate_rows(compile_node(v), cols, n)
        invalid |= bad
        out[q] = np.array(vals)
    bad_rows = np.flatnonzero(invalid)
    stop = int(bad_rows[0]) if bad_rows.size else n
    before = int(np.count_nonzero(merge[:stop]))
    for done, i in enumerate(np.flatnonzero(invalid | merge).tolist(), 1):
        # The first such row first: where it is an error, that error is the answer.
        if done == 2 and before > MAX_ROW_ANALYSES:
            raise CnnCalcError(f"{before} rows need an analysis of their own (merged sizes "
                               f"differ, see the constraints); at most {MAX_ROW_ANALYSES}",
                               kind="limit")
        if done > MAX_ROW_ANALYSES:
            raise CnnCalcError(f"more than {MAX_ROW_ANALYSES} rows need an analysis of their "
                               "own (see the constraints)", kind="limit")
        point = {k: int(cols[k][i]) for k in order}
        got = _row_totals(an, point, i, n, quantities)
        for q, x in got.items():
            if out[q].dtype != object and not -2**63 <= x < 2**63:
                out[q] = out[q].astype(object)
            out[q][i] = x
    return {q: a.reshape(shape) for q, a in out.items()}
