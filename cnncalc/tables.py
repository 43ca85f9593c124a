"""Design tables: plain text, Markdown, LaTeX (booktabs), CSV and HTML.

A table is built once, as raw values (ints or sympy formulas) with a *kind* per column —
``text``, ``ratio`` (right-aligned text), ``count``, ``bytes``, ``int`` (never scaled),
``shape`` or ``rf`` (receptive field) — and each format
only decides how to write a cell of a given kind. Renderers never branch on layer type.

Rows are the layers, or at ``depth=d`` the groups of layers sharing the first ``d`` parts of
their dotted names (``layer1.0.conv1`` is in ``layer1`` at depth 1, ``layer1.0`` at depth 2),
summed like torchinfo's ``depth``: params, MACs, FLOPs, activations and memory add up; output
shape and receptive field are those of the group's last layer.

Units (``units=``): ``False`` writes exact integers (the default). ``True`` or ``"si"`` writes
counts with K/M/G/T (powers of 1000, as "25.6M params, 4.09 GMACs") and bytes with
KB/MB/GB/TB (powers of 1000, torchinfo's "MB"); ``"iec"`` writes bytes with KiB/MiB/GiB/TiB
(powers of 1024) and counts as ``"si"`` does. Three significant digits; numbers below 1000 are
exact. Formulas are never scaled.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sympy

from .analysis import Analysis, LayerResult, jsonable
from .arith import is_num, total
from .errors import CnnCalcError

FORMATS = ("table", "markdown", "latex", "csv", "html")
"""Formats :func:`render` knows."""

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

UNITS = (False, True, "si", "iec")
"""Values of the ``units`` option."""

_RIGHT = {"count", "bytes", "int", "rf", "ratio", "ms"}
_TEXTUAL = {"text", "ratio"}


@dataclass
class Table:
    """A table of raw values: ``kinds[i]`` says how to write column ``i``."""

    title: str
    header: list[str]
    kinds: list[str]
    body: list[list[Any]]
    foot: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    label: str = ""
    latex_title: str = ""


# --- numbers and formulas --------------------------------------------------------------------

def human(v: int, kind: str = "count", units: bool | str = True) -> str:
    """``v`` with a K/M/G prefix and three significant digits (see the module docstring)."""
    if not units or kind not in ("count", "bytes"):
        return str(v)
    base = 1024 if kind == "bytes" and units == "iec" else 1000
    unit = "B" if kind == "bytes" else ""
    prefixes = ("", "K", "M", "G", "T", "P", "E")
    if abs(v) < 1000:
        return f"{v} {unit}".rstrip()
    if abs(v) >= 1000 * base ** (len(prefixes) - 1):
        text = _scientific(v)  # past the largest prefix; exact for any size
        return f"{text} {unit}".rstrip()
    i = 0
    while i + 1 < len(prefixes) and abs(v) >= base ** (i + 1):
        i += 1
    while True:
        y = v / base**i
        a = abs(y)
        text = f"{y:.2f}" if a < 10 else f"{y:.1f}" if a < 100 else f"{y:.0f}"
        if abs(float(text)) >= 1000 and i + 1 < len(prefixes) and base == 1000:
            i += 1
            continue
        break
    p = prefixes[i] + ("i" if base == 1024 else "")
    return f"{text} {p}{unit}" if kind == "bytes" else f"{text}{p}"


def _scientific(v: int) -> str:
    """``v`` as ``1.23e45`` (three significant digits, rounded half to even), computed on
    integers: no float, so no overflow and no limit on the number of digits."""
    sign, a = ("-" if v < 0 else ""), abs(v)
    e = max(int(math.log10(a)) - 2, 0)  # about the exponent of the third digit
    while True:
        m = round(Fraction(a, 10**e))
        if m >= 1000:
            e += 1
        elif m < 100 and e > 0:
            e -= 1
        else:
            break
    return f"{sign}{m // 100}.{m % 100:02d}e{e + 2}"


def _sym(v: Any) -> bool:
    """True when ``v`` (a value, a shape or a receptive field) holds a formula."""
    if isinstance(v, (list, tuple)):
        return any(_sym(x) for x in v)
    if hasattr(v, "size") and hasattr(v, "stride"):
        return _sym(v.size) or _sym(v.stride)
    return not (v is None or isinstance(v, str) or is_num(v))


def _text_value(v: Any, kind: str, units: bool | str) -> str:
    if v is None:
        return ""
    if is_num(v):
        return human(v, kind, units)
    return str(jsonable(v))


def _text_shape(v: Sequence[Any]) -> str:
    parts = [str(jsonable(x)) for x in v]
    return "x".join(p if p.replace("_", "").isalnum() else f"({p})" for p in parts)


def _latex_value(v: Any, kind: str, units: bool | str) -> str:
    if v is None:
        return ""
    if is_num(v):
        return _escape_latex(human(v, kind, units))
    return f"${sympy.latex(v)}$"


def _latex_shape(v: Sequence[Any]) -> str:
    parts = []
    for x in v:
        s = str(x) if is_num(x) else sympy.latex(x)
        parts.append(f"\\left({s}\\right)" if isinstance(x, sympy.Add) else s)
    return "$" + r" \times ".join(parts) + "$"


def _ms(v: float | None) -> str:
    """Milliseconds with three significant digits (at least three decimals below 1 ms)."""
    if v is None:
        return ""
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def _cell_text(v: Any, kind: str, units: bool | str) -> str:
    """Readable text of a cell (plain text, CSV; Markdown and HTML escape and mark it up)."""
    if kind == "ms":
        return _ms(v)
    if kind in _TEXTUAL:
        return "" if v is None else str(v)
    if kind == "shape":
        return "" if v is None else _text_shape(v)
    if kind == "rf":
        return "" if v is None else f"{_text_shape(v.size)} /{_text_shape(v.stride)}"
    return _text_value(v, kind, units)


def _cell_latex(v: Any, kind: str, units: bool | str) -> str:
    if kind == "ms":
        return _ms(v)
    if kind in _TEXTUAL:
        return "" if v is None else _escape_latex(str(v))
    if kind == "shape":
        return "" if v is None else _latex_shape(v)
    if kind == "rf":
        return "" if v is None else f"{_latex_shape(v.size)} / {_latex_shape(v.stride)}"
    return _latex_value(v, kind, units)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def _escape_latex(s: str) -> str:
    return "".join(_LATEX_SPECIAL.get(c, c) for c in s)


_MD_SPECIAL = re.compile(r"([\\`*|<>\[\]])|(?<!\w)_|_(?!\w)")


def _escape_md(s: str) -> str:
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), s)


# --- writers ----------------------------------------------------------------------------------

def _write_plain(t: Table, units: bool | str) -> str:
    cells = [[_cell_text(v, k, units) for v, k in zip(r, t.kinds, strict=True)]
             for r in [*t.body, *t.foot]]
    widths = [max(len(r[i]) for r in [t.header, *cells]) for i in range(len(t.header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.rjust(w) if k in _RIGHT else c.ljust(w)
                         for c, w, k in zip(r, widths, t.kinds, strict=True)).rstrip()

    rule = "-" * len(line(t.header))
    out = ([t.title] if t.title else []) + [line(t.header), rule]
    out += [line(r) for r in cells[:len(t.body)]]
    if t.foot:
        out += [rule, *[line(r) for r in cells[len(t.body):]]]
    if t.notes:
        out += ["", *t.notes]
    return "\n".join(out) + "\n"


def _write_markdown(t: Table, units: bool | str) -> str:
    def cell(v: Any, k: str) -> str:
        s = _cell_text(v, k, units)
        if k in _TEXTUAL:
            return _escape_md(s)
        return f"`{s}`" if s and _sym(v) else s

    rows = [[cell(v, k) for v, k in zip(r, t.kinds, strict=True)] for r in t.body]
    for r in t.foot:
        f = [cell(v, k) for v, k in zip(r, t.kinds, strict=True)]
        rows.append([f"**{c}**" if c and i == 0 else c for i, c in enumerate(f)])
    head = [_escape_md(h) for h in t.header]
    widths = [max(3, *(len(r[i]) for r in [head, *rows])) for i in range(len(head))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if k in _RIGHT else c.ljust(w)
                                 for c, w, k in zip(r, widths, t.kinds, strict=True)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if k in _RIGHT else (":" + "-" * (w + 1))
                          for w, k in zip(widths, t.kinds, strict=True)) + "|"
    return "\n".join([line(head), rule, *[line(r) for r in rows]]) + "\n"


def _write_latex(t: Table, units: bool | str) -> str:
    spec = "".join("r" if k in _RIGHT else "l" for k in t.kinds)

    def line(r: list[Any]) -> str:
        return " & ".join(_cell_latex(v, k, units) for v, k in zip(r, t.kinds, strict=True)) \
            + r" \\"

    out = [r"% cnncalc design table; needs \usepackage{booktabs}",
           r"\begin{table}[htbp]", r"\centering"]
    if t.title or t.latex_title:
        out.append(r"\caption{" + (t.latex_title or _escape_latex(t.title)) + "}")
    if t.label:
        out.append(r"\label{tab:" + re.sub(r"[^A-Za-z0-9:.-]", "-", t.label) + "}")
    out += [r"\begin{tabular}{" + spec + "}", r"\toprule",
            " & ".join(_escape_latex(h) for h in t.header) + r" \\", r"\midrule"]
    out += [line(r) for r in t.body]
    if t.foot:
        out += [r"\midrule", *[line(r) for r in t.foot]]
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


def _write_csv(t: Table, units: bool | str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.header)
    for r in [*t.body, *t.foot]:
        w.writerow([_cell_text(v, k, units) for v, k in zip(r, t.kinds, strict=True)])
    return buf.getvalue()


def _write_html(t: Table, units: bool | str) -> str:
    right = ' style="text-align:right"'

    def cell(v: Any, k: str) -> str:
        s = html.escape(_cell_text(v, k, units))
        if k not in _TEXTUAL and s and _sym(v):
            s = f"<code>{s}</code>"
        return f"<td{right if k in _RIGHT else ''}>{s}</td>"

    def tr(r: list[Any]) -> str:
        return "<tr>" + "".join(cell(v, k) for v, k in zip(r, t.kinds, strict=True)) + "</tr>"

    out = ['<table class="cnncalc">']
    if t.title:
        out.append(f"<caption>{html.escape(t.title)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th{right if k in _RIGHT else ''}>{html.escape(h)}</th>"
                                       for h, k in zip(t.header, t.kinds, strict=True))
               + "</tr></thead>")
    out += ["<tbody>", *[tr(r) for r in t.body], "</tbody>"]
    if t.foot:
        out += ["<tfoot>", *[tr(r) for r in t.foot], "</tfoot>"]
    out.append("</table>")
    return "\n".join(out) + "\n"


_WRITERS: dict[str, Callable[[Table, bool | str], str]] = {
    "table": _write_plain, "markdown": _write_markdown, "latex": _write_latex,
    "csv": _write_csv, "html": _write_html}


def write(t: Table, fmt: str = "table", units: bool | str = False) -> str:
    """Write a :class:`Table` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt not in _WRITERS:
        raise CnnCalcError(f"unknown table format {fmt!r}; one of {', '.join(FORMATS)}",
                           kind="input")
    if units not in UNITS:
        raise CnnCalcError(f"unknown units {units!r}; one of si, iec (or True/False)",
                           kind="input")
    return _WRITERS[fmt](t, units)


# --- analyses as tables -----------------------------------------------------------------------

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
    out = f"{an.name}  input {_text_shape(an.input_shape)}"
    if an.bindings:
        out += f"  bindings {', '.join(f'{k}={v}' for k, v in an.bindings.items())}"
    return out


def _latex_title(an: Analysis) -> str:
    out = f"{_escape_latex(an.name)}: input {_latex_shape(an.input_shape)}"
    if an.bindings:
        out += ", " + ", ".join(f"${sympy.latex(sympy.Symbol(k))} = {v}$"
                                for k, v in an.bindings.items())
    return out


def _notes(an: Analysis) -> list[str]:
    t = an.totals

    def c(v: Any) -> str:
        return _text_value(v, "count", False)

    out = [f"FLOPs (2*MACs): {c(t.flops)}   buffers: {c(t.buffers)}   "
           f"other ops: {c(t.other_ops)}",
           f"memory: params {c(t.param_bytes)} B, peak activations (inference) "
           f"{c(t.peak_activation_bytes)} B, kept for training "
           f"{c(t.training_activation_bytes)} B"]
    if an.constraints:
        out.append("constraints: " + "; ".join(an.constraints))
    if an.exact_sizes:
        out.append("exact sizes: " + "; ".join(an.exact_sizes))
    out += ["warning: " + w for w in an.warnings]
    return out


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
                 latex_title=_latex_title(an))


def rows(an: Analysis) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, one row per layer, and the totals row, as plain-text cells."""
    t = table(an)
    body = [[_cell_text(v, k, False) for v, k in zip(r, t.kinds, strict=True)] for r in t.body]
    foot = [_cell_text(v, k, False) for v, k in zip(t.foot[0], t.kinds, strict=True)]
    return t.header, body, foot


def plain(an: Analysis) -> str:
    """A fixed-width text table, then totals, memory and constraints."""
    return _write_plain(table(an), False)


def render(an: Analysis, fmt: str = "table", *, columns: Sequence[str] | str | None = None,
           depth: int | None = None, units: bool | str = False,
           times: Mapping[str, float] | None = None) -> str:
    """Render ``an`` in ``fmt`` (one of :data:`FORMATS`); see the module docstring."""
    if fmt not in _WRITERS:
        raise CnnCalcError(f"unknown table format {fmt!r}; one of {', '.join(FORMATS)}",
                           kind="input")
    return write(table(an, columns, depth, times), fmt, units)
