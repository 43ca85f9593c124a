"""sympy, imported on first use.

A bound analysis runs on Python ints and never needs sympy (about 0.4 s to import); modules on
that path write ``from ..algebra.lazy import sympy`` (under ``if not TYPE_CHECKING``, with a
plain ``import sympy`` for the type checker) and use ``sympy.X`` as usual. The first attribute
read imports sympy and copies its namespace into the proxy, so later reads cost what a module
attribute costs. ``"sympy" in sys.modules`` tells whether anything has needed it.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

_REAL_DUNDERS = frozenset({"__version__", "__all__", "__file__", "__path__"})
"""Special names that are the module's own: reading one imports it."""


class LazyModule(ModuleType):
    """A stand-in for the module ``name`` that imports it on the first attribute read."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_name"] = name

    def __getattr__(self, attr: str) -> Any:
        # Only called for names not yet in the proxy's namespace.
        if attr.startswith("__") and attr.endswith("__") and attr not in _REAL_DUNDERS and \
                self.__dict__["_lazy_name"] not in sys.modules:
            raise AttributeError(attr)  # introspection (copy, pickle, doctest) imports nothing
        real = importlib.import_module(self.__dict__["_lazy_name"])
        self.__dict__.update({k: v for k, v in vars(real).items()
                              if k not in ("__name__", "__spec__", "__loader__")})
        return getattr(real, attr)

    def loaded(self) -> bool:
        """Whether the real module has been imported (by anyone)."""
        return self.__dict__["_lazy_name"] in sys.modules


sympy: Any = LazyModule("sympy")
"""The proxy for :mod:`sympy`."""
