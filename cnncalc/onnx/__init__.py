"""ONNX models as cnncalc architectures, and their shapes checked in onnxruntime.

:func:`from_onnx` reads a model (a file or an ``onnx.ModelProto``) without running it: named
dynamic axes (``dim_param``) become size symbols, initializers become the parameters of the
layers that use them, and size computations are evaluated symbolically. :func:`validate`
runs the model in onnxruntime and compares every output shape with the analysis. ``onnx``
and ``onnxruntime`` are imported only here, on first use (``pip install 'cnncalc[onnx]'``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.schema import Architecture
    from .runtime import OnnxValidation

__all__ = ["from_onnx", "validate"]


def from_onnx(source: str | os.PathLike[str] | Any, *, symbols: Mapping[Any, str] | None = None,
              name: str | None = None, allow_opaque: bool = False) -> Architecture:
    """The architecture of an ONNX model.

    ``source`` is a path or an ``onnx.ModelProto``. ``symbols`` renames the input's named
    axes (``{"batch_size": "N", "height": "H"}``) or names an axis that has no name
    (``{0: "N"}``, by position). ``name`` is the architecture's name (default: the file's
    stem). ``allow_opaque`` records an op cnncalc does not support as an ``opaque`` layer
    (where that layer type exists) instead of failing. Every problem is one
    :class:`~cnncalc.errors.CnnCalcError` (kind ``input``) naming the node.
    """
    from .load import read_model
    from .ops import convert
    model, stem = read_model(source)
    cv = convert(model, symbols=symbols, allow_opaque=allow_opaque)
    return cv.architecture(name or stem)


def validate(arch: Architecture | str | os.PathLike[str] | None,
             model: str | os.PathLike[str] | Any, bindings: Mapping[str, int] | None = None,
             *, symbols: Mapping[Any, str] | None = None, allow_opaque: bool = False,
             seed: int = 0) -> OnnxValidation:
    """Run ``model`` in onnxruntime at ``bindings`` and compare shapes with the analysis of
    ``arch`` (default: ``from_onnx(model)``); see :mod:`cnncalc.onnx.runtime`."""
    from .runtime import validate_onnx
    return validate_onnx(arch, model, bindings, symbols=symbols, allow_opaque=allow_opaque,
                         seed=seed)
