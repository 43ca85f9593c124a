"""The expansion of an architecture object is kept and reused (cnncalc.core.graph.expand): the
results must be those of a fresh object, at every binding, for blocks whose arguments and
repeat counts use the sizes, and nothing an analysis returns may be shared with the next."""

from __future__ import annotations

import gc

import pytest

import cnncalc
from cnncalc.core import graph

ARCH = {
    "input": {"shape": ["N", 3, "H", "W"]},
    "symbols": {"R": {"min": 1, "max": 4}, "C": {}},
    "blocks": {"widen": {"args": ["w", "s"], "layers": [
        {"type": "conv", "name": "c", "out_channels": "w", "kernel_size": 3, "stride": "s",
         "padding": 1},
        {"type": "relu"}]}},
    "layers": [
        {"type": "block", "name": "b1", "block": "widen", "args": {"w": "C*2", "s": 1}},
        {"type": "repeat", "name": "r", "times": "R",
         "body": [{"type": "block", "block": "widen", "args": {"w": "C + 4", "s": 2}}]},
        {"type": "global_avg_pool"}, {"type": "flatten"},
        {"type": "linear", "out_features": 10}],
}


def fresh(b: dict[str, int]) -> dict:
    return cnncalc.analyze(cnncalc.Architecture.from_dict(ARCH), b).to_dict()


@pytest.mark.parametrize("b", [
    {"N": 1, "H": 32, "W": 32, "R": 1, "C": 4}, {"N": 2, "H": 64, "W": 48, "R": 3, "C": 4},
    {"N": 1, "H": 32, "W": 32, "R": 3, "C": 7}, {"N": 1, "H": 32, "W": 32, "R": 1, "C": 4},
    {"N": 1, "H": 9, "W": 40, "R": 2, "C": 1}])
def test_kept_expansion_equals_a_fresh_one(b: dict[str, int]) -> None:
    arch = cnncalc.Architecture.from_dict(ARCH)
    # The same object analysed under other bindings first: its kept expansions must not leak.
    for other in ({"R": 2, "C": 3}, {"R": 4, "C": 9}, {"R": b["R"], "C": b["C"] + 1}):
        cnncalc.analyze(arch, {**b, **other})
    got = cnncalc.analyze(arch, b).to_dict()
    assert got == fresh(b)
    # R and C written out: 1 + R blocks of a conv and a relu, then 3 layers
    assert len(got["layers"]) == 2 * (1 + b["R"]) + 3
    assert got["layers"][0]["output_shape"] == [b["N"], 2 * b["C"], b["H"], b["W"]]
    last_conv = [x for x in got["layers"] if x["type"] == "conv"][-1]
    assert last_conv["output_shape"][1] == b["C"] + 4


def test_symbolic_after_bound_and_back() -> None:
    arch = cnncalc.Architecture.from_dict(ARCH)
    b = {"N": 1, "H": 32, "W": 32, "R": 2, "C": 4}
    one = cnncalc.analyze(arch, b).to_dict()
    sym = cnncalc.analyze(arch, {"R": 2})
    assert sym.free_symbols == ["C", "H", "N", "W"]
    assert sym.evaluate(N=1, H=32, W=32, C=4).to_dict()["totals"] == one["totals"]
    assert cnncalc.analyze(arch, b).to_dict() == one


def test_results_are_not_shared_between_analyses() -> None:
    arch = cnncalc.Architecture.from_dict(ARCH)
    b = {"N": 1, "H": 32, "W": 32, "R": 2, "C": 4}
    a1 = cnncalc.analyze(arch, b)
    a1.layers[0].path.append("changed")
    a1.layers[0].inputs.append("changed")
    a2 = cnncalc.analyze(arch, b)
    assert a2.layers[0].path == ["blocks", "widen", "layers", 0]
    assert a2.layers[0].inputs == ["input"]


def test_kept_expansions_go_with_the_architecture() -> None:
    gc.collect()
    before = len(graph._KEPT)
    arch = cnncalc.Architecture.from_dict(ARCH)
    cnncalc.analyze(arch, {"N": 1, "H": 32, "W": 32, "R": 2, "C": 4})
    assert len(graph._KEPT) == before + 1
    del arch
    gc.collect()
    assert len(graph._KEPT) == before
