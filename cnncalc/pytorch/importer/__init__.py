"""``cnncalc.from_torch``: an architecture from a PyTorch module, by torch.fx tracing.

- ``trace``: torch.fx symbolic tracing (meta tracing at concrete sizes where the forward's
  control flow needs them) and shapes at one concrete size for opaque layers;
- ``convert``: the walk over the traced graph; ``modules``, ``functions`` and ``tensor_ops``:
  what each ``torch.nn`` module, function and tensor method becomes;
- ``shapes``: the layers as they are written, each applied at once (symbolic sizes);
- ``unused``: parameters the traced forward never reads.

docs/import.md is the user's guide.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...algebra.arith import is_num, start_clock
from ...core.schema import Architecture
from ...errors import CnnCalcError
from ..device import load_torch
from .blocks import blocked
from .convert import Converter
from .functions import NAMED, SUPPORTED_TEXT, tables
from .modules import MODULES
from .shapes import Stepper
from .trace import concrete_shapes, trace
from .unused import describe_unused, graph_unused, unused_parameters

__all__ = ["from_torch", "unused_parameters"]


def from_torch(module: Any, input_shape: Sequence[int | str] = ("N", 3, "H", "W"), *,
               name: str | None = None, allow_opaque: bool = False,
               blocks: bool = True) -> Architecture:
    """The architecture of ``module`` (a ``torch.nn.Module``) for inputs of ``input_shape``
    (strings are symbols, ints sizes). Layers are named by module path (``layer4.2.conv3``);
    the forward is traced in eval mode. Parameters the forward never uses are listed in the
    description (and by :func:`unused_parameters`); every module's parameter count, and the
    total, are checked against the import. An operation without a cnncalc layer is an error,
    or with ``allow_opaque`` an ``opaque`` layer (the shape traced at batch 1 and size 224
    for each symbol; counts unknown). With ``blocks``, the layers of submodules of one class
    that repeat with the same structure become ``blocks`` (expanding to the same layers)."""
    torch = load_torch()
    if not isinstance(module, torch.nn.Module):
        raise CnnCalcError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}",
                           kind="input")
    shape = list(input_shape)
    step = Stepper(shape)
    gm, numeric = trace(module, shape)
    cache: dict[str, Any] = {}

    def concrete(node: Any) -> tuple[int, ...] | None:
        if "shapes" not in cache:
            cache["shapes"] = concrete_shapes(gm, shape)
        return cache["shapes"].get(node.name)

    start_clock()  # the layers' rules run under one symbolic budget, as in an analysis
    conv = Converter(gm, step, allow_opaque=allow_opaque, concrete=concrete, named=NAMED,
                     supported=SUPPORTED_TEXT)
    fn, meth = tables()
    conv.run(MODULES, fn, meth)
    _check_total(gm, conv, step)
    unused = graph_unused(gm, module)
    title = name or type(module).__name__
    desc = f"Imported from PyTorch ({type(module).__module__}.{type(module).__name__}) by " + \
        ("torch.fx meta tracing at the concrete input size" if numeric else "torch.fx tracing")
    desc += "." + describe_unused(unused)
    if conv.opaque:
        desc += f" Opaque (uncounted) operations: {', '.join(sorted(set(conv.opaque)))}"
        n = sum(conv.opaque_params.values())
        desc += f"; they read {n:,} parameters, not counted." if n else "."
    arch = Architecture.model_validate({
        "name": title[:200], "description": desc[:2000], "input": {"shape": step.input_shape},
        "layers": step.layers})
    return blocked(arch, module) if blocks else arch


def _check_total(gm: Any, conv: Converter, step: Stepper) -> None:
    """The layers' parameters against ``sum(p.numel())`` of the parameters the forward uses."""
    if not all(is_num(v) for v in step.params):
        return
    seen: dict[int, int] = {}
    for target in conv.used:
        try:
            p = gm.get_parameter(target)
        except AttributeError:
            continue
        seen[id(p)] = int(p.numel())
    want = sum(seen.values())
    got = sum(int(v) for v in step.params)
    if got != want:
        raise CnnCalcError(f"the imported layers count {got} parameters but the module's "
                           f"forward uses {want}: some parameters are read in a way the import "
                           "does not count (a weight shared by several layers, or read "
                           "directly)", kind="input")
