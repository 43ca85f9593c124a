"""Reference architectures shipped as JSON (``cnncalc zoo``)."""

from __future__ import annotations

import functools
import json
from importlib import resources

from ..errors import CnnCalcError
from ..schema import Architecture


@functools.lru_cache(maxsize=1)
def zoo_names() -> tuple[str, ...]:
    """Names of the zoo models, sorted."""
    root = resources.files(__package__)
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".json")))


def zoo_json(name: str) -> dict:
    """The raw JSON of a zoo model."""
    if name not in zoo_names():
        raise CnnCalcError(f"unknown zoo model {name!r}; one of {', '.join(zoo_names())}",
                           kind="input")
    return json.loads(resources.files(__package__).joinpath(f"{name}.json").read_text("utf-8"))


@functools.lru_cache(maxsize=64)
def load_zoo(name: str) -> Architecture:
    """A zoo model as a validated Architecture."""
    return Architecture.model_validate(zoo_json(name))
