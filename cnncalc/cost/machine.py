"""The machine a profile describes: CPU model, cores, cache sizes and torch version, read
without importing torch, so that a prediction can warn when it runs elsewhere."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from .features import Caches


def cpu_model() -> str:
    """The CPU's model name (Linux's /proc/cpuinfo), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def torch_version() -> str | None:
    """The installed torch's version (from its metadata; torch is not imported)."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def caches() -> Caches:
    """L2 and last-level data cache sizes of CPU 0, from Linux's sysfs (0 where unknown)."""
    sizes: dict[int, int] = {}
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for d in sorted(base.glob("index*")) if base.is_dir() else []:
        try:
            level = int((d / "level").read_text())
            kind = (d / "type").read_text().strip()
            text = (d / "size").read_text().strip().upper()
            mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
            size = int(text.rstrip("KMG")) * mult
        except (OSError, ValueError):
            continue
        if kind != "Instruction":
            sizes[level] = size
    return Caches(sizes.get(2, 0), sizes[max(sizes)] if sizes else 0)


def describe() -> dict[str, Any]:
    """What a profile records of the machine it was calibrated on."""
    c = caches()
    return {"cpu": cpu_model(), "cores": os.cpu_count() or 0, "arch": platform.machine(),
            "l2_bytes": c.l2, "l3_bytes": c.l3, "torch": torch_version()}


def differences(recorded: dict[str, Any], device: str = "cpu") -> list[str]:
    """How this machine differs from the one a profile was calibrated on, as warnings (none
    when the profile records nothing to compare). CPU profiles compare the CPU model and core
    count; every profile compares the torch version."""
    out: list[str] = []
    if not recorded:
        return out
    now = describe()
    if device == "cpu":
        for key, what in (("cpu", "CPU"), ("cores", "core count")):
            if recorded.get(key) not in (None, now[key]):
                out.append(f"the profile was calibrated on another machine ({what} "
                           f"{recorded[key]!r}, here {now[key]!r}): its times may not hold here")
    if recorded.get("torch") and now["torch"] and recorded["torch"] != now["torch"]:
        out.append(f"the profile was calibrated with torch {recorded['torch']}, here torch "
                   f"{now['torch']} runs: kernels and their times may differ")
    return out
