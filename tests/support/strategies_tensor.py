"""Hypothesis strategies for the tensor operations of random architectures (see strategies.py).

Simple layers (one input, drawn among the other simple types): ``permute``, ``transpose``,
``reshape`` (merging or splitting neighbouring axes, moving size-1 axes), ``expand`` (of size-1
axes), ``slice`` (any axis, Python's slicing: negative, clamped, with a step) and ``index``.

Composite patterns (``tensor_action``), valid by construction and shaped as real networks use
them: a permute or transpose, channels-last layers, then its inverse (so that convolutions can
follow); spatial axes merged into tokens (reshape or flatten), maybe transposed, then a layer
norm, a linear, multi-head attention, ``attention`` on ``q = k = v`` or a matmul with the
transpose, then a mean, a linear, a class-token ``index`` or a reshape back to the spatial
axes; a ``split`` or ``chunk`` whose parts (``NAME.0``, ``NAME.1``...) are processed and merged
back by ``concat``, ``add`` or a gated ``mul``; a matmul of a tensor with its transpose or with
a learned matrix; and learned ``parameter`` tensors (a layer scale multiplied, a position
embedding added, a class token expanded over the batch and concatenated).

Sizes written in these layers are the input's size expressions where one has the same value
(``"H"``, ``"2*W"``), so the symbolic analysis stays exact, or plain numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

if TYPE_CHECKING:
    from strategies import Gen

Shape = tuple[int, ...]
Layer = dict[str, Any]

TENSOR_TYPES = ("permute", "transpose", "reshape", "expand", "slice", "index")
"""Tensor operations drawn as simple (one-input) layers."""
MAX_RANK = 5
"""Convolutions and batch norms take at most 3 spatial axes."""
MAX_NUMEL = 6000
MAX_SCORES = 50_000
"""Most attention scores (batch x queries x keys) drawn, so torch runs stay fast."""
PAST_END = 10**6
"""A slice ``end`` past any axis drawn here (a number: Python clamps it; never symbolised)."""
PARAM_SECOND = False
"""True: a parameter is always merged after the activations (``x + p``); False draws both
orders (``p + x`` too: test_parameter_first_keeps_a_length_1_axis_field)."""


def size(g: Gen, v: int, axis: int | None = None) -> int | str:
    """``v``, or an expression of the input's sizes (or a bound symbol) of that value."""
    draw = g.draw
    if draw(st.integers(0, 3)) == 0:
        return v
    same_axis = g.spec[axis] if axis is not None and axis < len(g.spec) else None
    if isinstance(same_axis, str) and g.exprs.get(same_axis) == v:
        return same_axis
    forms = sorted(e for e, b in g.exprs.items() if b == v)
    if forms:
        return draw(st.sampled_from(forms))
    return g.maybe_sym(v)


def _dim(g: Gen, d: int, r: int) -> int:
    """Axis ``d`` sometimes counted from the end."""
    return d - r if g.draw(st.booleans()) else d


def simple(g: Gen, t: str, x: Shape) -> tuple[Layer, Shape] | None:
    """A tensor operation of type ``t`` valid for ``x``, and its output shape."""
    draw = g.draw
    r = len(x)
    if t == "permute":
        if r < 2:
            return None
        order = list(draw(st.permutations(range(r))))
        return ({"type": t, "dims": [_dim(g, d, r) for d in order]},
                tuple(x[d] for d in order))
    if t == "transpose":
        if r < 2:
            return None
        a, b = draw(st.lists(st.integers(0, r - 1), min_size=2, max_size=2, unique=True))
        out = list(x)
        out[a], out[b] = out[b], out[a]
        return {"type": t, "dim0": _dim(g, a, r), "dim1": _dim(g, b, r)}, tuple(out)
    if t == "reshape":
        return _reshape(g, x)
    if t == "expand":
        ones = [i for i, n in enumerate(x) if n == 1]
        lead = draw(st.integers(0, 1)) if r < MAX_RANK and draw(st.integers(0, 3)) == 0 else 0
        if not ones and not lead:
            return None
        out = [draw(st.integers(2, 4)) if i in ones and draw(st.integers(0, 3)) else n
               for i, n in enumerate(x)]
        new = [draw(st.integers(1, 2)) for _ in range(lead)]
        shape: list[int | str] = [size(g, n) for n in new]
        for i, (n, m) in enumerate(zip(x, out, strict=True)):
            shape.append(-1 if n == m and draw(st.booleans()) else size(g, m, i))
        return {"type": t, "shape": shape}, (*new, *out)
    if t == "slice":
        if r < 2:
            return None
        d = draw(st.integers(1, r - 1)) if draw(st.integers(0, 5)) else 0
        return _slice(g, x, d)
    if t == "index":
        if r < 3:
            return None
        d = draw(st.integers(1, r - 1)) if draw(st.integers(0, 5)) else 0
        n = x[d]
        i = draw(st.integers(-n, n - 1))
        layer = {"type": t, "dim": _dim(g, d, r), "index": i if i < 0 else size(g, i)}
        return layer, tuple(m for j, m in enumerate(x) if j != d)
    raise AssertionError(t)


def _slice(g: Gen, x: Shape, d: int) -> tuple[Layer, Shape] | None:
    """``x[..., start:end:step]`` along axis ``d``, Python's semantics (negative, clamped)."""
    draw = g.draw
    n = x[d]
    start = draw(st.integers(-n - 1, n - 1)) if draw(st.booleans()) else 0
    end = draw(st.sampled_from([None, None, draw(st.integers(-n, n)), PAST_END]))
    step = draw(st.sampled_from([1, 1, 2, 3]))
    kept = range(*slice(start, end, step).indices(n))
    if not kept:
        return None
    layer: Layer = {"type": "slice", "dim": _dim(g, d, len(x))}
    if start or draw(st.booleans()):
        layer["start"] = start if start < 0 else size(g, start)
    if end is not None:
        layer["end"] = end if end < 0 or end == PAST_END else size(g, end)
    if step != 1 or draw(st.booleans()):
        layer["step"] = size(g, step)
    return layer, tuple(len(kept) if i == d else m for i, m in enumerate(x))


def _reshape(g: Gen, x: Shape) -> tuple[Layer, Shape] | None:
    """Merge two neighbouring axes, split one into two, or drop / insert a size-1 axis."""
    draw = g.draw
    r = len(x)
    how = draw(st.sampled_from(["merge", "split", "ones"]))
    out: list[int]
    if how == "merge" and r >= 3:
        i = draw(st.integers(1, r - 2)) if draw(st.integers(0, 5)) else 0
        out = [*x[:i], x[i] * x[i + 1], *x[i + 2:]]
        kept = [*range(i), None, *range(i + 2, r)]
    elif how == "split" and r < MAX_RANK:
        i = draw(st.integers(1, r - 1)) if draw(st.integers(0, 5)) else 0
        a = draw(st.sampled_from([d for d in range(1, x[i] + 1) if x[i] % d == 0]))
        out = [*x[:i], a, x[i] // a, *x[i + 1:]]
        kept = [*range(i), None, None, *range(i + 1, r)]
    else:
        ones = [i for i in range(1, r) if x[i] == 1]
        if ones and r > 2 and draw(st.booleans()):
            i = draw(st.sampled_from(ones))
            out = [m for j, m in enumerate(x) if j != i]
            kept = [j for j in range(r) if j != i]
        elif r < MAX_RANK:
            i = draw(st.integers(1, r))
            out = [*x[:i], 1, *x[i:]]
            kept = [*range(i), None, *range(i, r)]
        else:
            return None
    shape: list[int | str] = [size(g, m, k) for m, k in zip(out, kept, strict=True)]
    if draw(st.integers(0, 2)):
        shape[draw(st.integers(0, len(out) - 1))] = -1
    return {"type": "reshape", "shape": shape}, tuple(out)


# --- composite patterns ---------------------------------------------------------------------------

Add = Callable[..., str]


def tensor_action(g: Gen, cur: str, add: Add) -> str:
    """One composite pattern reading ``cur``; the name of its output (``cur`` where it does
    not fit)."""
    kind = g.draw(st.sampled_from(["inverse", "inverse", "tokens", "tokens", "split", "split",
                                   "matmul", "attention", "param", "param", "focus"]))
    return {"inverse": _inverse, "tokens": _tokens, "split": _split, "matmul": _matmul,
            "attention": _attention, "param": _param, "focus": _focus}[kind](g, cur, add)


def _fits(shape: Shape) -> bool:
    return 0 < math.prod(shape) <= MAX_NUMEL


def _channels_last_layer(g: Gen, y: Shape, last_is_batch: bool) -> tuple[Layer, Shape] | None:
    """A layer that works on any axis order: a linear over the last axis, a norm, an act."""
    t = g.draw(st.sampled_from(["linear", "layer_norm", "gelu", "softmax", "mul", "relu"]))
    if t == "linear" and last_is_batch:
        return None
    return g.simple(t, y)


def _inverse(g: Gen, cur: str, add: Add) -> str:
    """A permute (or transpose), layers on the moved axes, then the inverse permutation."""
    draw = g.draw
    x = g.shapes[cur]
    r = len(x)
    if r < 2:
        return cur
    if draw(st.booleans()):
        order = list(draw(st.permutations(range(r))))
        inv = sorted(range(r), key=order.__getitem__)
        first: Layer = {"type": "permute", "dims": [_dim(g, d, r) for d in order]}
        back: Layer = {"type": "permute", "dims": [_dim(g, d, r) for d in inv]}
    else:
        a, b = draw(st.lists(st.integers(0, r - 1), min_size=2, max_size=2, unique=True))
        order = list(range(r))
        order[a], order[b] = b, a
        inv = order
        first = {"type": "transpose", "dim0": _dim(g, a, r), "dim1": _dim(g, b, r)}
        back = {"type": "transpose", "dim0": _dim(g, b, r), "dim1": _dim(g, a, r)}
    y = tuple(x[d] for d in order)
    add(first, y, cur)
    for _ in range(draw(st.integers(0, 2))):
        got = _channels_last_layer(g, y, order[-1] == 0)
        if got is not None and _fits(got[1]):
            add(got[0], got[1])
            y = got[1]
    return add(back, tuple(y[d] for d in inv))


def _tokens(g: Gen, cur: str, add: Add) -> str:
    """Spatial axes merged into tokens, a token layer, then a head or a reshape back."""
    draw = g.draw
    x = g.shapes[cur]
    r = len(x)
    if r < 3:
        return cur
    n, c, sp = x[0], x[1], x[2:]
    tokens = math.prod(sp)
    if draw(st.booleans()):
        shape: list[int | str] = [size(g, n, 0), size(g, c, 1), -1]
        if draw(st.booleans()):
            shape = [-1, size(g, c, 1), size(g, tokens)]
        last = add({"type": "reshape", "shape": shape}, (n, c, tokens), cur)
    else:
        last = add({"type": "flatten", "start_dim": 2}, (n, c, tokens), cur)
    if draw(st.booleans()):
        last = add({"type": "transpose", "dim0": 1, "dim1": _dim(g, 2, 3)}, (n, tokens, c))
    op = draw(st.sampled_from(["layer_norm", "linear", "mha", "attention", "matmul", "none"]))
    y = g.shapes[last]
    if op == "layer_norm":
        last = add({"type": "layer_norm"}, y)
    elif op == "linear":
        got = g.simple("linear", y)
        assert got is not None
        last = add(*got)
    elif op == "mha" and math.prod(y[:-1]) * max(y[:-1]) <= MAX_SCORES:
        got = g.simple("multihead_attention", y)
        if got is not None:
            last = add(*got)
    elif op == "attention":
        last = _attention(g, last, add)
    elif op == "matmul":
        last = _matmul(g, last, add)
    y = g.shapes[last]
    end = draw(st.sampled_from(["mean", "linear", "index", "back", "keep"]))
    if end == "mean" and len(y) == 3:
        return add({"type": "mean", "dim": _dim(g, 1, 3)}, (y[0], y[2]), last)
    if end == "linear":
        got = g.simple("linear", y)
        assert got is not None
        return add(got[0], got[1], last)
    if end == "index" and len(y) == 3:
        return add({"type": "index", "dim": 1, "index": size(g, 0)}, (y[0], y[2]), last)
    if end == "back":
        if y == (n, tokens, c):
            last = add({"type": "transpose", "dim0": _dim(g, 2, 3), "dim1": 1}, (n, c, tokens),
                       last)
        if g.shapes[last] == (n, c, tokens):
            shape = [size(g, n, 0), size(g, c, 1), *[size(g, m, 2 + i) for i, m in enumerate(sp)]]
            return add({"type": "reshape", "shape": shape}, x, last)
    return last


def _split(g: Gen, cur: str, add: Add) -> str:
    """A split or chunk whose parts are processed and merged back (concat, add, gate)."""
    draw = g.draw
    x = g.shapes[cur]
    r = len(x)
    if r < 2:
        return cur
    d = 1 if r < 3 or draw(st.integers(0, 2)) else draw(st.integers(2, r - 1))
    m = x[d]
    if m < 2:
        return cur
    form = draw(st.sampled_from(["list", "list", "size", "chunk"]))
    layer: Layer
    if form == "list":
        k = draw(st.integers(2, min(3, m)))
        cuts = sorted(draw(st.lists(st.integers(1, m - 1), min_size=k - 1, max_size=k - 1,
                                    unique=True)))
        lengths = [b - a for a, b in zip([0, *cuts], [*cuts, m], strict=True)]
        layer = {"type": "split", "sizes": [size(g, v) for v in lengths]}
    elif form == "size":
        s = draw(st.integers(max(1, -(-m // 4)), m - 1))
        lengths = [s] * (m // s) + ([m % s] if m % s else [])
        layer = {"type": "split", "sizes": s}
    else:
        k = draw(st.integers(2, min(4, m)))
        s = -(-m // k)
        lengths = [s] * (m // s) + ([m % s] if m % s else [])
        layer = {"type": "chunk", "chunks": k}
    if d != 0 or draw(st.booleans()):
        layer["dim"] = _dim(g, d, r)
    name = add(layer, tuple(lengths[0] if i == d else v for i, v in enumerate(x)), cur)
    del g.shapes[name]  # read as its parts
    parts = []
    for j, n in enumerate(lengths):
        p = f"{name}.{j}"
        g.shapes[p] = tuple(n if i == d else v for i, v in enumerate(x))
        if draw(st.integers(0, 2)) == 0:
            p = add(g.same_shape(g.shapes[p]), g.shapes[p], p)
        parts.append(p)
    same = len(set(lengths)) == 1
    how = draw(st.sampled_from(["concat", "concat", "merge", "gate", "first"]))
    if how == "merge" and same:
        return add({"type": draw(st.sampled_from(["add", "mul", "sub"])), "inputs": parts},
                   g.shapes[parts[0]])
    if how == "gate" and same:
        gate = add({"type": "sigmoid"}, g.shapes[parts[1]], parts[1])
        return add({"type": "mul", "inputs": [parts[0], gate]}, g.shapes[parts[0]])
    if how == "first":
        return add({"type": "identity"}, g.shapes[parts[0]], parts[0])
    if draw(st.booleans()):
        parts = list(draw(st.permutations(parts)))
    cat: Layer = {"type": "concat", "inputs": parts}
    if d != 1 or draw(st.booleans()):
        cat["dim"] = _dim(g, d, r)
    return add(cat, x)


def _focus(g: Gen, cur: str, add: Add) -> str:
    """Space to depth (YOLOv5's Focus): the even and odd rows of a spatial axis, strided
    slices, concatenated along the channels (the last odd row cut off)."""
    draw = g.draw
    x = g.shapes[cur]
    r = len(x)
    if r < 3:
        return cur
    d = draw(st.integers(2, r - 1))
    m = x[d]
    k = draw(st.sampled_from([2, 2, 3]))
    if m < k:
        return cur
    half = tuple(m // k if i == d else v for i, v in enumerate(x))
    out = (x[0], k * x[1], *half[2:])
    if not _fits(out):
        return cur
    parts = []
    for j in range(k):
        layer: Layer = {"type": "slice", "dim": _dim(g, d, r), "step": size(g, k)}
        if j or draw(st.booleans()):
            layer["start"] = size(g, j)
        if m % k:
            layer["end"] = size(g, (m // k) * k) if draw(st.booleans()) else -(m % k)
        parts.append(add(layer, half, cur))
    return add({"type": "concat", "inputs": parts}, out)


def _matmul(g: Gen, cur: str, add: Add) -> str:
    """A matmul of a tensor with its transpose (either order), or with a learned matrix."""
    draw = g.draw
    x = g.shapes[cur]
    r = len(x)
    if r < 2:
        return cur
    if draw(st.integers(0, 2)) == 0:
        m = draw(st.integers(1, 6))
        out = (*x[:-1], m)
        if not _fits(out):
            return cur
        w = _learned(g, add, [size(g, x[-1]), size(g, m)], (x[-1], m))
        return add({"type": "matmul", "inputs": [cur, w]}, out)
    xt = (*x[:-2], x[-1], x[-2])
    if draw(st.booleans()):
        first, out = True, (*x[:-1], x[-2])
    else:
        first, out = False, (*xt[:-1], x[-1])
    if not _fits(out):
        return cur
    t = add({"type": "transpose", "dim0": _dim(g, r - 1, r), "dim1": _dim(g, r - 2, r)}, xt,
            cur)
    return add({"type": "matmul", "inputs": [cur, t] if first else [t, cur]}, out)


def _attention(g: Gen, cur: str, add: Add) -> str:
    """``attention`` on q = k = v (or v a linear of them), sometimes causal or scaled."""
    draw = g.draw
    x = g.shapes[cur]
    if len(x) < 3 or math.prod(x[:-1]) * x[-2] > MAX_SCORES:
        return cur
    v = cur
    if draw(st.integers(0, 2)) == 0:
        got = g.simple("linear", x)
        assert got is not None
        v = add(got[0], got[1], cur)
    layer: Layer = {"type": "attention", "inputs": [cur, cur, v]}
    if draw(st.integers(0, 2)) == 0:
        layer["is_causal"] = True
    if draw(st.integers(0, 2)) == 0:
        layer["scale"] = draw(st.sampled_from([0.5, 0.125]))
    return add(layer, (*x[:-1], g.shapes[v][-1]))


def _learned(g: Gen, add: Add, spec: list[int | str], shape: Shape) -> str:
    """A ``parameter`` read only by the layer that follows (kept out of the later draws of
    branches and merges, which would put it first: see PARAM_SECOND)."""
    p = add({"type": "parameter", "shape": spec, "inputs": []}, shape)
    del g.shapes[p]
    return p


def _param(g: Gen, cur: str, add: Add) -> str:
    """A learned tensor: a layer scale (mul), a position embedding (add), or a class token
    concatenated along an axis (expanded over the batch first when the batch is not 1)."""
    draw = g.draw
    x = g.shapes[cur]
    r = len(x)
    if r < 2:
        return cur
    how = draw(st.sampled_from(["scale", "embed", "token"]))
    axis = draw(st.integers(1, r - 1))
    if how == "scale":
        shape: Shape = tuple(x[i] if i == axis else 1 for i in range(r))
    elif how == "embed":
        shape = (1, *x[1:])
    else:
        shape = tuple(1 if i in (0, axis) else x[i] for i in range(r))
    out = tuple(v + 1 if i == axis else v for i, v in enumerate(x)) if how == "token" else x
    if not _fits(out):
        return cur
    p = _learned(g, add, [size(g, v, i) for i, v in enumerate(shape)], shape)
    if how != "token":
        op = "mul" if how == "scale" else draw(st.sampled_from(["add", "add", "mul"]))
        return add({"type": op, "inputs": [cur, p] if PARAM_SECOND or draw(st.booleans())
                    else [p, cur]}, x)
    if x[0] != 1:
        p = add({"type": "expand", "shape": [size(g, x[0], 0), *([-1] * (r - 1))]},
                (x[0], *shape[1:]))
        del g.shapes[p]
    cat: Layer = {"type": "concat", "inputs": [cur, p] if PARAM_SECOND or draw(st.booleans())
                  else [p, cur]}
    if axis != 1 or draw(st.booleans()):
        cat["dim"] = _dim(g, axis, r)
    return add(cat, out)
