"""Receptive fields measured by autograd, for :func:`cnncalc.validate` with ``rf=True``.

The probe is a copy of the network in float64 with every activation and normalisation made the
identity, max-pools made window sums (and ``amax`` a sum), weights positive and biases zero, so
that a gradient is non-zero exactly where an output can see. One central output (and its
neighbour along each axis, in other batch samples) is back-propagated to an all-ones input: the
extent of the non-zero gradient is the field's ``size``, the shift between neighbours its
``stride``, and the first pixel minus ``index * stride`` its ``start``. Layers whose field is
the whole input, fractional (after upsampling or a transposed convolution), a union of
different strides, or clipped by the border at these sizes are skipped, with the reason.
"""

from __future__ import annotations

from typing import Any

from ..algebra.arith import as_int, is_num
from ..core.analysis import Analysis, jsonable
from ..core.graph import INPUT, expand
from ..layers import (
    ELU,
    GELU,
    AdaptiveAvgPool,
    AdaptiveMaxPool,
    Amax,
    BatchNorm,
    ConvTranspose,
    Div,
    Dropout,
    Flatten,
    GlobalAvgPool,
    GroupNorm,
    Hardsigmoid,
    Hardswish,
    LayerBase,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Sub,
    Tanh,
    Upsample,
)
from ..layers.reduce import Reduction
from ..progress import Progress
from .build import LayerFailure, build
from .builders import ExplicitPadding, as_ints, reduce_module
from .builders_shape import merge_module
from .vreport import LayerCheck, Mismatch, RFCheck

LINEARISED: tuple[type[LayerBase], ...] = (
    ReLU, ReLU6, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Hardswish, Hardsigmoid, ELU, Mish,
    Softplus, PReLU, Softmax, BatchNorm, LayerNorm, GroupNorm, Dropout)
"""Layers the probe replaces by ``nn.Identity``."""
_WHOLE = (GlobalAvgPool, AdaptiveAvgPool, AdaptiveMaxPool, Linear, Flatten)
_FRACTIONAL = (Upsample, ConvTranspose)
_NO_PIXEL = "it reads no input pixel (a learned parameter)"


def _skips(an: Analysis, layers: dict[str, LayerBase]) -> dict[str, str]:
    """Layers not to probe, with the reason."""
    skip: dict[str, str] = {}
    merged = {n.layer for n in an.notes if n.kind == "warn" and "strides" in n.text}
    rank = len(an.input_shape)
    shapes = {INPUT: tuple(an.input_shape), **{r.name: tuple(r.output_shape)
                                               for r in an.layers}}
    shapes.update((f"{r.name}.{j}", tuple(p)) for r in an.layers  # a split's parts
                  for j, p in enumerate(r.output_shapes))
    for r in an.layers:
        # a learned parameter read here does not stop the probe: its pixels are none
        inherited = next((skip[i] for i in r.inputs if i in skip and skip[i] != _NO_PIXEL),
                         None)
        fld = r.receptive_field
        layer = layers[r.name]
        if isinstance(layer, _WHOLE) or (isinstance(layer, Reduction) and layer.reduces_spatial(
                len(shapes[r.inputs[0]]))):
            skip[r.name] = "the field is the whole input (by convention)"
        elif inherited:
            skip[r.name] = inherited
        elif not fld.defined:
            skip[r.name] = "the field is not defined (axes merged or moved)"
        elif any(is_num(v) and v == 0 for v in fld.stride):
            skip[r.name] = _NO_PIXEL
        elif r.output_shapes or getattr(layer, "moves_axes", False):
            skip[r.name] = "a layer that moves, merges or splits axes: positions do not line up"
        elif len(r.inputs) > 1 and any(shapes[i][2:] != tuple(r.output_shape)[2:]
                                       for i in r.inputs):
            skip[r.name] = "a merge that broadcasts or concatenates along a spatial " \
                           "axis: positions do not line up (the union is a convention)"
        elif isinstance(layer, _FRACTIONAL) or not all(
                is_num(v) for v in (*fld.size, *fld.stride, *fld.start)):
            skip[r.name] = "after upsampling or a transposed convolution the field is " \
                           "fractional"
        elif r.name in merged:
            skip[r.name] = "a union of fields of different strides (by convention)"
        elif len(r.output_shape) != rank:
            skip[r.name] = "the output has other axes than the input"
        if r.output_shapes and inherited:
            # a split skipped for what it read: its parts ("NAME.j") are read downstream
            skip.update((f"{r.name}.{j}", skip[r.name]) for j in range(len(r.output_shapes)))
    return skip


def _after_spatial_split(an: Analysis) -> set[str]:
    """Layers that read (through any path) a part of a split along a spatial axis: a part
    has borders inside the input, which the probe's choice of positions does not see."""
    shapes = {INPUT: tuple(an.input_shape), **{r.name: tuple(r.output_shape)
                                               for r in an.layers}}
    out: set[str] = set()
    for r in an.layers:
        if any(i in out or i.rpartition(".")[0] in out for i in r.inputs):
            out.add(r.name)
        if r.output_shapes and any(tuple(p)[2:] != shapes[r.inputs[0]][2:]
                                   for p in r.output_shapes):
            out.update(f"{r.name}.{j}" for j in range(len(r.output_shapes)))
    return out


def probe_fields(torch: Any, an: Analysis, dev: Any, checks: list[LayerCheck],
                 bar: Progress) -> tuple[list[Mismatch], list[str]]:
    """Measure the receptive field of every layer of ``an`` on ``dev``, setting each check's
    ``rf``; returns the mismatches and the notes (skips, counted by reason)."""
    layers = {n.name: n.layer for n in expand(an.arch, dict(an.bindings))}
    skip = _skips(an, layers)
    after_split = _after_spatial_split(an)
    ext = list(as_ints(an.input_shape[2:]))
    nd = len(ext)
    by_name = {c.name: c for c in checks}
    positions: dict[str, list[tuple[int, ...]]] = {}
    mismatches: list[Mismatch] = []
    for r in an.layers:
        fld = r.receptive_field
        pred = {"size": [jsonable(v) for v in fld.size],
                "stride": [jsonable(v) for v in fld.stride],
                "start": [jsonable(v) for v in fld.start]}
        if r.name in skip:
            by_name[r.name].rf = RFCheck("skipped", pred, reason=skip[r.name])
            continue
        size, stride, start = ([v for v in vs if v is not None]  # defined: none is None
                               for vs in (fld.size, fld.stride, fld.start))
        pos = _probe_positions(ext, list(as_ints(r.output_shape[2:])), list(as_ints(size)),
                               list(as_ints(stride)), list(as_ints(start)))
        if pos is None:
            by_name[r.name].rf = RFCheck(
                "skipped", pred, reason="the field is clipped by the border at these "
                "sizes; validate at larger sizes to measure it")
            continue
        positions[r.name] = pos
        by_name[r.name].rf = RFCheck("match", pred)
    if positions:
        probe = _rf_network(torch, build(an), layers, dev)
        outs: dict[str, Any] = {}
        hooks = [probe.layer(n).register_forward_hook(
            lambda m, a, o, n=n: outs.__setitem__(n, o)) for n in positions]
        x = torch.ones((nd + 1, as_int(an.input_shape[1]), *ext), dtype=torch.float64,
                       device=dev, requires_grad=True)
        try:
            with torch.enable_grad():
                probe(x)
        except LayerFailure:
            # a size tied to the batch (a learned class token of batch 1 concatenated): the
            # probe's batch of one item per axis cannot run
            for name in positions:
                check = by_name[name].rf
                assert check is not None
                check.status = "skipped"
                check.reason = f"the network does not run at the probe's batch of {nd + 1}"
            positions = {}
        finally:
            for h in hooks:
                h.remove()
        for name, pos in positions.items():
            out = outs.pop(name)
            go = torch.zeros_like(out)
            for b, p in enumerate(pos):
                go[(b, slice(None), *p)] = 1.0
            (g,) = torch.autograd.grad(out, x, go, retain_graph=True)
            check = by_name[name].rf
            assert check is not None
            check.measured = _measure(g, pos)
            del g, go, out
            bad = {k: (check.predicted[k], check.measured[k]) for k in check.measured
                   if any(m is not None and m != p for p, m in
                          zip(check.predicted[k], check.measured[k], strict=True))}
            if bad and name in after_split and _clipped(check.predicted, check.measured):
                check.status = "skipped"
                check.reason = ("the field is clipped by the border of a split part at these "
                                "sizes")
            elif bad:
                check.status = "mismatch"
                mismatches.append(Mismatch(name, "receptive field",
                                           {k: v[0] for k, v in bad.items()},
                                           {k: v[1] for k, v in bad.items()}))
            bar.advance(label=f"{an.name}: receptive fields")
        del outs, x, probe
    skipped: dict[str, int] = {}
    for c in checks:
        if c.rf is not None and c.rf.status == "skipped":
            skipped[c.rf.reason] = skipped.get(c.rf.reason, 0) + 1
    notes = [f"receptive field not measured for {n} layer{'s' if n != 1 else ''}: {reason}"
             for reason, n in skipped.items()]
    return mismatches, notes


def _clipped(predicted: dict[str, list[Any]], measured: dict[str, list[Any]]) -> bool:
    """Whether the measured field is the predicted one cut by a border: smaller along some
    axis, never larger, inside the predicted span."""
    sp, sm = predicted["size"], measured["size"]
    st_p, st_m = predicted["start"], measured["start"]
    return all(m is None or (isinstance(p, int) and m <= p) for p, m in zip(sp, sm, strict=True)) \
        and all(m is None or a is None or not isinstance(p, int) or not isinstance(q, int)
                or (q <= a and a + m <= q + p)
                for p, q, m, a in zip(sp, st_p, sm, st_m, strict=True))


def _probe_positions(ext: list[int], out: list[int], size: list[int], stride: list[int],
                     start: list[int]) -> list[tuple[int, ...]] | None:
    """Output positions to back-propagate: a central one (sample 0) and its neighbour along
    each axis (sample 1 + axis), all with predicted fields inside the input; None if clipped."""
    centre: list[int] = []
    near: list[int] = []
    for n, o, k, s, a in zip(ext, out, size, stride, start, strict=True):
        def fits(i: int, n: int = n, k: int = k, s: int = s, a: int = a) -> bool:
            return a + i * s >= 0 and a + i * s + k <= n
        c = min(max(((n - k) // 2 - a) // s, 0), o - 1)
        if not fits(c):
            return None
        nb = c + 1 if c + 1 < o and fits(c + 1) else c - 1 if c >= 1 and fits(c - 1) else c
        if o >= 2 and nb == c:
            return None
        centre.append(c)
        near.append(nb)
    pos = [tuple(centre)]
    for ax in range(len(ext)):
        p = list(centre)
        p[ax] = near[ax]
        pos.append(tuple(p))
    return pos


def _measure(g: Any, pos: list[tuple[int, ...]]) -> dict[str, list[int | None]]:
    """Size, stride and start per axis from the input gradients of the probed outputs."""
    nd = len(pos[0])
    nz = (g != 0).any(dim=1)  # (samples, *spatial)

    def span(b: int, ax: int) -> tuple[int, int]:
        prof = nz[b]
        dims = [d for d in range(nd) if d != ax]
        if dims:
            prof = prof.any(dim=tuple(dims)) if len(dims) > 1 else prof.any(dim=dims[0])
        idx = prof.nonzero().flatten().tolist()
        return (idx[0], idx[-1]) if idx else (-1, -2)

    size: list[int | None] = []
    stride: list[int | None] = []
    start: list[int | None] = []
    for ax in range(nd):
        first, last = span(0, ax)
        size.append(last - first + 1)
        step = pos[1 + ax][ax] - pos[0][ax]
        s: int | None = None
        if step:
            s = (span(1 + ax, ax)[0] - first) // step
        stride.append(s)
        start.append(first - pos[0][ax] * (s if s is not None else 0)
                     if s is not None or pos[0][ax] == 0 else None)
    return {"size": size, "stride": stride, "start": start}


def _rf_network(torch: Any, net: Any, layers: dict[str, LayerBase], dev: Any) -> Any:
    """The probe: float64, activations and normalisations the identity, max-pools window sums,
    ``amax`` a sum, ``sub``/``div`` of tensors a sum, weights positive (1 / fan-in), biases
    zero."""
    for name, layer in layers.items():
        if isinstance(layer, LINEARISED):
            net.replace(name, torch.nn.Identity())
        elif isinstance(layer, MaxPool):
            net.replace(name, _window_sum(torch, net.layer(name)))
        elif isinstance(layer, Amax):  # the gradient of a max reaches only the maximum
            m = net.layer(name)
            net.replace(name, reduce_module("sum", m.dims, m.keepdim))
        elif isinstance(layer, (Sub, Div)) and layer.scalar is None:
            # a difference or quotient of inputs can cancel (x - x has no gradient): the sum
            # sees the same pixels
            net.replace(name, merge_module("add"))
    net = net.to(device=dev, dtype=torch.float64)
    with torch.no_grad():
        for pname, p in net.named_parameters():
            if p.dim() >= 2:
                p.fill_(1.0 / max(p[0].numel(), 1))
            else:
                p.fill_(0.0 if pname.endswith("bias") else 1.0)
    return net


def _window_sum(torch: Any, pool: Any) -> Any:
    """A module with the windows of max-pool ``pool`` (kernel, stride, padding, dilation,
    ceil_mode, explicit padding) that sums them: a depthwise convolution with ones."""
    functional = torch.nn.functional

    class WindowSum(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # not a submodule (it has no parameters): a layer nested in the max-pool's
            # module may be called "<pool>.pool"
            object.__setattr__(self, "pool", pool)

        def forward(self, x: Any) -> Any:
            with torch.no_grad():
                out = self.pool(x.detach()).shape[2:]
            nd = x.dim() - 2
            if isinstance(self.pool, ExplicitPadding):
                x = functional.pad(x, self.pool.explicit_padding)

            def per_axis(v: Any) -> tuple[int, ...]:
                return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * nd
            k, s = per_axis(self.pool.kernel_size), per_axis(self.pool.stride)
            p, d = per_axis(self.pool.padding), per_axis(self.pool.dilation)
            pads: list[int] = []
            for i in reversed(range(nd)):
                need = (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1
                extra = max(0, need - (x.shape[2 + i] + 2 * p[i]))
                pads += [p[i], p[i] + extra]
            x = functional.pad(x, pads)
            c = x.shape[1]
            w = torch.ones((c, 1, *k), dtype=x.dtype, device=x.device)
            conv = getattr(functional, f"conv{nd}d")
            y = conv(x, w, None, s, 0, d, c)
            return y[(slice(None), slice(None), *(slice(0, o) for o in out))]
    return WindowSum()
