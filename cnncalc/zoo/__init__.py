"""Reference architectures shipped as JSON (``cnncalc zoo``): :func:`load` one by name."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from .. import envvars
from ..core.schema import Architecture
from ..errors import CnnCalcError


@functools.lru_cache(maxsize=1)
def zoo_names() -> tuple[str, ...]:
    """Names of the zoo models, sorted."""
    root = resources.files(__package__)
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json")))


def zoo_json(name: str) -> dict[str, Any]:
    """The raw JSON of a zoo model."""
    if name not in zoo_names():
        raise CnnCalcError(f"unknown zoo model {name!r}; one of {', '.join(zoo_names())}",
                           kind="input")
    data: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath(f"{name}.json").read_text("utf-8"))
    return data


def load(name: str) -> Architecture:
    """The zoo model ``name`` as a validated Architecture (never a file of that name)."""
    envvars.check()
    return _load(name)


@functools.lru_cache(maxsize=64)
def _load(name: str) -> Architecture:
    return Architecture.from_dict(zoo_json(name))


load_zoo = load  # the older name, still imported by cnncalc.commands.zoo
