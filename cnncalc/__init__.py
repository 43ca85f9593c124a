"""cnncalc: closed-form shapes, parameters, MACs, memory and receptive fields of CNNs."""

from .analysis import Analysis, LayerResult, ReceptiveField, Totals
from .api import analyze, load
from .errors import CnnCalcError
from .expr import compile_expr
from .schema import LAYER_TYPES, Architecture, json_schema
from .zoo import zoo_json, zoo_names

__version__ = "0.1.0"

__all__ = ["LAYER_TYPES", "Analysis", "Architecture", "CnnCalcError", "LayerResult",
           "ReceptiveField", "Totals", "analyze", "compile_expr", "json_schema", "load",
           "zoo_json", "zoo_names", "__version__"]
