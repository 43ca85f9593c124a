"""Validation in PyTorch: build the network, run it, compare every prediction with reality.

:func:`validate` analyses an architecture under bindings that fix every size, refuses runs that
would need more memory than a budget before anything is allocated (:mod:`.budget`), builds the
network and measures, per layer and in total (:mod:`.run`): output shape, params and MACs;
optionally the receptive field by autograd (:mod:`.rf_probe`); on CUDA the peak activation
memory; and the time of the network and of each layer (:mod:`.timing`). The outcome is a
:class:`ValidationReport` (:mod:`.vreport`), which records the device, torch version, dtype,
thread count and TF32 state. See docs/validation.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.bindings import require_bound
from ..core.load import analyze, load
from ..errors import CnnCalcError
from .budget import (
    ENV_MAX_BYTES,
    budget_bytes,
    check_budget,
    memory_plan,
    parse_bytes,
    pin_mmap_threshold,
)
from .device import load_torch, resolve_device
from .run import Run
from .vreport import ValidationReport

if TYPE_CHECKING:
    from ..cost import DeviceProfile

__all__ = ["DTYPES", "ENV_MAX_BYTES", "ValidationReport", "budget_bytes", "memory_plan",
           "parse_bytes", "validate"]

DTYPES = ("float32", "float64", "bfloat16", "float16")
"""Floating dtypes a network can be validated in."""


def _resolve_dtype(arch_dtype: str, dtype: str | None) -> str:
    if dtype is None:
        return arch_dtype if arch_dtype in DTYPES else "float32"
    if dtype not in DTYPES:
        raise CnnCalcError(f"unknown dtype {dtype!r}; one of {', '.join(DTYPES)}", kind="input")
    return dtype


def validate(arch: Any, bindings: Mapping[str, int] | None = None, device: str = "auto", *,
             dtype: str | None = None, repeats: int = 20, warmup: int = 3,
             threads: int | None = None, rf: bool = False,
             max_bytes: int | str | None = None, memory_tolerance: float = 0.25,
             progress: bool = False, profile: DeviceProfile | str | Path | None = None
             ) -> ValidationReport:
    """Build ``arch`` in torch under ``bindings`` (every size bound), run it on ``device``
    (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) and compare every prediction with what torch
    does; see the module docstring for what is measured and how.

    ``dtype``: float32, float64, bfloat16 or float16 (default: the architecture's input dtype
    when it is one of these, else float32); memory predictions use its size. ``repeats`` timed
    runs after ``warmup`` untimed ones (``repeats=0`` skips timing); ``threads`` sets torch's
    CPU thread count for the run. ``rf`` measures receptive fields by autograd. ``max_bytes``
    is the memory budget (default ``$CNNCALC_VALIDATE_MAX_BYTES`` or 2 GiB); a run predicted to
    need more is refused before anything is allocated. ``memory_tolerance`` is the relative
    difference allowed between predicted and measured CUDA peak memory. ``progress`` draws a
    bar on stderr when it is a terminal. ``profile`` (a :class:`cnncalc.cost.DeviceProfile` or
    the path of one) puts predicted time next to measured time, per layer and in total; a
    prediction is evidence, never a mismatch.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise CnnCalcError(f"repeats must be a non-negative integer, got {repeats!r}",
                           kind="input")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise CnnCalcError(f"warmup must be a non-negative integer, got {warmup!r}",
                           kind="input")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise CnnCalcError(f"threads must be a positive integer, got {threads!r}",
                           kind="input")
    a = load(arch)
    dt = _resolve_dtype(a.input.dtype, dtype)
    if dt != a.input.dtype:
        a = a.model_copy(update={"input": a.input.model_copy(update={"dtype": dt})})
    an = analyze(a, bindings)
    require_bound(an.free_symbols, "validate in torch")
    check_budget(an, budget_bytes(max_bytes), rf)
    prof = times = None
    if profile is not None:
        from ..cost import load_profile, predicted_ms  # numpy, only with a profile
        prof = load_profile(profile)
        seen = prof.context.threads if prof.context is not None else ()
        times = predicted_ms(an, prof, threads if threads in seen else None)
    torch = load_torch()
    dev = resolve_device(device)
    pin_mmap_threshold()
    old_threads = torch.get_num_threads()
    cudnn = torch.backends.cudnn
    old_bench = cudnn.benchmark
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if dev.type == "cuda":
            cudnn.benchmark = True
        report = Run(torch, an, dev, dt, repeats, warmup, rf, memory_tolerance,
                     progress).go()
        if prof is not None and times is not None:
            _add_prediction(report, prof, times)
        return report
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)
        cudnn.benchmark = old_bench


def _add_prediction(report: ValidationReport, prof: DeviceProfile, times: dict[str, float]
                    ) -> None:
    """Put the profile's predicted times next to the measured ones; note what differs."""
    for c in report.layers:
        c.predicted_ms = times.get(c.name)
    report.predicted_time_ms = sum(times.values())
    report.profile_device = str(prof.meta.get("device_name", prof.device))
    env = report.env
    if prof.device != env.device.split(":")[0] or prof.dtype != env.dtype:
        report.notes.append(f"the profile is for {prof.device} {prof.dtype}; this run is "
                            f"{env.device} {env.dtype}")
    report.notes += prof.warnings()
    threads = prof.meta.get("threads")
    if prof.context is not None and env.threads in prof.context.threads:
        threads = env.threads
    if env.device == "cpu" and threads is not None and threads != env.threads:
        report.notes.append(f"the profile was calibrated with {threads} CPU threads; this run "
                            f"used {env.threads}")
