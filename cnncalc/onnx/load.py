"""Reading an ONNX file and checking it, without running anything from it.

The model is parsed by ``onnx.load`` with external data left unread (only shapes of weights
are needed) and checked by ``onnx.checker``; no custom-op library is loaded and no runtime
is started. Every failure is one :class:`~cnncalc.errors.CnnCalcError` of kind ``input``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import CnnCalcError

INSTALL_HINT = "ONNX support needs the onnx package: pip install 'cnncalc[onnx]'"
MIN_OPSET = 7
"""The oldest default-domain opset read (older ones changed attributes this reader ignores)."""
MAX_BYTES = 2 * 1024**3
"""Protobuf's own limit on one message: a larger file cannot be a model with inline weights."""


def load_onnx() -> Any:
    """The ``onnx`` module; a :class:`CnnCalcError` (kind 'dependency') when it is missing."""
    try:
        import onnx
    except ImportError:
        raise CnnCalcError(INSTALL_HINT, kind="dependency") from None
    return onnx


def read_model(source: Any) -> tuple[Any, str]:
    """The checked ``ModelProto`` of ``source`` (a path or a ``ModelProto``) and a name for it
    (the file's stem, or the graph's name)."""
    onnx = load_onnx()
    if isinstance(source, onnx.ModelProto):
        model, label = source, "the ONNX model"
    elif isinstance(source, (str, os.PathLike)):
        model, label = _parse(onnx, Path(source)), str(source)
    else:
        raise CnnCalcError(f"from_onnx takes a file path or an onnx.ModelProto, got "
                           f"{type(source).__name__}", kind="input")
    _check(onnx, model, label)
    stem = Path(source).stem if isinstance(source, (str, os.PathLike)) else ""
    return model, stem or model.graph.name or "network"


def _parse(onnx: Any, path: Path) -> Any:
    if not path.is_file():
        raise CnnCalcError(f"{path}: no such file", kind="input")
    size = path.stat().st_size
    if size == 0:
        raise CnnCalcError(f"{path}: the file is empty, not an ONNX model", kind="input")
    if size > MAX_BYTES:
        raise CnnCalcError(f"{path}: {size} bytes is more than an ONNX protobuf can hold "
                           "(2 GiB); save the weights as external data", kind="input")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf's DecodeError and friends: the bytes are not a model
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CnnCalcError(f"{path}: not an ONNX model, or a truncated one (protobuf: {why})",
                           kind="input") from None
    if not model.HasField("graph") or not model.graph.node:
        raise CnnCalcError(f"{path}: not an ONNX model (no graph in the file)", kind="input")
    return model


def _check(onnx: Any, model: Any, label: str) -> None:
    """onnx's structural checks (of the model without its weights: external data is never
    looked for), and an opset this reader knows."""
    if not model.opset_import:
        raise CnnCalcError(f"{label}: declares no opset (a truncated file?)", kind="input")
    default = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if default and default[0] < MIN_OPSET:
        raise CnnCalcError(f"{label}: opset {default[0]} is older than the oldest supported "
                           f"({MIN_OPSET}); convert it with onnx.version_converter",
                           kind="input")
    try:
        onnx.checker.check_model(_skeleton(onnx, model))
    except Exception as e:  # onnx.checker.ValidationError, or a too-new IR version
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CnnCalcError(f"{label}: not a valid ONNX model ({_short(why)})",
                           kind="input") from None


def _skeleton(onnx: Any, model: Any) -> Any:
    """The model without its weights, for the checker: each initializer becomes a graph input
    of its type and shape (so every check but the data's own size still applies, and a
    100 MB model is not re-read or re-serialised)."""
    skel = onnx.ModelProto()
    _copy(model, skel, ("graph",))
    g = skel.graph
    _copy(model.graph, g, ("initializer", "sparse_initializer"))
    have = {i.name for i in g.input}
    for t in model.graph.initializer:
        if t.name not in have:
            g.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, t.dims))
    return skel


def _copy(src: Any, dst: Any, leave: tuple[str, ...]) -> None:
    """Every field of the protobuf message ``src`` set on ``dst``, except those in ``leave``."""
    for f, v in src.ListFields():
        if f.name in leave:
            continue
        if hasattr(v, "extend"):  # a repeated field
            getattr(dst, f.name).extend(v)
        elif f.message_type is not None:
            getattr(dst, f.name).CopyFrom(v)
        else:
            setattr(dst, f.name, v)


def _short(text: str, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def opset_version(model: Any) -> int:
    """The default-domain opset the model is written against."""
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return int(o.version)
    return MIN_OPSET
