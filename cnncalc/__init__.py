"""cnncalc: closed-form shapes, parameters, MACs, memory and receptive fields of CNNs.

This module is the public API and the one place that wires the wings together: the core asks
for the two things that live above it through hooks installed here, the table renderer of
:meth:`Analysis.to_table` (:mod:`cnncalc.report.tables`) and the zoo names :func:`load`
accepts (:mod:`cnncalc.zoo`). Importing any ``cnncalc`` module runs this first.
"""

from typing import TYPE_CHECKING, Any

from . import zoo
from .algebra.expr import compile_expr, compile_formula
from .core.analysis import Analysis, LayerResult, ReceptiveField, Totals, set_table_renderer
from .core.load import analyze, load, set_catalog
from .core.schema import LAYER_TYPES, Architecture, json_schema
from .errors import CnnCalcError
from .report.compare import Comparison, compare
from .report.sweep import sweep
from .report.tables import render as _render_table
from .zoo import zoo_json, zoo_names

set_table_renderer(_render_table)
set_catalog(zoo_names, zoo.load)

__version__ = "0.1.0"

__all__ = ["LAYER_TYPES", "Analysis", "Architecture", "CnnCalcError", "LayerResult",
           "ReceptiveField", "Totals", "analyze", "compile_expr", "compile_formula",
           "json_schema", "load", "zoo_json", "zoo_names", "__version__", "to_torch", "validate",
           "ValidationReport"]
__all__ += ["Comparison", "compare", "sweep", "from_onnx", "from_torch"]

if TYPE_CHECKING:
    from .onnx import from_onnx
    from .pytorch.build import to_torch
    from .pytorch.importer import from_torch
    from .pytorch.validation import ValidationReport, validate

_LAZY = {"to_torch": "pytorch.build", "validate": "pytorch.validation",
         "ValidationReport": "pytorch.validation", "from_torch": "pytorch.importer",
         "from_onnx": "onnx"}


def __getattr__(name: str) -> Any:
    """The PyTorch side (``to_torch``, ``validate``, ``ValidationReport``, ``from_torch``) and
    the ONNX importer (``from_onnx``), imported on first use: ``import cnncalc`` never imports
    torch or onnx, and the core works without them."""
    if name not in _LAZY:
        raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value
