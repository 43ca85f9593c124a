"""The in-context time model: each layer's time as it runs inside a network, and a network's
time as the sum of its layers plus the glue between them.

Learnt from layers timed inside real networks (``cnncalc calibrate``, see
:mod:`cnncalc.pytorch.incontext`): gradient-boosted trees (:mod:`cnncalc.cost.trees`) on the
log of each layer's time, from the features of :mod:`cnncalc.cost.features` (shape, bytes,
intensity, im2col size, cache fit, the layer before, threads, batch, the bytes the whole network
moves). Trees cannot extrapolate, so outside the range the trees were trained on a layer is
predicted at the nearest trained point and scaled by how much more work it is (its MACs and
bytes, whichever grew more): monotone and smooth beyond the data, where the trees alone would
go flat. Below the range the same holds per group of layers: a layer smaller than every layer
of its kind trained on (a linear layer of 48,000 MACs when the smallest trained had 400,000;
a ReLU's zero MACs do not count) shrinks with its work (whichever shrank less), never below
the fastest layer trained on, where the trees alone would give the smallest layer they know.
A network's time is the sum of its layers' predictions plus the glue between them (the Python
between modules a hooked layer time does not see): ``glue_s + glue_rel * t`` for a layer of
``t`` seconds, per thread count, fitted on the training runs
(:func:`cnncalc.cost.lono.fit_glue`).

The uncertainty band comes from leave-one-network-out residuals: the 5 % and 95 % quantiles of
``log(measured / predicted)`` over whole networks each predicted by a model that never saw it
(:mod:`cnncalc.cost.lono`), and the same per layer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.analysis import Analysis
from ..errors import CnnCalcError
from .features import SIZE_FEATURES, Caches, layer_features, row_vector, type_columns
from .trees import TreeEnsemble, fit_trees

MONOTONE = ("log_macs", "log_bytes", "log_net_bytes")
"""Features the trees are constrained to be non-decreasing in (more work, not less time; a
layer in a network that moves more bytes, colder caches, not less time)."""
GROUP_RANGES = True
"""Ranges per group of layers (a dense layer smaller than every dense layer trained on is
below the range even though ReLUs have no MACs at all)."""
BELOW = 1.0
"""Below a group's range time shrinks with the work (:attr:`ContextModel.below`)."""
FIT_PARAMS: dict[str, Any] = {"rounds": 500, "learning_rate": 0.05, "num_leaves": 31,
                              "min_data_in_leaf": 5, "weight_power": 0.25}
"""LightGBM's settings, and rows weighted by their time to the power ``weight_power``
(leave-one-network-out: 0.25 gave a lower network median than 0 or 0.5 and kept the layers'
median under 20 %)."""


@dataclass(frozen=True)
class Band:
    """Quantiles of ``log(measured / predicted)`` (5 %, 50 %, 95 %) from held-out predictions."""

    q05: float = 0.0
    q50: float = 0.0
    q95: float = 0.0
    n: int = 0

    @classmethod
    def of(cls, log_ratios: Sequence[float]) -> Band:
        if not len(log_ratios):
            return cls()
        q = np.quantile(np.asarray(log_ratios, float), [0.05, 0.5, 0.95])
        return cls(float(q[0]), float(q[1]), float(q[2]), len(log_ratios))

    def around(self, seconds: float) -> tuple[float, float]:
        """The 90 % band around a prediction: ``(seconds * e^q05, seconds * e^q95)``."""
        return seconds * math.exp(self.q05), seconds * math.exp(self.q95)


@dataclass(frozen=True)
class Prediction:
    """Predicted seconds per layer and for the network, with the network's 90 % band."""

    layers: tuple[float, ...]
    total: float
    low: float
    high: float
    layer_band: Band
    notes: tuple[str, ...] = ()
    glue: tuple[float, ...] = ()
    """The glue between layers put on each layer (included in ``total``, not in ``layers``)."""


@dataclass
class ContextModel:
    """Trees over the layer features, their trained ranges (global and per group), the glue
    per layer, and the bands."""

    columns: tuple[str, ...]
    trees: TreeEnsemble
    lo: tuple[float, ...]
    hi: tuple[float, ...]
    glue_s: float
    threads: tuple[int, ...]
    batches: tuple[int, int]
    caches: Caches
    network_band: Band = field(default_factory=Band)
    layer_band: Band = field(default_factory=Band)
    ranges: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)
    """Trained range of every numeric column per group of layers (``lo``, ``hi``); a group
    missing here, and the indicator columns, use the global ``lo`` and ``hi``."""
    below: float = 0.0
    """Exponent of the scaling below a group's range: ``(work / least trained work) ** below``
    (0: none, the trees' floor)."""
    floor_s: float = 0.0
    """No layer scaled below its range is predicted under this (the fastest layer trained on)."""
    group_hi: bool = False
    """Whether a group's upper bounds apply too (else only its lower ones: beyond the largest
    layer of its kind, the trees still know larger layers of other kinds)."""
    glue_rel: float = 0.0
    """Glue per layer also grows with the layer's own time: ``glue_s + glue_rel * seconds``."""
    glue_threads: dict[int, tuple[float, float]] = field(default_factory=dict)
    """``(glue_s, glue_rel)`` per thread count; one missing here uses the global pair."""

    # fitting --------------------------------------------------------------------------------
    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, Any]], seconds: Sequence[float],
            glue_s: float, batches: tuple[int, int], caches: Caches,
            params: Mapping[str, Any] | None = None) -> ContextModel:
        """Fit on layer rows (features as :func:`layer_features` makes them) and their measured
        seconds; ``glue_s`` and the batch range come from the runs."""
        opts = {**FIT_PARAMS, **(params or {})}
        drop = set(opts.pop("drop", ()))
        columns = tuple(c for c in type_columns([str(r["type"]) for r in rows]) if c not in drop)
        x = np.array([row_vector(r, columns) for r in rows], float)
        y = np.log(np.maximum(np.asarray(seconds, float), 1e-9))
        power = float(opts.pop("weight_power", 0.0))
        monotone = tuple(opts.pop("monotone", MONOTONE))
        opts_ranges = bool(opts.pop("group_ranges", GROUP_RANGES))
        below = float(opts.pop("below", BELOW))
        group_hi = bool(opts.pop("group_hi", False))
        mono = [1 if c in monotone else 0 for c in columns]
        # rows weighted by time ** power: 0 treats every layer alike, 0.5 leans towards the
        # layers that make up most of a network's time
        weight = np.exp(power * (y - y.mean())) if power else None
        trees = fit_trees(x, y, columns, monotone=mono, weight=weight, **opts)
        threads = tuple(sorted({int(r["threads"]) for r in rows}))
        model = cls(columns, trees, tuple(float(v) for v in x.min(axis=0)),
                    tuple(float(v) for v in x.max(axis=0)), float(glue_s), threads, batches,
                    caches)
        if opts_ranges:
            groups = np.array([str(r["group"]) for r in rows])
            for g in sorted(set(groups)):
                xg = x[groups == g]
                model.ranges[g] = (tuple(float(v) for v in xg.min(axis=0)),
                                   tuple(float(v) for v in xg.max(axis=0)))
            model.below = below
            model.group_hi = group_hi
            model.floor_s = float(np.min(seconds))
        return model

    # predicting -----------------------------------------------------------------------------
    def check_threads(self, threads: int) -> None:
        if threads not in self.threads:
            seen = ", ".join(map(str, self.threads))
            raise CnnCalcError(
                f"the profile was calibrated with {seen} thread(s), not {threads}: a prediction "
                f"for {threads} would be a guess; calibrate with --threads {threads}",
                kind="input")

    def matrix(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The feature rows as a ``(rows, columns)`` array."""
        return np.array([row_vector(r, self.columns) for r in rows], float).reshape(
            len(rows), len(self.columns))

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted seconds of each feature row (fallback outside the trained range)."""
        return self.predict_matrix(self.matrix(rows))

    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """:meth:`predict_rows` of rows already made a matrix."""
        if not len(x):
            return np.zeros(0)
        lo, hi = self.bounds(x)
        clipped = np.clip(x, lo, hi)
        base = np.exp(self.trees.predict(clipped))
        work = [self.columns.index(c) for c in ("log_macs", "log_bytes") if c in self.columns]
        over = np.zeros(len(x))
        under = np.full(len(x), -np.inf)
        for j in work:  # how many times more (less) work than the nearest trained point (log)
            grown = np.log(np.expm1(x[:, j]) + 1e-30) - np.log(np.expm1(clipped[:, j]) + 1e-30)
            # a kind that never had such work has no point to scale from
            over = np.maximum(over, np.where((x[:, j] > hi[:, j]) & (hi[:, j] > 0), grown, 0.0))
            # below: the work that shrank least speaks; a kind with no such work (a ReLU's
            # MACs) has none to shrink
            under = np.where(hi[:, j] > 0, np.maximum(under, np.where(
                x[:, j] < lo[:, j], grown, 0.0)), under)
        under = np.where(np.isfinite(under), under, 0.0)
        pred = base * np.exp(over + self.below * under)
        if self.below:
            pred = np.where(under < 0, np.maximum(pred, self.floor_s), pred)
        return np.asarray(pred)

    def bounds(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The trained range of every row of a feature matrix: its group's, for the numeric
        columns, when the model has ranges per group; else the global one."""
        lo = np.tile(np.asarray(self.lo, float), (len(x), 1))
        hi = np.tile(np.asarray(self.hi, float), (len(x), 1))
        numeric = [j for j, c in enumerate(self.columns) if not c.startswith(("g_", "prev_", "t_"))]
        for g, (glo, ghi) in self.ranges.items():
            if f"g_{g}" not in self.columns:
                continue
            rows = x[:, self.columns.index(f"g_{g}")] == 1.0
            for j in numeric:
                lo[rows, j] = glo[j]
                if self.group_hi:
                    hi[rows, j] = ghi[j]
        return lo, hi

    def glue(self, per: np.ndarray, threads: int) -> np.ndarray:
        """The glue between layers put on each layer (seconds) of layers predicted ``per``."""
        a, b = self.glue_threads.get(threads, (self.glue_s, self.glue_rel))
        return a + b * np.asarray(per, float)

    def outside(self, x: np.ndarray) -> int:
        """How many rows of a feature matrix lie beyond the trained range in some size
        feature."""
        cols = [self.columns.index(c) for c in SIZE_FEATURES if c in self.columns]
        hi = self.bounds(x)[1][:, cols]
        return int((x[:, cols] > hi + 1e-9).any(axis=1).sum())

    def predict(self, an: Analysis, threads: int | None = None) -> Prediction:
        """Predicted time of every layer of a bound analysis and of the network."""
        threads = self.threads[0] if threads is None else threads
        self.check_threads(threads)
        x = self.matrix(layer_features(an, threads, self.caches))
        per = self.predict_matrix(x)
        glue = self.glue(per, threads)
        total = float(per.sum() + glue.sum())
        lo, hi = self.network_band.around(total)
        notes = []
        n_out = self.outside(x)
        if n_out:
            notes.append(f"{n_out} layer(s) lie beyond the sizes the profile was calibrated on; "
                         "their time is scaled from the largest calibrated ones")
        b = int(an.input_shape[0]) if an.input_shape else 1
        if not self.batches[0] <= b <= self.batches[1]:
            notes.append(f"batch {b} is outside the calibrated batches "
                         f"{self.batches[0]}..{self.batches[1]}")
        return Prediction(tuple(float(v) for v in per), total, lo, hi, self.layer_band,
                          tuple(notes), tuple(float(v) for v in glue))

    # JSON -----------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        def band(b: Band) -> dict[str, float | int]:
            return {"q05": b.q05, "q50": b.q50, "q95": b.q95, "n": b.n}
        return {"format": "cnncalc-context/1", "columns": list(self.columns),
                "lo": list(self.lo), "hi": list(self.hi), "glue_s": self.glue_s,
                "threads": list(self.threads), "batches": list(self.batches),
                "caches": {"l2": self.caches.l2, "l3": self.caches.l3},
                "network_band": band(self.network_band), "layer_band": band(self.layer_band),
                "ranges": {g: {"lo": list(lo), "hi": list(hi)}
                           for g, (lo, hi) in self.ranges.items()},
                "below": self.below, "floor_s": self.floor_s, "group_hi": self.group_hi,
                "glue_rel": self.glue_rel,
                "glue_threads": {str(t): list(v) for t, v in self.glue_threads.items()},
                "trees": self.trees.to_json()}

    @classmethod
    def from_json(cls, d: Any, where: str = "profile") -> ContextModel:
        """Read :meth:`to_json`'s output; anything malformed is one :class:`CnnCalcError`."""
        def bad(msg: str) -> CnnCalcError:
            return CnnCalcError(f"{where}: the in-context model is damaged ({msg}); "
                                "recalibrate with `cnncalc calibrate`", kind="input")
        if not isinstance(d, dict) or d.get("format") != "cnncalc-context/1":
            raise bad("no 'format': 'cnncalc-context/1'")
        try:
            columns = tuple(str(c) for c in d["columns"])
            lo = tuple(_finite(v) for v in d["lo"])
            hi = tuple(_finite(v) for v in d["hi"])
            threads = tuple(_positive_int(v) for v in d["threads"])
            batches = tuple(_positive_int(v) for v in d["batches"])
            caches = Caches(int(d["caches"]["l2"]), int(d["caches"]["l3"]))
            bands = [Band(_finite(b["q05"]), _finite(b["q50"]), _finite(b["q95"]), int(b["n"]))
                     for b in (d["network_band"], d["layer_band"])]
            glue = _finite(d["glue_s"])
            # absent from profiles fitted before ranges per group and relative glue
            ranges = {str(g): (tuple(_finite(v) for v in r["lo"]),
                               tuple(_finite(v) for v in r["hi"]))
                      for g, r in d.get("ranges", {}).items()}
            below = _finite(d.get("below", 0.0))
            floor = _finite(d.get("floor_s", 0.0))
            group_hi = d.get("group_hi", False)
            if not isinstance(group_hi, bool):
                raise ValueError(f"group_hi {group_hi!r} is not true or false")
            glue_rel = _finite(d.get("glue_rel", 0.0))
            glue_threads = {_positive_int(int(t)): (_finite(v[0]), _finite(v[1]))
                            for t, v in d.get("glue_threads", {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise bad(f"{type(e).__name__}: {e}") from None
        if not (len(lo) == len(hi) == len(columns)) or len(batches) != 2 or not threads or \
                any(len(a) != len(columns) for r in ranges.values() for a in r):
            raise bad("columns, ranges, threads and batches do not agree")
        trees = TreeEnsemble.from_json(d.get("trees"), where=f"{where}: trees")
        if tuple(trees.features) != columns:
            raise bad("the trees' features are not the model's columns")
        return cls(columns, trees, lo, hi, glue, threads, (batches[0], batches[1]), caches,
                   bands[0], bands[1], ranges, below, floor, group_hi, glue_rel, glue_threads)


def _finite(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{v!r} is not a finite number")
    return float(v)


def _positive_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{v!r} is not a positive integer")
    return v
