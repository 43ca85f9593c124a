"""Score cost measures against measured layer timings (``cnncalc cost score DATA.csv``).

A measurement table has one row per timed layer: columns ``H, W, Cin, Cout, K1, K2, time_ms``,
optionally ``stride``, ``batch``, ``groups``, ``device`` and a family column (``plot`` or
``family``) naming the experiment a row belongs to. Every measure is turned into a predictor:

* the fixed measures (params, FLOPs, bytes, alpha-FLOPs with the paper's constants) through an
  affine map ``t = a + b * measure`` fitted on the training rows (weighted to relative error), so
  their ranking is the measure's own;
* alpha-FLOPs refitted: (beta, gamma) for K = 1 and K > 1 searched on a grid, then affine;
* roofline: ``t0 + max(flops / peak, bytes / bandwidth)``, peak and bandwidth searched on a grid;
* ours: :class:`cnncalc.cost.ConvTimeModel`.

Scores: Spearman and Kendall (tau-b) rank correlation, R^2 of log time, median relative error,
share within +-10 %, each under k-fold cross-validation and leave-one-family-out (every family
predicted by a model that never saw it).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.parse import read_text
from ..errors import CnnCalcError
from .measures import alpha
from .models import ConvTimeModel

REQUIRED = ("H", "W", "Cin", "Cout", "K1", "K2", "time_ms")
MAX_ROWS = 10_000
"""Most measurements scored: Kendall's tau is quadratic and every fold refits every measure."""
MAX_CSV_BYTES = 64 * 1024 * 1024
MAX_SIZE = 10**9
"""Largest size (H, W, channels, kernel, stride, batch, groups) in a measurement row."""
MAX_FOLDS = 50
"""Most folds of k-fold cross-validation, and most families left out one by one."""


@dataclass
class Measurements:
    """Timed conv-like layers as arrays: positions ``p`` (output positions times batch), kernel
    area ``k``, channels in per group ``cin``, channels out ``cout``, input elements ``x_in``,
    seconds ``t``, and a family label per row."""

    p: np.ndarray
    k: np.ndarray
    cin: np.ndarray
    cout: np.ndarray
    x_in: np.ndarray
    t: np.ndarray
    family: np.ndarray
    dtype_bytes: int = 4

    def __len__(self) -> int:
        return len(self.t)

    @property
    def macs(self) -> np.ndarray:
        return self.p * self.k * self.cin * self.cout

    @property
    def params(self) -> np.ndarray:
        return self.k * self.cin * self.cout

    @property
    def nbytes(self) -> np.ndarray:
        return self.dtype_bytes * (self.x_in + self.params + self.p * self.cout)

    def subset(self, idx: np.ndarray) -> Measurements:
        return Measurements(self.p[idx], self.k[idx], self.cin[idx], self.cout[idx],
                            self.x_in[idx], self.t[idx], self.family[idx], self.dtype_bytes)


def load_csv(path: str | Path, device: str | None = None) -> Measurements:
    """Read a measurement table (see the module docstring); refuses bad rows with their line."""
    path = Path(path)
    text = read_text(path, "CSV file", MAX_CSV_BYTES)
    try:
        return _read_rows(path, csv.DictReader(io.StringIO(text, newline="")), device)
    except csv.Error as e:
        raise CnnCalcError(f"{path}: not a readable CSV table ({e})", kind="input") from None


def _read_rows(path: Path, reader: csv.DictReader[str], device: str | None) -> Measurements:
    cols = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise CnnCalcError(f"{path}: missing column(s) {', '.join(missing)}; need "
                           f"{', '.join(REQUIRED)}", kind="input")
    fam_col = next((c for c in ("family", "plot") if c in cols), None)
    rows: list[list[float]] = []
    fams: list[str] = []
    for line, row in enumerate(reader, start=2):
        if device is not None and row.get("device") not in (None, "", device):
            continue
        if row.get("kind") not in (None, "", "conv", "dense"):
            continue  # calibration tables also time pooling and element-wise layers
        if len(rows) >= MAX_ROWS:
            raise CnnCalcError(f"{path}: more than {MAX_ROWS} rows", kind="limit")
        try:
            h, w = int(row["H"]), int(row["W"])
            cin, cout = int(row["Cin"]), int(row["Cout"])
            k1, k2 = int(row["K1"]), int(row["K2"])
            t = float(row["time_ms"]) / 1000.0
            stride = int(row.get("stride") or 1)
            batch = int(row.get("batch") or 1)
            groups = int(row.get("groups") or 1)
        except (TypeError, ValueError) as e:
            raise CnnCalcError(f"{path}, line {line}: {str(e)[:80]}", kind="input") from None
        sizes = (h, w, cin, cout, k1, k2, stride, batch, groups)
        if min(sizes) < 1 or not 0 < t < math.inf or cin % groups:
            raise CnnCalcError(f"{path}, line {line}: sizes must be positive, time > 0 "
                               "(finite), and groups must divide Cin", kind="input")
        if max(sizes) > MAX_SIZE:
            raise CnnCalcError(f"{path}, line {line}: sizes must be at most {MAX_SIZE}",
                               kind="input")
        s_out = -(-h // stride) * -(-w // stride)
        rows.append([s_out * batch, k1 * k2, cin // groups, cout, h * w * cin * batch, t])
        fams.append((row.get(fam_col) or "") if fam_col else "")
    if len(rows) < 10:
        raise CnnCalcError(f"{path}: need at least 10 measurements, got {len(rows)}",
                           kind="input")
    a = np.asarray(rows, dtype=float)
    return Measurements(a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], np.asarray(fams))


# --- metrics -----------------------------------------------------------------------------------

def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged."""
    order = np.argsort(x, kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x), dtype=float)
    _, inv, cnt = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inv, weights=r) / cnt)[inv]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation."""
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def kendall(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b (ties handled), O(n^2) in chunks."""
    n = len(a)
    conc = disc = ties_a = ties_b = 0.0
    for start in range(0, n, 512):
        sl = slice(start, min(start + 512, n))
        da = np.sign(a[sl, None] - a[None, :])
        db = np.sign(b[sl, None] - b[None, :])
        mask = np.arange(start, sl.stop)[:, None] < np.arange(n)[None, :]
        prod_ = (da * db)[mask]
        conc += float((prod_ > 0).sum())
        disc += float((prod_ < 0).sum())
        ties_a += float(((da == 0) & (db != 0))[mask].sum())
        ties_b += float(((db == 0) & (da != 0))[mask].sum())
    denom = math.sqrt((conc + disc + ties_a) * (conc + disc + ties_b))
    return (conc - disc) / denom if denom else 0.0


def metrics(pred: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Rank correlations, R^2 of log time, median relative error, share within 10 %."""
    rel = np.abs(pred - t) / t
    lp = np.log(np.maximum(pred, 1e-12))
    lt = np.log(t)
    r2 = 1.0 - float(np.sum((lt - lp) ** 2) / np.sum((lt - lt.mean()) ** 2))
    return {"spearman": spearman(pred, t), "kendall": kendall(pred, t), "r2_log": r2,
            "median_rel_err": float(np.median(rel)), "within_10pct": float(np.mean(rel <= 0.1))}


# --- predictors --------------------------------------------------------------------------------

Predictor = Callable[[Measurements, Measurements], np.ndarray]
"""fit on the first (training) set, predict seconds for the second."""


def _affine(x_tr: np.ndarray, t_tr: np.ndarray, x_te: np.ndarray) -> np.ndarray:
    """``t = a + b x`` least squares in relative error (weights 1/t), ``b >= 0``."""
    w = 1.0 / t_tr
    a_mat = np.stack([np.ones_like(x_tr), x_tr], 1) * w[:, None]
    coef = np.linalg.lstsq(a_mat, t_tr * w, rcond=None)[0]
    if coef[1] < 0:
        coef = np.array([float(np.median(t_tr)), 0.0])
    return np.maximum(coef[0] + coef[1] * x_te, 1e-9)


class Fixed:
    """A fixed measure made a predictor through an affine map fitted on the training rows.

    Its rank correlations are those of the measure itself (it needs no fitting); stitching
    per-fold affine maps together would only blur them."""

    def __init__(self, measure: Callable[[Measurements], np.ndarray]) -> None:
        self.measure = measure

    def __call__(self, tr: Measurements, te: Measurements) -> np.ndarray:
        return _affine(self.measure(tr), tr.t, self.measure(te))


def _alpha_flops(m: Measurements, consts: dict[bool, tuple[float, float]] | None = None
                 ) -> np.ndarray:
    if consts is None:
        return alpha(m.p, m.k) * m.macs
    beta = np.where(m.k == 1, consts[True][0], consts[False][0])
    gamma = np.where(m.k == 1, consts[True][1], consts[False][1])
    return alpha(m.p, m.k, beta, gamma) * m.macs


def alpha_refit(tr: Measurements, te: Measurements) -> np.ndarray:
    """alpha-FLOPs with (beta, gamma) refitted on a grid for K = 1 and K > 1, then affine."""
    consts: dict[bool, tuple[float, float]] = {True: (0.02, 0.99), False: (0.001, 0.56)}
    for cls in (True, False):
        rows = (tr.k == 1) == cls
        if rows.sum() < 3:
            continue
        sub = tr.subset(np.where(rows)[0])
        best = (math.inf, consts[cls])
        for beta in np.geomspace(1e-4, 0.5, 25):
            for gamma in np.linspace(0.2, 1.2, 21):
                x = alpha(sub.p, sub.k, beta, gamma) * sub.macs
                err = float(np.mean((_affine(x, sub.t, x) / sub.t - 1) ** 2))
                if err < best[0]:
                    best = (err, (float(beta), float(gamma)))
        consts[cls] = best[1]
    out = np.empty(len(te))
    for cls in (True, False):
        rows_tr = (tr.k == 1) == cls
        rows_te = (te.k == 1) == cls
        if not rows_te.any():
            continue
        src = tr.subset(np.where(rows_tr)[0]) if rows_tr.sum() >= 3 else tr
        out[rows_te] = _affine(_alpha_flops(src, consts), src.t,
                               _alpha_flops(te.subset(np.where(rows_te)[0]), consts))
    return out


def roofline(tr: Measurements, te: Measurements) -> np.ndarray:
    """``t0 + max(flops / peak, bytes / bandwidth)`` with peak and bandwidth on a grid."""
    f_tr, b_tr = 2 * tr.macs, tr.nbytes
    best = (math.inf, 1.0, 1.0, 0.0)
    for peak in np.geomspace(1e8, 1e15, 57):
        for bw in np.geomspace(1e8, 1e13, 41):
            x = np.maximum(f_tr / peak, b_tr / bw)
            t0 = max(float(np.median(tr.t - x)), 0.0)
            err = float(np.mean(((t0 + x) / tr.t - 1) ** 2))
            if err < best[0]:
                best = (err, float(peak), float(bw), t0)
    _, peak, bw, t0 = best
    return t0 + np.maximum(2 * te.macs / peak, te.nbytes / bw)


def ours(tr: Measurements, te: Measurements) -> np.ndarray:
    """cnncalc's fitted model."""
    model = ConvTimeModel.fit(tr.p, tr.k, tr.cin, tr.cout, tr.t)
    return model.predict(te.p, te.k, te.cin, te.cout)


TREE_FEATURES = ("log_p", "log_k", "log_cin", "log_cout", "k1", "log_x_in", "log_macs",
                 "log_bytes")


def _tree_x(m: Measurements) -> np.ndarray:
    return np.stack([np.log(m.p), np.log(m.k), np.log(m.cin), np.log(m.cout),
                     (m.k == 1) * 1.0, np.log(m.x_in), np.log(m.macs), np.log(m.nbytes)],
                    axis=1)


def trees(tr: Measurements, te: Measurements) -> np.ndarray:
    """Gradient-boosted trees on log time (the in-context model's regressor, here on the
    table's columns), monotone in MACs and bytes; beyond the trained range, scaled by the
    extra MACs (see :mod:`cnncalc.cost.context`). Needs the ``cost`` extra."""
    from .trees import fit_trees
    x_tr, x_te = _tree_x(tr), _tree_x(te)
    mono = [1 if f in ("log_macs", "log_bytes") else 0 for f in TREE_FEATURES]
    model = fit_trees(x_tr, np.log(tr.t), TREE_FEATURES, monotone=mono, rounds=300,
                      num_leaves=15)
    lo, hi = x_tr.min(axis=0), x_tr.max(axis=0)
    clipped = np.clip(x_te, lo, hi)
    j = TREE_FEATURES.index("log_macs")
    return np.asarray(np.exp(model.predict(clipped) + (x_te[:, j] - clipped[:, j])))


PREDICTORS: dict[str, Predictor] = {
    "params": Fixed(lambda m: m.params),
    "flops": Fixed(lambda m: 2 * m.macs),
    "bytes": Fixed(lambda m: m.nbytes),
    "alpha_flops": Fixed(_alpha_flops),
    "alpha_flops_refit": alpha_refit,
    "roofline": roofline,
    "cnncalc_model": ours,
    "cnncalc_trees": trees,
}
"""Every measure scored, in table order (``cnncalc_trees`` where LightGBM is installed)."""


def default_measures() -> list[str]:
    """Every measure this installation can score."""
    import importlib.util
    have = importlib.util.find_spec("lightgbm") is not None
    return [n for n in PREDICTORS if have or n != "cnncalc_trees"]


def folds_kfold(n: int, k: int = 10, seed: int = 0) -> list[np.ndarray]:
    """Shuffled k-fold test index sets."""
    return np.array_split(np.random.default_rng(seed).permutation(n), min(k, n))


def folds_k(k: int, rows: int) -> int:
    """The k of k-fold cross-validation: ``k`` (2..:data:`MAX_FOLDS`) capped at ``rows``."""
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= MAX_FOLDS:
        raise CnnCalcError(f"k-fold cross-validation needs k from 2 to {MAX_FOLDS}, got {k!r}",
                           kind="input")
    return min(k, rows)


def folds_by_family(m: Measurements) -> list[np.ndarray]:
    """One test set per family (leave-one-family-out)."""
    return [np.where(m.family == f)[0] for f in np.unique(m.family)]


def cross_validate(m: Measurements, predictor: Predictor, folds: Sequence[np.ndarray]
                   ) -> np.ndarray:
    """Out-of-sample predictions: every row predicted by a model fitted without its fold."""
    pred = np.empty(len(m))
    everything = np.arange(len(m))
    for te in folds:
        tr = np.setdiff1d(everything, te)
        pred[te] = predictor(m.subset(tr), m.subset(te))
    return pred


def score(m: Measurements, measures: Sequence[str] | None = None, k: int = 10
          ) -> dict[str, dict[str, dict[str, float]]]:
    """``{measure: {scheme: metrics}}`` for schemes ``in_sample`` (rank measures only),
    ``kfold`` and, where the table has two or more families, ``leave_family_out``."""
    names = list(measures or default_measures())
    unknown = [n for n in names if n not in PREDICTORS]
    if unknown:
        raise CnnCalcError(f"unknown measure(s) {unknown}; one of {', '.join(PREDICTORS)}",
                           kind="input")
    schemes: dict[str, list[np.ndarray]] = {"kfold": folds_kfold(len(m), folds_k(k, len(m)))}
    families = len(np.unique(m.family))
    if families > MAX_FOLDS:
        raise CnnCalcError(f"{families} families: leave-one-family-out fits every measure once "
                           f"per family, at most {MAX_FOLDS}; merge families or drop the family "
                           "column", kind="limit")
    if families >= 2:
        schemes["leave_family_out"] = folds_by_family(m)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        pred = PREDICTORS[name]
        out[name] = {}
        for scheme, folds in schemes.items():
            mt = metrics(cross_validate(m, pred, folds), m.t)
            if isinstance(pred, Fixed):
                raw = pred.measure(m)
                mt["spearman"], mt["kendall"] = spearman(raw, m.t), kendall(raw, m.t)
            out[name][scheme] = mt
    return out


def score_table(scores: dict[str, dict[str, dict[str, float]]]) -> list[list[str]]:
    """Rows ``[measure, scheme, spearman, kendall, r2_log, median_rel_err, within_10pct]``."""
    rows = [["measure", "scheme", "spearman", "kendall", "R2(log)", "median rel err",
             "within 10%"]]
    for name, by_scheme in scores.items():
        for scheme, mt in by_scheme.items():
            rows.append([name, scheme, f"{mt['spearman']:.3f}", f"{mt['kendall']:.3f}",
                         f"{mt['r2_log']:.3f}", f"{100 * mt['median_rel_err']:.1f}%",
                         f"{100 * mt['within_10pct']:.0f}%"])
    return rows

