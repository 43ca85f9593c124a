"""Beginner-proof errors: a channels-last input gets a hint that shapes are channels-first, a
spatial layer on ``[N, features]`` says what it needs, and MLPs on ``[N, features]`` inputs
work end to end (analysis, tables, receptive field, PyTorch).

The did-you-mean cases of misspelt types and fields (``Conv2d``, ``dense``, ``batchnorm``,
``filters``, ``strides``, ``kernel``) are tests/core/test_suggest.py's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cnncalc
from cnncalc.cli import main

HINT_2D = ("the input [1, 32, 32, 3] looks channels-last (NHWC); cnncalc shapes are "
           "channels-first [N, C, H, W]: give [1, 3, 32, 32]")
MLP = {"input": {"shape": ["N", 784]},
       "layers": [{"type": "linear", "out_features": 128}, {"type": "relu"},
                  {"type": "linear", "out_features": 10}]}


def net(shape: list[Any], *layers: dict[str, Any]) -> dict[str, Any]:
    return {"input": {"shape": shape}, "layers": list(layers)}


def error(arch: dict[str, Any], bindings: dict[str, int] | None = None) -> cnncalc.CnnCalcError:
    with pytest.raises(cnncalc.CnnCalcError) as ei:
        cnncalc.analyze(arch, bindings)
    return ei.value


# --- channels-last inputs ----------------------------------------------------------------------

def test_channels_last_image_gets_the_hint() -> None:
    """The lecture's conv (12 filters 6x6, stride 2) on a 32x32 RGB image given as NHWC: the
    6-wide kernel meets an axis of 3, which is the error; the hint says what was meant."""
    e = error(net([1, 32, 32, 3], {"type": "conv", "out_channels": 12, "kernel_size": 6,
                                   "stride": 2}))
    assert e.kind == "invalid" and e.layer == "conv0"
    assert e.message == ("kernel (effective size 6) is larger than the padded input (3) along "
                         f"spatial axis 1; {HINT_2D}")


@pytest.mark.parametrize(("shape", "layer", "hint"), [
    # MNIST as NHWC with a LeNet conv: 5 > 1.
    (["N", 28, 28, 1], {"type": "conv", "out_channels": 6, "kernel_size": 5},
     "the input [N, 28, 28, 1] looks channels-last (NHWC); cnncalc shapes are channels-first "
     "[N, C, H, W]: give [N, 1, 28, 28]"),
    # A 4x4 pool on the 3 "columns".
    ([1, 32, 32, 3], {"type": "max_pool", "kernel_size": 4},
     HINT_2D),
    # A 1-D signal as NLC.
    ([1, 100, 3], {"type": "conv", "out_channels": 8, "kernel_size": 5},
     "the input [1, 100, 3] looks channels-last (NLC); cnncalc shapes are channels-first "
     "[N, C, L]: give [1, 3, 100]"),
    # A volume as NDHWC, sizes symbolic.
    (["N", "D", "H", "W", 4], {"type": "conv", "out_channels": 8, "kernel_size": 5},
     "the input [N, D, H, W, 4] looks channels-last (NDHWC); cnncalc shapes are "
     "channels-first [N, C, D, H, W]: give [N, 4, D, H, W]"),
])
def test_channels_last_hint_in_every_rank(shape: list[Any], layer: dict[str, Any],
                                          hint: str) -> None:
    e = error(net(shape, layer))
    assert e.message.endswith("; " + hint), e.message
    assert e.layer is not None


@pytest.mark.parametrize("shape", [
    [1, 3, 4, 4],    # channels-first, too small: the kernel error alone
    [1, 3, 32, 3],   # 3 channels: a channel count, not rows
    [1, 64, 5, 5],   # last axis 5: no colour layout
])
def test_no_hint_where_the_input_does_not_look_channels_last(shape: list[Any]) -> None:
    e = error(net(shape, {"type": "conv", "out_channels": 4, "kernel_size": 6}))
    assert "channels-last" not in e.message and "larger than the padded input" in e.message


def test_no_hint_on_errors_that_are_not_the_layout() -> None:
    """A binding error or a schema error on a channels-last-looking input says only itself."""
    arch = net(["N", 32, 32, 3], {"type": "conv", "out_channels": 4, "kernel_size": 3})
    e = error(arch, {"N": 0})
    assert e.kind == "binding" and "channels" not in e.message
    e = error(net([1, 32, 32, 3], {"type": "conv", "out_channels": 4}))
    assert e.kind == "schema" and "channels" not in e.message


def _channels_last_resnet() -> dict[str, Any]:
    arch = cnncalc.zoo_json("resnet18")
    arch["input"]["shape"] = [1, 224, 224, 3]
    return arch


def test_channels_last_resnet_warns() -> None:
    """resnet18 on NHWC analyses without error (its 7x7 conv with padding 3 fits an axis of 3:
    floor((3 + 6 - 7)/2) + 1 = 2 columns), with the 224 rows read as channels: 7*7*224*64
    weights in conv1 instead of 7*7*3*64. A warning says what happened."""
    an = cnncalc.analyze(_channels_last_resnet())
    assert an.layer("conv1").params == 7 * 7 * 224 * 64
    assert an.layer("conv1").output_shape == (1, 64, 112, 2)
    assert an.warnings[0] == (
        "conv1: its kernel (7) is longer than the input's last axis (3), and the input "
        "[1, 224, 224, 3] looks channels-last (NHWC); cnncalc shapes are channels-first "
        "[N, C, H, W]: give [1, 3, 224, 224] (as given, its 224 rows are read as channels)")


@pytest.mark.parametrize("model", ["resnet18", "vgg16", "mobilenet_v2", "alexnet", "unet",
                                   "lenet5"])
def test_no_layout_warning_on_channels_first_zoo(model: str) -> None:
    arch = cnncalc.zoo_json(model)
    bind = {s: 1 if s == "N" else 224 for s in cnncalc.analyze(arch).free_symbols}
    if model == "lenet5":
        bind = {s: 1 if s == "N" else 32 for s in bind}
    an = cnncalc.analyze(arch, bind)
    assert not any("channels" in w for w in an.warnings), an.warnings


def test_cli_channels_last_is_one_line_exit_2(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path) -> None:
    p = tmp_path / "nhwc.json"
    p.write_text(json.dumps(net([1, 32, 32, 3], {"type": "conv", "out_channels": 12,
                                                 "kernel_size": 6, "stride": 2})))
    code = main(["analyze", str(p)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.endswith(HINT_2D + "\n")
    assert err.startswith("cnncalc: error: layer 'conv0' (#0): kernel (effective size 6)")


# --- [N, features] inputs ---------------------------------------------------------------------

def test_mlp_counts() -> None:
    """The lecture's dense layers: params S_in*S_out + S_out per layer, MACs N*S_in*S_out."""
    an = cnncalc.analyze(MLP)
    assert an.totals.params == 784 * 128 + 128 + 128 * 10 + 10 == 101770
    bound = cnncalc.analyze(MLP, {"N": 3})
    assert bound.totals.macs == 3 * (784 * 128 + 128 * 10)
    assert [r.output_shape for r in bound.layers] == [(3, 128), (3, 128), (3, 10)]
    assert an.evaluate(N=3).totals.macs == bound.totals.macs
    got = an.evaluate_many(quantities=("macs",), N=np.array([1, 2, 8]))["macs"]
    assert got.tolist() == [n * (784 * 128 + 128 * 10) for n in (1, 2, 8)]


def test_mlp_sweep_from_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "mlp.json"
    p.write_text(json.dumps(MLP))
    code = main(["sweep", str(p), "--grid", "N=1,2", "--quantities", "params,macs",
                 "--format", "csv"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert out.splitlines()[1:] == [f"{n},101770,{n * (784 * 128 + 128 * 10)}" for n in (1, 2)]


def test_mlp_receptive_field_is_empty_and_the_table_says_why() -> None:
    an = cnncalc.analyze(MLP, {"N": 1})
    assert an.totals.receptive_field.size == ()
    assert an.to_dict()["totals"]["receptive_field"] == {"size": [], "stride": [],
                                                         "start": []}
    text = an.to_table()
    assert "receptive field: none (the input [N, features] has no spatial axes)" in text
    for fmt in ("markdown", "latex", "csv", "html"):
        assert "101770" in an.to_table(fmt)
    # the RF cell of every row says "none" (not an empty "/")
    assert an.to_table("csv").splitlines()[1] == "linear0,linear,1x128,100480,100352,128,none"
    assert cnncalc.analyze("seed_example").to_table().count("receptive field: none") == 0


@pytest.mark.parametrize("layer", [
    {"type": "batch_norm"}, {"type": "dropout"}, {"type": "softmax"}, {"type": "layer_norm"},
    {"type": "gelu"}, {"type": "group_norm", "num_groups": 4}, {"type": "identity"},
    {"type": "flatten"}, {"type": "sigmoid"},
])
def test_feature_layers_keep_the_shape(layer: dict[str, Any]) -> None:
    an = cnncalc.analyze(net(["N", 16], {"type": "linear", "out_features": 12}, layer),
                         {"N": 2})
    assert an.layers[-1].output_shape == (2, 12)


SPATIAL = ["conv", "max_pool", "avg_pool", "global_avg_pool", "adaptive_avg_pool",
           "conv_transpose", "separable_conv", "upsample", "pad"]
FIELDS: dict[str, dict[str, Any]] = {
    "conv": {"out_channels": 4, "kernel_size": 3}, "max_pool": {"kernel_size": 2},
    "avg_pool": {"kernel_size": 2}, "global_avg_pool": {}, "adaptive_avg_pool":
    {"output_size": 1}, "conv_transpose": {"out_channels": 4, "kernel_size": 3},
    "separable_conv": {"out_channels": 4, "kernel_size": 3}, "upsample": {"scale_factor": 2},
    "pad": {"padding": 1}}


@pytest.mark.parametrize("kind", SPATIAL)
def test_spatial_layer_on_features_says_what_it_needs(kind: str) -> None:
    e = error(net(["N", 784], {"type": kind, **FIELDS[kind]}))
    assert e.layer == f"{kind}0"
    assert e.message == (f"{kind} needs [N, C, L], [N, C, H, W] or [N, C, D, H, W]; its "
                         "input [N, 784] is [N, features], without spatial axes: give the "
                         "network input its spatial axes (an image is [N, C, H, W])")


def test_spatial_layer_after_a_flatten_says_the_axes_went() -> None:
    e = error(net([1, 3, 8, 8], {"type": "flatten"}, {"type": "max_pool", "kernel_size": 2}))
    assert e.message == ("max_pool needs [N, C, L], [N, C, H, W] or [N, C, D, H, W]; its input "
                         "[1, 192] is [N, features], without spatial axes (a flatten or "
                         "linear layer before it removed them)")


# --- against PyTorch ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def test_mlp_builds_and_runs_in_torch(torch: Any) -> None:
    m = cnncalc.to_torch(MLP, {"N": 2})
    assert m(torch.randn(2, 784)).shape == (2, 10)
    assert sum(p.numel() for p in m.parameters()) == 101770
    report = cnncalc.validate(MLP, {"N": 2}, device="cpu", repeats=0, warmup=0, threads=1)
    assert report.ok, report.mismatches


@pytest.mark.parametrize("layer", [
    {"type": "batch_norm"}, {"type": "dropout"}, {"type": "softmax"}, {"type": "layer_norm"},
    {"type": "group_norm", "num_groups": 4}, {"type": "prelu"}, {"type": "hardswish"},
    {"type": "multihead_attention", "num_heads": 2}, {"type": "slice", "dim": 1, "end": 5},
    {"type": "reshape", "shape": [2, 3, 4]}, {"type": "transpose", "dim0": 0, "dim1": 1},
])
def test_feature_layers_match_torch(torch: Any, layer: dict[str, Any]) -> None:
    """Shapes, params and MACs of each layer on [N, F], as PyTorch builds and runs it
    (BatchNorm1d and GroupNorm accept [N, C])."""
    arch = net(["N", 16], {"type": "linear", "out_features": 12}, layer)
    report = cnncalc.validate(arch, {"N": 2}, device="cpu", repeats=0, warmup=0, threads=1)
    assert report.ok, (report.mismatches, report.failure)


def test_torch_import_of_an_mlp(torch: Any) -> None:
    nn = torch.nn
    m = nn.Sequential(nn.Linear(784, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.2),
                      nn.Linear(128, 10), nn.Softmax(dim=1))
    arch = cnncalc.from_torch(m, input_shape=("N", 784))
    an = cnncalc.analyze(arch, {"N": 4})
    assert [r.type for r in an.layers] == ["linear", "batch_norm", "relu", "dropout", "linear",
                                           "softmax"]
    assert an.totals.params == sum(p.numel() for p in m.parameters())
    assert an.layers[-1].output_shape == tuple(m.eval()(torch.randn(4, 784)).shape)
