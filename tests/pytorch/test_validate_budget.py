"""The memory budget of ``cnncalc.validate`` covers every tensor the torch run allocates.

For every layer type a network is sized (by
:func:`cnncalc.pytorch.budget.memory_plan`, no torch) to the largest input whose predicted
use fits a small budget; it is validated in a fresh
process whose peak RSS above its baseline (after importing torch and a tiny warm-up, heap
trimmed, peak reset) must stay within budget + ``RSS_MARGIN_BYTES``; one step larger is
refused before anything is built. Several networks share a process (the heap is trimmed and
the peak reset between them) to keep the test to a few seconds per dtype.
"""

from __future__ import annotations

import json
import subprocess
import sys
import typing
from collections.abc import Iterator
from typing import Any

import pytest

import cnncalc
from cnncalc.layers import LAYER_CLASSES
from cnncalc.pytorch import budget as bmod

pytest.importorskip("torch")  # the measuring processes run torch

BUDGET = 32 * 2**20
MARGIN = bmod.RSS_MARGIN_BYTES

CHILD = r"""
import ctypes, gc, json, sys
import torch
import cnncalc

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)

torch.set_num_threads(1)
jobs = json.loads(sys.argv[1])
warm = {"name": "warm", "input": {"shape": [1, 3, 8, 8]}, "layers": [
    {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": 1, "groups": 1},
    {"type": "separable_conv", "out_channels": 4, "kernel_size": 3},
    {"type": "max_pool", "kernel_size": 2}, {"type": "upsample", "scale_factor": 2,
                                             "mode": "bilinear"},
    {"type": "batch_norm"}, {"type": "relu"}]}
libc = ctypes.CDLL("libc.so.6")
out = []
cnncalc.validate(warm, device="cpu", repeats=1, warmup=1, threads=1, rf=jobs[0]["rf"],
                 dtype=jobs[0]["dtype"])
for job in jobs:
    gc.collect()
    libc.malloc_trim(0)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    base = status("VmRSS")
    cnncalc.validate(job["arch"], job["bind"], device="cpu", repeats=1, warmup=0, threads=1,
                     rf=job["rf"], dtype=job["dtype"], max_bytes=job["budget"])
    out.append(status("VmHWM") - base)
print(json.dumps(out))
"""


def _c(shape: list[Any], *layers: dict[str, Any]) -> dict[str, Any]:
    return {"name": layers[-1]["type"], "input": {"shape": shape}, "layers": list(layers)}


SQ = [1, 16, "H", "H"]
NETS: dict[str, dict[str, Any]] = {
    "conv": _c(SQ, {"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1}),
    "conv_transpose": _c(SQ, {"type": "conv_transpose", "out_channels": 16, "kernel_size": 3,
                              "stride": 2, "padding": 1, "output_padding": 1}),
    "separable_conv": _c([1, 4, "H", "H"], {"type": "separable_conv", "out_channels": 1,
                                            "kernel_size": 3, "padding": 1,
                                            "depth_multiplier": 16}),
    "max_pool": _c(SQ, {"type": "max_pool", "kernel_size": 2, "stride": 1, "padding": "same"}),
    "avg_pool": _c(SQ, {"type": "avg_pool", "kernel_size": 3, "stride": 1, "padding": 1}),
    "adaptive_avg_pool": _c(SQ, {"type": "adaptive_avg_pool", "output_size": 5}),
    "adaptive_max_pool": _c(SQ, {"type": "adaptive_max_pool", "output_size": 5}),
    "global_avg_pool": _c(SQ, {"type": "global_avg_pool"}),
    "linear": _c(SQ, {"type": "linear", "out_features": 16}),
    "flatten": _c(SQ, {"type": "flatten"}, {"type": "relu"}),
    "batch_norm": _c(SQ, {"type": "batch_norm"}),
    "layer_norm": _c(SQ, {"type": "layer_norm", "normalized_dims": 1}),
    "group_norm": _c(SQ, {"type": "group_norm", "num_groups": 4}),
    "dropout": _c(SQ, {"type": "relu"}, {"type": "dropout"}),
    "identity": _c(SQ, {"type": "relu"}, {"type": "identity"}),
    "relu": _c(SQ, {"type": "relu"}),
    "relu6": _c(SQ, {"type": "relu6"}),
    "leaky_relu": _c(SQ, {"type": "leaky_relu"}),
    "gelu": _c(SQ, {"type": "gelu"}),
    "silu": _c(SQ, {"type": "silu"}),
    "sigmoid": _c(SQ, {"type": "sigmoid"}),
    "tanh": _c(SQ, {"type": "tanh"}),
    "hardswish": _c(SQ, {"type": "hardswish"}),
    "hardsigmoid": _c(SQ, {"type": "hardsigmoid"}),
    "elu": _c(SQ, {"type": "elu"}),
    "mish": _c(SQ, {"type": "mish"}),
    "softplus": _c(SQ, {"type": "softplus"}),
    "prelu": _c(SQ, {"type": "prelu", "num_parameters": 16}),
    "softmax": _c(SQ, {"type": "softmax", "dim": 1}),
    "add": _c(SQ, {"type": "relu", "name": "a"}, {"type": "sigmoid", "name": "b",
                                                  "inputs": ["input"]},
              {"type": "add", "inputs": ["a", "b", "input"]}),
    "mul": _c(SQ, {"type": "conv", "name": "a", "out_channels": 16, "kernel_size": 1},
              {"type": "mul", "inputs": ["a", "input", "a"]}),
    "sub": _c(SQ, {"type": "relu", "name": "a"}, {"type": "sigmoid", "name": "b",
                                                  "inputs": ["input"]},
              {"type": "sub", "inputs": ["a", "b", "input"]}),
    "div": _c(SQ, {"type": "sigmoid", "name": "a"}, {"type": "div", "scalar": 2.0},
              {"type": "div", "inputs": ["input", "a"]}),
    "concat": _c(SQ, {"type": "relu", "name": "a"}, {"type": "concat", "inputs": ["a", "input"]}),
    "upsample": _c([1, 4, "H", "H"], {"type": "upsample", "scale_factor": 2, "mode": "bilinear"}),
    "pad": _c(SQ, {"type": "pad", "padding": [[1, 0], [0, 1]], "mode": "reflect"}),
    "channel_shuffle": _c(SQ, {"type": "channel_shuffle", "groups": 4}),
    "permute": _c(SQ, {"type": "relu"}, {"type": "permute", "dims": [0, 2, 3, 1]}),
    "transpose": _c(SQ, {"type": "relu"}, {"type": "transpose", "dim0": 2, "dim1": 3}),
    "reshape": _c(SQ, {"type": "relu"}, {"type": "reshape", "shape": [1, 16, -1]}),
    "expand": _c([1, 16, "H", 1], {"type": "relu"}, {"type": "expand", "shape": [1, -1, -1, 4]}),
    "split": _c(SQ, {"type": "relu"}, {"type": "split", "name": "s", "dim": 1, "sizes": [8, 8]},
                {"type": "add", "inputs": ["s.0", "s.1"]}),
    "chunk": _c(SQ, {"type": "relu"}, {"type": "chunk", "name": "c", "chunks": 2, "dim": 1},
                {"type": "concat", "inputs": ["c.1", "c.0"]}),
    "slice": _c(SQ, {"type": "relu"}, {"type": "slice", "dim": 2, "start": 1, "step": 2}),
    "index": _c(SQ, {"type": "relu"}, {"type": "index", "dim": 1, "index": 3}),
    "mean": _c(SQ, {"type": "mean", "dim": 1, "keepdim": True}),
    "sum": _c(SQ, {"type": "sum", "dim": [2, 3]}),
    "amax": _c(SQ, {"type": "amax", "dim": -1}),
    "matmul": _c(SQ, {"type": "matmul", "inputs": ["input", "input"]}),
    "attention": _c([1, 4, "H", 16], {"type": "attention", "is_causal": True,
                                      "inputs": ["input", "input", "input"]}),
    "multihead_attention": _c([1, "H", 32], {"type": "multihead_attention", "num_heads": 4,
                                             "batch_first": True}),
    "parameter": _c(SQ, {"type": "parameter", "name": "p", "shape": [1, 16, "H", "H"]},
                    {"type": "add", "inputs": ["input", "p"]}),
}


def _types() -> set[str]:
    out = set()
    for cls in LAYER_CLASSES:
        out.update(typing.get_args(cls.model_fields["type"].annotation))
    return out


def _analysis(arch: dict[str, Any], h: int, dtype: str) -> Any:
    a = cnncalc.load(arch)
    a = a.model_copy(update={"input": a.input.model_copy(update={"dtype": dtype})})
    return cnncalc.analyze(a, {"H": h})


def _plan(arch: dict[str, Any], h: int, dtype: str, rf: bool) -> int:
    return bmod.memory_plan(_analysis(arch, h, dtype), rf).total


def _largest_fitting(arch: dict[str, Any], dtype: str, rf: bool, budget: int) -> int:
    """The largest H (multiple of 2) whose predicted use fits ``budget``."""
    lo, hi = 2, 2
    while _plan(arch, hi, dtype, rf) <= budget:
        lo, hi = hi, hi * 2
    while hi - lo > 2:
        mid = (lo + hi) // 4 * 2
        lo, hi = (mid, hi) if _plan(arch, mid, dtype, rf) <= budget else (lo, mid)
    return lo


def _start(jobs: list[dict[str, Any]]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(jobs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(proc: subprocess.Popen[str]) -> list[int]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return [int(v) for v in json.loads(out.strip().splitlines()[-1])]


def _measure(jobs: list[dict[str, Any]]) -> list[int]:
    return _wait(_start(jobs))


GROUPS = {"float32": ("float32", False), "float64": ("float64", False),
          "rf": ("float32", True)}


def _jobs(dtype: str, rf: bool, budget: int = BUDGET) -> tuple[list[dict[str, Any]],
                                                               dict[str, int]]:
    jobs, sizes = [], {}
    for name in sorted(NETS):
        h = _largest_fitting(NETS[name], dtype, rf, budget)
        sizes[name] = h
        jobs.append({"arch": NETS[name], "bind": {"H": h}, "dtype": dtype, "rf": rf,
                     "budget": budget})
    return jobs, sizes


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """The three measuring processes, started together (RSS is per process)."""
    procs = {g: _start(_jobs(dtype, rf)[0]) for g, (dtype, rf) in GROUPS.items()}
    yield procs
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_every_layer_type_has_a_network() -> None:
    assert set(NETS) == _types() - {"opaque"}  # an opaque layer cannot be built, nor validated


def _check(group: str, runs: dict[str, subprocess.Popen[str]],
           budget: int = BUDGET) -> None:
    dtype, rf = GROUPS[group]
    jobs, sizes = _jobs(dtype, rf, budget)
    for name, h in sizes.items():
        arch = NETS[name]
        plan = _plan(arch, h, dtype, rf)
        assert plan > budget * 0.8, (name, h, plan)  # near the budget
        # one step larger is refused, before anything is built
        with pytest.raises(cnncalc.CnnCalcError, match="over the validation budget") as e:
            cnncalc.validate(arch, {"H": h + 2}, device="cpu", dtype=dtype, rf=rf,
                             max_bytes=budget)
        assert e.value.kind == "limit"
    used = _wait(runs[group])
    over = {n: (sizes[n], u / 2**20) for n, u in zip(sizes, used, strict=True)
            if u > budget + MARGIN}
    assert not over, f"peak RSS above {budget / 2**20:.0f} MiB + margin (H, MiB): {over}"


def test_rss_within_budget_every_layer_type_float32(runs: Any) -> None:
    _check("float32", runs)


def test_rss_within_budget_every_layer_type_float64(runs: Any) -> None:
    # float64 takes PyTorch's native convolutions (im2col columns, per-group outputs)
    _check("float64", runs)


def test_rss_within_budget_every_layer_type_receptive_field_probe(runs: Any) -> None:
    _check("rf", runs)


def test_separable_conv_depthwise_intermediate_is_counted() -> None:
    """Issue 9, item 11: a separable conv whose activations are 1.25 MiB at H=256 allocates a
    64 MiB depthwise output; the plan counts it, refuses H=256 under 32 MiB, and the largest H
    it admits stays within the budget."""
    arch = _c([1, 4, "H", "H"], {"type": "separable_conv", "out_channels": 1, "kernel_size": 3,
                                 "padding": 1, "depth_multiplier": 64})
    an = _analysis(arch, 256, "float32")
    assert int(an.totals.peak_activation_bytes) == (4 + 1) * 256 * 256 * 4
    depthwise = 1 * 4 * 64 * 256 * 256 * 4  # N * C * multiplier * H * W * float32
    plan = bmod.memory_plan(an)
    assert plan.activations >= (4 + 1) * 256 * 256 * 4 + depthwise
    with pytest.raises(cnncalc.CnnCalcError, match=r"needs about \d+\.\d\d MiB \([\d,]+ bytes: "
                       r"peak activations with layers' internal buffers .* over the "
                       r"validation budget of 32\.00 MiB"):
        cnncalc.validate(arch, {"H": 256}, device="cpu", max_bytes=BUDGET)
    h = _largest_fitting(arch, "float32", False, BUDGET)
    assert h < 256
    (used,) = _measure([{"arch": arch, "bind": {"H": h}, "dtype": "float32", "rf": False,
                         "budget": BUDGET}])
    assert used <= BUDGET + MARGIN, used / 2**20
