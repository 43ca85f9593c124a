"""Build an architecture as a ``torch.nn.Module`` (torch is imported lazily, only here).

Module names equal layer names: a dotted name ``layer1.0.conv1`` becomes nested containers, so
``named_modules()`` and ``FlopCounterMode``'s per-module table read like torchvision's. Every
layer type has a builder in ``BUILDERS`` (a test checks the union is covered). Shapes come from
cnncalc's own analysis of the same architecture under the same bindings, which must bind every
size. The root module runs the layers in topological order, frees each output after its last
reader, and names the layer when a module raises (:class:`LayerFailure`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .analysis import Analysis
from .arith import is_num
from .errors import CnnCalcError
from .graph import INPUT, expand
from .layers.base import Ctx, resolve_padding

if TYPE_CHECKING:
    from torch import nn

INSTALL_HINT = ("PyTorch is not installed: pip install 'cnncalc[torch]' (or pip install "
                "torch==2.13.0 for the CPU build)")


class LayerFailure(RuntimeError):
    """A layer's module raised while the network ran; ``layer`` names it, ``error`` is the
    original exception (also the ``__cause__``)."""

    def __init__(self, layer: str, error: BaseException) -> None:
        self.layer = layer
        self.error = error
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        super().__init__(f"layer {layer!r}: {type(error).__name__}: {first}")


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise CnnCalcError(INSTALL_HINT, kind="dependency") from None
    return torch


Builder = Callable[[Any, Ctx, list[tuple[int, ...]], tuple[int, ...]], "nn.Module"]
BUILDERS: dict[str, Builder] = {}


def builder(*types: str) -> Callable[[Builder], Builder]:
    """Register ``fn`` as the torch builder of the given layer types."""
    def reg(fn: Builder) -> Builder:
        for t in types:
            BUILDERS[t] = fn
        return fn
    return reg


def _ints(vals: Any) -> tuple[int, ...]:
    out = tuple(vals)
    if not all(is_num(v) for v in out):
        raise CnnCalcError(f"sizes {out} are not all bound; bind every symbol to build in torch")
    return out  # type: ignore[return-value]


def _pads(layer: Any, ctx: Ctx, ins: tuple[int, ...], k: tuple[int, ...],
          s: tuple[int, ...], d: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    k_eff = tuple(di * (ki - 1) + 1 for ki, di in zip(k, d, strict=True))
    return tuple((int(a), int(b)) for a, b in resolve_padding(layer.padding, len(k), k_eff, s,
                                                              ins[2:], ctx))


def _flat_pad(pads: tuple[tuple[int, int], ...]) -> tuple[int, ...]:
    """F.pad order: last axis first, (before, after) each."""
    out: list[int] = []
    for b, a in reversed(pads):
        out += [b, a]
    return tuple(out)


def _nn() -> Any:
    return _torch().nn


def _padded(cls: Any, pads: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
    """An instance-compatible subclass of ``cls`` that pads explicitly before its forward (for
    asymmetric and TensorFlow-style 'same' padding); parameters keep their names."""
    functional = _torch().nn.functional
    flat = _flat_pad(pads)

    class Padded(cls):  # type: ignore[misc,valid-type]
        explicit_padding = flat  # F.pad order; read by the receptive-field probe

        def forward(self, x: Any) -> Any:
            return super().forward(functional.pad(x, flat, value=value))
    Padded.__name__ = f"Padded{cls.__name__}"
    return Padded


@builder("conv")
def _conv(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    x = ins[0]
    nd = len(x) - 2
    k = _ints(ctx.axes(layer.kernel_size, nd, "kernel_size"))
    s = _ints(ctx.axes(layer.stride, nd, "stride"))
    d = _ints(ctx.axes(layer.dilation, nd, "dilation"))
    g = int(ctx.val(layer.groups, "groups"))  # type: ignore[arg-type]
    pads = _pads(layer, ctx, x, k, s, d)
    cls = getattr(_nn(), f"Conv{nd}d")
    if all(b == a for b, a in pads):
        return cls(x[1], out[1], k, s, tuple(b for b, _ in pads), d, g, layer.bias)
    return _padded(cls, pads)(x[1], out[1], k, s, 0, d, g, layer.bias)


@builder("conv_transpose")
def _conv_t(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    x = ins[0]
    nd = len(x) - 2
    ax = lambda f, n, m=1: _ints(ctx.axes(getattr(layer, f), nd, n, m))  # noqa: E731
    cls = getattr(_nn(), f"ConvTranspose{nd}d")
    return cls(x[1], out[1], ax("kernel_size", "kernel_size"), ax("stride", "stride"),
               ax("padding", "padding", 0), ax("output_padding", "output_padding", 0),
               int(ctx.val(layer.groups, "groups")), layer.bias,  # type: ignore[arg-type]
               ax("dilation", "dilation"))


@builder("separable_conv")
def _separable(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    nn = _nn()
    x = ins[0]
    nd = len(x) - 2
    k = _ints(ctx.axes(layer.kernel_size, nd, "kernel_size"))
    s = _ints(ctx.axes(layer.stride, nd, "stride"))
    d = _ints(ctx.axes(layer.dilation, nd, "dilation"))
    m = int(ctx.val(layer.depth_multiplier, "depth_multiplier"))  # type: ignore[arg-type]
    pads = _pads(layer, ctx, x, k, s, d)
    cls = getattr(nn, f"Conv{nd}d")
    if all(b == a for b, a in pads):
        dw = cls(x[1], x[1] * m, k, s, tuple(b for b, _ in pads), d, x[1], False)
    else:
        dw = _padded(cls, pads)(x[1], x[1] * m, k, s, 0, d, x[1], False)
    seq = nn.Sequential()
    seq.add_module("depthwise", dw)
    seq.add_module("pointwise", cls(x[1] * m, out[1], 1, bias=layer.bias))
    return seq


def _pool(kind: str) -> Builder:
    def build(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
        x = ins[0]
        nd = len(x) - 2
        k = _ints(ctx.axes(layer.kernel_size, nd, "kernel_size"))
        s = _ints(ctx.axes(layer.stride if layer.stride is not None else layer.kernel_size, nd,
                           "stride"))
        d = _ints(ctx.axes(getattr(layer, "dilation", 1), nd, "dilation"))
        pads = _pads(layer, ctx, x, k, s, d)
        sym = all(b == a for b, a in pads)
        p = tuple(b for b, _ in pads) if sym else 0
        cls = getattr(_nn(), f"{kind}Pool{nd}d")
        if kind == "Max":
            args: tuple[Any, ...] = (k, s, p, d, False, layer.ceil_mode)
            fill = float("-inf")
        else:
            if not sym and not layer.count_include_pad:
                raise CnnCalcError("asymmetric avg_pool padding with count_include_pad=false "
                                   "has no PyTorch equivalent", layer=ctx.name)
            args, fill = (k, s, p, layer.ceil_mode, layer.count_include_pad), 0.0
        return cls(*args) if sym else _padded(cls, pads, fill)(*args)
    return build


BUILDERS["max_pool"] = _pool("Max")
BUILDERS["avg_pool"] = _pool("Avg")


@builder("adaptive_avg_pool", "adaptive_max_pool")
def _adaptive(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    nd = len(ins[0]) - 2
    kind = "Avg" if layer.type == "adaptive_avg_pool" else "Max"
    return getattr(_nn(), f"Adaptive{kind}Pool{nd}d")(out[2:])


@builder("global_avg_pool")
def _global(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    nn = _nn()
    nd = len(ins[0]) - 2
    pool = getattr(nn, f"AdaptiveAvgPool{nd}d")(1)
    return pool if layer.keepdim else nn.Sequential(pool, nn.Flatten(1))


@builder("linear")
def _linear(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _nn().Linear(ins[0][-1], out[-1], layer.bias)


@builder("flatten")
def _flatten(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _nn().Flatten(layer.start_dim, layer.end_dim)


@builder("batch_norm")
def _bn(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    nd = max(len(ins[0]) - 2, 1)
    return getattr(_nn(), f"BatchNorm{nd}d")(ins[0][1], layer.eps, layer.momentum, layer.affine,
                                             layer.track_running_stats)


@builder("layer_norm")
def _ln(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    k = layer.normalized_dims if layer.normalized_dims is not None else len(ins[0]) - 1
    return _nn().LayerNorm(ins[0][-k:], layer.eps, layer.elementwise_affine)


@builder("group_norm")
def _gn(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _nn().GroupNorm(int(ctx.val(layer.num_groups, "num_groups")), ins[0][1],  # type: ignore[arg-type]
                           layer.eps, layer.affine)


@builder("dropout")
def _dropout(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _nn().Dropout(layer.p)


_SIMPLE = {"identity": "Identity", "relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU",
           "sigmoid": "Sigmoid", "tanh": "Tanh", "hardswish": "Hardswish"}


@builder(*_SIMPLE)
def _simple(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return getattr(_nn(), _SIMPLE[layer.type])()


@builder("leaky_relu")
def _leaky(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _nn().LeakyReLU(layer.negative_slope)


@builder("gelu")
def _gelu(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _nn().GELU(layer.approximate)


@builder("softmax")
def _softmax(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _nn().Softmax(layer.dim)


def _merge_module(kind: str, dim: int = 1) -> Any:
    nn, torch = _nn(), _torch()

    class Merge(nn.Module):  # type: ignore[misc,name-defined]
        """Element-wise sum or product, or concatenation, of the inputs."""

        def __init__(self) -> None:
            super().__init__()
            self.kind, self.dim = kind, dim

        def forward(self, *xs: Any) -> Any:
            if self.kind == "concat":
                return torch.cat(xs, self.dim)
            out = xs[0]
            for x in xs[1:]:
                out = out + x if self.kind == "add" else out * x
            return out

        def extra_repr(self) -> str:
            return f"{self.kind}" + (f", dim={self.dim}" if self.kind == "concat" else "")
    return Merge()


@builder("add", "mul")
def _merge(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _merge_module(layer.type)


@builder("concat")
def _concat(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    return _merge_module("concat", layer.dim)


@builder("upsample")
def _upsample(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    align = layer.align_corners if layer.mode != "nearest" else None
    return _nn().Upsample(size=out[2:], mode=layer.mode, align_corners=align)


@builder("pad")
def _pad(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...]) -> Any:
    nn = _nn()
    functional = _torch().nn.functional
    nd = len(ins[0]) - 2
    pads = tuple((int(a), int(b)) for a, b in resolve_padding(layer.padding, nd, (1,) * nd,
                                                              (1,) * nd, ins[0][2:], ctx))
    flat = _flat_pad(pads)

    class ZeroPad(nn.Module):  # type: ignore[misc,name-defined]
        """Zero padding of the spatial axes."""

        def forward(self, x: Any) -> Any:
            return functional.pad(x, flat)

        def extra_repr(self) -> str:
            return f"padding={pads}"
    return ZeroPad()


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
    nn = _nn()
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
            child = nn.Module()
            _register(node, part, child, name)
        elif type(child) is not nn.Module:
            raise CnnCalcError(f"the layer {'.'.join(parts[:i + 1])!r} is also used as a prefix "
                               f"of {name!r}", layer=name)
        node = child


def to_torch(arch: Any, bindings: Mapping[str, int] | None = None) -> nn.Module:
    """The architecture as an ``nn.Module`` in eval mode, every size bound by ``bindings``.

    ``arch`` is anything :func:`cnncalc.load` reads (a zoo name, a dict, JSON, a path). Module
    names equal layer names (``layer1.0.conv1``); the root runs the layers in topological
    order, has ``layer_names``, ``layer(name)`` and ``replace(name, module)``, and raises
    :class:`LayerFailure` naming the layer when one fails. Weights are PyTorch's default
    initialisation. Needs torch; without it the error says how to install it.
    """
    from .api import analyze, load
    a = load(arch)
    an = analyze(a, bindings)
    if an.free_symbols:
        raise CnnCalcError(f"bind every symbol to build in torch; unbound: "
                           f"{', '.join(an.free_symbols)}", kind="binding")
    return build(an)


def build(an: Analysis) -> nn.Module:
    """The torch module for an analysis with every size bound."""
    torch = _torch()
    nodes = expand(an.arch, dict(an.bindings))
    shapes: dict[str, tuple[int, ...]] = {INPUT: _ints(an.input_shape)}
    for r in an.layers:
        shapes[r.name] = _ints(r.output_shape)
    extent = tuple(an.input_shape[2:])
    net = Network()
    plan = []
    for node in nodes:
        fn = BUILDERS.get(node.type)
        if fn is None:  # pragma: no cover - guarded by a test over the union
            raise CnnCalcError(f"no torch builder for layer type {node.type!r}", layer=node.name)
        ctx = Ctx(node.env, node.name, node.index, extent, [])
        try:
            module = fn(node.layer, ctx, [shapes[i] for i in node.inputs], shapes[node.name])
        except CnnCalcError as e:
            raise e.at(node.name, node.index, node.path) from None
        except (RuntimeError, ValueError, TypeError) as e:
            raise CnnCalcError(f"torch cannot build this layer: {e}", layer=node.name,
                               index=node.index, kind="torch") from None
        _attach(net, node.name, module)
        plan.append((node.name, tuple(node.inputs), module))
    net.set_plan(plan)
    net.eval()
    del torch
    return net


def _network_class() -> Any:
    nn = _nn()

    class Network(nn.Module):  # type: ignore[misc,name-defined]
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


def Network() -> Any:  # noqa: N802 - a factory that looks like the class it makes
    """A new, empty network module (the class is made on first use, importing torch)."""
    global _NETWORK
    if _NETWORK is None:
        _NETWORK = _network_class()
    return _NETWORK()


_NETWORK: Any = None


# --- memory a layer's module allocates besides its output ------------------------------------

@dataclass(frozen=True)
class Scratch:
    """Bytes a layer's module allocates while it runs, besides its inputs and its output.

    ``kept``: tensors that stay referenced when autograd records the pass (a separable
    convolution's depthwise output, an explicitly padded copy of the input, max-pool indices);
    ``transient``: freed before the layer returns (im2col columns, oneDNN's reordered copies,
    the per-group outputs of a grouped convolution before their concatenation). Without
    autograd both are live at the layer's step and both are transient.
    """

    kept: int = 0
    transient: int = 0

    @property
    def total(self) -> int:
        return self.kept + self.transient


def _pad16(c: int) -> int:
    return -(-c // 16) * 16


def _conv_ws(n: int, cin: int, cout: int, groups: int, k: tuple[int, ...], in_sp: int,
             out_sp: int, cols: int, byte: int, slow: bool | None, out_copies: int = 1) -> int:
    """Workspace of a (transposed) convolution, bytes. ``cols`` are the elements of its
    im2col/col2im buffer (one group, whole batch); ``slow`` says which CPU path runs: the native
    one (im2col, and per-group outputs before their concatenation when ``groups > 1``), oneDNN
    (copies of input and output reordered to 16-channel blocks, ``out_copies`` of the output:
    measured twice for a transposed convolution), or None when it depends on the machine (the
    larger is taken)."""
    # grouped: per-group input copies and outputs before the concatenation; many small blocks
    # fragment the heap, measured up to a quarter more
    native = cols * byte + ((n * cin * in_sp + n * cout * out_sp) * byte * 5 // 4
                            if groups > 1 else 0)
    onednn = n * (_pad16(cin) * in_sp + out_copies * _pad16(cout) * out_sp) * byte
    if slow is None:
        return max(native, onednn)
    return native if slow else onednn


def _conv_path(byte: int, n: int, groups: int, k: tuple[int, ...], in_numel: int,
               probe: bool) -> bool | None:
    """True for PyTorch's native CPU convolution (float64 and autograd probes; float32 on tiny
    single-sample inputs with kernels <= 3), False for oneDNN, None when it depends on the
    machine (float16/bfloat16: oneDNN only where the CPU has the instructions)."""
    if probe or byte == 8:
        return True
    if byte == 4:
        tiny = n == 1 and groups == 1 and in_numel <= 20480 and not all(v > 3 for v in k[-2:])
        return None if tiny or all(v == 1 for v in k) else False
    return None


def scratch_bytes(layer: Any, ctx: Ctx, ins: list[tuple[int, ...]], out: tuple[int, ...],
                  byte: int, probe: bool = False) -> Scratch:
    """What the module :func:`build` makes for ``layer`` allocates besides its output, bytes,
    for elements of ``byte`` bytes. ``probe``: the receptive-field probe's copy (float64, with
    autograd recording; activations and normalisations are the identity there, max-pools window
    sums). Every builder's internals are counted here: keep the two in step (a test runs each
    layer type near a memory budget and checks the process's peak RSS)."""
    import math
    t = layer.type
    x = ins[0] if ins else out
    n_in, n_out = math.prod(x), math.prod(out)
    if probe and t in _PROBE_IDENTITY:
        return Scratch()
    if t in ("conv", "separable_conv", "max_pool", "avg_pool"):
        nd = len(x) - 2
        k = _ints(ctx.axes(layer.kernel_size, nd, "kernel_size"))
        stride = getattr(layer, "stride", 1)
        s = _ints(ctx.axes(stride if stride is not None else layer.kernel_size, nd, "stride"))
        d = _ints(ctx.axes(getattr(layer, "dilation", 1), nd, "dilation"))
        pads = _pads(layer, ctx, x, k, s, d)
        padded = math.prod((x[0], x[1], *(v + b + a for v, (b, a) in zip(x[2:], pads,
                                                                          strict=True))))
        copy = padded * byte if any(b != a for b, a in pads) else 0
        in_sp, out_sp = math.prod(x[2:]), math.prod(out[2:])
        if t in ("max_pool", "avg_pool"):
            if probe and t == "max_pool":
                # WindowSum: the pool itself (values and int64 indices), two padded copies and a
                # depthwise convolution over them (native path, grouped), whose output is kept
                full = math.prod((x[0], x[1], *(-(-(v + b + a - di * (ki - 1) - 1) // si) + 1
                                                for v, (b, a), ki, si, di in
                                                zip(x[2:], pads, k, s, d, strict=True))))
                ws = _conv_ws(x[0], x[1], x[1], x[1], k, padded // (x[0] * x[1]),
                              full // (x[0] * x[1]), full * math.prod(k) // x[1], byte, True)
                return Scratch(kept=padded * byte + full * byte,
                               transient=padded * byte + n_out * (byte + 8) + ws)
            indices = n_out * 8 if t == "max_pool" else 0
            return Scratch(kept=copy if probe else 0, transient=indices + (0 if probe else copy))
        cin, cout = x[1], out[1]
        if t == "conv":
            g = int(ctx.val(layer.groups, "groups"))  # type: ignore[arg-type]
            ws = _conv_ws(x[0], cin, cout, g, k, padded // (x[0] * cin), out_sp,
                          x[0] * (cin // g) * math.prod(k) * out_sp, byte,
                          _conv_path(byte, x[0], g, k, n_in, probe))
            return Scratch(kept=copy if probe else 0, transient=ws + (0 if probe else copy))
        m = int(ctx.val(layer.depth_multiplier, "depth_multiplier"))  # type: ignore[arg-type]
        mid = x[0] * cin * m * out_sp
        ws_dw = _conv_ws(x[0], cin, cin * m, cin, k, padded // (x[0] * cin), out_sp,
                         x[0] * math.prod(k) * out_sp, byte,
                         _conv_path(byte, x[0], cin, k, n_in, probe))
        ws_pw = _conv_ws(x[0], cin * m, cout, 1, (1,) * nd, out_sp, out_sp, mid, byte,
                         _conv_path(byte, x[0], 1, (1,) * nd, mid, probe))
        return Scratch(kept=mid * byte + (copy if probe else 0),
                       transient=max(ws_dw, ws_pw) + (0 if probe else copy))
    if t == "conv_transpose":
        nd = len(x) - 2
        k = _ints(ctx.axes(layer.kernel_size, nd, "kernel_size"))
        g = int(ctx.val(layer.groups, "groups"))  # type: ignore[arg-type]
        in_sp, out_sp = math.prod(x[2:]), math.prod(out[2:])
        ws = _conv_ws(x[0], x[1], out[1], g, k, in_sp, out_sp,
                      x[0] * (out[1] // g) * math.prod(k) * in_sp, byte,
                      _conv_path(byte, x[0], g, k, n_in, probe), out_copies=2)
        return Scratch(transient=ws)
    if t == "adaptive_max_pool":
        # int64 indices (and, measured in float32, as much again)
        return Scratch(kept=n_out * 8) if probe else Scratch(transient=n_out * 16)
    if t == "upsample" and layer.mode != "nearest":
        # the CPU kernels of the linear modes measure about six output-sized buffers
        return Scratch(transient=6 * max(byte, 4) * n_out)
    if t in ("add", "mul") and len(ins) > 2:
        # the chain out = a + b; out = out + c ... holds one partial result besides the output
        return Scratch(kept=(len(ins) - 2) * n_out * byte) if probe else \
            Scratch(transient=n_out * byte)
    if t in ("layer_norm", "group_norm", "batch_norm"):
        # mean and reciprocal std per normalised group (float32 or wider)
        if t == "layer_norm":
            kd = layer.normalized_dims if layer.normalized_dims is not None else len(x) - 1
            groups = n_in // max(math.prod(x[-kd:]), 1)
        elif t == "group_norm":
            groups = x[0] * int(ctx.val(layer.num_groups, "num_groups"))  # type: ignore[arg-type]
        else:
            groups = x[1] if len(x) > 1 else 1
        return Scratch(transient=2 * 8 * groups)
    return Scratch()


_PROBE_IDENTITY = {"relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh",
                   "hardswish", "softmax", "batch_norm", "layer_norm", "group_norm", "dropout"}
"""Layers the receptive-field probe replaces by ``nn.Identity`` (validation's ``_LINEARISED``)."""
