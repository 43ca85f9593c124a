"""Architectures side by side: totals (numbers where bound, formulas elsewhere) for design-choice
tables such as "3x3 vs 5x5" or "with vs without bottleneck".

Shared bindings apply to every architecture that uses the symbol; a binding no architecture
uses is an error. With every compared total a number, a column gives each architecture's MACs
relative to the first one. With a device profile (``--profile``), each architecture's predicted
time and its 90 % band join the table, whose rows are then ranked by predicted time (fastest
first), with the rank by MACs beside it: where the two disagree, MACs mislead.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..algebra.arith import is_num
from ..core.analysis import Analysis, jsonable
from ..core.bindings import format_bindings
from ..core.graph import symbols
from ..core.load import ArchLike, analyze, load
from ..errors import CnnCalcError
from .quantities import QUANTITIES, check_quantities
from .tables import Table, write

if TYPE_CHECKING:
    from ..cost import Prediction

HEADERS = {"params": "params", "buffers": "buffers", "macs": "MACs", "flops": "FLOPs",
           "other_ops": "other ops", "activations": "activations",
           "activation_bytes": "activation memory", "param_bytes": "param memory",
           "peak_activation_bytes": "peak memory",
           "training_activation_bytes": "training memory"}



@dataclass
class Comparison:
    """Analyses of several architectures under shared bindings."""

    labels: list[str]
    analyses: list[Analysis]
    quantities: tuple[str, ...] = QUANTITIES
    times: list[Prediction] | None = None
    """Predicted time of each architecture (with a device profile)."""
    device: str | None = None

    def order(self) -> list[int]:
        """Indices of the architectures, fastest predicted first (as given without times)."""
        if self.times is None:
            return list(range(len(self.analyses)))
        times = self.times
        return sorted(range(len(self.analyses)), key=lambda i: times[i].total)

    def _macs_ranks(self) -> list[int | None]:
        macs = [self.analyses[i].totals.macs for i in range(len(self.analyses))]
        if not all(is_num(m) for m in macs):
            return [None] * len(macs)
        order = sorted(range(len(macs)), key=lambda i: int(macs[i]))
        ranks: list[int | None] = [0] * len(macs)
        for r, i in enumerate(order, start=1):
            ranks[i] = r
        return ranks

    def ratio(self, i: int, q: str = "macs") -> float | None:
        """Total ``q`` of architecture ``i`` over that of the first (None if symbolic or 0)."""
        a, b = getattr(self.analyses[i].totals, q), getattr(self.analyses[0].totals, q)
        if is_num(a) and is_num(b) and b:
            return float(a) / float(b)
        return None

    def table(self) -> Table:
        """One row per architecture: input shape, totals, receptive field (and MACs ratio)."""
        ratios = [self.ratio(i) for i in range(len(self.analyses))]
        show_ratio = len(self.analyses) > 1 and all(r is not None for r in ratios)
        header = ["architecture", "input", *[HEADERS[q] for q in self.quantities],
                  "RF size /stride"]
        kinds = ["text", "shape", *["bytes" if q.endswith("_bytes") else "count"
                                    for q in self.quantities], "rf"]
        body: list[list[Any]] = []
        macs_rank = self._macs_ranks()
        for i in self.order():
            label, an, r = self.labels[i], self.analyses[i], ratios[i]
            t = an.totals
            body.append([label, an.input_shape, *[getattr(t, q) for q in self.quantities],
                         t.receptive_field])
            if show_ratio:
                body[-1].append(f"{r:.2f}x" if r is not None and r >= 0.1 else f"{r:.2g}x")
            if self.times is not None:
                p = self.times[i]
                band = f"{1e3 * p.low:.3g}-{1e3 * p.high:.3g}" if p.layer_band.n else ""
                body[-1] += [f"{1e3 * p.total:.3g}", band, str(len(body)),
                             "" if macs_rank[i] is None else str(macs_rank[i])]
        if show_ratio:
            header.append("MACs vs first")
            kinds.append("ratio")
        if self.times is not None:
            header += ["predicted ms", "90% band ms", "time rank", "MACs rank"]
            kinds += ["text"] * 4
        bound = {k: v for an in self.analyses for k, v in an.bindings.items()}
        title = "comparison"
        if bound:
            title += f"  bindings {format_bindings(dict(sorted(bound.items())))}"
        if self.times is not None:
            title += f"  ranked by predicted time on {self.device}"
        return Table(title=title, header=header, kinds=kinds, body=body, label="comparison")

    def render(self, fmt: str = "table", units: bool | str = False) -> str:
        """The table in ``fmt`` (one of :data:`~cnncalc.report.tables.FORMATS`) or ``json``."""
        if fmt == "json":
            return json.dumps(self.to_dict(), indent=2) + "\n"
        return write(self.table(), fmt, units)

    def to_dict(self) -> list[dict[str, Any]]:
        """One dict per architecture: label, name, bindings, totals (numbers or formulas)."""
        out: list[dict[str, Any]] = [{"label": label, "name": an.name, "symbols": an.symbols,
                "bindings": dict(an.bindings),
                "input_shape": [jsonable(v) for v in an.input_shape],
                "totals": an.totals.to_dict()}
               for label, an in zip(self.labels, self.analyses, strict=True)]
        if self.times is not None:
            for rank, i in enumerate(self.order(), start=1):
                p = self.times[i]
                out[i]["predicted_time_ms"] = 1e3 * p.total
                if p.layer_band.n:
                    out[i]["predicted_time_band_ms"] = [1e3 * p.low, 1e3 * p.high]
                out[i]["time_rank"] = rank
                out[i]["device"] = self.device
        return out


def compare(archs: Sequence[ArchLike], bindings: Mapping[str, int] | None = None,
            quantities: Sequence[str] = QUANTITIES, profile: Any = None,
            threads: int | None = None) -> Comparison:
    """Analyse each architecture under the bindings that concern it and put them side by side;
    with ``profile`` (a :class:`~cnncalc.cost.DeviceProfile` or its file), predict each one's
    time (for ``threads`` CPU threads) and rank them by it.

    >>> compare(["seed_example", "seed_example"], {"H": 32, "W": 32}).ratio(1)
    1.0
    """
    if not archs:
        raise CnnCalcError("nothing to compare: give at least one architecture", kind="input")
    qs = check_quantities(quantities)
    loaded = [load(a) for a in archs]
    bound = dict(bindings or {})
    used = {s for a in loaded for s in symbols(a)}
    unused = [k for k in bound if k not in used]
    if unused:
        raise CnnCalcError(f"binding for {', '.join(unused)}, but no compared architecture uses "
                           f"it (their symbols: {', '.join(sorted(used)) or 'none'})",
                           kind="binding")
    analyses = []
    for a in loaded:
        mine = set(symbols(a))
        analyses.append(analyze(a, {k: v for k, v in bound.items() if k in mine}))
    names = [a.name for a in loaded]
    labels = []
    for i, (name, arg) in enumerate(zip(names, archs, strict=True)):
        if names.count(name) > 1:
            label = os.path.basename(os.fspath(arg)) if isinstance(arg, (str, os.PathLike)) \
                and not str(arg).lstrip().startswith("{") else ""
            name = f"{name} ({label})" if label and label != name else f"{name} #{i + 1}"
        labels.append(name)
    if profile is None:
        return Comparison(labels, analyses, qs)
    from ..cost import load_profile, predict_time
    prof = load_profile(profile)
    times = [predict_time(an, prof, threads) for an in analyses]
    return Comparison(labels, analyses, qs, times,
                      str(prof.meta.get("device_name", prof.device)))
