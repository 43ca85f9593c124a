"""The public entry points: ``analyze`` and the loaders behind it."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import envvars
from .analysis import Analysis
from .engine import run
from .errors import CnnCalcError
from .parse import parse
from .schema import Architecture
from .zoo import load_zoo, zoo_names

MAX_FILE_BYTES = 8 * 1024 * 1024


def load(arch: Architecture | Mapping[str, Any] | str | os.PathLike[str]) -> Architecture:
    """An Architecture from an Architecture, a dict, a JSON string, a file path or a zoo name."""
    envvars.check()
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
        if p.suffix == ".json" or _exists(p):
            return _from_file(p)
        raise CnnCalcError(f"{arch!r} is neither a JSON file nor a zoo model "
                           f"({', '.join(zoo_names())})", kind="input")
    raise CnnCalcError(f"cannot read an architecture from {type(arch).__name__}", kind="input")


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


MAX_INT_DIGITS = 400
"""Longest integer literal read from architecture JSON (the schema bounds values further)."""


def _constant(what: str) -> Any:
    def refuse(name: str) -> Any:
        raise CnnCalcError(f"{what} holds {name}, which is not a number cnncalc accepts (JSON "
                           "has no NaN or Infinity; write a finite number)", kind="input")
    return refuse


def _json(text: str, what: str) -> Any:
    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise CnnCalcError(f"{what} holds an integer of {len(digits.lstrip('-'))} digits; "
                               f"at most {MAX_INT_DIGITS}", kind="limit")
        return int(digits)

    def parse_float(literal: str) -> float:
        v = float(literal)
        if not math.isfinite(v):
            raise CnnCalcError(f"{what} holds {literal[:40]}, a number too large for a float "
                               "(write a finite number)", kind="input")
        return v

    try:
        return json.loads(text, parse_constant=_constant(what), parse_int=parse_int,
                          parse_float=parse_float)
    except json.JSONDecodeError as e:
        raise CnnCalcError(f"{what} is not valid JSON: {e.msg} at line {e.lineno} column "
                           f"{e.colno}", kind="input") from None
    except RecursionError:
        raise CnnCalcError(f"{what} is nested too deeply", kind="limit") from None


def read_text(p: Path, what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """A user's text file as UTF-8: a missing, unreadable, oversized or non-UTF-8 file is a
    :class:`CnnCalcError` naming it (never an ``OSError`` or ``UnicodeDecodeError``)."""
    try:
        if p.is_dir():
            raise CnnCalcError(f"{p} is a directory, not a {what}", kind="input")
        if not p.is_file():
            raise CnnCalcError(f"no such file: {p}", kind="input")
        if p.stat().st_size > max_bytes:
            raise CnnCalcError(f"{p} is larger than {max_bytes} bytes", kind="limit")
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise CnnCalcError(f"cannot read {p}: {e.strerror or e}", kind="input") from None
    if len(data) > max_bytes:
        raise CnnCalcError(f"{p} is larger than {max_bytes} bytes", kind="limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise CnnCalcError(f"{p} is not UTF-8 text (byte {e.start}, line {line}); save the "
                           f"{what} as UTF-8", kind="input") from None


def _from_file(p: Path) -> Architecture:
    return parse(_json(read_text(p, "JSON file"), str(p)))


def analyze(arch: Architecture | Mapping[str, Any] | str | os.PathLike[str],
            bindings: Mapping[str, int] | None = None) -> Analysis:
    """Analyse an architecture: per-layer shapes, params, MACs, memory and receptive fields as
    formulas in its free sizes, numbers where ``bindings`` bind them."""
    return run(load(arch), bindings)
