"""Reference architectures shipped as JSON (``cnncalc zoo``): :func:`load` one by name."""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING, Any

from .. import envvars
from ..errors import CnnCalcError

if TYPE_CHECKING:
    from ..core.schema import Architecture


_DIR = os.path.dirname(os.path.abspath(__file__))
"""The zoo's folder (the JSON files are package data next to this module; read with ``os``,
which costs nothing to import, where :mod:`importlib.resources` costs more than the listing)."""


@functools.lru_cache(maxsize=1)
def zoo_names() -> tuple[str, ...]:
    """Names of the zoo models, sorted."""
    return tuple(sorted(f[:-5] for f in os.listdir(_DIR) if f.endswith(".json")))


def zoo_json(name: str) -> dict[str, Any]:
    """The raw JSON of a zoo model."""
    if name not in zoo_names():
        raise CnnCalcError(f"unknown zoo model {name!r}; one of {', '.join(zoo_names())}",
                           kind="input")
    with open(os.path.join(_DIR, f"{name}.json"), encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def load(name: str) -> Architecture:
    """The zoo model ``name`` as an Architecture (never a file of that name); built without
    validation (:meth:`Architecture.from_trusted`: the tests check it against validation)."""
    envvars.check()
    return _load(name)


def description(name: str) -> str:
    """The description of a zoo model, read from its JSON (nothing validated, nothing else
    imported: ``cnncalc zoo`` lists the models with it)."""
    text = zoo_json(name).get("description")
    return text if isinstance(text, str) else ""


@functools.lru_cache(maxsize=64)
def _load(name: str) -> Architecture:
    from ..core.schema import Architecture
    return Architecture.from_trusted(zoo_json(name))


load_zoo = load  # the older name, still imported by cnncalc.commands.zoo
