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


NESTED: dict[str, Any] = {
    "name": "nested",
    "input": {"shape": [1, 4, 6, 6]},
    "layers": [
        {"type": "conv", "name": "conv1", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"type": "batch_norm", "name": "bn1"},           # timm's BatchNormAct2d: bn1 and
        {"type": "prelu", "name": "bn1.act", "num_parameters": 4},  # bn1.act, nested
        {"type": "conv", "name": "b.x.y", "out_channels": 4, "kernel_size": 1},
        {"type": "relu", "name": "b"},                   # listed after the layer nested in it
        {"type": "add", "name": "b.x", "inputs": ["b", "bn1.act"]},
    ],
}


def test_a_layer_name_that_prefixes_another_builds_and_validates() -> None:
    """``bn1`` and ``bn1.act``: the nested layer's module is a child of ``bn1``'s (as in
    PyTorch and timm), every layer runs once, and reports give each layer its own figures."""
    an = cnncalc.analyze(NESTED)
    names = [r.name for r in an.layers]
    net: Any = cnncalc.to_torch(NESTED)
    assert net.layer_names == names
    modules = dict(net.named_modules())
    assert all(n in modules for n in names)
    assert isinstance(modules["bn1"], torch.nn.BatchNorm2d)
    assert modules["bn1.act"] is net.layer("bn1.act")
    assert isinstance(net.layer("b.x.y"), torch.nn.Conv2d)
    assert "bn1.act.weight" in net.state_dict()
    own = {n: sum(p.numel() for p in net.layer_parameters(n)) for n in names}
    assert own == {r.name: r.params for r in an.layers}
    assert sum(p.numel() for p in net.parameters()) == an.totals.params
    with torch.inference_mode():
        out = net(torch.randn(1, 4, 6, 6))
    assert tuple(out.shape) == tuple(an.layers[-1].output_shape)

    report = cnncalc.validate(NESTED, device="cpu", repeats=1, warmup=0, threads=1, rf=True)
    assert report.ok, report.to_table()
    assert [c.name for c in report.layers] == names
    assert {c.name: c.real_params for c in report.layers} == own
    assert {c.name: c.real_macs for c in report.layers} == {r.name: r.macs for r in an.layers}


def test_a_layer_nested_in_a_max_pool_survives_the_rf_probe() -> None:
    """The probe replaces max-pools by window sums: a nested layer moves with it, whatever
    its name."""
    arch = {"name": "mp", "input": {"shape": [1, 2, 8, 8]}, "layers": [
        {"type": "max_pool", "name": "mp", "kernel_size": 2},
        {"type": "relu", "name": "mp.pool"}]}
    report = cnncalc.validate(arch, device="cpu", repeats=0, rf=True)
    assert report.ok, report.to_table()


def test_rf_probe_measures_padding_modes_and_channel_reductions() -> None:
    """amax is probed as a sum (its gradient reaches only the maximum); reductions over a
    spatial axis see the whole axis by convention and are not probed."""
    arch = {"name": "red", "input": {"shape": [1, 3, 24, 26]}, "layers": [
        {"type": "conv", "name": "c", "out_channels": 4, "kernel_size": 3},
        {"type": "pad", "name": "p", "padding": [[2, 0], 1], "mode": "reflect"},
        {"type": "amax", "name": "mx", "dim": 1, "keepdim": True},
        {"type": "conv", "name": "c2", "out_channels": 2, "kernel_size": 3, "stride": 2},
        {"type": "pad", "name": "q", "padding": 1, "mode": "replicate"},
        {"type": "mean", "name": "m", "dim": [1], "keepdim": True},
        {"type": "sum", "name": "s", "dim": -1, "keepdim": True}]}
    report = cnncalc.validate(arch, device="cpu", repeats=0, rf=True)
    assert report.ok, report.to_table()
    status = {c.name: c.rf.status for c in report.layers if c.rf}
    assert status == {"c": "match", "p": "match", "mx": "match", "c2": "match", "q": "match",
                      "m": "match", "s": "skipped"}


def test_replacing_a_layer_keeps_the_layers_nested_in_it() -> None:
    net: Any = cnncalc.to_torch(NESTED)
    act = net.layer("bn1.act")
    net.replace("bn1", torch.nn.Identity())
    assert dict(net.named_modules())["bn1.act"] is act
    assert net.layer_parameters("bn1") == []
    with torch.inference_mode():
        net(torch.randn(1, 4, 6, 6))


@pytest.mark.parametrize(("layers", "match"), [
    ([{"type": "separable_conv", "name": "s", "out_channels": 4, "kernel_size": 1},
      {"type": "relu", "name": "s.pointwise"}],
     r"layer 's.pointwise'.*layer 's' has a submodule 'pointwise' of its own"),
    ([{"type": "separable_conv", "name": "s", "out_channels": 4, "kernel_size": 1},
      {"type": "relu", "name": "s.depthwise.x"}],
     r"layer 's.depthwise.x'.*layer 's' has a submodule 'depthwise' of its own"),
    ([{"type": "global_avg_pool", "name": "g", "keepdim": False},
      {"type": "relu", "name": "g.act"}],
     r"layer 'g.act'.*layer 'g' is a Sequential"),
])
def test_a_nested_name_that_torch_cannot_hold_is_refused(layers: list[Any], match: str) -> None:
    arch = {"name": "bad", "input": {"shape": [1, 4, 6, 6]}, "layers": layers}
    cnncalc.analyze(arch)  # the analysis has no module tree
    with pytest.raises(cnncalc.CnnCalcError, match=match):
        cnncalc.to_torch(arch)


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


def test_rf_probe_sees_through_a_difference_that_cancels() -> None:
    # x - x has no gradient; the probe sums instead, so the field is the identity's (size 1)
    arch = {"input": {"shape": [1, 1, 3]},
            "layers": [{"type": "batch_norm", "name": "bn"},
                       {"type": "sub", "name": "d", "inputs": ["bn", "bn"]},
                       {"type": "div", "name": "q", "inputs": ["d", "bn"]}]}
    rep = cnncalc.validate(arch, rf=True)
    assert rep.ok, rep
