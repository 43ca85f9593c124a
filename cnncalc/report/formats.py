"""Writers of a :class:`Table`: plain text, Markdown, LaTeX (booktabs), CSV and HTML.

A table holds raw values (ints or sympy formulas) with a *kind* per column: ``text``, ``ratio``
(right-aligned text), ``count``, ``bytes``, ``int`` (never scaled), ``shape``, ``rf``
(receptive field) or ``ms`` (predicted milliseconds). A writer only decides how to write a
cell of a given kind; none knows about layers.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..algebra.arith import is_num
from ..core.analysis import jsonable
from ..errors import CnnCalcError

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # a bound analysis needs no sympy

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
    latex_title: str | Callable[[], str] = ""
    """The caption of the LaTeX table (made when written: it may need sympy's printer)."""
    caveats: list[str] = field(default_factory=list)
    """Notes that qualify the totals (an incomplete count, a warning): in the notes of the
    plain table; below the markdown, LaTeX and HTML tables, which have no other notes; CSV
    carries none (a caller writes them elsewhere, the command on stderr)."""


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


def text_value(v: Any, kind: str, units: bool | str) -> str:
    """A number (scaled by ``units``) or a formula as text; ``None`` as empty."""
    if v is None:
        return ""
    if is_num(v):
        return human(v, kind, units)
    return str(jsonable(v))


def text_shape(v: Sequence[Any]) -> str:
    """``1x3xHx(2*W)``: sizes joined by ``x``, each formula but a plain name in parentheses."""
    parts = [str(jsonable(x)) for x in v]
    return "x".join(p if p.replace("_", "").isalnum() else f"({p})" for p in parts)


def _latex_value(v: Any, kind: str, units: bool | str) -> str:
    if v is None:
        return ""
    if is_num(v):
        return escape_latex(human(v, kind, units))
    return f"${sympy.latex(v)}$"


def latex_shape(v: Sequence[Any]) -> str:
    """A shape as LaTeX math: sizes joined by ``\\times``, sums in parentheses."""
    parts = []
    for x in v:
        s = str(x) if is_num(x) else sympy.latex(x)
        parts.append(f"\\left({s}\\right)" if not is_num(x) and isinstance(x, sympy.Add) else s)
    return "$" + r" \times ".join(parts) + "$"


def _ms(v: float | None) -> str:
    """Milliseconds with three significant digits (at least three decimals below 1 ms)."""
    if v is None:
        return ""
    return f"{v:.3f}" if abs(v) < 1 else f"{v:.4g}" if abs(v) < 1000 else f"{v:.0f}"


def cell_text(v: Any, kind: str, units: bool | str) -> str:
    """Readable text of a cell (plain text, CSV; Markdown and HTML escape and mark it up)."""
    if kind == "ms":
        return _ms(v)
    if kind in _TEXTUAL:
        return "" if v is None else str(v)
    if kind == "shape":
        return "" if v is None else text_shape(v)
    if kind == "rf":
        return "" if v is None else "not defined" if not v.defined else \
            "none" if not v.size else f"{text_shape(v.size)} /{text_shape(v.stride)}"
    return text_value(v, kind, units)


def _cell_latex(v: Any, kind: str, units: bool | str) -> str:
    if kind == "ms":
        return _ms(v)
    if kind in _TEXTUAL:
        return "" if v is None else escape_latex(str(v))
    if kind == "shape":
        return "" if v is None else latex_shape(v)
    if kind == "rf":
        return "" if v is None else "not defined" if not v.defined else \
            "none" if not v.size else f"{latex_shape(v.size)} / {latex_shape(v.stride)}"
    return _latex_value(v, kind, units)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}"}


def escape_latex(s: str) -> str:
    """``s`` with LaTeX's special characters escaped, for text cells and captions."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in s)


_MD_SPECIAL = re.compile(r"([\\`*|<>\[\]])|(?<!\w)_|_(?!\w)")


def _escape_md(s: str) -> str:
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), s)


# --- writers ----------------------------------------------------------------------------------

def _write_plain(t: Table, units: bool | str) -> str:
    cells = [[cell_text(v, k, units) for v, k in zip(r, t.kinds, strict=True)]
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
        s = cell_text(v, k, units)
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
    # One list item each: consecutive lines would render as one paragraph.
    foot = ["", *(f"- *{_escape_md(c)}*" for c in t.caveats)] if t.caveats else []
    return "\n".join([line(head), rule, *[line(r) for r in rows], *foot]) + "\n"


def _write_latex(t: Table, units: bool | str) -> str:
    spec = "".join("r" if k in _RIGHT else "l" for k in t.kinds)

    def line(r: list[Any]) -> str:
        return " & ".join(_cell_latex(v, k, units) for v, k in zip(r, t.kinds, strict=True)) \
            + r" \\"

    out = [r"% cnncalc design table; needs \usepackage{booktabs}",
           r"\begin{table}[htbp]", r"\centering"]
    latex_title = t.latex_title() if callable(t.latex_title) else t.latex_title
    if t.title or latex_title:
        out.append(r"\caption{" + (latex_title or escape_latex(t.title)) + "}")
    if t.label:
        out.append(r"\label{tab:" + re.sub(r"[^A-Za-z0-9:.-]", "-", t.label) + "}")
    out += [r"\begin{tabular}{" + spec + "}", r"\toprule",
            " & ".join(escape_latex(h) for h in t.header) + r" \\", r"\midrule"]
    out += [line(r) for r in t.body]
    if t.foot:
        out += [r"\midrule", *[line(r) for r in t.foot]]
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [r"\par{\footnotesize\emph{" + escape_latex(c) + "}}" for c in t.caveats]
    out.append(r"\end{table}")
    return "\n".join(out) + "\n"


def _write_csv(t: Table, units: bool | str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.header)
    for r in [*t.body, *t.foot]:
        w.writerow([cell_text(v, k, units) for v, k in zip(r, t.kinds, strict=True)])
    return buf.getvalue()


def _write_html(t: Table, units: bool | str) -> str:
    right = ' style="text-align:right"'

    def cell(v: Any, k: str) -> str:
        s = html.escape(cell_text(v, k, units))
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
    out += [f'<p class="cnncalc-caveat"><em>{html.escape(c)}</em></p>' for c in t.caveats]
    return "\n".join(out) + "\n"


_WRITERS: dict[str, Callable[[Table, bool | str], str]] = {
    "table": _write_plain, "markdown": _write_markdown, "latex": _write_latex,
    "csv": _write_csv, "html": _write_html}


FORMATS: tuple[str, ...] = tuple(_WRITERS)
"""Table formats :func:`write` knows (``json`` is not one: it is the analysis itself)."""


def check_format(fmt: str) -> None:
    """Refuse a ``fmt`` that is not one of :data:`FORMATS` (error kind ``input``)."""
    if fmt not in _WRITERS:
        raise CnnCalcError(f"unknown table format {fmt!r}; one of {', '.join(FORMATS)}",
                           kind="input")


def write(t: Table, fmt: str = "table", units: bool | str = False) -> str:
    """Write a :class:`Table` in ``fmt`` (one of :data:`FORMATS`)."""
    check_format(fmt)
    if units not in UNITS:
        raise CnnCalcError(f"unknown units {units!r}; one of si, iec (or True/False)",
                           kind="input")
    return _WRITERS[fmt](t, units)
