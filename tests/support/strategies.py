"""Hypothesis strategies: random *valid* small architectures for cnncalc.

The generator tracks the concrete shape of every tensor with its own (PyTorch) arithmetic, so
every layer it emits fits its input and the rejection rate stays near zero. Sizes are kept small
so a CPU run of the built torch module takes a few milliseconds.

``architectures()`` draws ``(arch_dict, bindings)``: 1 to 3 spatial axes, sizes as ints or as
symbols bound by ``bindings``, sequences of every layer type with random valid
hyper-parameters, branches read through ``inputs``, residual ``add``/``sub``/``mul``/``div``/
``concat`` merges (and the one-input ``scalar`` forms), blocks with arguments and repeats, and
the tensor operations of strategies_tensor.py (permutes and their inverses, reshapes to tokens,
split/chunk parts merged back, slices, index, matmul, attention, learned parameters); with
``opaque=True`` also ``opaque`` layers (never where torch builds the network).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from strategies_tensor import TENSOR_TYPES, tensor_action
from strategies_tensor import simple as tensor_simple
from strategies_tensor import size as tensor_size

Shape = tuple[int, ...]
Layer = dict[str, Any]

MAX_NUMEL = 6000
"""Largest tensor (elements, batch included) the generator lets through."""
MAX_CHANNELS = 8

ACTIVATIONS = ("relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "hardswish",
               "hardsigmoid", "elu", "mish", "softplus", "prelu", "dropout", "identity")
SCALAR_OPS = ("add", "sub", "mul", "div")
"""Element-wise ops drawn as simple layers in their one-input form, ``x op scalar``."""
MERGE_OPS = ("add", "sub", "mul")
"""Merges of tensors drawn freely; ``div`` divides only by a sigmoid gate (never 0, so that
the gradients of the receptive-field probe stay finite)."""
SIMPLE_TYPES = ("conv", "conv_transpose", "separable_conv", "max_pool", "avg_pool",
                "adaptive_avg_pool", "adaptive_max_pool", "global_avg_pool", "linear", "flatten",
                "batch_norm", "layer_norm", "group_norm", "softmax", "upsample", "pad", "mean",
                "sum", "amax", "channel_shuffle", "multihead_attention", *SCALAR_OPS,
                *ACTIVATIONS, *TENSOR_TYPES)


def numel(shape: Shape) -> int:
    return math.prod(shape)


def out_len(n: int, k_eff: int, s: int, pb: int, pa: int, ceil_mode: bool = False) -> int:
    """PyTorch's sliding-window output length (0 or less when the window does not fit)."""
    span = n + pb + pa - k_eff
    if not ceil_mode:
        return span // s + 1 if span >= 0 else 0
    out = -(-span // s) + 1  # PyTorch lets a ceil_mode window overhang the padded input
    if (out - 1) * s >= n + pb:
        out -= 1
    return out


def same_pads(n: int, k_eff: int, s: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same': out = ceil(n/s), odd pixel after."""
    out = -(-n // s)
    tot = max((out - 1) * s + k_eff - n, 0)
    return tot // 2, tot - tot // 2


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class Gen:
    """State of one drawn architecture."""

    def __init__(self, draw: Callable[[Any], Any], bindings: dict[str, int]) -> None:
        self.draw = draw
        self.bindings = bindings
        self.shapes: dict[str, Shape] = {}
        self.layers: list[Layer] = []
        self.blocks: dict[str, Any] = {}
        self.spec: list[int | str] = []
        """The input shape as written."""
        self.exprs: dict[str, int] = {}
        """The input's size expressions and their values (to write sizes with)."""
        self.opaque = False
        """Whether ``opaque`` layers may be drawn (never where torch builds the network)."""

    # --- helpers ----------------------------------------------------------------------------

    def maybe_sym(self, v: int) -> int | str:
        """``v`` as is, or as an expression in a bound symbol of the same value."""
        if not self.bindings or not self.draw(st.integers(0, 4)) == 0:
            return v
        for name, b in sorted(self.bindings.items()):
            if b == v:
                return name
            if 2 * b == v:
                return f"2*{name}"
            if b + 1 == v:
                return f"{name} + 1"
        return v

    def axes(self, vals: list[int]) -> int | list[int]:
        """One value for all axes when they agree (sometimes), else the per-axis list."""
        if len(set(vals)) == 1 and self.draw(st.booleans()):
            return vals[0]
        return list(vals)

    def per_axis(self, nd: int, lo: int, hi: int) -> list[int]:
        if self.draw(st.booleans()):
            return [self.draw(st.integers(lo, hi))] * nd
        return [self.draw(st.integers(lo, hi)) for _ in range(nd)]

    # --- sliding windows ----------------------------------------------------------------------

    def window(self, x: Shape, *, pool: bool = False, allow_dilation: bool = True,
               avg: bool = False) -> tuple[Layer, Shape] | None:
        """Fields kernel_size/stride/padding/dilation(/ceil_mode) valid for input ``x``; returns
        the fields and the output spatial shape."""
        draw = self.draw
        nd = len(x) - 2
        sp = x[2:]
        k = self.per_axis(nd, 1, 4 if not pool else 3)
        d = self.per_axis(nd, 1, 3) if allow_dilation and draw(st.integers(0, 2)) == 0 else [1] * nd
        s = self.per_axis(nd, 1, 3)
        k_eff = [di * (ki - 1) + 1 for ki, di in zip(k, d, strict=True)]
        f: Layer = {"kernel_size": self.axes(k)}
        if pool:
            if s == k and draw(st.booleans()):
                pass  # stride defaults to kernel_size
            else:
                f["stride"] = self.axes(s)
        elif s != [1] * nd or draw(st.booleans()):
            f["stride"] = self.axes(s)
        if d != [1] * nd:
            f["dilation"] = self.axes(d)
        ceil_mode = pool and draw(st.booleans())
        if ceil_mode:
            f["ceil_mode"] = True
        form = draw(st.sampled_from(["none", "int", "axes", "pairs", "same", "valid"]))
        if pool:
            # PyTorch refuses pool padding above half the kernel (per axis); keep within it.
            half = [ki // 2 for ki in k]
            if form == "int":
                p = draw(st.integers(0, min(half)))
                pads = [(p, p)] * nd
                f["padding"] = self.maybe_sym(p) if p else p
            elif form == "axes":
                ps = [draw(st.integers(0, h)) for h in half]
                pads = [(p, p) for p in ps]
                f["padding"] = ps
            elif form == "pairs" and not (avg and draw(st.booleans())):
                pairs = [[draw(st.integers(0, h)), draw(st.integers(0, h))] for h in half]
                pads = [(b, a) for b, a in pairs]
                f["padding"] = pairs
            elif form == "same":
                pads = [same_pads(n, ke, si) for n, ke, si in zip(sp, k_eff, s, strict=True)]
                f["padding"] = "same"
            elif form == "valid":
                pads = [(0, 0)] * nd
                f["padding"] = "valid"
            else:
                pads = [(0, 0)] * nd
            if avg and any(b != a for b, a in pads):
                # asymmetric avg padding needs count_include_pad (no torch equivalent otherwise)
                f["count_include_pad"] = True
            elif avg and draw(st.booleans()):
                f["count_include_pad"] = False
        else:
            if form == "int":
                p = draw(st.integers(0, 3))
                pads = [(p, p)] * nd
                f["padding"] = self.maybe_sym(p) if p else p
            elif form == "axes":
                ps = [draw(st.integers(0, 3)) for _ in range(nd)]
                pads = [(p, p) for p in ps]
                f["padding"] = ps
            elif form == "pairs":
                pairs = [[draw(st.integers(0, 3)), draw(st.integers(0, 3))] for _ in range(nd)]
                pads = [(b, a) for b, a in pairs]
                f["padding"] = pairs
            elif form == "same":
                pads = [same_pads(n, ke, si) for n, ke, si in zip(sp, k_eff, s, strict=True)]
                f["padding"] = "same"
            elif form == "valid":
                pads = [(0, 0)] * nd
                f["padding"] = "valid"
            else:
                pads = [(0, 0)] * nd
        if pool:
            # PyTorch's rules, which cnncalc enforces: pool padding at most half the kernel on
            # each side, ceil_mode only with symmetric padding, avg_pool3d input >= kernel
            if any(max(b, a) > h for (b, a), h in zip(pads, half, strict=True)):
                return None
            if ceil_mode and any(b != a for b, a in pads):
                del f["ceil_mode"]
                ceil_mode = False
            if avg and nd == 3 and any(n < ki for n, ki in zip(sp, k, strict=True)):
                return None
        out = [out_len(n, ke, si, pb, pa, ceil_mode)
               for n, ke, si, (pb, pa) in zip(sp, k_eff, s, pads, strict=True)]
        if min(out) < 1:
            return None
        return f, tuple(out)

    # --- single layers ----------------------------------------------------------------------------

    def simple(self, t: str, x: Shape) -> tuple[Layer, Shape] | None:
        """A layer of type ``t`` valid for input shape ``x``, and its output shape."""
        draw = self.draw
        r = len(x)
        spatial = r >= 3
        n, c = x[0], x[1]
        if t in TENSOR_TYPES:
            return tensor_simple(self, t, x)
        if t == "conv":
            if not spatial:
                return None
            w = self.window(x)
            if w is None:
                return None
            f, sp = w
            g = draw(st.sampled_from(divisors(c)))
            cout = g * draw(st.integers(1, max(1, MAX_CHANNELS // g)))
            layer = {"type": "conv", "out_channels": self.maybe_sym(cout), **f}
            if g > 1:
                layer["groups"] = g
            if draw(st.integers(0, 3)) == 0:
                layer["bias"] = False
            return layer, (n, cout, *sp)
        if t == "separable_conv":
            if not spatial:
                return None
            w = self.window(x)
            if w is None:
                return None
            f, sp = w
            m = draw(st.integers(1, 2))
            cout = draw(st.integers(1, MAX_CHANNELS))
            layer = {"type": "separable_conv", "out_channels": cout, **f}
            if m > 1 or draw(st.booleans()):
                layer["depth_multiplier"] = m
            if draw(st.integers(0, 3)) == 0:
                layer["bias"] = False
            return layer, (n, cout, *sp)
        if t == "conv_transpose":
            if not spatial:
                return None
            nd = r - 2
            k = self.per_axis(nd, 1, 4)
            s = self.per_axis(nd, 1, 3)
            d = self.per_axis(nd, 1, 2) if draw(st.integers(0, 2)) == 0 else [1] * nd
            p = [draw(st.integers(0, 2)) for _ in range(nd)]
            op = [draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d, strict=True)]
            out = [(m - 1) * si - 2 * pi + di * (ki - 1) + opi + 1
                   for m, si, pi, di, ki, opi in zip(x[2:], s, p, d, k, op, strict=True)]
            if min(out) < 1:
                return None
            g = draw(st.sampled_from(divisors(c)))
            cout = g * draw(st.integers(1, max(1, MAX_CHANNELS // g)))
            layer = {"type": "conv_transpose", "out_channels": cout, "kernel_size": self.axes(k)}
            if s != [1] * nd or draw(st.booleans()):
                layer["stride"] = self.axes(s)
            if p != [0] * nd:
                layer["padding"] = self.axes(p)
            if op != [0] * nd:
                layer["output_padding"] = self.axes(op)
            if d != [1] * nd:
                layer["dilation"] = self.axes(d)
            if g > 1:
                layer["groups"] = g
            if draw(st.integers(0, 3)) == 0:
                layer["bias"] = False
            return layer, (n, cout, *out)
        if t in ("max_pool", "avg_pool"):
            if not spatial:
                return None
            w = self.window(x, pool=True, allow_dilation=t == "max_pool", avg=t == "avg_pool")
            if w is None:
                return None
            f, sp = w
            return {"type": t, **f}, (n, c, *sp)
        if t in ("adaptive_avg_pool", "adaptive_max_pool"):
            if not spatial:
                return None
            o = self.per_axis(r - 2, 1, 5)
            return {"type": t, "output_size": self.axes(o)}, (n, c, *o)
        if t == "global_avg_pool":
            if not spatial:
                return None
            keep = draw(st.booleans())
            layer = {"type": t} if keep and draw(st.booleans()) else {"type": t, "keepdim": keep}
            return layer, ((n, c, *([1] * (r - 2))) if keep else (n, c))
        if t == "linear":
            o = draw(st.integers(1, 8))
            layer = {"type": "linear", "out_features": self.maybe_sym(o)}
            if draw(st.integers(0, 3)) == 0:
                layer["bias"] = False
            return layer, (*x[:-1], o)
        if t == "flatten":
            a = draw(st.integers(0 if draw(st.integers(0, 4)) == 0 else 1, r - 1))
            b = draw(st.integers(a, r - 1))
            if a == 0 and b >= r - 1:
                return None  # keep a batch-like leading axis and a rank of at least 2
            layer: Layer = {"type": "flatten"}
            if a != 1 or draw(st.booleans()):
                layer["start_dim"] = a - r if draw(st.booleans()) else a
            if b != r - 1 or draw(st.booleans()):
                layer["end_dim"] = b - r if draw(st.booleans()) else b
            return layer, (*x[:a], numel(x[a:b + 1]), *x[b + 1:])
        if t == "batch_norm":
            if r > 5:
                return None
            layer = {"type": "batch_norm"}
            if draw(st.integers(0, 3)) == 0:
                layer["affine"] = False
            if draw(st.integers(0, 3)) == 0 and numel(x) > n * c:
                # without running stats torch normalises by batch statistics even in eval mode,
                # which needs more than one value per channel
                layer["track_running_stats"] = False
            return layer, x
        if t == "layer_norm":
            layer = {"type": "layer_norm"}
            how = draw(st.integers(0, 2))
            if how == 1:
                layer["normalized_dims"] = draw(st.integers(1, r - 1))
            elif how == 2:  # any axes but the batch, in any order (LayerNorm2d: [1])
                axes = draw(st.lists(st.integers(1, r - 1), min_size=1, max_size=r - 1,
                                     unique=True))
                layer["dims"] = [a - r if draw(st.booleans()) else a for a in axes]
            if draw(st.integers(0, 3)) == 0:
                layer["elementwise_affine"] = False
            return layer, x
        if t == "multihead_attention":
            if r != 3:
                return None
            layer = {"type": t, "num_heads": self.maybe_sym(draw(st.sampled_from(
                divisors(x[-1]))))}
            if draw(st.booleans()):
                layer["batch_first"] = True
            if draw(st.integers(0, 3)) == 0:
                layer["bias"] = False
            return layer, x
        if t == "group_norm":
            ng = draw(st.sampled_from(divisors(c)))
            if numel(x[1:]) // ng < 2:
                return None  # torch's group_norm refuses groups of a single value
            layer = {"type": "group_norm", "num_groups": ng}
            if draw(st.integers(0, 3)) == 0:
                layer["affine"] = False
            return layer, x
        if t == "softmax":
            layer = {"type": "softmax"}
            if draw(st.booleans()):
                layer["dim"] = draw(st.integers(-r, r - 1))
            return layer, x
        if t == "upsample":
            if not spatial:
                return None
            nd = r - 2
            modes = ["nearest", {1: "linear", 2: "bilinear", 3: "trilinear"}[nd]]
            mode = draw(st.sampled_from(modes))
            layer = {"type": "upsample"}
            if draw(st.booleans()):
                fs = self.per_axis(nd, 1, 3)
                layer["scale_factor"] = self.axes(fs)
                out = [m * fi for m, fi in zip(x[2:], fs, strict=True)]
            else:
                out = self.per_axis(nd, 1, 12)
                layer["size"] = self.axes(out)
            if mode != "nearest" or draw(st.booleans()):
                layer["mode"] = mode
            if mode != "nearest" and draw(st.booleans()):
                layer["align_corners"] = draw(st.booleans())
            return layer, (n, c, *out)
        if t == "pad":
            if not spatial:
                return None
            nd = r - 2
            form = draw(st.sampled_from(["int", "axes", "pairs"]))
            padding: Any
            if form == "int":
                padding = draw(st.integers(0, 2))
                pairs = [[padding, padding]] * nd
            elif form == "axes":
                padding = [draw(st.integers(0, 2)) for _ in range(nd)]
                pairs = [[p, p] for p in padding]
            else:
                padding = pairs = [[draw(st.integers(0, 2)), draw(st.integers(0, 2))]
                                   for _ in range(nd)]
            layer = {"type": "pad", "padding": padding}
            mode = draw(st.sampled_from(["constant", "reflect", "replicate"]))
            if mode == "reflect" and any(max(pr) >= m for m, pr in zip(x[2:], pairs, strict=True)):
                mode = "replicate"  # PyTorch: each reflect width < the input length
            if mode != "constant" or draw(st.booleans()):
                layer["mode"] = mode
            return layer, (n, c, *[m + b + a for m, (b, a) in zip(x[2:], pairs, strict=True)])
        if t in ("mean", "sum", "amax"):
            keep = draw(st.booleans())
            axes = sorted(draw(st.sets(st.integers(1, r - 1), min_size=1, max_size=r - 1)))
            if not keep and r - len(axes) < 2:
                return None  # cnncalc keeps the batch axis and at least one other
            dims = [a - r if draw(st.booleans()) else a for a in axes]
            layer = {"type": t, "dim": dims[0] if len(dims) == 1 and draw(st.booleans())
                     else dims}
            if keep or draw(st.booleans()):
                layer["keepdim"] = keep
            if keep:
                return layer, tuple(1 if i in axes else m for i, m in enumerate(x))
            return layer, tuple(m for i, m in enumerate(x) if i not in axes)
        if t == "channel_shuffle":
            if not spatial:
                return None
            return {"type": t, "groups": self.maybe_sym(draw(st.sampled_from(divisors(c))))}, x
        if t in SCALAR_OPS:
            # never 0: a product by 0 has no receptive field, a division by 0 is refused
            return {"type": t, "scalar": draw(st.sampled_from([0.5, 2.0, -1.5, 3]))}, x
        if t in ACTIVATIONS:
            layer = {"type": t}
            if t == "leaky_relu" and draw(st.booleans()):
                layer["negative_slope"] = draw(st.sampled_from([0.1, 0.2, 0.01]))
            if t == "gelu" and draw(st.booleans()):
                layer["approximate"] = "tanh"
            if t == "dropout" and draw(st.booleans()):
                layer["p"] = 0.25
            if t == "elu" and draw(st.booleans()):
                layer["alpha"] = draw(st.sampled_from([0.5, 2.0]))
            if t == "softplus" and draw(st.booleans()):
                layer["beta"], layer["threshold"] = draw(st.sampled_from([(2.0, 10.0),
                                                                          (0.5, 20.0)]))
            if t == "prelu" and draw(st.booleans()):
                # one slope per channel (dim 1), sometimes as the channels' symbol
                layer["num_parameters"] = self.maybe_sym(c) if r >= 2 else 1
                if draw(st.booleans()):
                    layer["init"] = 0.1
            return layer, x
        raise AssertionError(t)

    def any_simple(self, x: Shape) -> tuple[Layer, Shape]:
        if self.opaque and self.draw(st.integers(0, 39)) == 0:
            return {"type": "opaque", "op": "torch.roll",
                    "shape": [tensor_size(self, v, i) for i, v in enumerate(x)]}, x
        for _ in range(4):
            t = self.draw(st.sampled_from(SIMPLE_TYPES))
            got = self.simple(t, x)
            if got is not None and 0 < numel(got[1]) <= MAX_NUMEL:
                return got
        return {"type": "relu"}, x

    def same_shape(self, x: Shape) -> Layer:
        """A layer whose output has the shape of its input (for branches and repeats)."""
        choice = self.draw(st.sampled_from(["conv", "bn", "act", "sep"]))
        if choice in ("conv", "sep") and len(x) >= 3:
            k = self.draw(st.sampled_from([1, 3, 5]))
            pad: Any = "same" if self.draw(st.booleans()) else k // 2
            if choice == "conv":
                return {"type": "conv", "out_channels": x[1], "kernel_size": k, "padding": pad}
            return {"type": "separable_conv", "out_channels": x[1], "kernel_size": k,
                    "padding": pad}
        if choice == "bn":
            return {"type": "batch_norm"}
        return {"type": self.draw(st.sampled_from(ACTIVATIONS))}


def _broadcastable(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(p == q or p == 1 or q == 1 for p, q in zip(a, b, strict=True))


def _broadcast(shapes: list[Shape]) -> Shape:
    return tuple(max(s[i] for s in shapes) for i in range(len(shapes[0])))


@st.composite
def architectures(draw: Callable[[Any], Any], max_steps: int = 7, opaque: bool = False
                  ) -> tuple[dict[str, Any], dict[str, int]]:
    """A random valid architecture and the bindings of the symbols it uses; ``opaque`` lets it
    draw ``opaque`` layers (which cannot be built in torch)."""
    nd = draw(st.integers(1, 3))
    hi = {1: 24, 2: 12, 3: 7}[nd]
    batch = draw(st.integers(1, 2))
    chans = draw(st.integers(1, 6))
    sizes = [draw(st.integers(3, hi)) for _ in range(nd)]
    bindings: dict[str, int] = {}
    shape_spec: list[int | str] = []
    names = ["N", "C", *(["L"] if nd == 1 else ["H", "W"] if nd == 2 else ["D", "H", "W"])]
    for name, v in zip(names, [batch, chans, *sizes], strict=True):
        how = draw(st.sampled_from(["int", "sym", "sym", "expr"]))
        if how == "int" or name == "N" and draw(st.booleans()):
            shape_spec.append(v)
        elif how == "expr" and v % 2 == 0 and v > 2:
            bindings[name] = v // 2
            shape_spec.append(f"2*{name}")
        elif how == "expr" and v > 2:
            bindings[name] = v - 1
            shape_spec.append(f"{name} + 1")
        else:
            bindings[name] = v
            shape_spec.append(name)
    g = Gen(draw, bindings)
    g.spec, g.opaque = shape_spec, opaque
    g.exprs = {e: v for e, v in zip(shape_spec, [batch, chans, *sizes], strict=True)
               if isinstance(e, str)}
    x0: Shape = (batch, chans, *sizes)
    g.shapes["input"] = x0
    cur = "input"
    items = g.layers

    def add(layer: Layer, out: Shape, src: str | None = None) -> str:
        """Append ``layer`` (reading ``src`` when it is not the previous output)."""
        nonlocal cur
        idx = len(items)
        if draw(st.integers(0, 2)) == 0:
            name = f"{layer['type']}{idx}"  # the default name; sometimes spelled out
            if draw(st.booleans()):
                layer = {**layer, "name": name}
        else:
            name = f"n{idx}"
            layer = {**layer, "name": name}
        if src is not None and src != cur:
            layer = {**layer, "inputs": [src]}
        items.append(layer)
        g.shapes[name] = out
        cur = name
        return name

    steps = draw(st.integers(1, max_steps))
    for _ in range(steps):
        x = g.shapes[cur]
        action = draw(st.sampled_from(["simple"] * 6 + ["branch", "residual", "merge", "se",
                                                        "concat", "block", "repeat",
                                                        "tensor", "tensor", "tensor"]))
        if action == "simple":
            layer, out = g.any_simple(x)
            add(layer, out)
        elif action == "branch":
            # read an earlier tensor instead of the previous one
            src = draw(st.sampled_from(sorted(g.shapes)))
            layer, out = g.any_simple(g.shapes[src])
            add(layer, out, src)
        elif action == "residual":
            start = cur
            for _ in range(draw(st.integers(1, 3))):
                add(g.same_shape(x), x)
            add({"type": draw(st.sampled_from(MERGE_OPS)), "inputs": [cur, start]}, x)
        elif action == "merge":
            # merge the current tensor with any earlier one it broadcasts with
            others = sorted(n for n, s in g.shapes.items() if n != cur and _broadcastable(s, x))
            if not others:
                layer, out = g.any_simple(x)
                add(layer, out)
                continue
            ins = [cur]
            out = x
            for _ in range(draw(st.integers(1, 2))):
                fits = [n for n in others if n not in ins and _broadcastable(g.shapes[n], out)]
                if not fits:
                    break
                ins.append(draw(st.sampled_from(fits)))
                out = _broadcast([out, g.shapes[ins[-1]]])
            if numel(out) > MAX_NUMEL:
                continue
            if draw(st.booleans()):
                ins = list(draw(st.permutations(ins)))
            add({"type": draw(st.sampled_from(MERGE_OPS)), "inputs": ins}, out)
        elif action == "se":
            if len(x) < 3:
                continue
            body = cur
            mid = draw(st.integers(1, 4))
            add({"type": "global_avg_pool"}, (x[0], x[1], *([1] * (len(x) - 2))))
            add({"type": "conv", "out_channels": mid, "kernel_size": 1},
                (x[0], mid, *([1] * (len(x) - 2))))
            add({"type": "relu"}, g.shapes[cur])
            add({"type": "conv", "out_channels": x[1], "kernel_size": 1},
                (x[0], x[1], *([1] * (len(x) - 2))))
            gate = draw(st.sampled_from(["sigmoid", "hardswish", "hardsigmoid"]))
            add({"type": gate}, g.shapes[cur])
            if gate == "sigmoid" and draw(st.booleans()):
                add({"type": "div", "inputs": [body, cur]}, x)  # a sigmoid is never 0
                continue
            ins = [body, cur] if draw(st.booleans()) else [cur, body]
            add({"type": "mul", "inputs": ins}, x)
        elif action == "concat":
            start = cur
            r = len(x)
            dim = draw(st.integers(1, r - 1)) if r > 1 else 0
            branches = []
            for _ in range(draw(st.integers(1, 3))):
                if r >= 3 and dim == 1 and draw(st.booleans()):
                    w = draw(st.integers(1, 4))
                    k = draw(st.sampled_from([1, 3]))
                    out = (x[0], w, *x[2:])
                    layer = {"type": "conv", "out_channels": w, "kernel_size": k,
                             "padding": k // 2}
                elif r >= 3 and draw(st.booleans()):
                    out = x
                    kind = draw(st.sampled_from(["max_pool", "avg_pool"]))
                    if r == 5 and min(x[2:]) < 3:
                        kind = "max_pool"  # torch's avg_pool3d refuses inputs under the kernel
                    layer = {"type": kind, "kernel_size": 3, "stride": 1, "padding": 1}
                else:
                    out = x
                    layer = g.same_shape(x)
                branches.append(add(layer, out, start))
            if draw(st.booleans()):
                branches.append(start)
            shapes = [g.shapes[b] for b in branches]
            out = tuple(sum(s[dim] for s in shapes) if i == dim else x[i] for i in range(r))
            if numel(out) > MAX_NUMEL:
                continue
            layer = {"type": "concat", "inputs": branches}
            if dim != 1 or draw(st.booleans()):
                layer["dim"] = dim - r if draw(st.booleans()) else dim
            add(layer, out)
        elif action == "tensor":
            tensor_action(g, cur, add)
        elif action in ("block", "repeat"):
            _block_or_repeat(g, draw, action, x, add)
    if not items:
        add({"type": "identity"}, g.shapes[cur])
    arch: dict[str, Any] = {"name": "random", "input": {"shape": shape_spec}, "layers": items}
    if g.blocks:
        arch["blocks"] = g.blocks
    return arch, bindings


def _block_or_repeat(g: Gen, draw: Callable[[Any], Any], action: str, x: Shape,
                     add: Callable[..., str]) -> None:
    """A block instance (args) or a repeat (of a shape-keeping body or block)."""
    r = len(x)
    if action == "block" and r >= 3:
        kind = draw(st.sampled_from(["cbr", "res"]))
        bname = f"b{len(g.blocks)}"
        if kind == "cbr":
            got = g.simple("conv", x)
            if got is None:
                return
            conv, out = got
            w = out[1]
            conv = {**conv, "name": "conv", "out_channels": "w"}
            if "groups" in conv:
                conv["groups"] = "g"
            body = [conv, {"type": "batch_norm", "name": "bn"},
                    {"type": draw(st.sampled_from(["relu", "silu"])), "name": "act"}]
            args: dict[str, Any] = {"w": w}
            if "groups" in conv:
                args["g"] = got[0]["groups"]
            g.blocks[bname] = {"args": sorted(args), "layers": body}
            add({"type": "block", "block": bname, "args": args}, out)
            return
        c = x[1]
        k = draw(st.sampled_from([1, 3]))
        body = [
            {"type": "conv", "name": "c1", "out_channels": "c", "kernel_size": "k",
             "padding": "k // 2", "bias": False},
            {"type": "batch_norm", "name": "bn1"},
            {"type": "relu", "name": "r1"},
            {"type": "conv", "name": "c2", "out_channels": "c", "kernel_size": 3,
             "padding": "same"},
            {"type": "add", "name": "sum", "inputs": ["c2", "input"]},
            {"type": "relu", "name": "out"},
        ]
        g.blocks[bname] = {"args": ["c", "k"], "layers": body}
        times = draw(st.integers(1, 3))
        ref = {"type": "block", "block": bname, "args": {"c": g.maybe_sym(c), "k": k}}
        if times == 1 and draw(st.booleans()):
            add(ref, x)
        else:
            add({"type": "repeat", "times": times, "body": [ref]}, x)
        return
    # repeat of an inline shape-keeping body
    times = draw(st.integers(1, 3))
    body = []
    for i in range(draw(st.integers(1, 3))):
        layer = {**g.same_shape(x), "name": f"l{i}"}
        body.append(layer)
    if draw(st.booleans()):
        body.append({"type": "add", "name": "res", "inputs": [body[-1]["name"], "input"]})
    rep: Layer = {"type": "repeat", "times": times, "body": body}
    if draw(st.booleans()):
        rep["start"] = draw(st.integers(0, 2))
    add(rep, x)
