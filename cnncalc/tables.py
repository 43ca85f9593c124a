"""Renderers for analyses: plain-text tables (more formats come with the tables issue).

Renderers see only rows of cells; they never branch on layer type.
"""

from __future__ import annotations

from typing import Any

from .analysis import Analysis, jsonable

COLUMNS = ("name", "type", "output_shape", "params", "macs", "activations", "receptive_field")


def _cell(v: Any) -> str:
    """One cell: a number, a formula, or a shape ``1x12x(floor(H/2) - 2)x...``."""
    if isinstance(v, (list, tuple)):
        parts = [str(jsonable(x)) for x in v]
        return "x".join(p if p.replace("_", "").isalnum() else f"({p})" for p in parts)
    return str(jsonable(v))


def _rf(r: Any) -> str:
    return f"{_cell(r.size)} /{_cell(r.stride)}"


def rows(an: Analysis) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, one row per layer, and the totals row."""
    header = ["layer", "type", "output shape", "params", "MACs", "activations", "RF size /stride"]
    body = [[r.name, r.type, _cell(r.output_shape), _cell(r.params), _cell(r.macs),
             _cell(r.activations), _rf(r.receptive_field)] for r in an.layers]
    t = an.totals
    foot = ["total", "", "", _cell(t.params), _cell(t.macs), _cell(t.activations),
            _rf(t.receptive_field)]
    return header, body, foot


def plain(an: Analysis) -> str:
    """A fixed-width text table, then totals, memory and constraints."""
    header, body, foot = rows(an)
    table = [header, *body, foot]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    rule = "-" * len(line(header))
    out = [f"{an.name}  input {_cell(an.input_shape)}"
           + (f"  bindings {', '.join(f'{k}={v}' for k, v in an.bindings.items())}"
              if an.bindings else ""),
           line(header), rule, *[line(r) for r in body], rule, line(foot), ""]
    t = an.totals
    out.append(f"FLOPs (2*MACs): {_cell(t.flops)}   buffers: {_cell(t.buffers)}   "
               f"other ops: {_cell(t.other_ops)}")
    out.append(f"memory: params {_cell(t.param_bytes)} B, peak activations (inference) "
               f"{_cell(t.peak_activation_bytes)} B, kept for training "
               f"{_cell(t.training_activation_bytes)} B")
    if an.constraints:
        out.append("constraints: " + "; ".join(an.constraints))
    if an.exact_sizes:
        out.append("exact sizes: " + "; ".join(an.exact_sizes))
    for w in an.warnings:
        out.append("warning: " + w)
    return "\n".join(out) + "\n"


FORMATS = ("table",)
"""Formats :func:`render` knows."""


def render(an: Analysis, fmt: str = "table", *, columns: tuple[str, ...] | None = None,
           depth: int | None = None, units: bool = False) -> str:
    """Render ``an`` in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "table" and columns is None and depth is None and not units:
        return plain(an)
    from .errors import CnnCalcError
    raise CnnCalcError(f"unknown table format {fmt!r}; one of {', '.join(FORMATS)}",
                       kind="input")
