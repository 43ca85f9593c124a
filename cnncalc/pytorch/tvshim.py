"""Let torchvision's models import over a torch whose build its compiled ops do not match.

The torchvision wheel on PyPI is built for the CUDA build of torch. Installed (``pip install
--no-deps torchvision==0.28.0``) over the CPU build torch 2.13.0+cpu, its ``_C`` extension does
not load, and ``import torchvision`` then fails with ``operator torchvision::nms does not
exist``: the Python side registers fake (meta) kernels for its operators at import time, and
those operators were to come from ``_C``. The models themselves are pure Python and never call
these operators (only detection's box ops and ``deform_conv2d`` do).

:func:`declare_torchvision_ops` declares the operators' schemas (without kernels) when, and
only when, torchvision is installed, not yet imported, and its ``_C`` extension does not load.
Then ``import torchvision`` (and timm, which imports it) succeeds and every classification and
segmentation model builds; calling ``torchvision.ops.nms`` itself still fails, with torch's
error that the operator has no kernel for the backend. Where ``_C`` loads (a matching
torchvision, e.g. from PyTorch's wheel index) nothing is declared.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from .device import load_torch

SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "deform_conv2d(Tensor input, Tensor weight, Tensor offset, Tensor mask, Tensor bias, "
    "SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, SymInt dilation_h, "
    "SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) -> Tensor",
    "_deform_conv2d_backward(Tensor grad, Tensor input, Tensor weight, Tensor offset, "
    "Tensor mask, Tensor bias, SymInt stride_h, SymInt stride_w, SymInt pad_h, SymInt pad_w, "
    "SymInt dilation_h, SymInt dilation_w, SymInt groups, SymInt offset_groups, bool use_mask) "
    "-> (Tensor, Tensor, Tensor, Tensor, Tensor)",
    "roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "_roi_align_backward(Tensor grad, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, SymInt batch_size, SymInt channels, SymInt height, SymInt width, "
    "int sampling_ratio, bool aligned) -> Tensor",
    "qroi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor",
    "ps_roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width, int sampling_ratio) -> (Tensor, Tensor)",
    "_ps_roi_align_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
    "float spatial_scale, SymInt pooled_height, SymInt pooled_width, int sampling_ratio, "
    "SymInt batch_size, SymInt channels, SymInt height, SymInt width) -> Tensor",
    "roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_roi_pool_backward(Tensor grad, Tensor rois, Tensor argmax, float spatial_scale, "
    "SymInt pooled_height, SymInt pooled_width, SymInt batch_size, SymInt channels, "
    "SymInt height, SymInt width) -> Tensor",
    "ps_roi_pool(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, "
    "SymInt pooled_width) -> (Tensor, Tensor)",
    "_ps_roi_pool_backward(Tensor grad, Tensor rois, Tensor channel_mapping, "
    "float spatial_scale, SymInt pooled_height, SymInt pooled_width, SymInt batch_size, "
    "SymInt channels, SymInt height, SymInt width) -> Tensor",
)
"""The operators torchvision 0.28's Python side looks up at import time, as its ``_C``
defines them (``torchvision/csrc/ops/*.cpp``)."""

_LIBRARY: Any = None
"""The ``torch.library.Library`` holding the declarations: they last as long as it lives."""


def _has_ops(torch: Any) -> bool:
    return hasattr(torch.ops.torchvision, "nms")


def _extension(package_dir: str) -> Path | None:
    """torchvision's compiled ``_C`` file (``_C.so``, ``_C.cpython-...so``, ``_C.pyd``)."""
    found = sorted(Path(package_dir).glob("_C.*"))
    return next((p for p in found if p.suffix in (".so", ".pyd", ".dylib")), None)


def declare_torchvision_ops() -> bool:
    """Declare torchvision's operators when its ``_C`` extension does not load, so that
    ``import torchvision`` works (see the module docstring). True when it declared them; False
    when there was nothing to do: torchvision not installed, already imported, its extension
    loads, or the operators were declared before. Safe to call any number of times; without
    torch, a :class:`~cnncalc.errors.CnnCalcError` (kind 'dependency') that says how to
    install it."""
    global _LIBRARY
    if _LIBRARY is not None or "torchvision" in sys.modules:
        return False
    torch = load_torch()  # without torch: the error that says how to install it
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return False
    if _has_ops(torch):
        return False
    ext = _extension(next(iter(spec.submodule_search_locations)))
    if ext is not None:
        try:
            torch.ops.load_library(str(ext))  # what torchvision.extension does first
        except (ImportError, OSError):
            pass
        if _has_ops(torch):
            return False
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in SCHEMAS:
        lib.define(schema)
    _LIBRARY = lib
    return True
