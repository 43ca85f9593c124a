"""Figures for reports (matplotlib, an optional extra: ``pip install 'cnncalc[tables]'``).

* ``layers``: MACs and parameters per layer (or per group at ``depth``), as bars;
* ``rf``: receptive-field size and stride through the depth of the network (log scale);
* ``scaling``: totals (MACs, parameters, peak activation memory) as a function of one size,
  swept exactly (``over="H=W=32:512:32"``: H and W together).

Figures are drawn on a bare :class:`matplotlib.figure.Figure` (Agg), so pyplot's global state
and the user's backend are left alone. The file type follows the output's suffix: png, svg, pdf.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..algebra.arith import is_num
from ..core.analysis import Analysis
from ..core.bindings import format_bindings
from ..core.load import ArchLike, analyze
from ..core.results import jsonable
from ..errors import CnnCalcError
from .sweep import parse_grid, records, sweep
from .tables import human, layer_rows

KINDS = ("layers", "rf", "scaling")
"""Kinds of plot."""

SUFFIXES = (".png", ".svg", ".pdf")
"""File types a plot is written as."""


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CnnCalcError("plots need matplotlib: pip install 'cnncalc[tables]' "
                           "(or pip install matplotlib)", kind="input") from None
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _tick(x: float, kind: str) -> str:
    """A tick label: K/M/G units without trailing zeros (``1.2K``, ``50K``, ``3 MB``)."""
    if x < 0:
        return ""
    text = re.sub(r"(\.\d*?)0+(?=\D|$)", r"\1", human(int(round(x)), kind, True))
    return re.sub(r"\.(?=\D|$)", "", text)


def _formatter(kind: str) -> Any:
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda x, _pos: _tick(x, kind))


def _numeric(an: Analysis, what: str) -> None:
    if an.free_symbols:
        free = ", ".join(an.free_symbols)
        raise CnnCalcError(f"a {what} plot needs numbers: bind {free} "
                           f"(e.g. --bind {an.free_symbols[0]}=224)", kind="binding")


def plot_layers(an: Analysis, depth: int | None = None) -> Any:
    """Bars of MACs and parameters per layer (or group); layers without MACs (norms,
    activations, pooling) are left out, their parameters counted in the title's total."""
    _numeric(an, "layers")
    every = layer_rows(an, depth)
    rows = [r for r in every if r["macs"]] or [r for r in every if r["params"]]
    if not rows:
        raise CnnCalcError(f"{an.name} has no layer with parameters or MACs", kind="input")
    n = len(rows)
    fig = _figure(min(max(8.0, 0.16 * n + 2), 24.0), 6.5)
    ax_m, ax_p = fig.subplots(2, 1, sharex=True)
    x = list(range(n))
    ax_m.bar(x, [int(r["macs"]) for r in rows], color="tab:blue")
    ax_p.bar(x, [int(r["params"]) for r in rows], color="tab:orange")
    ax_m.set_ylabel("MACs")
    ax_p.set_ylabel("parameters")
    ax_m.yaxis.set_major_formatter(_formatter("count"))
    ax_p.yaxis.set_major_formatter(_formatter("count"))
    t = an.totals
    ax_m.set_title(f"{an.name} ({_bindings(an)}): {human(int(t.macs))} MACs, "
                   f"{human(int(t.params))} parameters", fontsize=10)
    ax_p.set_xticks(x, [r["name"] for r in rows], rotation=90, fontsize=7 if n > 30 else 8)
    ax_p.set_xlim(-0.6, n - 0.4)
    for ax in (ax_m, ax_p):
        ax.grid(axis="y", alpha=0.3)
    return fig


def plot_rf(an: Analysis, depth: int | None = None) -> Any:
    """Receptive-field size and stride of every layer (or group) through the depth."""
    if len(an.input_shape) < 3:
        shape = "[" + ", ".join(str(jsonable(v)) for v in an.input_shape) + "]"
        raise CnnCalcError(f"a receptive-field plot needs spatial axes; the input {shape} "
                           "is [N, features]", kind="input")
    rows = layer_rows(an, depth)
    sizes = [r["receptive_field"].size for r in rows]
    strides = [r["receptive_field"].stride for r in rows]
    if any(not is_num(v) and not getattr(v, "is_Number", False)
           for vs in sizes + strides for v in vs):
        _numeric(an, "receptive-field")
    axes = len(sizes[0])
    fig = _figure(min(max(8.0, 0.1 * len(rows) + 3), 24.0), 6.0)
    ax_s, ax_j = fig.subplots(2, 1, sharex=True)
    x = list(range(len(rows)))
    same = all(len(set(map(float, s))) == 1 for s in sizes + strides)
    names = ["H", "W", "D"][:axes] if axes > 1 else ["size"]
    for a in range(1 if same else axes):
        label = "all axes" if same else f"spatial axis {a} ({names[a]})"
        style = ("-", "--", ":")[a]
        ax_s.step(x, [float(s[a]) for s in sizes], style, where="mid", label=label)
        ax_j.step(x, [float(s[a]) for s in strides], style, where="mid", label=label)
    inp = [v for v in an.input_shape[2:]]
    if all(is_num(v) for v in inp):
        for a, v in enumerate(inp if not same else inp[:1]):
            ax_s.axhline(float(v), ls="--", lw=0.8, color="grey",
                         label="input size" if a == 0 else None)
    ax_s.set_ylabel("receptive field (pixels)")
    ax_j.set_ylabel("stride (pixels)")
    from matplotlib.ticker import FuncFormatter
    for ax in (ax_s, ax_j):
        ax.set_yscale("log", base=2)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    final = rows[-1]["receptive_field"]
    ax_s.set_title(f"{an.name} ({_bindings(an)}): receptive field through the depth "
                   f"(last: {'x'.join(str(v) for v in final.size)})", fontsize=10)
    step = max(1, -(-len(rows) // 80))
    ax_j.set_xticks(x[::step], [r["name"] for r in rows][::step], rotation=90,
                    fontsize=7 if len(rows) > 30 else 8)
    ax_j.set_xlim(-0.6, len(rows) - 0.4)
    return fig


def plot_scaling(arch: ArchLike, over: str | Mapping[str, Iterable[int] | str],
                 bindings: Mapping[str, int] | None = None) -> Any:
    """Totals as a function of one size (or of several tied together, ``"H=W=..."``)."""
    if isinstance(over, str):
        key, values = parse_grid(over)
        grid: dict[str, Any] = {key: values}
    else:
        grid = dict(over)
    if len(grid) != 1:
        raise CnnCalcError("a scaling plot sweeps one size (or sizes tied as H=W)",
                           kind="input")
    key = next(iter(grid))
    qs = ("macs", "params", "peak_activation_bytes")
    rows = records(sweep(arch, grid, bindings, qs, as_frame=False))
    first = key.split("=")[0].strip()
    xs = [r[first] for r in rows]
    fig = _figure(12.0, 3.8)
    panels = fig.subplots(1, 3)
    an = analyze(arch, bindings)
    for ax, q, label, kind in zip(panels, qs, ("MACs", "parameters", "peak activation memory"),
                                  ("count", "count", "bytes"), strict=True):
        ax.plot(xs, [r[q] for r in rows], marker="o", ms=3)
        ax.set_xlabel(key)
        ax.set_title(label, fontsize=10)
        ax.yaxis.set_major_formatter(_formatter(kind))
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    fig.suptitle(f"{an.name}: totals against {key}" + (f" ({_bindings(an)})" if an.bindings
                                                       else ""), fontsize=11)
    return fig


def _bindings(an: Analysis) -> str:
    return format_bindings(an.bindings, empty="symbolic")


def plot(arch: ArchLike | Analysis, kind: str = "layers",
         output: str | os.PathLike[str] | None = None, *,
         bindings: Mapping[str, int] | None = None, depth: int | None = None,
         over: str | Mapping[str, Iterable[int] | str] | None = None) -> Any:
    """Draw a plot of ``kind`` (see :data:`KINDS`) and write it to ``output`` when given.

    ``arch`` is anything :func:`cnncalc.analyze` takes, or an :class:`Analysis` (layers, rf).
    Returns the matplotlib Figure.
    """
    if kind not in KINDS:
        raise CnnCalcError(f"unknown plot kind {kind!r}; one of {', '.join(KINDS)}",
                           kind="input")
    if output is not None and Path(output).suffix.lower() not in SUFFIXES:
        suffix = Path(output).suffix or "a file without a suffix"
        raise CnnCalcError(f"cannot write a plot as {suffix}; use one of {', '.join(SUFFIXES)}",
                           kind="input")
    if output is not None:
        _check_output(Path(output))
    if kind == "scaling":
        if over is None:
            raise CnnCalcError("a scaling plot needs the size to sweep, e.g. "
                               "over='H=W=32:512:32' (--over)", kind="input")
        if isinstance(arch, Analysis):
            arch = arch.arch
        fig = plot_scaling(arch, over, bindings)
    else:
        an = arch if isinstance(arch, Analysis) else analyze(arch, bindings)
        if isinstance(arch, Analysis) and bindings:
            an = an.evaluate(**bindings)
        fig = plot_layers(an, depth) if kind == "layers" else plot_rf(an, depth)
    if output is not None:
        try:
            fig.savefig(os.fspath(output), dpi=150)
        except OSError as e:
            raise CnnCalcError(f"cannot write the plot {os.fspath(output)}: "
                               f"{e.strerror or e}", kind="input") from None
    return fig


def _check_output(path: Path) -> None:
    """Refuse, before any work, an output that is a folder or whose folder is missing."""
    if path.is_dir():
        raise CnnCalcError(f"cannot write the plot {path}: it is a directory", kind="input")
    if not path.parent.is_dir():
        raise CnnCalcError(f"cannot write the plot {path}: no folder {path.parent} (create "
                           "it first)", kind="input")


def predicted_vs_measured(ax: Any, measured: Any, predicted: Any, *,
                          bands: tuple[float, float] = (1.1, 2.0), title: str = "",
                          xlabel: str = "measured ms (median)",
                          ylabel: str = "predicted ms", band_labels: bool = True,
                          clip: bool = False, **scatter: Any) -> tuple[float, float]:
    """Scatter predicted against measured times on ``ax``, log-log, square, with the line of
    exact answers and the lines of a ratio of ``bands[0]`` (dashed) and ``bands[1]``
    (dotted) either way; the limits span every point with room around them. With
    ``clip``, predictions outside those limits are drawn on its edge. Returns the limits."""
    import numpy as np

    m, p = np.asarray(measured, dtype=float), np.asarray(predicted, dtype=float)
    lo = float(min(m.min(), p.min() if not clip else m.min())) / 1.5
    hi = float(max(m.max(), p.max() if not clip else m.max())) * 1.5
    ax.scatter(m, np.clip(p, lo, hi) if clip else p, **scatter)
    ax.plot([lo, hi], [lo, hi], "k-", lw=0.8, label="exact")
    for f, style in zip(bands, ("--", ":"), strict=True):
        ax.plot([lo, hi], [lo * f, hi * f], "k" + style, lw=0.6,
                label=f"x{f:g}" if band_labels else None)
        ax.plot([lo, hi], [lo / f, hi / f], "k" + style, lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", lw=0.3)
    return lo, hi
