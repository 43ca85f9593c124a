"""cnncalc: closed-form shapes, parameters, MACs, memory and receptive fields of CNNs.

This module is the public API and the one place that wires the wings together: the core asks
for the two things that live above it through hooks installed here, the table renderer of
:meth:`Analysis.to_table` (:mod:`cnncalc.report.tables`) and the zoo names :func:`load`
accepts (:mod:`cnncalc.zoo`). Importing any ``cnncalc`` module runs this first.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import zoo
from .algebra.expr import compile_expr, compile_formula
from .core.analysis import Analysis, LayerResult, ReceptiveField, Totals, set_table_renderer
from .core.analysis import set_explainer as _set_explainer
from .core.load import ArchLike, load, set_catalog
from .core.load import analyze as _analyze
from .core.schema import LAYER_TYPES, Architecture, json_schema
from .errors import CnnCalcError
from .report import conventions as _conventions
from .report.compare import Comparison, compare
from .report.explain import explain as _explain
from .report.sweep import sweep
from .report.tables import render as _render_table
from .zoo import zoo_json, zoo_names

set_table_renderer(_render_table)
_set_explainer(_explain)
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


def analyze(arch: ArchLike, bindings: Mapping[str, int] | None = None, *,
            convention: str = "cnncalc") -> Analysis:
    """Analyse an architecture: per-layer shapes, params, MACs, memory and receptive fields as
    formulas in its free sizes, numbers where ``bindings`` bind them.

    ``convention`` (``cnncalc``, ``torchinfo``, ``fvcore``, ``ptflops``, ``thop``,
    ``lecture``): also give the totals that tool reports, reproduced from the layers by its
    rules, in ``an.convention`` and in every output (docs/conventions.md); the analysis's own
    totals are unchanged. An unknown name is a :class:`CnnCalcError` (kind ``input``) that
    lists them."""
    _conventions.check_name(convention)
    return _conventions.apply(_analyze(arch, bindings), convention)


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
