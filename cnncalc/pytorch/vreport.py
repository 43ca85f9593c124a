"""The outcome of a validation run: per-layer checks, totals, timing, memory, mismatches.

:class:`ValidationReport` is what :func:`cnncalc.validate` returns; ``to_dict()`` is the JSON of
``cnncalc validate --format json`` and ``POST /validate``, ``to_table()`` the plain-text report.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from typing import Any

from ..core.bindings import format_bindings
from .timing import Stats


@dataclass
class Mismatch:
    """One disagreement between a prediction and torch."""

    layer: str
    quantity: str
    predicted: Any
    measured: Any

    def __str__(self) -> str:
        return f"{self.layer}: {self.quantity} predicted {_show(self.predicted)}, " \
               f"torch {_show(self.measured)}"

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "quantity": self.quantity,
                "predicted": _plain(self.predicted), "measured": _plain(self.measured)}


@dataclass
class RFCheck:
    """Receptive field of one layer: predicted, measured by autograd, and the verdict
    (``match``, ``mismatch`` or ``skipped`` with the reason)."""

    status: str
    predicted: dict[str, list[Any]]
    measured: dict[str, list[int | None]] | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "predicted": self.predicted,
                "measured": self.measured, "reason": self.reason}


@dataclass
class LayerCheck:
    """Predicted and measured figures of one layer (measured ones are None when not run)."""

    name: str
    type: str
    predicted_shape: tuple[int, ...]
    real_shape: tuple[int, ...] | None
    predicted_params: int
    real_params: int | None
    predicted_macs: int
    real_macs: int | None
    time: Stats | None = None
    rf: RFCheck | None = None
    predicted_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "predicted_time_ms": self.predicted_ms,
                "output_shape": {"predicted": list(self.predicted_shape),
                                 "measured": _plain(self.real_shape)},
                "params": {"predicted": self.predicted_params, "measured": self.real_params},
                "macs": {"predicted": self.predicted_macs, "measured": self.real_macs},
                "time": self.time.to_dict() if self.time else None,
                "receptive_field": self.rf.to_dict() if self.rf else None}


@dataclass
class Environment:
    """Where and how the network ran."""

    device: str
    device_name: str
    torch_version: str
    dtype: str
    threads: int
    cudnn_benchmark: bool | None
    tf32_matmul: bool
    tf32_cudnn: bool
    float32_matmul_precision: str
    cuda_version: str | None
    python: str = field(default_factory=platform.python_version)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def line(self) -> str:
        tf32 = ""
        if self.device.startswith("cuda"):
            tf32 = (f", TF32 matmul {'on' if self.tf32_matmul else 'off'} / cuDNN "
                    f"{'on' if self.tf32_cudnn else 'off'}, cudnn.benchmark "
                    f"{'on' if self.cudnn_benchmark else 'off'}")
        return (f"{self.device} ({self.device_name}), torch {self.torch_version}, {self.dtype}, "
                f"{self.threads} CPU thread{'s' if self.threads != 1 else ''}{tf32}")


@dataclass
class MemoryCheck:
    """Predicted peak of live activations at inference vs the CUDA allocator's peak during one
    forward pass (input included, weights excluded), bytes."""

    predicted_bytes: int
    measured_bytes: int
    tolerance: float

    @property
    def ratio(self) -> float:
        return self.measured_bytes / self.predicted_bytes if self.predicted_bytes else 1.0

    @property
    def ok(self) -> bool:
        return abs(self.ratio - 1.0) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {"predicted_bytes": self.predicted_bytes, "measured_bytes": self.measured_bytes,
                "ratio": self.ratio, "tolerance": self.tolerance, "ok": self.ok}


@dataclass
class ValidationReport:
    """The outcome of :func:`validate`: per-layer checks, totals, timing and every mismatch."""

    name: str
    bindings: dict[str, int]
    input_shape: tuple[int, ...]
    env: Environment
    layers: list[LayerCheck]
    predicted_params: int
    real_params: int | None
    predicted_macs: int
    real_macs: int | None
    mismatches: list[Mismatch]
    warmup: int
    repeats: int
    network_time: Stats | None = None
    predicted_peak_bytes: int = 0
    memory: MemoryCheck | None = None
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    predicted_time_ms: float | None = None
    profile_device: str | None = None

    @property
    def time_error(self) -> float | None:
        """Network-level error of the profile's prediction: predicted / measured - 1."""
        if self.predicted_time_ms is None or self.network_time is None \
                or not self.network_time.median_ms:
            return None
        return self.predicted_time_ms / self.network_time.median_ms - 1.0

    @property
    def ok(self) -> bool:
        """True when every prediction matched (and torch ran the whole network)."""
        return not self.mismatches and self.failure is None

    @property
    def layer_time_sum_ms(self) -> float | None:
        """Sum of the per-layer median times."""
        times = [c.time.median_ms for c in self.layers if c.time is not None]
        return sum(times) if times else None

    @property
    def layer_time_ratio(self) -> float | None:
        """Sum of per-layer medians / whole-network median (close to 1 when hooks cost little
        and nothing runs between layers)."""
        s = self.layer_time_sum_ms
        if s is None or self.network_time is None or not self.network_time.median_ms:
            return None
        return s / self.network_time.median_ms

    @property
    def rf_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.layers:
            if c.rf is not None:
                out[c.rf.status] = out.get(c.rf.status, 0) + 1
        return out

    def summary(self) -> str:
        """One line: the verdict, what was compared, and the network time."""
        binds = format_bindings(self.bindings, "no bindings")
        where = f"{self.name} ({binds}) on {self.env.device}, {self.env.dtype}"
        if self.failure:
            return f"FAILED {where}: {self.failure}"
        what = "shapes, params, MACs"
        rf = self.rf_counts
        if rf:
            what += f", {rf.get('match', 0) + rf.get('mismatch', 0)} receptive fields"
        if self.memory is not None:
            what += ", peak memory"
        t = (f"; network {self.network_time.median_ms:.3g} ms median"
             if self.network_time else "")
        if self.ok:
            return f"OK {where}: all {len(self.layers)} layers match torch ({what}){t}"
        return f"MISMATCH {where}: {len(self.mismatches)} mismatch" \
               f"{'es' if len(self.mismatches) != 1 else ''} ({what} compared){t}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "ok": self.ok, "summary": self.summary(),
            "bindings": dict(self.bindings), "input_shape": list(self.input_shape),
            "environment": self.env.to_dict(), "warmup": self.warmup, "repeats": self.repeats,
            "totals": {"params": {"predicted": self.predicted_params,
                                  "measured": self.real_params},
                       "macs": {"predicted": self.predicted_macs, "measured": self.real_macs}},
            "time": None if self.network_time is None else {
                "network": self.network_time.to_dict(),
                "layer_sum_ms": self.layer_time_sum_ms,
                "layer_sum_ratio": self.layer_time_ratio,
                "predicted_ms": self.predicted_time_ms, "profile": self.profile_device,
                "predicted_error": self.time_error},
            "memory": self.memory.to_dict() if self.memory else {
                "predicted_bytes": self.predicted_peak_bytes, "measured_bytes": None},
            "layers": [c.to_dict() for c in self.layers],
            "mismatches": [m.to_dict() for m in self.mismatches],
            "notes": list(self.notes), "failure": self.failure,
        }

    def to_table(self) -> str:
        """Plain-text report: environment, one row per layer, totals, timing, verdict."""
        head = ["layer", "type", "output shape", "params", "MACs", "ms", "IQR", "pred ms", "RF"]
        rows = []
        for c in self.layers:
            shape = _dims(c.predicted_shape)
            if c.real_shape is not None and c.real_shape != c.predicted_shape:
                shape += f" != {_dims(c.real_shape)}"
            rows.append([
                c.name, c.type, shape,
                _pair(c.predicted_params, c.real_params), _pair(c.predicted_macs, c.real_macs),
                f"{c.time.median_ms:.3f}" if c.time else "",
                f"{c.time.spread_ms:.3f}" if c.time else "",
                "" if c.predicted_ms is None else f"{c.predicted_ms:.3f}",
                "" if c.rf is None else ("skip" if c.rf.status == "skipped" else
                                          "ok" if c.rf.status == "match" else "MISMATCH")])
        foot = ["total", "", "", _pair(self.predicted_params, self.real_params),
                _pair(self.predicted_macs, self.real_macs),
                f"{self.network_time.median_ms:.3f}" if self.network_time else "",
                f"{self.network_time.spread_ms:.3f}" if self.network_time else "",
                "" if self.predicted_time_ms is None else f"{self.predicted_time_ms:.3f}", ""]
        keep = [i for i in range(len(head))
                if i < 7 or any(r[i] for r in rows) or foot[i]]
        head, foot = [head[i] for i in keep], [foot[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
        table = [head, *rows, foot]
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]

        def line(r: list[str]) -> str:
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

        rule = "-" * len(line(head))
        binds = format_bindings(self.bindings, "no bindings")
        out = [f"validate {self.name}  input {_dims(self.input_shape)}  {binds}",
               f"on {self.env.line()}", line(head), rule, *[line(r) for r in rows], rule,
               line(foot), ""]
        if self.network_time is not None:
            t = self.network_time
            ratio = self.layer_time_ratio
            out.append(f"time: network median {t.median_ms:.3f} ms (IQR {t.spread_ms:.3f}, "
                       f"min {t.min_ms:.3f}, {t.n} repeats after {self.warmup} warm-up); "
                       f"per-layer medians sum {self.layer_time_sum_ms or 0:.3f} ms = "
                       f"{ratio or 0:.2f} x the network")
        if self.predicted_time_ms is not None:
            err = self.time_error
            out.append(f"predicted time: {self.predicted_time_ms:.3f} ms by the profile of "
                       f"{self.profile_device}"
                       + ("" if err is None else f"; measured/predicted error {err:+.1%}"))
        if self.memory is not None:
            m = self.memory
            out.append(f"memory: predicted peak activations {m.predicted_bytes:,} B, CUDA peak "
                       f"{m.measured_bytes:,} B (ratio {m.ratio:.3f}, tolerance "
                       f"{m.tolerance:.0%})")
        else:
            out.append(f"memory: predicted peak activations {self.predicted_peak_bytes:,} B "
                       "(measured on CUDA only)")
        out += [f"note: {n}" for n in self.notes]
        out += [f"mismatch: {m}" for m in self.mismatches]
        out.append(self.summary())
        return "\n".join(out) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return _dims(v)
    if isinstance(v, dict):
        return " ".join(f"{k}={'x'.join(str(x) for x in vals)}" for k, vals in v.items())
    return str(v)


def _dims(shape: Any) -> str:
    return "x".join(str(v) for v in shape)


def _pair(pred: int, real: int | None) -> str:
    if real is None or real == pred:
        return str(pred)
    return f"{pred} != {real}"
