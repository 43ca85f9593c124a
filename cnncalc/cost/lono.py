"""Layers timed inside networks: reading the measurements, fitting the in-context model, and
its honest evaluation, leave-one-network-out.

The measurements (written by ``cnncalc calibrate``, :mod:`cnncalc.pytorch.incontext`) have one
row per layer of every run (a network at a size, batch and thread count) and one ``(network)``
row per run. Leave-one-network-out: for every network, a model is fitted on the layers of all
the *other* networks (every size, batch and thread count of the held-out one is unseen), and
predicts each of the held-out network's runs: whole-network error, and every layer's. The
scores (``cnncalc cost lono CSV``): median and worst whole-network error, Spearman rank
correlation of predicted with measured network time, median layer error; their residuals make
the profile's uncertainty bands.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.parse import read_text
from ..errors import CnnCalcError
from .context import Band, ContextModel
from .features import NUMERIC, Caches, add_derived
from .score import kendall, spearman

NETWORK_ROW = "(network)"
MAX_CSV_BYTES = 512 * 1024 * 1024
REQUIRED = ("run", "network", "batch", "layer", "time_ms", "type", "group", "prev", *NUMERIC,
            "layers", "layer_sum_ms")


@dataclass(frozen=True)
class RunTime:
    """One run's whole-network figures: measured seconds (plain passes), its layer count and
    the sum of its layers' hooked medians."""

    id: str
    network: str
    size: str
    batch: int
    threads: int
    seconds: float
    layers: int
    layer_sum_s: float


@dataclass
class ContextData:
    """Layer rows (features, ``run``, ``network``, ``seconds``) and the runs they belong to."""

    rows: list[dict[str, Any]]
    runs: dict[str, RunTime]

    def networks(self) -> list[str]:
        return sorted({r.network for r in self.runs.values()})

    def subset(self, keep: Callable[[str], bool]) -> ContextData:
        """The rows and runs of the networks ``keep`` accepts."""
        return ContextData([r for r in self.rows if keep(r["network"])],
                           {k: v for k, v in self.runs.items() if keep(v.network)})


def load_context_csv(path: str | Path) -> ContextData:
    """Read the in-context measurements; a malformed row is an error naming its line. Rows of
    runs without their ``(network)`` row (an interrupted run) are ignored."""
    path = Path(path)
    text = _read(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 5 else ""
        raise CnnCalcError(f"{path}: not in-context measurements (no column "
                           f"{', '.join(missing[:4] if more else missing)}{more}); "
                           "`cnncalc calibrate --context-csv` writes them", kind="input")
    layers: list[dict[str, Any]] = []
    runs: dict[str, RunTime] = {}
    try:
        for line, r in enumerate(reader, start=2):
            t = _num(r["time_ms"], line, "time_ms") / 1e3
            if t <= 0:
                raise ValueError(f"line {line}: time_ms must be positive")
            if r["layer"] == NETWORK_ROW:
                runs[r["run"]] = RunTime(
                    r["run"], r["network"], f"{r.get('h', '?')}x{r.get('w', '?')}",
                    int(_num(r["batch"], line, "batch")),
                    int(_num(r["threads"], line, "threads")), t,
                    int(_num(r["layers"], line, "layers")),
                    _num(r["layer_sum_ms"], line, "layer_sum_ms") / 1e3)
                continue
            row: dict[str, Any] = {c: _num(r[c], line, c) for c in NUMERIC}
            row.update(type=r["type"], group=r["group"], prev=r["prev"], run=r["run"],
                       network=r["network"], seconds=t, layer=r["layer"])
            layers.append(row)
    except (ValueError, KeyError, TypeError) as e:
        raise CnnCalcError(f"{path}: {e}", kind="input") from None
    except csv.Error as e:
        raise CnnCalcError(f"{path}: not a readable CSV table ({e})", kind="input") from None
    layers = [r for r in layers if r["run"] in runs]
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in layers:
        by_run.setdefault(r["run"], []).append(r)
    for rows in by_run.values():
        add_derived(rows)
    if not runs:
        raise CnnCalcError(f"{path}: no complete run (no '(network)' row)", kind="input")
    return ContextData(layers, runs)


def _read(path: Path) -> str:
    """The CSV's text; a ``.gz`` file is decompressed (at most :data:`MAX_CSV_BYTES`)."""
    if path.suffix != ".gz":
        return read_text(path, "measurements CSV", MAX_CSV_BYTES)
    import gzip
    import zlib
    try:
        with gzip.open(path, "rb") as f:
            data = f.read(MAX_CSV_BYTES + 1)
    except FileNotFoundError:
        raise CnnCalcError(f"no such file: {path}", kind="input") from None
    except (OSError, EOFError, zlib.error) as e:
        raise CnnCalcError(f"{path}: not a readable gzip file ({e})", kind="input") from None
    if len(data) > MAX_CSV_BYTES:
        raise CnnCalcError(f"{path} holds more than {MAX_CSV_BYTES} bytes", kind="limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CnnCalcError(f"{path} is not UTF-8 text", kind="input") from None


def _num(v: str | None, line: int, col: str) -> float:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"line {line}: {col} {v!r} is not a number") from None
    if not math.isfinite(x):
        raise ValueError(f"line {line}: {col} {v!r} is not finite")
    return x


def glue_per_layer(runs: Sequence[RunTime]) -> float:
    """Seconds per layer a plain pass spends outside the layers: the median over runs of
    ``(network - sum of layers) / layers``, never below 0."""
    vals = [(r.seconds - r.layer_sum_s) / r.layers for r in runs if r.layers]
    return max(statistics.median(vals), 0.0) if vals else 0.0


def fit_glue(runs: Sequence[RunTime]) -> tuple[float, float]:
    """``(a, b)``: a plain pass spends ``a + b * t`` seconds outside a layer of ``t`` seconds,
    fitted on ``network - sum of layers = a * layers + b * sum of layers`` over runs by least
    relative absolute deviations (each run's error relative to its time: a network's glue is
    predicted as well for a 0.1 ms network as for a 100 ms one). Never below 0; with fewer
    than three different runs, :func:`glue_per_layer` and ``b = 0``."""
    rr = [r for r in runs if r.layers]
    if len({(r.layers, round(r.layer_sum_s, 12)) for r in rr}) < 3:
        return glue_per_layer(rr), 0.0
    x = np.array([[r.layers, r.layer_sum_s] for r in rr], float)
    y = np.array([r.seconds - r.layer_sum_s for r in rr], float)
    scale = np.array([r.seconds for r in rr], float)
    x, y = x / scale[:, None], y / scale
    w = np.ones(len(y))
    beta = np.zeros(2)
    for _ in range(100):  # iteratively reweighted least squares for the absolute deviations
        sw = np.sqrt(w)
        beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
        beta = np.maximum(beta, 0.0)
        w = 1.0 / np.maximum(np.abs(y - x @ beta), 1e-6)
    return float(beta[0]), float(beta[1])


def fit_context(data: ContextData, caches: Caches,
                params: Mapping[str, Any] | None = None) -> ContextModel:
    """The in-context model fitted on every row of ``data`` (no bands yet), its glue by
    :func:`fit_glue` over all runs and per thread count (``params`` ``glue_relative=False``:
    :func:`glue_per_layer` alone; ``glue_by_threads=False``: one pair for every count)."""
    if not data.rows:
        raise CnnCalcError("no layer timed in a network to fit on", kind="input")
    runs = list(data.runs.values())
    batches = (min(r.batch for r in runs), max(r.batch for r in runs))
    opts = dict(params or {})
    by_threads = bool(opts.pop("glue_by_threads", True))
    relative = bool(opts.pop("glue_relative", True))
    a, b = fit_glue(runs) if relative else (glue_per_layer(runs), 0.0)
    model = ContextModel.fit(data.rows, [r["seconds"] for r in data.rows], a, batches, caches,
                             opts)
    model.glue_rel = b
    if by_threads and relative:
        for t in model.threads:
            model.glue_threads[t] = fit_glue([r for r in runs if r.threads == t])
    return model


@dataclass
class RunResult:
    """A held-out run: measured and predicted seconds."""

    run: RunTime
    predicted: float

    @property
    def error(self) -> float:
        return self.predicted / self.run.seconds - 1.0


@dataclass
class Evaluation:
    """Leave-one-network-out results: every run and every layer predicted out of sample."""

    runs: list[RunResult]
    layer_measured: np.ndarray
    layer_predicted: np.ndarray
    layer_network: list[str] = field(default_factory=list)

    def summary(self, keep: Callable[[RunTime], bool] | None = None) -> dict[str, float]:
        """Scores over the runs ``keep`` accepts (all by default)."""
        rr = [r for r in self.runs if keep is None or keep(r.run)]
        if not rr:
            return {}
        err = np.abs([r.error for r in rr])
        m = np.array([r.run.seconds for r in rr])
        p = np.array([r.predicted for r in rr])
        return {"runs": len(rr), "networks": len({r.run.network for r in rr}),
                "median_error": float(np.median(err)), "worst_error": float(err.max()),
                "within_10": float((err <= 0.10).mean()),
                "spearman": spearman(p, m) if len(rr) > 2 else float("nan"),
                "kendall": kendall(p, m) if len(rr) > 2 else float("nan")}

    def layer_summary(self) -> dict[str, float]:
        e = np.abs(self.layer_predicted / self.layer_measured - 1.0)
        share = self.layer_measured / self.layer_measured.sum()
        return {"layers": len(e), "median_error": float(np.median(e)),
                "within_20": float((e <= 0.20).mean()),
                "time_weighted_median_error": _weighted_median(e, share)}

    def bands(self) -> tuple[Band, Band]:
        """Network and layer bands of ``log(measured / predicted)``."""
        net = [math.log(r.run.seconds / r.predicted) for r in self.runs]
        lay = np.log(self.layer_measured / self.layer_predicted)
        return Band.of(net), Band.of(list(lay))


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    o = np.argsort(x)
    c = np.cumsum(w[o])
    return float(x[o][np.searchsorted(c, 0.5 * c[-1])])


def leave_one_network_out(data: ContextData, caches: Caches,
                          params: Mapping[str, Any] | None = None,
                          tick: Callable[[str], None] | None = None,
                          workers: int = 1) -> Evaluation:
    """Every network predicted by a model fitted on the others (see the module docstring);
    ``workers`` processes fit the folds side by side (each fit is one thread)."""
    nets = data.networks()
    if len(nets) < 2:
        raise CnnCalcError("leave-one-network-out needs measurements of two networks or more",
                           kind="input")
    if workers > 1:
        import multiprocessing
        ctx = multiprocessing.get_context("spawn")  # no fork under OpenMP's threads
        with ctx.Pool(min(workers, len(nets)), _init, (data, caches, params)) as pool:
            folds = []
            for f in pool.imap(_fold_shared, nets):
                folds.append(f)
                if tick:
                    tick(f[0])
    else:
        folds = []
        for net in nets:
            folds.append(_fold(data, caches, params, net))
            if tick:
                tick(net)
    results = [r for f in folds for r in f[1]]
    lm = [v for f in folds for v in f[2]]
    lp = [v for f in folds for v in f[3]]
    ln = [f[0] for f in folds for _ in f[2]]
    return Evaluation(results, np.array(lm), np.array(lp), ln)


Fold = tuple[str, list[RunResult], list[float], list[float]]
_JOB: dict[str, Any] = {}


def _init(data: ContextData, caches: Caches, params: Mapping[str, Any] | None) -> None:
    _JOB["job"] = (data, caches, params)


def _fold_shared(net: str) -> Fold:
    data, caches, params = _JOB["job"]
    return _fold(data, caches, params, net)


def _fold(data: ContextData, caches: Caches, params: Mapping[str, Any] | None,
          net: str) -> Fold:
    """Fit without ``net``; predict its runs (network) and its layers (glue included)."""
    model = fit_context(data.subset(_other(net)), caches, params)
    held = data.subset(_same(net))
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in held.rows:
        by_run.setdefault(r["run"], []).append(r)
    results: list[RunResult] = []
    lm: list[float] = []
    lp: list[float] = []
    for run_id, run in held.runs.items():
        rows = by_run.get(run_id, [])
        pred = model.predict_rows(rows) if rows else np.zeros(0)
        glue = model.glue(pred, run.threads)
        # layers the run has but the measurements lack get the glue of a layer of no time
        missing = (run.layers - len(rows)) * float(model.glue(np.zeros(1), run.threads)[0])
        results.append(RunResult(run, float(pred.sum() + glue.sum()) + missing))
        lm += [r["seconds"] for r in rows]
        lp += [float(v) for v in pred + glue]
    return net, results, lm, lp


def _other(net: str) -> Callable[[str], bool]:
    return lambda n: n != net


def _same(net: str) -> Callable[[str], bool]:
    return lambda n: n == net


def _runs_of(threads: int, batched: bool) -> Callable[[RunTime], bool]:
    return lambda r: r.threads == threads and (r.batch > 1) == batched


def evaluation_tables(ev: Evaluation) -> tuple[list[list[str]], list[list[str]]]:
    """(summary rows by thread count and batch, one row per run), as text cells."""
    head = [["runs", "networks", "threads", "batch", "median error", "worst error",
             "within 10%", "spearman", "kendall"]]
    groups: list[tuple[str, str, Callable[[RunTime], bool] | None]] = [("all", "all", None)]
    for n in sorted({r.run.threads for r in ev.runs}):
        groups.append((str(n), "1", _runs_of(n, False)))
        groups.append((str(n), ">1", _runs_of(n, True)))
    summary: list[list[str]] = []
    for t, b, keep in groups:
        s = ev.summary(keep)
        if not s:
            continue
        summary.append([str(s["runs"]), str(s["networks"]), t, b, f"{s['median_error']:.1%}",
                        f"{s['worst_error']:.1%}", f"{s['within_10']:.0%}",
                        f"{s['spearman']:.3f}", f"{s['kendall']:.3f}"])
    per = [["network", "input", "batch", "threads", "layers", "measured ms", "predicted ms",
            "error"]]
    for r in sorted(ev.runs, key=lambda r: (r.run.network, r.run.threads, r.run.batch,
                                            r.run.seconds)):
        per.append([r.run.network, r.run.size, str(r.run.batch), str(r.run.threads),
                    str(r.run.layers), f"{r.run.seconds * 1e3:.3g}", f"{r.predicted * 1e3:.3g}",
                    f"{r.error:+.1%}"])
    return head + summary, per


def calibrated_model(data: ContextData, caches: Caches, evaluate: bool = True,
                     params: Mapping[str, Any] | None = None,
                     tick: Callable[[str], None] | None = None, workers: int = 1,
                     evaluation: Evaluation | None = None
                     ) -> tuple[ContextModel, dict[str, Any]]:
    """The model fitted on all of ``data`` with its bands and scores from
    leave-one-network-out (skipped without ``evaluate`` or with fewer than two networks: no
    band then; ``evaluation``: one already run on the same data and parameters)."""
    model = fit_context(data, caches, params)
    scores: dict[str, Any] = {"runs": len(data.runs), "networks": len(data.networks()),
                              "layers": len(data.rows)}
    if evaluate and len(data.networks()) >= 2:
        ev = evaluation or leave_one_network_out(data, caches, params, tick, workers)
        model.network_band, model.layer_band = ev.bands()
        scores["leave_one_network_out"] = {
            "all": ev.summary(), "layers": ev.layer_summary(),
            **{f"threads_{t}_batch_{'1' if not b else 'gt1'}": ev.summary(_runs_of(t, b))
               for t in model.threads for b in (False, True) if ev.summary(_runs_of(t, b))}}
    return model, scores
