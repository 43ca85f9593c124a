"""Torch itself and the device to run on: the wing's one ``import torch``, one device parser.

Every module of this wing gets torch from :func:`load_torch`, so importing cnncalc (or this
package) never imports it, and a missing torch is one clear error that says how to install it.
"""

from __future__ import annotations

import platform
from typing import Any

from ..errors import CnnCalcError

INSTALL_HINT = ("PyTorch is not installed: pip install 'cnncalc[torch]', or for the CPU build "
                "(about 200 MB, no GPU) pip install torch==2.13.0 --index-url "
                "https://download.pytorch.org/whl/cpu")


def load_torch() -> Any:
    """The ``torch`` module; a :class:`CnnCalcError` (kind 'dependency') when it is missing."""
    try:
        import torch
    except ImportError:
        raise CnnCalcError(INSTALL_HINT, kind="dependency") from None
    return torch


def resolve_device(spec: str) -> Any:
    """The ``torch.device`` for ``spec``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when
    available, else cpu); case and surrounding spaces do not matter. A device that is not
    available here or a spec outside these is a :class:`CnnCalcError` of kind 'device'."""
    torch = load_torch()
    d = str(spec).strip().lower()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d == "cpu":
        return torch.device("cpu")
    index = d[5:] if d.startswith("cuda:") else None
    if d != "cuda" and not (index and index.isascii() and index.isdigit()):
        raise CnnCalcError(f"unknown device {spec!r}; one of cpu, cuda, cuda:N, auto",
                           kind="device")
    if not torch.cuda.is_available():
        built = "without CUDA" if torch.version.cuda is None else \
            f"with CUDA {torch.version.cuda}, but no GPU is visible"
        raise CnnCalcError(f"--device {spec}: CUDA is not available here (torch "
                           f"{torch.__version__}, built {built}); use --device cpu or auto",
                           kind="device")
    if index is not None and int(index) >= torch.cuda.device_count():
        raise CnnCalcError(f"no CUDA device {int(index)}; this machine has "
                           f"{torch.cuda.device_count()}", kind="device")
    return torch.device("cuda" if index is None else f"cuda:{int(index)}")


def device_name(dev: Any) -> str:
    """The GPU's name for a CUDA device, else the CPU's model name."""
    if dev.type == "cuda":
        return str(load_torch().cuda.get_device_name(dev))
    return cpu_name()


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"
