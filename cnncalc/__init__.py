"""cnncalc: closed-form shapes, parameters, MACs, memory and receptive fields of CNNs.

This module is the public API. Every name is imported on first use (:func:`__getattr__`), so
``import cnncalc`` (and every ``cnncalc`` command, which imports it first) costs what Python's
start costs, and a command imports only the wings it needs: a bound analysis never imports
sympy, and torch and onnx only where asked for. The core asks for the two things that live
above it, the table renderer of :meth:`Analysis.to_table` (:mod:`cnncalc.report.tables`) and
the zoo names :func:`load` accepts (:mod:`cnncalc.zoo`), through :mod:`cnncalc.hooks`.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .algebra.expr import compile_expr, compile_formula
    from .batch import analyze_many
    from .core.analysis import Analysis, LayerResult, ReceptiveField, Totals
    from .core.load import ArchLike, load
    from .core.schema import LAYER_TYPES, Architecture, json_schema
    from .errors import CnnCalcError
    from .onnx import from_onnx
    from .pytorch.build import to_torch
    from .pytorch.importer import from_torch
    from .pytorch.validation import ValidationReport, validate
    from .report.compare import Comparison, compare
    from .report.sweep import sweep
    from .zoo import zoo_json, zoo_names

__version__ = "0.1.0"

__all__ = ["LAYER_TYPES", "Analysis", "Architecture", "CnnCalcError", "LayerResult",
           "ReceptiveField", "Totals", "analyze", "compile_expr", "compile_formula",
           "json_schema", "load", "zoo_json", "zoo_names", "__version__", "to_torch", "validate",
           "ValidationReport"]
__all__ += ["Comparison", "compare", "sweep", "from_onnx", "from_torch", "analyze_many"]


def analyze(arch: "ArchLike", bindings: Mapping[str, int] | None = None, *,
            convention: str = "cnncalc") -> "Analysis":
    """Analyse an architecture: per-layer shapes, params, MACs, memory and receptive fields as
    formulas in its free sizes, numbers where ``bindings`` bind them.

    ``convention`` (``cnncalc``, ``torchinfo``, ``fvcore``, ``ptflops``, ``thop``,
    ``lecture``): also give the totals that tool reports, reproduced from the layers by its
    rules, in ``an.convention`` and in every output (docs/conventions.md); the analysis's own
    totals are unchanged. An unknown name is a :class:`CnnCalcError` (kind ``input``) that
    lists them."""
    from .core.load import analyze as _analyze
    from .report import conventions

    conventions.check_name(convention)
    return conventions.apply(_analyze(arch, bindings), convention)


_LAZY = {"compile_expr": "algebra.expr", "compile_formula": "algebra.expr",
         "Analysis": "core.analysis", "LayerResult": "core.analysis",
         "ReceptiveField": "core.analysis", "Totals": "core.analysis",
         "ArchLike": "core.load", "load": "core.load",
         "LAYER_TYPES": "core.schema", "Architecture": "core.schema",
         "json_schema": "core.schema", "CnnCalcError": "errors",
         "Comparison": "report.compare", "compare": "report.compare", "sweep": "report.sweep",
         "zoo_json": "zoo", "zoo_names": "zoo", "analyze_many": "batch",
         "to_torch": "pytorch.build", "validate": "pytorch.validation",
         "ValidationReport": "pytorch.validation", "from_torch": "pytorch.importer",
         "from_onnx": "onnx"}
"""Public name -> the module (under ``cnncalc``) that defines it."""


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (:data:`_LAZY`), or a module of the
    package (``cnncalc.zoo``): ``import cnncalc`` imports none of the wings, nor torch, onnx,
    sympy, numpy or pydantic."""
    import importlib
    import importlib.util
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif name.isidentifier() and not name.startswith("_") and \
            importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)  # a module: ``cnncalc.zoo``
    else:
        raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
