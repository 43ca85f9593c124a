"""Fitted time models of a device profile, and predicted time per layer; see
docs/cost-model.md.

:class:`ConvTimeModel` predicts the time of conv-like work as ``t0 + exp(theta . phi)``,
``phi`` a quadratic in the logs of positions, kernel area and channels with a ``K = 1``
indicator; it is fitted on log time (so on relative error) by damped Gauss-Newton with a small
ridge. Other layers are predicted from bytes moved and other ops (:class:`BytesTimeModel`). A
:class:`DeviceProfile` (written by ``cnncalc calibrate``) holds both, with the device's peak
FLOP rate and bandwidth for a roofline ``max(flops / peak, bytes / bandwidth) + overhead``, and,
when calibrated inside networks, the in-context model (:mod:`cnncalc.cost.context`) that
predicts every layer where it runs; :func:`predict_time` uses it when it is there.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..algebra.arith import Value, is_num
from ..core.analysis import Analysis, LayerResult
from ..core.bindings import require_bound
from ..errors import CnnCalcError
from .context import Band, ContextModel, Prediction
from .measures import costs


def conv_features(p: Any, k: Any, cin: Any, cout: Any) -> np.ndarray:
    """``phi``: a quadratic in log positions, log kernel area, log channels in and out, and a
    ``K = 1`` indicator (1x1 convolutions run as plain matrix products)."""
    lp, lk = np.log(np.asarray(p, float)), np.log(np.asarray(k, float))
    li, lo = np.log(np.asarray(cin, float)), np.log(np.asarray(cout, float))
    k1 = (np.asarray(k, float) == 1) * 1.0
    one = np.ones_like(lp)
    return np.stack([one, lp, lk, li, lo, lp * lp, lp * lk, lk * lk, li * lo, lp * li, lp * lo,
                     lk * li, lk * lo, k1, k1 * lp, li * li, lo * lo], axis=-1)


@dataclass
class ConvTimeModel:
    """Time of conv-like work: ``t0 + exp(theta . phi(positions, K, C_in, C_out))`` seconds."""

    theta: list[float]
    t0: float

    @classmethod
    def fit(cls, p: Any, k: Any, cin: Any, cout: Any, seconds: Any,
            ridge: float = 1e-2) -> ConvTimeModel:
        x = conv_features(p, k, cin, cout)
        y = np.log(np.asarray(seconds, float))
        theta, t0 = _fit_floor_loglinear(x, y, ridge)
        return cls([float(v) for v in theta], float(t0))

    def predict(self, p: Any, k: Any, cin: Any, cout: Any) -> np.ndarray:
        x = conv_features(p, k, cin, cout)
        return self.t0 + np.exp(x @ np.asarray(self.theta))


def _fit_floor_loglinear(x: np.ndarray, y: np.ndarray, ridge: float,
                         iters: int = 300) -> tuple[np.ndarray, float]:
    """Least squares of ``log(t0 + exp(x @ c)) - y`` by Levenberg-Marquardt, ridge on ``c[1:]``."""
    m = x.shape[1]
    c = np.linalg.lstsq(x, y, rcond=None)[0]
    z = float(np.log(np.exp(y).min() * 0.5))
    lam = 1e-2

    def loss(c: np.ndarray, z: float) -> tuple[float, np.ndarray, np.ndarray]:
        e = np.exp(np.clip(x @ c, -60, 60))
        r = np.log(np.exp(z) + e) - y
        return float(r @ r + ridge * c[1:] @ c[1:]), r, e

    cur, r, e = loss(c, z)
    improved = 0.0
    for _ in range(iters):
        t0 = math.exp(z)
        d = t0 + e
        jac = np.concatenate([(e / d)[:, None] * x, (t0 / d)[:, None]], axis=1)
        g = jac.T @ r
        g[1:m] += ridge * c[1:]
        a = jac.T @ jac
        a[np.arange(1, m), np.arange(1, m)] += ridge
        while lam < 1e12:
            step = np.linalg.solve(a + lam * np.diag(np.diag(a) + 1e-12), -g)
            z2 = z + float(step[m])
            new, r2, e2 = loss(c + step[:m], z2)
            if new < cur:
                improved = cur - new
                c, z, cur, r, e = c + step[:m], z2, new, r2, e2
                lam = max(lam / 3, 1e-12)
                break
            lam *= 4
        else:
            break
        if improved < 1e-12 * max(cur, 1e-30):
            break
    return c, math.exp(z)


@dataclass
class BytesTimeModel:
    """Time of layers without MACs (pooling, norms, activations, merges):
    ``t0 + bytes / bandwidth + other_ops * seconds_per_op`` (``other_ops`` as counted by
    cnncalc: a max-pool's windows are work, not only traffic)."""

    t0: float
    bandwidth: float
    seconds_per_op: float = 0.0

    @classmethod
    def fit(cls, nbytes: Any, ops: Any, seconds: Any) -> BytesTimeModel:
        """Non-negative least squares of relative error (each row weighted by 1 / time)."""
        b, o, t = (np.asarray(v, float) for v in (nbytes, ops, seconds))
        cols = [np.ones_like(t), b, o]
        keep = [0, 1, 2]
        while True:
            a = np.stack([cols[i] for i in keep], axis=1) / t[:, None]
            coef = np.linalg.lstsq(a, np.ones_like(t), rcond=None)[0]
            if (coef >= 0).all() or len(keep) == 1:
                break
            keep.pop(int(np.argmin(coef)))
        full = dict(zip(keep, np.maximum(coef, 0.0), strict=True))
        slope = full.get(1, 0.0)
        return cls(float(full.get(0, 0.0)), 1.0 / slope if slope > 0 else 1e30,
                   float(full.get(2, 0.0)))

    def predict(self, nbytes: Any, ops: Any = 0) -> np.ndarray:
        return (self.t0 + np.asarray(nbytes, float) / self.bandwidth
                + np.asarray(ops, float) * self.seconds_per_op)


@dataclass
class DeviceProfile:
    """A calibrated device: measured peaks, fitted models, and the scores they earned."""

    device: str
    dtype: str
    peak_flops: float
    bandwidth: float
    overhead_s: float
    conv: ConvTimeModel
    other: BytesTimeModel
    meta: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    context: ContextModel | None = None
    """The in-context model, when the profile was calibrated inside networks."""

    def warnings(self) -> list[str]:
        """How this machine differs from the one the profile describes (see
        :func:`cnncalc.cost.machine.differences`)."""
        from .machine import differences
        return differences(self.meta.get("machine") or {}, self.device)

    def layer_times(self, an: Analysis, threads: int | None = None) -> list[float]:
        """Predicted seconds of every layer of a bound analysis."""
        return list(predict_time(an, self, threads).layers)

    def layer_seconds(self, r: LayerResult, nbytes: Value) -> float:
        """Predicted seconds of one layer (every size must be bound)."""
        if r.aliases_input:
            return 0.0
        if r.work:
            secs = 0.0
            for w in r.work:
                try:
                    n, s, k, cin, cout = (int(v) for v in (w.n, w.s, w.k, w.cin, w.cout))
                except TypeError:  # a formula: some size is unbound
                    raise CnnCalcError("bind every size to predict time", layer=r.name,
                                       kind="binding") from None
                secs += float(self.conv.predict(n * s, k, cin, cout))
            # The sweep times each layer alone, its weights hot in cache; inside a network a
            # layer's weights and inputs come from memory, so it cannot beat streaming them.
            if is_num(nbytes):
                secs = max(secs, float(nbytes) / self.bandwidth)
            return secs
        if not (is_num(nbytes) and is_num(r.other_ops)):
            raise CnnCalcError("bind every size to predict time", layer=r.name, kind="binding")
        return float(self.other.predict(nbytes, r.other_ops))

    def roofline(self, flops: float, nbytes: float) -> float:
        """``max(flops / peak, bytes / bandwidth) + overhead`` seconds."""
        return max(flops / self.peak_flops, nbytes / self.bandwidth) + self.overhead_s

    def to_json(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "context"}
        d["conv"], d["other"] = asdict(self.conv), asdict(self.other)
        if self.context is not None:
            d["context"] = self.context.to_json()
        return d

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> DeviceProfile:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CnnCalcError(f"no such profile: {path}", kind="input") from None
        except (OSError, UnicodeDecodeError) as e:
            raise CnnCalcError(f"cannot read the profile {path} ({e})", kind="input") from None
        try:
            d = json.loads(text)
            prof = cls(device=str(d["device"]), dtype=str(d["dtype"]),
                       peak_flops=float(d["peak_flops"]), bandwidth=float(d["bandwidth"]),
                       overhead_s=float(d["overhead_s"]),
                       conv=ConvTimeModel([float(v) for v in d["conv"]["theta"]],
                                          float(d["conv"]["t0"])),
                       other=BytesTimeModel(**{k: float(v) for k, v in d["other"].items()}),
                       meta=dict(d.get("meta", {})), scores=dict(d.get("scores", {})))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CnnCalcError(f"{path} is not a cnncalc device profile ({type(e).__name__}: "
                               f"{e}); recalibrate with `cnncalc calibrate`",
                               kind="input") from None
        if not all(math.isfinite(v) and v > 0 for v in (prof.peak_flops, prof.bandwidth)):
            raise CnnCalcError(f"{path} is not a cnncalc device profile (peak and bandwidth "
                               "must be positive numbers)", kind="input")
        if d.get("context") is not None:
            prof.context = ContextModel.from_json(d["context"], where=str(path))
        return prof


def load_profile(profile: DeviceProfile | str | Path) -> DeviceProfile:
    """A profile object, or one read from a JSON file written by ``cnncalc calibrate``."""
    return profile if isinstance(profile, DeviceProfile) else DeviceProfile.load(profile)


def predict_time(an: Analysis, profile: DeviceProfile, threads: int | None = None
                 ) -> Prediction:
    """Predicted seconds per layer and for the network (their sum), with the network's 90 %
    band. With an in-context model: each layer where it runs, its share of the glue between
    layers included, for ``threads`` CPU threads (default: the first the profile was calibrated
    with; one it never saw is an error). Without: the single-layer models, and no band. Every
    size must be bound."""
    require_bound(an.free_symbols, "predict time")
    if profile.context is not None:
        p = profile.context.predict(an, threads)
        layers = tuple(t + g for t, g in zip(p.layers, p.glue, strict=True))
        return Prediction(layers, p.total, p.low, p.high, p.layer_band, p.notes, p.glue)
    if threads is not None and profile.meta.get("threads") not in (None, threads):
        raise CnnCalcError(f"the profile was calibrated with {profile.meta['threads']} "
                           f"thread(s), not {threads}; calibrate with --threads {threads}",
                           kind="input")
    per = tuple(profile.layer_seconds(r, c.bytes) for r, c in zip(an.layers, costs(an),
                                                                    strict=True))
    total = float(sum(per))
    return Prediction(per, total, total, total, Band())


def predict_seconds(an: Analysis, profile: DeviceProfile) -> tuple[list[float], float]:
    """Predicted seconds per layer and for the whole network (their sum: layers run one after
    the other). Every size must be bound."""
    p = predict_time(an, profile)
    return list(p.layers), p.total


def predicted_ms(an: Analysis, profile: DeviceProfile | str | Path,
                 threads: int | None = None) -> dict[str, float]:
    """Predicted milliseconds per layer name (for tables and reports)."""
    p = predict_time(an, load_profile(profile), threads)
    return {r.name: 1e3 * t for r, t in zip(an.layers, p.layers, strict=True)}
