"""Calibrate a device: time a sweep of single layers, fit the time models, write a profile.

``calibrate(device, csv_path, profile_path, budget_s)`` times, one configuration at a time:
convolutions (kernel 1..7, stride 1 and 2, groups 1, 2 and depthwise), linear layers (as 1x1
convolutions over the batch, the paper's convention), max/avg pooling and element-wise layers
(relu, add, batch-norm), over spatial sizes, channels and batch. Each is timed as validation
times a network (:func:`cnncalc.pytorch.timing.time_network`: warm-up, repeats, median; CUDA
events on GPU). Rows are appended to a CSV that ``cnncalc cost score`` reads, so a run is
resumable (rows already there are skipped) and bounded by a time budget.
Then it measures peak FLOP/s (a large
matrix product) and bandwidth (a large copy), fits :class:`~cnncalc.cost.ConvTimeModel` on the
conv-like rows and :class:`~cnncalc.cost.BytesTimeModel` on the rest, scores every measure by
cross-validation, and writes the :class:`~cnncalc.cost.DeviceProfile`.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cost import BytesTimeModel, ConvTimeModel, DeviceProfile
from ..cost.score import load_csv, score
from ..errors import CnnCalcError
from ..progress import Progress
from .device import device_name, load_torch, resolve_device
from .timing import time_network

COLUMNS = ("id", "kind", "family", "H", "W", "Cin", "Cout", "K1", "K2", "stride", "batch",
           "groups", "bytes", "device", "dtype", "time_ms")
MAX_MACS = 4e8  # keep each configuration to tens of milliseconds on a small CPU


@dataclass(frozen=True)
class Config:
    """One layer to time."""

    kind: str  # conv | dense | max_pool | avg_pool | relu | add | batch_norm
    h: int
    w: int
    cin: int
    cout: int
    k: int
    stride: int
    batch: int
    groups: int

    @property
    def id(self) -> str:
        return (f"{self.kind}-h{self.h}w{self.w}-c{self.cin}x{self.cout}-k{self.k}"
                f"-s{self.stride}-n{self.batch}-g{self.groups}")

    @property
    def family(self) -> str:
        if self.kind == "conv":
            return "depthwise" if self.groups == self.cin and self.cin > 1 else f"conv_k{self.k}"
        return self.kind

    def out_hw(self) -> tuple[int, int]:
        return -(-self.h // self.stride), -(-self.w // self.stride)

    def macs(self) -> int:
        oh, ow = self.out_hw()
        return self.batch * oh * ow * self.k * self.k * (self.cin // self.groups) * self.cout

    def nbytes(self, dtype_bytes: int) -> int:
        oh, ow = self.out_hw()
        x = self.batch * self.cin * self.h * self.w
        y = self.batch * self.cout * oh * ow
        weights = self.k * self.k * (self.cin // self.groups) * self.cout \
            if self.kind in ("conv", "dense") else 0
        if self.kind == "add":
            x *= 2
        return dtype_bytes * (x + y + weights)


def configs(seed: int = 0, n_conv: int = 700, n_other: int = 200) -> list[Config]:
    """The sweep, in a fixed pseudo-random order (so a budget-bounded run is a fair sample)."""
    rng = np.random.default_rng(seed)
    out: list[Config] = []
    seen: set[str] = set()

    def add(c: Config) -> None:
        if c.id not in seen and c.macs() <= MAX_MACS and c.batch * c.cin * c.h * c.w <= 8e6:
            seen.add(c.id)
            out.append(c)

    sizes = [2, 3, 4, 7, 14, 28, 56, 112]  # deep layers of small inputs are 2x3 or 4x6
    chans = [8, 16, 32, 64, 128, 256, 512]
    tries = 0
    while sum(c.kind in ("conv", "dense") for c in out) < n_conv and tries < 50 * n_conv:
        tries += 1
        if rng.random() < 0.12:
            b = int(rng.choice([1, 2, 4, 8, 16, 32, 64, 128, 256]))
            ci, co = int(rng.choice([64, 128, 256, 512, 1024, 2048])), \
                int(rng.choice([64, 128, 256, 512, 1024, 2048]))
            add(Config("dense", b, 1, ci, co, 1, 1, 1, 1))
            continue
        hw = int(rng.choice(sizes))
        ci = int(rng.choice(chans))
        k = int(rng.choice([1, 2, 3, 5, 7]))
        s = int(rng.choice([1, 2]))
        b = int(rng.choice([1, 2, 4, 8]))
        g = int(rng.choice([1, 1, 1, 2, ci]))
        co = ci if g == ci else int(rng.choice(chans))
        if ci % g or co % g:
            continue
        add(Config("conv", hw, hw, ci, co, k, s, b, g))
    kinds = ["max_pool", "avg_pool", "relu", "add", "batch_norm"]
    for i in range(n_other):
        hw = int(rng.choice(sizes[3:]))
        c = int(rng.choice(chans))
        kind = kinds[i % len(kinds)]
        k = int(rng.choice([2, 3])) if "pool" in kind else 1
        s = 2 if "pool" in kind else 1
        add(Config(kind, hw, hw, c, c, k, s, int(rng.choice([1, 2, 4, 8])), 1))
    return out


def row_ops(row: dict[str, str]) -> float:
    """``other_ops`` of a timed non-MAC layer, by cnncalc's convention (docs/conventions.md):
    window size per output element for pooling, two per element for batch norm, one per
    element for element-wise layers."""
    n, c = int(row["batch"]), int(row["Cin"])
    h, w, k, s = int(row["H"]), int(row["W"]), int(row["K1"]), int(row["stride"])
    if "pool" in row["kind"]:
        return float(n * c * ((h - k) // s + 1) * ((w - k) // s + 1) * k * k)
    return float(n * c * h * w * (2 if row["kind"] == "batch_norm" else 1))


def _module(c: Config, torch: Any) -> tuple[Any, tuple[Any, ...]]:
    nn: Any = torch.nn
    x = torch.randn(c.batch, c.cin, c.h, c.w)
    if c.kind == "conv":
        return nn.Conv2d(c.cin, c.cout, c.k, c.stride, (c.k - 1) // 2, groups=c.groups), (x,)
    if c.kind == "dense":
        return nn.Linear(c.cin, c.cout), (torch.randn(c.h, c.cin),)
    if c.kind == "max_pool":
        return nn.MaxPool2d(c.k, c.stride), (x,)
    if c.kind == "avg_pool":
        return nn.AvgPool2d(c.k, c.stride), (x,)
    if c.kind == "relu":
        return nn.ReLU(), (x,)
    if c.kind == "batch_norm":
        return nn.BatchNorm2d(c.cin).eval(), (x,)
    if c.kind == "add":
        class Add(nn.Module):
            def forward(self, a: Any, b: Any) -> Any:
                return a + b
        return Add(), (x, torch.randn_like(x))
    raise ValueError(c.kind)  # pragma: no cover


def _done(csv_path: Path) -> set[str]:
    if not csv_path.exists():
        return set()
    with csv_path.open(newline="", encoding="utf-8") as f:
        return {row["id"] for row in csv.DictReader(f) if row.get("id")}


def time_configs(todo: list[Config], csv_path: Path, device: str = "cpu",
                 dtype: str = "float32", budget_s: float = 600.0, repeats: int = 7,
                 progress: bool | None = None) -> int:
    """Time the configurations not yet in ``csv_path`` and append them; returns how many were
    timed before the budget ran out."""
    torch = load_torch()
    dev = resolve_device(device)
    tdtype = {"float32": torch.float32, "bfloat16": torch.bfloat16,
              "float16": torch.float16}.get(dtype)
    if tdtype is None:
        raise CnnCalcError(f"unknown dtype {dtype!r}; float32, bfloat16 or float16",
                           kind="input")
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    done = _done(csv_path)
    pending = [c for c in todo if c.id not in done]
    new_file = not csv_path.exists()
    start = time.monotonic()
    timed = 0
    dtype_bytes = torch.tensor([], dtype=tdtype).element_size()
    with csv_path.open("a", newline="", encoding="utf-8") as f, \
            Progress(len(pending), f"calibrating on {dev.type}", enabled=progress) as bar:
        writer = csv.writer(f)
        if new_file:
            writer.writerow(COLUMNS)
        for c in pending:
            if time.monotonic() - start > budget_s:
                break
            module, args = _module(c, torch)
            module = module.to(dev, tdtype)
            args = tuple(a.to(dev, tdtype) for a in args)
            def call(m: Any = module, a: tuple[Any, ...] = args) -> Any:
                return m(*a)
            with torch.inference_mode():
                stats = time_network(call, dev, warmup=2, repeats=repeats)
            writer.writerow([c.id, c.kind, c.family, c.h, c.w, c.cin, c.cout, c.k, c.k,
                             c.stride, c.batch, c.groups, c.nbytes(dtype_bytes), dev.type, dtype,
                             f"{stats.median_ms:.6f}"])
            f.flush()
            timed += 1
            bar.advance(label=c.family)
    return timed


def measure_peaks(device: str = "cpu", dtype: str = "float32") -> tuple[float, float, float]:
    """(peak FLOP/s from a large matrix product, bandwidth in bytes/s from a large copy,
    per-call overhead in seconds from a one-element op)."""
    torch = load_torch()
    dev = resolve_device(device)
    td = getattr(torch, dtype)
    n = 2048 if dev.type == "cpu" else 8192
    a = torch.randn(n, n, device=dev, dtype=td)
    b = torch.randn(n, n, device=dev, dtype=td)
    src = torch.randn(32 * 2**20 if dev.type == "cpu" else 256 * 2**20, device=dev, dtype=td)
    dst = torch.empty_like(src)
    tiny = torch.randn(1, device=dev, dtype=td)
    with torch.inference_mode():
        mm = time_network(lambda: torch.mm(a, b), dev, warmup=2, repeats=7)
        cp = time_network(lambda: dst.copy_(src), dev, warmup=2, repeats=7)
        ov = time_network(lambda: torch.relu(tiny), dev, warmup=20, repeats=101)
    peak = 2 * n**3 / (mm.median_ms / 1e3)
    bw = 2 * src.numel() * src.element_size() / (cp.median_ms / 1e3)
    return peak, bw, ov.median_ms / 1e3


def fit_profile(csv_path: Path, device: str, dtype: str, peaks: tuple[float, float, float],
                meta: dict[str, Any] | None = None) -> DeviceProfile:
    """Fit both models on a calibration CSV and score every measure (cross-validated)."""
    rows = list(csv.DictReader(csv_path.open(newline="", encoding="utf-8")))
    other = [r for r in rows if r["kind"] not in ("conv", "dense")]
    m = load_csv(csv_path)
    conv = ConvTimeModel.fit(m.p, m.k, m.cin, m.cout, m.t)
    if len(other) >= 3:
        nb = np.array([float(r["bytes"]) for r in other])
        ops = np.array([row_ops(r) for r in other])
        t = np.array([float(r["time_ms"]) / 1e3 for r in other])
        bytes_model = BytesTimeModel.fit(nb, ops, t)
    else:
        bytes_model = BytesTimeModel(peaks[2], peaks[1])
    scores = score(m)
    return DeviceProfile(device=device, dtype=dtype, peak_flops=peaks[0], bandwidth=peaks[1],
                         overhead_s=peaks[2], conv=conv, other=bytes_model,
                         meta={"rows": len(rows), "conv_rows": len(m), **(meta or {})},
                         scores=scores)


def calibrate(device: str = "cpu", csv_path: str | Path = "calibration.csv",
              profile_path: str | Path = "profile.json", budget_s: float = 600.0,
              dtype: str = "float32", threads: int | Sequence[int] | None = None,
              seed: int = 0, n_conv: int = 700, n_other: int = 200,
              progress: bool | None = None, repeats: int = 15,
              networks: Sequence[str] | None = (), context_csv: str | Path | None = None,
              batches: Sequence[int] = (1,), evaluate: bool = True,
              log: Callable[[str], None] | None = None) -> DeviceProfile:
    """Time the single-layer sweep (resuming ``csv_path``) and, with ``networks`` (``None``:
    the default suite of :mod:`cnncalc.pytorch.incontext`; empty: none), every layer inside
    those networks at each thread count and batch (resuming ``context_csv``); fit, score
    (leave-one-network-out with ``evaluate``) and save the device profile. ``device``: cpu,
    cuda, cuda:N or auto. ``budget_s`` bounds each of the two timing phases."""
    from ..cost import machine
    torch = load_torch()
    dev = resolve_device(device)
    counts = [threads] if isinstance(threads, int) else list(threads or [])
    if not counts:
        counts = [torch.get_num_threads()]
    torch.set_num_threads(counts[0])
    csv_path, profile_path = Path(csv_path), Path(profile_path)
    timed = time_configs(configs(seed, n_conv, n_other), csv_path, device, dtype, budget_s,
                         repeats=repeats, progress=progress)
    peaks = measure_peaks(device, dtype)
    meta: dict[str, Any] = {
        "device_name": device_name(dev), "torch": torch.__version__,
        "threads": counts[0], "timed_this_run": timed, "repeats": repeats,
        "csv": str(csv_path), "machine": machine.describe()}
    prof = fit_profile(csv_path, dev.type, dtype, peaks, meta=meta)
    if networks is None or len(networks):
        from ..cost.lono import calibrated_model, load_context_csv
        from .incontext import SUITE, collect, plan
        suite = SUITE if networks is None else _suite(networks)
        ctx = Path(context_csv) if context_csv else profile_path.with_suffix(".context.csv")
        try:
            meta["context_timed_this_run"] = collect(
                ctx, plan(suite, counts, batches), device, dtype, budget_s, progress=progress,
                log=log)
        finally:
            torch.set_num_threads(counts[0])
        data = load_context_csv(ctx)
        prof.context, prof.scores["context"] = calibrated_model(
            data, machine.caches(), evaluate=evaluate,
            workers=max(1, min(4, os.cpu_count() or 1)))
        meta.update(context_csv=str(ctx), thread_counts=list(prof.context.threads))
    prof.save(profile_path)
    return prof


def _suite(names: Sequence[str]) -> list[Any]:
    """The suite's networks of these names; a name it lacks is a torchvision model at the
    suite's three sizes."""
    from .incontext import SUITE, Net
    known = {n.name: n for n in SUITE}
    return [known.get(n) or Net(n, "torchvision", ((64, 96), (160, 160), (224, 224)))
            for n in names]
