"""The public entry points: ``analyze`` and the loaders behind it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .analysis import Analysis
from .engine import run
from .errors import CnnCalcError
from .parse import parse
from .schema import Architecture
from .zoo import load_zoo, zoo_names

MAX_FILE_BYTES = 8 * 1024 * 1024


def load(arch: Architecture | Mapping[str, Any] | str | os.PathLike[str]) -> Architecture:
    """An Architecture from an Architecture, a dict, a JSON string, a file path or a zoo name."""
    if isinstance(arch, Architecture):
        return arch
    if isinstance(arch, Mapping):
        return parse(dict(arch))
    if isinstance(arch, os.PathLike):
        return _from_file(Path(arch))
    if isinstance(arch, str):
        text = arch.strip()
        if text.startswith("{"):
            return parse(_json(text, "the JSON string"))
        if text in zoo_names():
            return load_zoo(text)
        p = Path(text)
        if p.suffix == ".json" or p.exists():
            return _from_file(p)
        raise CnnCalcError(f"{arch!r} is neither a JSON file nor a zoo model "
                           f"({', '.join(zoo_names())})", kind="input")
    raise CnnCalcError(f"cannot read an architecture from {type(arch).__name__}", kind="input")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CnnCalcError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column "
                           f"{e.colno}", kind="input") from None
    except RecursionError:
        raise CnnCalcError(f"{what} is nested too deeply", kind="limit") from None


def _from_file(p: Path) -> Architecture:
    if not p.is_file():
        raise CnnCalcError(f"no such file: {p}", kind="input")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise CnnCalcError(f"{p} is larger than {MAX_FILE_BYTES} bytes", kind="limit")
    return parse(_json(p.read_text(encoding="utf-8"), str(p)))


def analyze(arch: Architecture | Mapping[str, Any] | str | os.PathLike[str],
            bindings: Mapping[str, int] | None = None) -> Analysis:
    """Analyse an architecture: per-layer shapes, params, MACs, memory and receptive fields as
    formulas in its free sizes, numbers where ``bindings`` bind them."""
    return run(load(arch), bindings)
