"""PyTorch as the oracle: run a built network and compare every layer with cnncalc's analysis."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import cnncalc
from cnncalc.pytorch.build import build
from cnncalc.pytorch.builders_attention import counted_attention


def _shapes(out: Any) -> tuple[Any, ...]:
    """The shape of a module's output; of each part when it has several (``split``)."""
    if isinstance(out, tuple):
        return tuple(tuple(o.shape) for o in out)
    return tuple(out.shape)


def measure(arch: Any, bindings: dict[str, int] | None = None) -> tuple[cnncalc.Analysis, dict]:
    """cnncalc's analysis, and per layer the real output shape, param count and MACs."""
    an = cnncalc.analyze(arch, bindings)
    net = build(an)
    shapes: dict[str, tuple[int, ...]] = {}
    modules = dict(net.named_modules())
    hooks = []
    for r in an.layers:
        m = modules[r.name]
        hooks.append(m.register_forward_hook(
            lambda mod, i, o, name=r.name: shapes.__setitem__(name, _shapes(o))))
    x = torch.randn(*an.input_shape)
    # counted_attention: the math kernels of attention, whose products FlopCounterMode counts
    with torch.inference_mode(), counted_attention(), FlopCounterMode(display=False) as fc:
        net(x)
    for h in hooks:
        h.remove()
    counts = fc.get_flop_counts()
    real = {}
    for r in an.layers:
        real[r.name] = {
            "shape": shapes[r.name],
            "params": sum(p.numel() for p in net.layer_parameters(r.name)),
            "macs": sum(counts.get(f"Network.{r.name}", {}).values()) // 2,
        }
    real["__total__"] = {"params": sum(p.numel() for p in net.parameters()),
                         "macs": sum(counts.get("Global", {}).values()) // 2}
    return an, real


def mismatches(arch: Any, bindings: dict[str, int] | None = None) -> list[str]:
    """Every disagreement between cnncalc and torch, as text (empty when all match)."""
    an, real = measure(arch, bindings)
    bad = []
    for r in an.layers:
        got = real[r.name]
        if r.output_shapes:
            if tuple(map(tuple, r.output_shapes)) != got["shape"]:
                bad.append(f"{r.name}: shapes {r.output_shapes} != torch {got['shape']}")
        elif tuple(r.output_shape) != got["shape"]:
            bad.append(f"{r.name}: shape {tuple(r.output_shape)} != torch {got['shape']}")
        if r.params != got["params"]:
            bad.append(f"{r.name}: params {r.params} != torch {got['params']}")
        if r.macs != got["macs"]:
            bad.append(f"{r.name}: macs {r.macs} != torch {got['macs']}")
    tot = real["__total__"]
    if an.totals.params != tot["params"]:
        bad.append(f"total params {an.totals.params} != torch {tot['params']}")
    if an.totals.macs != tot["macs"]:
        bad.append(f"total macs {an.totals.macs} != torch {tot['macs']}")
    return bad
