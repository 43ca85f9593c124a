"""Build an architecture as a ``torch.nn.Module``.

Module names equal layer names: a dotted name ``layer1.0.conv1`` becomes nested containers, so
``named_modules()`` and ``FlopCounterMode``'s per-module table read like torchvision's. Each
layer's module comes from its class's builder (:mod:`cnncalc.pytorch.builders`); shapes come
from cnncalc's own analysis of the same architecture under the same bindings, which must bind
every size. The root module runs the layers in topological order, frees each output after its
last reader, and names the layer when a module raises (:class:`LayerFailure`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.analysis import Analysis
from ..core.bindings import require_bound
from ..core.graph import INPUT, expand
from ..core.load import analyze, load
from ..errors import CnnCalcError
from ..layers import Ctx
from .builders import Shape, as_ints, builder_of
from .device import load_torch

if TYPE_CHECKING:
    from torch import nn


class LayerFailure(RuntimeError):
    """A layer's module raised while the network ran; ``layer`` names it, ``error`` is the
    original exception (also the ``__cause__``)."""

    def __init__(self, layer: str, error: BaseException) -> None:
        self.layer = layer
        self.error = error
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        super().__init__(f"layer {layer!r}: {type(error).__name__}: {first}")


def to_torch(arch: Any, bindings: Mapping[str, int] | None = None) -> nn.Module:
    """The architecture as an ``nn.Module`` in eval mode, every size bound by ``bindings``.

    ``arch`` is anything :func:`cnncalc.load` reads (a zoo name, a dict, JSON, a path). Module
    names equal layer names (``layer1.0.conv1``); the root runs the layers in topological
    order, has ``layer_names``, ``layer(name)`` and ``replace(name, module)``, and raises
    :class:`LayerFailure` naming the layer when one fails. Weights are PyTorch's default
    initialisation. Needs torch; without it the error says how to install it.
    """
    return build(analyze(load(arch), bindings))


def build(an: Analysis) -> nn.Module:
    """The torch module for an analysis with every size bound."""
    require_bound(an.free_symbols, "build in torch")
    load_torch()  # a missing torch is said first, not as a failure of the first layer
    shapes: dict[str, Shape] = {INPUT: as_ints(an.input_shape)}
    for r in an.layers:
        shapes[r.name] = as_ints(r.output_shape)
    extent = tuple(an.input_shape[2:])
    net = Network()
    plan = []
    for node in expand(an.arch, dict(an.bindings)):
        ctx = Ctx(node.env, node.name, node.index, extent, [])
        try:
            module = builder_of(node.layer)(node.layer, ctx, [shapes[i] for i in node.inputs],
                                            shapes[node.name])
        except CnnCalcError as e:
            raise e.at(node.name, node.index, node.path) from None
        except (RuntimeError, ValueError, TypeError) as e:
            raise CnnCalcError(f"torch cannot build this layer: {e}", layer=node.name,
                               index=node.index, kind="torch") from None
        _attach(net, node.name, module)
        plan.append((node.name, tuple(node.inputs), module))
    net.set_plan(plan)
    net.eval()
    return net


def _register(node: Any, part: str, module: Any, name: str) -> None:
    """Add ``module`` as child ``part`` of ``node``. A name that is also an attribute of the
    module class (``layer``, ``replace``, ``eval``, ``to``...) is registered in ``_modules``
    directly: the network runs its plan and never looks children up as attributes, and
    ``get_submodule``, ``named_modules`` and ``state_dict`` see it under its own name."""
    try:
        node.add_module(part, module)
    except KeyError as e:
        if "already exists" not in str(e):
            raise CnnCalcError(f"cannot use {name!r} as a torch module name: {e}",
                               layer=name) from None
        node._modules[part] = module
    except ValueError as e:
        raise CnnCalcError(f"cannot use {name!r} as a torch module name: {e}",
                           layer=name) from None


def _attach(root: Any, name: str, module: Any) -> None:
    torch_nn = load_torch().nn
    parts = name.split(".")
    node = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        child = node._modules.get(part)
        if last:
            if child is not None:
                raise CnnCalcError(f"the name {name!r} is also the prefix of another layer's "
                                   "name; torch cannot nest a module under a layer", layer=name)
            _register(node, part, module, name)
            return
        if child is None:
            child = torch_nn.Module()
            _register(node, part, child, name)
        elif type(child) is not torch_nn.Module:
            raise CnnCalcError(f"the layer {'.'.join(parts[:i + 1])!r} is also used as a prefix "
                               f"of {name!r}", layer=name)
        node = child


def _network_class() -> Any:
    torch_nn: Any = load_torch().nn

    class Network(torch_nn.Module):
        """Runs the layers in topological order; frees each output after its last reader.

        An exception raised by a layer's module comes out as :class:`LayerFailure` naming it.
        """

        def set_plan(self, plan: list[tuple[str, tuple[str, ...], Any]]) -> None:
            last: dict[str, int] = {}
            for i, (_, ins, _) in enumerate(plan):
                for n in ins:
                    last[n] = i
            object.__setattr__(self, "_plan", plan)
            object.__setattr__(self, "_free", [
                [n for n in set(ins) if last[n] == i] for i, (_, ins, _) in enumerate(plan)])

        @property
        def layer_names(self) -> list[str]:
            """The layers in the order they run (module names)."""
            return [name for name, _, _ in self._plan]

        def layer(self, name: str) -> Any:
            """The module of the layer called ``name``."""
            for n, _, module in self._plan:
                if n == name:
                    return module
            raise KeyError(name)

        def replace(self, name: str, module: Any) -> None:
            """Swap the module of layer ``name`` (same place in the module tree and the plan)."""
            parts = name.split(".")
            node = self
            for part in parts[:-1]:
                node = node._modules[part]
            if parts[-1] not in node._modules:
                raise KeyError(name)
            node._modules[parts[-1]] = module
            self._plan[:] = [(n, ins, module if n == name else m) for n, ins, m in self._plan]

        def forward(self, x: Any) -> Any:
            vals = {INPUT: x}
            out = x
            for (name, ins, module), free in zip(self._plan, self._free, strict=True):
                try:
                    out = module(*[vals[n] for n in ins])
                except LayerFailure:
                    raise
                except Exception as e:
                    raise LayerFailure(name, e) from e
                vals[name] = out
                for n in free:
                    if n != name:
                        vals.pop(n, None)
            return out
    return Network


_NETWORK: Any = None


def Network() -> Any:  # noqa: N802 - a factory that looks like the class it makes
    """A new, empty network module (the class is made on first use, importing torch)."""
    global _NETWORK
    if _NETWORK is None:
        _NETWORK = _network_class()
    return _NETWORK()
