"""Build a model from ``PKG.MODULE:FACTORY``, the spelling of ``cnncalc import torch``.

``torchvision.models:resnet50`` imports ``torchvision.models`` (the user's own choice of code to
run, as ``python -c`` would; the current directory is searched first, as there), looks up
``resnet50`` (dotted names after ``:`` go through attributes: ``pkg.mod:Class.create``), calls
it with keyword arguments from a JSON object and puts the result in eval mode. Every way this
can fail is one :class:`CnnCalcError` (kind 'input') saying what was tried. Nothing is
downloaded on the model's behalf: pretrained weights are whatever the factory's defaults are
(torchvision's and timm's are none).
"""

from __future__ import annotations

import difflib
import importlib
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import CnnCalcError
from .device import load_torch
from .tvshim import declare_torchvision_ops

EXAMPLE = "torchvision.models:resnet50"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


def parse_spec(spec: str) -> tuple[str, list[str]]:
    """``"pkg.mod:a.b"`` as ``("pkg.mod", ["a", "b"])``."""
    module, sep, attrs = spec.strip().partition(":")
    parts = attrs.split(".")
    if not sep or not module or not all(p.isidentifier() for p in parts) or not all(
            p.isidentifier() for p in module.split(".")):
        raise CnnCalcError(f"{spec[:80]!r} is not PKG.MODULE:FACTORY (e.g. {EXAMPLE}, or "
                           "timm:create_model with --kwargs '{\"model_name\": \"resnet50\"}')",
                           kind="input")
    return module, parts


def parse_kwargs(text: str | None) -> dict[str, Any]:
    """The factory's keyword arguments: a JSON object (``None`` or empty: none)."""
    if text is None or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise CnnCalcError(f"--kwargs is not JSON ({e.msg} at character {e.pos}); write a "
                           "JSON object such as '{\"num_classes\": 10}'", kind="input") from None
    if not isinstance(value, dict):
        raise CnnCalcError(f"--kwargs must be a JSON object of keyword arguments, got "
                           f"{type(value).__name__} {_one_line(text)[:40]}", kind="input")
    return value


def _import(module: str) -> Any:
    # Any module may import torchvision, which needs its operators declared first when its
    # compiled extension does not match this torch (cnncalc.pytorch.tvshim).
    declare_torchvision_ops()
    if os.getcwd() not in sys.path and "" not in sys.path:  # the console script's sys.path
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        missing = e.name or module
        if missing == module or module.startswith(missing + "."):
            raise CnnCalcError(f"no module {missing!r}: tried import {module}; is it installed "
                               "in this environment, or its folder on PYTHONPATH?",
                               kind="input") from None
        raise CnnCalcError(f"importing {module!r} failed: it imports {missing!r}, which is not "
                           "installed", kind="input") from None
    except Exception as e:
        raise CnnCalcError(f"importing {module!r} raised {type(e).__name__}: {_one_line(e)}",
                           kind="input") from None


def resolve(spec: str) -> Any:
    """The object ``spec`` (``PKG.MODULE:NAME[.NAME...]``) names, imported."""
    module, attrs = parse_spec(spec)
    obj = _import(module)
    where = module
    for name in attrs:
        if not hasattr(obj, name):
            names = [n for n in dir(obj) if not n.startswith("_")]
            close = difflib.get_close_matches(name, names, n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise CnnCalcError(f"{where!r} has no attribute {name!r} (tried {module}:"
                               f"{'.'.join(attrs)}){hint}", kind="input")
        obj = getattr(obj, name)
        where = f"{where}.{name}"
    return obj


def load_factory(spec: str, kwargs: Mapping[str, Any] | None = None) -> Any:
    """The ``torch.nn.Module`` that ``spec``'s factory returns for ``kwargs``, in eval mode."""
    load_torch()  # no torch: say how to install it, before any import of the user's
    factory = resolve(spec)
    if not callable(factory):
        raise CnnCalcError(f"{spec.strip()!r} is of type {type(factory).__name__}, not callable; "
                           "name a function or class that returns an nn.Module", kind="input")
    try:
        model = factory(**dict(kwargs or {}))
    except Exception as e:
        raise CnnCalcError(f"{spec.strip()}({_call_args(kwargs)}) raised {type(e).__name__}: "
                           f"{_one_line(e)}", kind="input") from None
    torch = load_torch()
    if not isinstance(model, torch.nn.Module):
        raise CnnCalcError(f"{spec.strip()} returned a value of type {type(model).__name__}, "
                           "not a torch.nn.Module", kind="input")
    return model.eval()


def _call_args(kwargs: Mapping[str, Any] | None) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in (kwargs or {}).items())
    return text if len(text) <= 80 else text[:77] + "..."
