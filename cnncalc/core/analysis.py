"""The result of an analysis: per-layer results, totals, constraints; JSON form; evaluation.

``to_dict()`` gives the output JSON (docs/output.md). ``evaluate(**bindings)`` binds a
symbolic analysis without redoing it; ``evaluate_many`` does the same for NumPy arrays of
bindings with exact integer floors (design sweeps).

The engine (:mod:`cnncalc.core.engine`) produces an ``Analysis`` and hands it ``rerun``, its own
run, for the cases where a binding must be checked by a bound analysis; this module never
imports the engine. Constraints come from :func:`cnncalc.core.constraints.derive` on the
output shapes and notes. :meth:`Analysis.to_table` calls the renderer that
:mod:`cnncalc.hooks` names (:func:`cnncalc.report.tables.render`, imported on the first call;
:func:`set_table_renderer` replaces it): the core does not import the report wing. In a
notebook an analysis shows that table (``_repr_html_``, ``_repr_markdown_``);
``to_dataframe()`` gives one pandas row per layer.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import hooks
from ..algebra.arith import Value, _int_valued, free_names, is_num, norm, prod, total
from ..algebra.compile import (
    Node,
    compile_function,
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

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # imported on first symbolic use

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


_renderer: TableRenderer = hooks.render_table


def set_table_renderer(render: TableRenderer) -> None:
    """Install the renderer behind :meth:`Analysis.to_table` (by default the one
    :mod:`cnncalc.hooks` names)."""
    global _renderer
    _renderer = render


class Explainer(Protocol):
    """:func:`cnncalc.report.explain.explain`."""

    def __call__(self, an: Analysis, layer: str | None, fmt: str) -> str: ...


_explainer: Explainer = hooks.explain


def set_explainer(explain: Explainer) -> None:
    """Install the explainer behind :meth:`Analysis.explain` (by default the one
    :mod:`cnncalc.hooks` names)."""
    global _explainer
    _explainer = explain


class Analysis:
    """Per-layer results and totals of one architecture under some bindings."""

    def __init__(self, arch: Architecture, bindings: Mapping[str, Value], symbols: list[str],
                 input_shape: tuple[Value, ...], layers: list[LayerResult],
                 notes: list[Note], dtype_bytes: int,
                 peak_activation_bytes: Value, training_activation_bytes: Value, *,
                 rerun: Rerun) -> None:
        self._setup(arch, bindings, symbols, input_shape, dtype_bytes, rerun)
        self._layers: list[LayerResult] | None = layers
        self._notes: list[Note] | None = notes
        self._pending: Callable[[], tuple[list[LayerResult], list[Note]]] | None = None
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

    def _setup(self, arch: Architecture, bindings: Mapping[str, Value], symbols: list[str],
               input_shape: tuple[Value, ...], dtype_bytes: int, rerun: Rerun) -> None:
        self.arch = arch
        self.name = arch.name
        self.bindings = {k: v for k, v in bindings.items() if k in symbols}
        self.symbols = symbols
        self.input_shape = input_shape
        self.dtype_bytes = dtype_bytes
        self._rerun = rerun
        self.convention: ConventionTotals | None = None
        """Another tool's totals (``analyze(..., convention=...)``), beside ours; None for
        cnncalc's own. :meth:`evaluate` counts it again on the evaluated layers."""

    @classmethod
    def _lazy(cls, arch: Architecture, bindings: Mapping[str, Value], symbols: list[str],
              input_shape: tuple[Value, ...], dtype_bytes: int, totals: Totals,
              pending: Callable[[], tuple[list[LayerResult], list[Note]]], *,
              rerun: Rerun) -> Analysis:
        """An analysis whose totals are known and whose layers and notes ``pending()`` makes on
        first access (:meth:`evaluate` of every free size, from the compiled formulas)."""
        an = cls.__new__(cls)
        an._setup(arch, bindings, symbols, input_shape, dtype_bytes, rerun)
        an._layers = an._notes = None
        an._pending = pending
        an.totals = totals
        return an

    def _materialise(self) -> None:
        assert self._pending is not None
        layers, notes = self._pending()
        for r in layers:
            r.dtype_bytes = self.dtype_bytes
        self._layers, self._notes, self._pending = layers, notes, None

    @property
    def layers(self) -> list[LayerResult]:
        """Every layer instance's result, in the order analysed."""
        if self._layers is None:
            self._materialise()
        assert self._layers is not None
        return self._layers

    @layers.setter
    def layers(self, value: list[LayerResult]) -> None:
        self._layers = value

    @property
    def notes(self) -> list[Note]:
        """What the layers recorded: conditions on the free sizes, tiling, warnings."""
        if self._notes is None:
            self._materialise()
        assert self._notes is not None
        return self._notes

    @notes.setter
    def notes(self, value: list[Note]) -> None:
        self._notes = value

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
        equal). Notes still undecided stay, with the bound values substituted.

        Binding every free size, the totals and those checks come from one function compiled
        once per analysis (:func:`cnncalc.algebra.compile.compile_function`); the per-layer
        results are bound when first read. Another tool's totals (:attr:`convention`) are
        counted again, by that tool's rules, on the evaluated layers."""
        out = self._evaluate(bindings)
        if self.convention is not None:
            hooks.apply_convention(out, self.convention.name)
        return out

    def _evaluate(self, bindings: Mapping[str, int]) -> Analysis:
        check_free(self.free_symbols, bindings)
        b = check_bindings(self.symbols, bindings, self.arch.ranges())
        if any(v < 1 for v in b.values()):
            # A size declared with min 0, bound to 0: the formulas were derived for sizes >= 1.
            return self._rerun(self.arch, {**self._numbers(), **b})
        env = {**self._numbers(), **b}
        if b and len(b) == len(self.free_symbols) and self._compiled is not None:
            return self._evaluate_compiled(self._compiled, b, env)

        for n in self.notes:
            if n.kind not in ("ge", "eq", "recheck") or (is_num(n.lhs) and is_num(n.rhs)) \
                    or not (free_names(n.lhs) | free_names(n.rhs)) <= env.keys():
                continue
            # 'recheck': a result (a bound) that is exact only once its symbols are bound.
            if n.kind == "recheck" or not _holds(n, env):
                return self._rerun(self.arch, env)
        bound = self._bind(b)
        if bound is None:  # a rule no note recorded: the bound analysis says why
            return self._rerun(self.arch, env)
        layers, notes = bound
        ev = _evaluator(b)
        return Analysis(self.arch, {**self.bindings, **b}, self.symbols,
                        tuple(ev(v) for v in self.input_shape), layers, notes, self.dtype_bytes,
                        ev(self.totals.peak_activation_bytes),
                        ev(self.totals.training_activation_bytes), rerun=self._rerun)

    def _bind(self, b: Mapping[str, int]) -> tuple[list[LayerResult], list[Note]] | None:
        """The layers and notes with ``b`` substituted; None where a value leaves a layer
        without output or fails to evaluate (the bound analysis says why)."""
        ev = _evaluator(b)
        reps = {sympy.Symbol(k, integer=True, positive=True): v for k, v in b.items()}

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
            except ArithmeticError:
                return None
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
                return None
        return new_layers, [n._replace(lhs=ev(n.lhs), rhs=ev(n.rhs)) for n in self.notes]

    @functools.cached_property
    def _layer_program(self) -> tuple[Callable[[Mapping[str, int]], tuple[int, ...]],
                                      list[int]] | None:
        """Every per-layer value and note side as one compiled function of the free sizes
        (:func:`_layer_values` order), with the positions of the receptive-field values
        substituted instead (possibly rational); None where a formula does not compile."""
        values: list[Value] = []
        slow: list[int] = []
        for r in self.layers:
            n_rf = 3 * len(r.receptive_field.size)
            flat = _layer_values(r)
            for i, x in enumerate(flat):
                if x is None:
                    values.append(0)
                elif i >= len(flat) - n_rf and not is_num(x) \
                        and not _int_valued(sympy.expand(x)):
                    slow.append(len(values))
                    values.append(0)
                else:
                    values.append(x)
        for n in self.notes:
            values += [n.lhs, n.rhs]
        try:
            return compile_function(values), slow
        except (CnnCalcError, TypeError, ValueError):
            return None

    def _bind_compiled(self, b: dict[str, int]) -> tuple[list[LayerResult], list[Note]] | None:
        """:meth:`_bind` of every free size by :attr:`_layer_program` (the same values; where
        it refuses a division, :meth:`_bind` itself)."""
        prog = self._layer_program
        if prog is None:
            return self._bind(b)
        fn, slow = prog
        try:
            vals: list[Any] = list(fn(b))
        except ArithmeticError:
            return self._bind(b)
        if slow:
            reps = {sympy.Symbol(k, integer=True, positive=True): v for k, v in b.items()}
            old = [x for r in self.layers for x in _layer_values(r)]
            for i in slow:
                vals[i] = norm(sympy.sympify(old[i]).xreplace(reps))
        at = 0
        layers = []
        for r in self.layers:
            flat = _layer_values(r)
            got = [None if x is None else v for x, v in zip(flat, vals[at:at + len(flat)],
                                                            strict=True)]
            at += len(flat)
            layers.append(_layer_from(r, got))
            if any(is_num(v) and v < 1 for v in layers[-1].output_shape):
                return None
        notes = []
        for n in self.notes:
            notes.append(n._replace(lhs=vals[at], rhs=vals[at + 1]))
            at += 2
        return layers, notes

    @functools.cached_property
    def _compiled(self) -> _Compiled | None:
        """The totals, input shape and last receptive field of this analysis as one compiled
        function of its free sizes, after every check :meth:`evaluate` makes when all of them
        are bound: each 'ge'/'eq' note, and every output length >= 1. None where a formula does
        not compile (:meth:`evaluate` then binds layer by layer)."""
        if not self.free_symbols:
            return None
        rerun = any(n.kind == "recheck" and not (is_num(n.lhs) and is_num(n.rhs))
                    for n in self.notes)
        checks: dict[tuple[str, Value, Value], None] = {}
        for n in self.notes:
            if n.kind in ("ge", "eq") and not (is_num(n.lhs) and is_num(n.rhs)):
                checks[n.kind, n.lhs, n.rhs] = None
        for r in self.layers:
            for v in r.output_shape:
                if not is_num(v):
                    checks["ge", v, 1] = None
        t = self.totals
        values: list[Value] = [t.params, t.buffers, t.macs, t.other_ops, t.activations,
                               t.peak_activation_bytes, t.training_activation_bytes,
                               *self.input_shape]
        rf = t.receptive_field
        slow: list[int] = []  # receptive-field values that may be rational: substituted
        for i, x in enumerate((*rf.size, *rf.stride, *rf.start)):
            if x is None:
                values.append(0)
            elif is_num(x) or _int_valued(sympy.expand(x)):
                values.append(x)
            else:
                values.append(0)
                slow.append(i)
        try:
            fn = compile_function(values, list(checks))
        except (CnnCalcError, TypeError, ValueError):  # no exact integer evaluation
            return None
        return _Compiled(fn, rerun, len(self.input_shape), slow)

    def _evaluate_compiled(self, c: _Compiled, b: dict[str, int], env: dict[str, int]
                           ) -> Analysis:
        """:meth:`evaluate` of every free size by the compiled function: the bound analysis
        where a check fails, else an analysis whose layers are bound when first read."""
        if c.rerun:
            return self._rerun(self.arch, env)
        try:
            vals = c.fn(env)
        except ArithmeticError:  # a check failed, or a division is invalid there
            return self._rerun(self.arch, env)
        params, buffers, macs, other_ops, acts, peak, kept = vals[:7]
        k = 7 + c.n_input
        shape = vals[7:k]
        rf_old = self.totals.receptive_field
        nd = len(rf_old.size)
        rfv: list[Value | None] = list(vals[k:])
        if c.slow:
            reps = {sympy.Symbol(s, integer=True, positive=True): v for s, v in b.items()}
            old = (*rf_old.size, *rf_old.stride, *rf_old.start)
            for i in c.slow:
                rfv[i] = norm(sympy.sympify(old[i]).xreplace(reps))
        for i, v in enumerate((*rf_old.size, *rf_old.stride, *rf_old.start)):
            if v is None:
                rfv[i] = None
        rf = ReceptiveField(tuple(rfv[:nd]), tuple(rfv[nd:2 * nd]), tuple(rfv[2 * nd:]))
        d = self.dtype_bytes
        totals = Totals(params=params, buffers=buffers, macs=macs, flops=2 * macs,
                        other_ops=other_ops, activations=acts, activation_bytes=d * acts,
                        param_bytes=d * params, peak_activation_bytes=peak,
                        training_activation_bytes=kept, receptive_field=rf,
                        incomplete=self.totals.incomplete)

        def pending() -> tuple[list[LayerResult], list[Note]]:
            bound = self._bind_compiled(b)
            if bound is None:  # the checks passed: a value the formulas cannot bind
                an = self._rerun(self.arch, env)
                return an.layers, an.notes
            return bound

        return Analysis._lazy(self.arch, {**self.bindings, **b}, self.symbols, tuple(shape),
                              self.dtype_bytes, totals, pending, rerun=self._rerun)

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


@dataclass
class _Compiled:
    """:attr:`Analysis._compiled`: the function, whether every binding needs the bound analysis
    (a 'recheck' note), how many input-shape values follow the seven totals, and which
    receptive-field values after them are substituted instead (possibly rational)."""

    fn: Callable[[Mapping[str, int]], tuple[int, ...]]
    rerun: bool
    n_input: int
    slow: list[int]


def _layer_values(r: LayerResult) -> list[Value | None]:
    """A layer's values in one list: output shape, params, buffers, MACs, other ops,
    activations, its work, its outputs' shapes, then its receptive field (size, stride,
    start; None where undefined). :func:`_layer_from` reads them back."""
    rf = r.receptive_field
    return [*r.output_shape, r.params, r.buffers, r.macs, r.other_ops, r.activations,
            *(x for w in r.work for x in w), *(x for sh in r.output_shapes for x in sh),
            *rf.size, *rf.stride, *rf.start]


def _layer_from(r: LayerResult, vals: list[Any]) -> LayerResult:
    """``r`` with the values of :func:`_layer_values` replaced by ``vals``."""
    it = iter(vals)
    shape = tuple(next(it) for _ in r.output_shape)
    params, buffers, macs, other_ops, acts = (next(it) for _ in range(5))
    work = tuple(Work(*(next(it) for _ in w)) for w in r.work)
    shapes = tuple(tuple(next(it) for _ in sh) for sh in r.output_shapes)
    nd = len(r.receptive_field.size)
    rf = ReceptiveField(*(tuple(next(it) for _ in range(nd)) for _ in range(3)))
    return LayerResult(name=r.name, type=r.type, inputs=r.inputs, output_shape=shape,
                       params=params, buffers=buffers, macs=macs, other_ops=other_ops,
                       activations=acts, receptive_field=rf, aliases_input=r.aliases_input,
                       path=r.path, work=work, output_shapes=shapes, opaque=r.opaque)


def _evaluator(b: Mapping[str, int]) -> Callable[[Value], Value]:
    """Integer quantities under bindings ``b``: exact integer evaluation where every symbol
    is bound, substitution otherwise."""
    reps = {sympy.Symbol(k, integer=True, positive=True): v for k, v in b.items()}

    def ev(v: Value) -> Value:
        if is_num(v) or not (free_names(v) & b.keys()):
            return v
        if free_names(v) <= b.keys():
            return int(compile_int(v)(b))
        return norm(sympy.sympify(v).xreplace(reps))
    return ev


def _holds(n: Note, env: Mapping[str, int]) -> bool:
    """Whether condition note ``n`` holds under ``env`` (every symbol it uses bound)."""
    try:
        lhs, rhs = (x if is_num(x) else compile_int(x)(env) for x in (n.lhs, n.rhs))
    except (ArithmeticError, CnnCalcError, TypeError, ValueError, KeyError):
        return False  # e.g. a divisor bound to 0: the bound analysis says why
    return bool(lhs >= rhs) if n.kind == "ge" else bool(lhs == rhs)


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
