"""Where the core finds the three things that live above it, named, not imported.

The core renders tables (:meth:`Analysis.to_table`), explains layers (:meth:`Analysis.explain`)
and accepts zoo names (:func:`cnncalc.core.load.load`) through hooks; :mod:`cnncalc.core.load`
installs the functions below, which import their target module on the first call. So the core
never imports the report or zoo wings at module level, and importing ``cnncalc`` (or running
``cnncalc --help``) imports neither. :data:`TARGETS` names each target as ``module:function``.
"""

from __future__ import annotations

import importlib
from typing import Any

TARGETS = {"render_table": "cnncalc.report.tables:render",
           "explain": "cnncalc.report.explain:explain",
           "zoo_names": "cnncalc.zoo:zoo_names",
           "zoo_load": "cnncalc.zoo:load",
           "apply_convention": "cnncalc.report.conventions:apply"}
"""Hook name -> ``module:function`` it calls."""


def resolve(name: str) -> Any:
    """The function a hook calls (its module imported now)."""
    module, _, func = TARGETS[name].partition(":")
    return getattr(importlib.import_module(module), func)


def render_table(*args: Any, **kwargs: Any) -> str:
    """:func:`cnncalc.report.tables.render`."""
    out: str = resolve("render_table")(*args, **kwargs)
    return out


def explain(*args: Any, **kwargs: Any) -> Any:
    """:func:`cnncalc.report.explain.explain`."""
    return resolve("explain")(*args, **kwargs)


def zoo_names() -> tuple[str, ...]:
    """:func:`cnncalc.zoo.zoo_names`."""
    names: tuple[str, ...] = resolve("zoo_names")()
    return names


def zoo_load(name: str) -> Any:
    """:func:`cnncalc.zoo.load`."""
    return resolve("zoo_load")(name)


def apply_convention(an: Any, name: str) -> Any:
    """:func:`cnncalc.report.conventions.apply`."""
    return resolve("apply_convention")(an, name)
