"""The public entry points :func:`load` and :func:`analyze`, and what they accept.

:func:`load` takes anything that names an architecture (:data:`ArchLike`), in this order:

1. an :class:`~cnncalc.core.schema.Architecture`, as it is;
2. a mapping (parsed JSON), validated;
3. an ``os.PathLike`` (``Path("net.json")``): always a file;
4. a string: JSON text when it starts with ``{``; else a zoo model name; else a file path.
   A string that is a zoo name *and* an existing file is refused (kind ``input``), never
   guessed: write ``./resnet50`` or pass a ``Path`` for the file, or call
   :func:`cnncalc.zoo.load` for the model.

The explicit helpers take one kind each: ``Architecture.from_dict``, ``from_json``,
``from_file`` and :func:`cnncalc.zoo.load`.

The zoo lives above the core (it loads through it), so the core asks for zoo names through a
catalog (:func:`set_catalog`); this module installs the one of :mod:`cnncalc.hooks` (the zoo,
imported on first use), and with it the table renderer and the explainer of
:class:`~cnncalc.core.analysis.Analysis` (the report wing, likewise imported on first use).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import envvars, hooks
from ..errors import CnnCalcError
from .analysis import Analysis, set_explainer, set_table_renderer
from .engine import run
from .parse import read_text
from .schema import Architecture

__all__ = ["ArchLike", "analyze", "load", "read_text", "set_catalog"]

ArchLike = Architecture | Mapping[str, Any] | str | os.PathLike[str]
"""What :func:`load` and every function built on it (analyze, sweep, compare...) accept."""

_catalog: tuple[Callable[[], Sequence[str]], Callable[[str], Architecture]] | None = None


def set_catalog(names: Callable[[], Sequence[str]], get: Callable[[str], Architecture]) -> None:
    """Install the named architectures :func:`load` knows: ``names()`` lists them and
    ``get(name)`` loads one (:mod:`cnncalc` installs the zoo)."""
    global _catalog
    _catalog = (names, get)


def _names() -> Sequence[str]:
    return _catalog[0]() if _catalog is not None else ()


set_catalog(hooks.zoo_names, hooks.zoo_load)
set_table_renderer(hooks.render_table)
set_explainer(hooks.explain)


def load(arch: ArchLike) -> Architecture:
    """An Architecture from an Architecture, a dict, a JSON string, a zoo name or a file path
    (in that order for strings; a name that is also a file is refused, see the module)."""
    envvars.check()
    if isinstance(arch, Architecture):
        return arch
    if isinstance(arch, Mapping):
        return Architecture.from_dict(dict(arch))
    if isinstance(arch, os.PathLike):
        return Architecture.from_file(arch)
    if isinstance(arch, str):
        text = arch.strip()
        if text.startswith("{"):
            return Architecture.from_json(text)
        p = Path(text)
        if _catalog is not None and text in _names():
            if _is_file(p):
                raise CnnCalcError(
                    f"{text!r} is both a zoo model and a file here; write ./{text} (or pass a "
                    f"Path, or use Architecture.from_file) for the file, or "
                    f"cnncalc.zoo.load({text!r}) for the zoo model", kind="input")
            return _catalog[1](text)
        if p.suffix == ".json" or _exists(p):
            return Architecture.from_file(p)
        raise CnnCalcError(f"{arch!r} is neither a JSON file nor a zoo model "
                           f"({', '.join(_names())})", kind="input")
    raise CnnCalcError(f"cannot read an architecture from {type(arch).__name__}", kind="input")


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _is_file(p: Path) -> bool:
    try:
        return p.is_file()
    except (OSError, ValueError):
        return False


def analyze(arch: ArchLike, bindings: Mapping[str, int] | None = None) -> Analysis:
    """Analyse an architecture: per-layer shapes, params, MACs, memory and receptive fields as
    formulas in its free sizes, numbers where ``bindings`` bind them."""
    return run(load(arch), bindings)
