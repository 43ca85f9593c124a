"""Design tables of an analysis: which columns, which rows, what the totals and notes say.

Rows are the layers, or at ``depth=d`` the groups of layers sharing the first ``d`` parts of
their dotted names (``layer1.0.conv1`` is in ``layer1`` at depth 1, ``layer1.0`` at depth 2),
summed like torchinfo's ``depth``: params, MACs, FLOPs, activations and memory add up; output
shape and receptive field are those of the group's last layer. The writers (and ``units``) are
in :mod:`cnncalc.report.formats`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..algebra.arith import total
from ..core.analysis import Analysis, LayerResult
from ..core.bindings import format_bindings
from ..errors import CnnCalcError
from .conventions import summary_line
from .formats import (
    FORMATS,
    UNITS,
    Table,
    cell_text,
    check_format,
    escape_latex,
    human,
    latex_shape,
    text_shape,
    text_value,
    write,
)

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # a bound analysis needs no sympy

__all__ = ["ALIASES", "ALL_COLUMNS", "COLUMNS", "FORMATS", "TIME_COLUMNS", "UNITS", "Table",
           "columns_of", "human", "layer_rows", "plain", "render", "rows", "table", "totals_row",
           "write"]

COLUMNS = ("name", "type", "output_shape", "params", "macs", "activations", "receptive_field")
"""The default columns."""

ALL_COLUMNS: dict[str, tuple[str, str]] = {
    "name": ("layer", "text"),
    "type": ("type", "text"),
    "output_shape": ("output shape", "shape"),
    "params": ("params", "count"),
    "buffers": ("buffers", "count"),
    "macs": ("MACs", "count"),
    "flops": ("FLOPs", "count"),
    "other_ops": ("other ops", "count"),
    "activations": ("activations", "count"),
    "memory": ("memory", "bytes"),
    "receptive_field": ("RF size /stride", "rf"),
}
"""Every column of an analysis: key -> (header, kind). ``memory`` is the bytes of the layer's
output."""

TIME_COLUMNS: dict[str, tuple[str, str]] = {"time": ("predicted ms", "ms")}
"""Columns that need a device profile: the time it predicts (``times`` argument,
``--profile``)."""

_SPECS = {**ALL_COLUMNS, **TIME_COLUMNS}

ALIASES = {"shape": "output_shape", "rf": "receptive_field", "layer": "name",
           "mem": "memory", "activation_bytes": "memory",
           "time_ms": "time", "predicted_time": "time"}


def _layer_row(r: LayerResult) -> dict[str, Any]:
    return {"name": r.name, "type": r.type, "output_shape": r.output_shape, "params": r.params,
            "buffers": r.buffers, "macs": r.macs, "flops": r.flops, "other_ops": r.other_ops,
            "activations": r.activations, "memory": r.activation_bytes,
            "receptive_field": r.receptive_field}


_SUMMED = ("params", "buffers", "macs", "flops", "other_ops", "activations", "memory")


def _group_type(members: list[LayerResult]) -> str:
    """A group's type: its layer's type, the blocks it instantiates, or its layer count."""
    if len(members) == 1:
        return members[0].type
    if all(len(r.path) >= 2 and r.path[0] == "blocks" for r in members):
        return ", ".join(dict.fromkeys(str(r.path[1]) for r in members))
    return f"{len(members)} layers"


def _timed(row: dict[str, Any], times: Mapping[str, float] | None) -> dict[str, Any]:
    row["time"] = None if times is None else times.get(row["name"])
    return row


def layer_rows(an: Analysis, depth: int | None = None,
               times: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """One dict per layer, or per group of layers at ``depth`` (see the module docstring);
    ``times`` (ms per layer name) fills the ``time`` column."""
    if depth is None:
        return [_timed(_layer_row(r), times) for r in an.layers]
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise CnnCalcError(f"depth must be a positive integer, got {depth!r}", kind="input")
    groups: dict[str, list[LayerResult]] = {}
    for r in an.layers:
        groups.setdefault(".".join(r.name.split(".")[:depth]), []).append(r)
    out = []
    for name, members in groups.items():
        rows = [_timed(_layer_row(r), times) for r in members]
        row = {**rows[-1], "name": name, "type": _group_type(members)}
        for q in _SUMMED:
            row[q] = total(r[q] for r in rows)
        row["time"] = None if times is None else sum(r["time"] or 0.0 for r in rows)
        out.append(row)
    return out


def totals_row(an: Analysis, times: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The totals as a row (output shape left empty)."""
    t = an.totals
    return {"name": "total", "type": None, "output_shape": None, "params": t.params,
            "buffers": t.buffers, "macs": t.macs, "flops": t.flops, "other_ops": t.other_ops,
            "activations": t.activations, "memory": t.activation_bytes,
            "receptive_field": t.receptive_field,
            "time": None if times is None else sum(times.values())}


def columns_of(columns: Sequence[str] | str | None) -> tuple[str, ...]:
    """Column keys from a sequence or a comma-separated string (aliases resolved)."""
    if columns is None:
        return COLUMNS
    if isinstance(columns, str):
        columns = [c for c in columns.split(",") if c.strip()]
    out = []
    for c in columns:
        key = ALIASES.get(c.strip(), c.strip())
        if key not in _SPECS:
            raise CnnCalcError(f"unknown column {c!r}; one of {', '.join(_SPECS)}",
                               kind="input")
        out.append(key)
    if not out:
        raise CnnCalcError(f"no columns given; choose from {', '.join(_SPECS)}",
                           kind="input")
    return tuple(out)


def _title(an: Analysis) -> str:
    out = f"{an.name}  input {text_shape(an.input_shape)}"
    if an.bindings:
        out += f"  bindings {format_bindings(an.bindings)}"
    return out


def _latex_title(an: Analysis) -> str:
    out = f"{escape_latex(an.name)}: input {latex_shape(an.input_shape)}"
    if an.bindings:
        out += ", " + ", ".join(f"${sympy.latex(sympy.Symbol(k))} = {v}$"
                                for k, v in an.bindings.items())
    return out


def _notes(an: Analysis) -> list[str]:
    t = an.totals

    def c(v: Any) -> str:
        return text_value(v, "count", False)

    out = [f"FLOPs (2*MACs): {c(t.flops)}   buffers: {c(t.buffers)}   "
           f"other ops: {c(t.other_ops)}",
           *([summary_line(an.convention, c, t.params)] if an.convention else []),
           f"memory: params {c(t.param_bytes)} B, peak activations (inference) "
           f"{c(t.peak_activation_bytes)} B, kept for training "
           f"{c(t.training_activation_bytes)} B"]
    out += _caveats(an)
    if len(an.input_shape) < 3:
        out.append("receptive field: none (the input [N, features] has no spatial axes)")
    if an.constraints:
        out.append("constraints: " + "; ".join(an.constraints))
    if an.exact_sizes:
        out.append("exact sizes: " + "; ".join(an.exact_sizes))
    out += ["warning: " + w for w in an.warnings]
    return out


def _caveats(an: Analysis) -> list[str]:
    """What qualifies the totals: opaque layers, whose params, MACs and ops are left out."""
    inc = an.totals.incomplete
    return [f"incomplete: counts of opaque layers {', '.join(inc)} are unknown"] if inc else []


def table(an: Analysis, columns: Sequence[str] | str | None = None,
          depth: int | None = None, times: Mapping[str, float] | None = None) -> Table:
    """The design table of ``an``: chosen columns, one row per layer (or group), totals.

    ``times``: predicted milliseconds per layer name (:func:`cnncalc.cost.predict_seconds`);
    with them the default columns end with ``time``, without them ``time`` is an error."""
    if columns is None and times is not None:
        columns = (*COLUMNS, "time")
    keys = columns_of(columns)
    if "time" in keys and times is None:
        raise CnnCalcError("the time column needs a device profile: pass --profile "
                           "PROFILE.json (made by `cnncalc calibrate`)", kind="input")
    foot = totals_row(an, times)
    return Table(title=_title(an), header=[_SPECS[k][0] for k in keys],
                 kinds=[_SPECS[k][1] for k in keys],
                 body=[[r[k] for k in keys] for r in layer_rows(an, depth, times)],
                 foot=[[foot[k] for k in keys]], notes=_notes(an), label=an.name,
                 latex_title=lambda: _latex_title(an),
                 caveats=[*_caveats(an), *("warning: " + w for w in an.warnings)])


def rows(an: Analysis) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, one row per layer, and the totals row, as plain-text cells."""
    t = table(an)
    body = [[cell_text(v, k, False) for v, k in zip(r, t.kinds, strict=True)] for r in t.body]
    foot = [cell_text(v, k, False) for v, k in zip(t.foot[0], t.kinds, strict=True)]
    return t.header, body, foot


def plain(an: Analysis) -> str:
    """A fixed-width text table, then totals, memory and constraints."""
    return write(table(an), "table", False)


def render(an: Analysis, fmt: str = "table", *, columns: Sequence[str] | str | None = None,
           depth: int | None = None, units: bool | str = False,
           times: Mapping[str, float] | None = None) -> str:
    """Render ``an`` in ``fmt`` (one of :data:`FORMATS`): :func:`table`, then :func:`write`
    (``units`` as in :mod:`cnncalc.report.formats`)."""
    check_format(fmt)
    return write(table(an, columns, depth, times), fmt, units)
