"""Build an architecture as a ``torch.nn.Module``.

Module names equal layer names: a dotted name ``layer1.0.conv1`` becomes nested containers, so
``named_modules()`` and ``FlopCounterMode``'s per-module table read like torchvision's. Each
layer's module comes from its class's builder (:mod:`cnncalc.pytorch.builders`); shapes come
from cnncalc's own analysis of the same architecture under the same bindings, which must bind
every size. The root module runs the layers in topological order, frees each output after its
last reader, and names the layer when a module raises (:class:`LayerFailure`).

A layer whose name is a prefix of another's (``bn1`` and ``bn1.act``, timm's
``BatchNormAct2d``) holds that layer's module as a child, as in PyTorch, so module paths and
``state_dict`` keys stay the layer names. The root still runs every layer itself (a module
never runs the layers nested in it), and ``layer_parameters(name)`` gives a layer's own
parameters, without the nested layers'.
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
    names equal layer names (``layer1.0.conv1``; ``bn1.act`` is a child of layer ``bn1``'s
    module); the root runs the layers in topological order, has ``layer_names``,
    ``layer(name)``, ``layer_parameters(name)`` and ``replace(name, module)``, and raises
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
        for j, part in enumerate(r.output_shapes):  # a split's outputs, read as "NAME.j"
            shapes[f"{r.name}.{j}"] = as_ints(part)
    extent = tuple(an.input_shape[2:])
    net = Network()
    tree = _Tree(net)
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
        tree.attach(node.name, module)
        plan.append((node.name, tuple(node.inputs), module))
    net.set_plan(plan, tree.foreign)
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


class _Tree:
    """Places each layer's module at its dotted name under the root. Path parts that name no
    layer are plain ``nn.Module`` containers; a layer whose name is a prefix of others' holds
    them (their modules or containers) as children besides its own submodules. ``foreign``
    keeps, per layer, the names of those children (its own parameters leave them out)."""

    def __init__(self, root: Any) -> None:
        self.nn = load_torch().nn
        self.root = root
        self.placed: dict[int, str] = {id(root): ""}  # our modules -> their name
        self.layers: set[str] = set()
        self.foreign: dict[str, list[str]] = {}

    def _host(self, node: Any, path: str, part: str, name: str) -> None:
        """Check that ``part`` can be a child of ``node`` (at ``path``) holding layer
        ``name``: a layer's module must not have a submodule of that name already, nor run its
        children itself (a ``Sequential`` would run the nested layer too)."""
        if path not in self.layers:
            return
        if part in node._modules:
            raise CnnCalcError(f"the torch module of layer {path!r} has a submodule {part!r} "
                               f"of its own, so layer {name!r} cannot be placed at that name",
                               layer=name)
        if isinstance(node, (self.nn.Sequential, self.nn.ModuleList, self.nn.ModuleDict)):
            raise CnnCalcError(f"the torch module of layer {path!r} is a "
                               f"{type(node).__name__}, which would run layer {name!r} nested "
                               "in it; rename one of the two layers", layer=name)
        self.foreign.setdefault(path, []).append(part)

    def attach(self, name: str, module: Any) -> None:
        parts = name.split(".")
        node, path = self.root, ""
        for part in parts[:-1]:
            child = node._modules.get(part)
            here = f"{path}.{part}" if path else part
            if child is None:
                self._host(node, path, part, name)
                child = self.nn.Module()
                _register(node, part, child, name)
                self.placed[id(child)] = here
            elif id(child) not in self.placed:
                raise CnnCalcError(f"the torch module of layer {path!r} has a submodule "
                                   f"{part!r} of its own, so layer {name!r} cannot be placed "
                                   "under it", layer=name)
            node, path = child, here
        last = parts[-1]
        old = node._modules.get(last)
        if old is None:
            self._host(node, path, last, name)
            _register(node, part=last, module=module, name=name)
        elif id(old) not in self.placed or self.placed[id(old)] in self.layers:
            # a submodule of a layer's module (another layer cannot be: names are unique)
            raise CnnCalcError(f"the torch module of layer {path!r} has a submodule {last!r} "
                               f"of its own, so layer {name!r} cannot be placed at that name",
                               layer=name)
        else:
            # A container made for layers listed earlier (``bn1.act`` before ``bn1``): this
            # layer's module takes its place and holds its children.
            self.layers.add(name)
            for part, child in old._modules.items():
                self._host(module, name, part, f"{name}.{part}")
                _register(module, part, child, name)
            node._modules[last] = module
        self.placed[id(module)] = name
        self.layers.add(name)


def _network_class() -> Any:
    torch_nn: Any = load_torch().nn

    class Network(torch_nn.Module):
        """Runs the layers in topological order; frees each output after its last reader.

        An exception raised by a layer's module comes out as :class:`LayerFailure` naming it.
        """

        def set_plan(self, plan: list[tuple[str, tuple[str, ...], Any]],
                     foreign: dict[str, list[str]]) -> None:
            last: dict[str, int] = {}
            for i, (_, ins, _) in enumerate(plan):
                for n in ins:
                    last[n] = i
            object.__setattr__(self, "_plan", plan)
            object.__setattr__(self, "_foreign", foreign)
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

        def layer_parameters(self, name: str) -> list[Any]:
            """The parameters of layer ``name``'s module, without those of the layers nested
            in it (``bn1.act`` in ``bn1``)."""
            module = self.layer(name)
            skip = set(self._foreign.get(name, ()))
            seen: dict[int, Any] = {id(p): p for p in module.parameters(recurse=False)}
            for part, child in module.named_children():
                if part not in skip:
                    seen.update((id(p), p) for p in child.parameters())
            return list(seen.values())

        def replace(self, name: str, module: Any) -> None:
            """Swap the module of layer ``name`` (same place in the module tree and the plan);
            the layers nested in the old module move to the new one."""
            parts = name.split(".")
            node = self
            for part in parts[:-1]:
                node = node._modules[part]
            if parts[-1] not in node._modules:
                raise KeyError(name)
            old = node._modules[parts[-1]]
            for part in self._foreign.get(name, ()):
                if part in module._modules:
                    raise ValueError(f"the new module of layer {name!r} has a submodule "
                                     f"{part!r}, the name of a layer nested in it")
                module._modules[part] = old._modules[part]
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
                if isinstance(out, tuple):  # several outputs (split, chunk): "NAME.0", ...
                    vals.update((f"{name}.{j}", part) for j, part in enumerate(out))
                else:
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
