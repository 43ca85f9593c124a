"""cnncalc: closed-form shapes, parameters, MACs, memory and receptive fields of CNNs."""

from typing import TYPE_CHECKING, Any

from .analysis import Analysis, LayerResult, ReceptiveField, Totals
from .api import analyze, load
from .compare import Comparison, compare
from .errors import CnnCalcError
from .expr import compile_expr
from .schema import LAYER_TYPES, Architecture, json_schema
from .sweep import sweep
from .zoo import zoo_json, zoo_names

__version__ = "0.1.0"

__all__ = ["LAYER_TYPES", "Analysis", "Architecture", "CnnCalcError", "LayerResult",
           "ReceptiveField", "Totals", "analyze", "compile_expr", "json_schema", "load",
           "zoo_json", "zoo_names", "__version__", "to_torch", "validate", "ValidationReport"]
__all__ += ["Comparison", "compare", "sweep"]

if TYPE_CHECKING:
    from .torch_build import to_torch
    from .validation import ValidationReport, validate

_LAZY = {"to_torch": "torch_build", "validate": "validation", "ValidationReport": "validation"}


def __getattr__(name: str) -> Any:
    """The PyTorch side (``to_torch``, ``validate``, ``ValidationReport``), imported on first
    use: ``import cnncalc`` never imports torch, and the core works without it."""
    if name not in _LAZY:
        raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
