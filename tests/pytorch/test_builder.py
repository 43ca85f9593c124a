"""The torch builder as a user feature: every layer type, graphs, names, lazy torch, failures."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import cnncalc
from cnncalc.layers import LAYER_CLASSES, Conv, LayerBase, ReLU
from cnncalc.pytorch import build as torch_build
from cnncalc.pytorch.build import LayerFailure
from cnncalc.pytorch.builders import BUILDERS, builds

torch = pytest.importorskip("torch")

GRAPH: dict[str, Any] = {
    "name": "graph",
    "input": {"shape": ["N", 3, "H", "W"]},
    "blocks": {"res": {"args": ["c"], "layers": [
        {"type": "conv", "name": "conv", "out_channels": "c", "kernel_size": 3, "padding": 1},
        {"type": "relu", "name": "act"},
        {"type": "add", "name": "add", "inputs": ["act", "input"]}]}},
    "layers": [
        {"type": "conv", "name": "stem", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"type": "block", "name": "b1", "block": "res", "args": {"c": 8}},
        {"type": "repeat", "name": "rep", "times": 2, "body": [
            {"type": "block", "block": "res", "args": {"c": 8}}]},
        {"type": "conv", "name": "side", "inputs": ["stem"], "out_channels": 4,
         "kernel_size": 1},
        {"type": "concat", "name": "cat", "inputs": ["rep.1", "side"]},
        {"type": "mul", "name": "gate", "inputs": ["cat", "cat"]},
        {"type": "global_avg_pool", "name": "pool"},
        {"type": "linear", "name": "fc", "out_features": 5},
    ],
}


def test_every_layer_class_has_a_builder() -> None:
    missing = [c.__name__ for c in LAYER_CLASSES if c not in BUILDERS]
    assert missing == [], missing
    assert set(BUILDERS) == set(LAYER_CLASSES)


def test_registering_a_class_twice_raises() -> None:
    before = dict(BUILDERS)

    class Fresh(LayerBase):
        pass

    def again(layer: Any, ctx: Any, ins: Any, out: Any) -> Any:
        raise AssertionError("never built")

    with pytest.raises(RuntimeError, match="duplicate torch builder for Conv"):
        builds(Fresh, Conv)(again)
    assert BUILDERS == before  # nothing registered, not even the fresh class


def test_module_names_are_layer_names_in_graphs_blocks_and_repeats() -> None:
    bindings = {"N": 2, "H": 9, "W": 7}
    net: Any = cnncalc.to_torch(GRAPH, bindings)
    an = cnncalc.analyze(GRAPH, bindings)
    names = [r.name for r in an.layers]
    assert net.layer_names == names
    modules = dict(net.named_modules())
    assert all(n in modules for n in names)
    assert "rep.1.conv" in names and "b1.add" in names
    assert not net.training
    with torch.inference_mode():
        out = net(torch.randn(2, 3, 9, 7))
    assert tuple(out.shape) == tuple(an.layers[-1].output_shape)
    assert sum(p.numel() for p in net.parameters()) == an.totals.params


def test_unbound_sizes_are_refused() -> None:
    with pytest.raises(cnncalc.CnnCalcError, match="unbound: N, W"):
        cnncalc.to_torch("resnet18", {"H": 32})


def test_a_module_that_raises_names_its_layer() -> None:
    net: Any = cnncalc.to_torch(GRAPH, {"N": 1, "H": 8, "W": 8})

    class Boom(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            raise RuntimeError("kaboom\nsecond line")

    net.replace("b1.act", Boom())
    assert isinstance(dict(net.named_modules())["b1.act"], Boom)
    with pytest.raises(LayerFailure, match=r"layer 'b1.act': RuntimeError: kaboom$") as e:
        net(torch.randn(1, 3, 8, 8))
    assert e.value.layer == "b1.act"
    assert isinstance(e.value.__cause__, RuntimeError)


def test_a_builder_that_fails_names_its_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    def bad(*args: Any) -> Any:
        raise ValueError("no such module")

    monkeypatch.setitem(BUILDERS, ReLU, bad)
    with pytest.raises(cnncalc.CnnCalcError, match=r"layer 'b1.act'.*torch cannot build"):
        cnncalc.to_torch(GRAPH, {"N": 1, "H": 8, "W": 8})


def test_core_import_never_imports_torch() -> None:
    code = ("import sys, cnncalc; cnncalc.analyze('resnet18', {'N': 1, 'H': 64, 'W': 64}); "
            "cnncalc.to_torch; cnncalc.validate; cnncalc.ValidationReport; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_torch_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(cnncalc.CnnCalcError, match="pip install"):
        torch_build.to_torch("seed_example", {"H": 16, "W": 16})
    with pytest.raises(cnncalc.CnnCalcError, match="pip install"):
        cnncalc.validate("seed_example", {"H": 16, "W": 16}, repeats=0)


def test_lazy_exports() -> None:
    from cnncalc.pytorch.validation import validate
    assert cnncalc.to_torch is torch_build.to_torch
    assert callable(cnncalc.validate)
    assert cnncalc.ValidationReport.__name__ == "ValidationReport"
    assert validate.__module__ == "cnncalc.pytorch.validation"
    with pytest.raises(AttributeError):
        cnncalc.no_such_thing  # noqa: B018
