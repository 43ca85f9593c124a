"""Parity of cnncalc with PyTorch, layer type by layer type (torch-scan style tables).

Every case is a small architecture at concrete sizes; ``mismatches`` builds it in torch, runs it
under FlopCounterMode and compares every layer's output shape, parameter count and MACs.
A second table checks hand-written arithmetic directly against ``cnncalc.analyze``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sympy
from torch_oracle import mismatches

import cnncalc
from cnncalc.torch_build import BUILDERS, build


def net(shape: list[Any], *layers: dict[str, Any], blocks: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    arch: dict[str, Any] = {"name": "t", "input": {"shape": list(shape)}, "layers": list(layers)}
    if blocks:
        arch["blocks"] = blocks
    return arch


def L(type_: str, **kw: Any) -> dict[str, Any]:  # noqa: N802 - short table constructor
    return {"type": type_, **kw}


HW = [1, 3, "H", "W"]

# (id, arch, bindings)
CASES: list[tuple[str, dict[str, Any], dict[str, int]]] = [
    # --- conv -----------------------------------------------------------------------------
    ("conv-seed-32x32", net(HW, L("conv", out_channels=12, kernel_size=6, stride=2)),
     {"H": 32, "W": 32}),
    ("conv-nonsquare-odd", net(HW, L("conv", out_channels=8, kernel_size=3)),
     {"H": 17, "W": 10}),
    ("conv-kernel-list", net(HW, L("conv", out_channels=4, kernel_size=[3, 5], stride=[1, 2])),
     {"H": 12, "W": 15}),
    ("conv-pad-int", net(HW, L("conv", out_channels=5, kernel_size=5, padding=2, stride=3)),
     {"H": 11, "W": 14}),
    ("conv-pad-per-axis", net(HW, L("conv", out_channels=5, kernel_size=3, padding=[0, 2])),
     {"H": 9, "W": 8}),
    ("conv-pad-pairs", net(HW, L("conv", out_channels=6, kernel_size=3,
                                 padding=[[0, 1], [2, 1]], stride=2)), {"H": 10, "W": 13}),
    ("conv-same-s1-even-k", net(HW, L("conv", out_channels=4, kernel_size=4, padding="same")),
     {"H": 9, "W": 12}),
    ("conv-same-s2-odd", net(HW, L("conv", out_channels=4, kernel_size=3, stride=2,
                                   padding="same")), {"H": 11, "W": 12}),
    ("conv-same-s2-k5", net(HW, L("conv", out_channels=4, kernel_size=5, stride=2,
                                  padding="same")), {"H": 16, "W": 7}),
    ("conv-same-s3-k1", net(HW, L("conv", out_channels=4, kernel_size=1, stride=3,
                                  padding="same")), {"H": 10, "W": 8}),
    ("conv-valid", net(HW, L("conv", out_channels=4, kernel_size=3, padding="valid")),
     {"H": 7, "W": 6}),
    ("conv-dilation", net(HW, L("conv", out_channels=4, kernel_size=3, dilation=2, padding=2)),
     {"H": 13, "W": 10}),
    ("conv-dilation-per-axis", net(HW, L("conv", out_channels=4, kernel_size=3,
                                         dilation=[1, 3], stride=2)), {"H": 12, "W": 15}),
    ("conv-dilation-same-s2", net(HW, L("conv", out_channels=4, kernel_size=3, dilation=2,
                                        padding="same", stride=2)), {"H": 13, "W": 14}),
    ("conv-groups", net([2, 8, "H", "W"], L("conv", out_channels=12, kernel_size=3, groups=4)),
     {"H": 8, "W": 9}),
    ("conv-depthwise", net([1, 6, "H", "W"], L("conv", out_channels=6, kernel_size=3, groups=6,
                                               padding=1, stride=2)), {"H": 10, "W": 11}),
    ("conv-depthwise-mult", net([1, 4, 9, 9], L("conv", out_channels=8, kernel_size=3,
                                                groups=4)), {}),
    ("conv-no-bias", net(HW, L("conv", out_channels=7, kernel_size=2, bias=False)),
     {"H": 6, "W": 5}),
    ("conv-expr-fields", net([1, "C", "H", "W"], L("conv", out_channels="2*C", kernel_size="K",
                                                   padding="K//2")),
     {"C": 3, "H": 10, "W": 7, "K": 3}),
    ("conv1d", net([2, 3, "L"], L("conv", out_channels=5, kernel_size=4, stride=2, padding=1)),
     {"L": 21}),
    ("conv1d-same-s2", net([1, 2, "L"], L("conv", out_channels=3, kernel_size=4, stride=2,
                                          padding="same")), {"L": 15}),
    ("conv1d-groups-dil", net([1, 6, 30], L("conv", out_channels=9, kernel_size=3, groups=3,
                                            dilation=4)), {}),
    ("conv3d", net([1, 2, 6, 7, 8], L("conv", out_channels=4, kernel_size=3, stride=[1, 2, 2],
                                      padding=1)), {}),
    ("conv3d-same-pairs", net([1, 2, "D", "H", "W"],
                              L("conv", out_channels=3, kernel_size=[2, 3, 4], padding="same",
                                stride=2),
                              L("conv", out_channels=2, kernel_size=2,
                                padding=[[1, 0], [0, 1], [1, 1]])),
     {"D": 5, "H": 6, "W": 7}),
    # --- conv_transpose --------------------------------------------------------------------
    ("convT-s2", net(HW, L("conv_transpose", out_channels=4, kernel_size=2, stride=2)),
     {"H": 5, "W": 6}),
    ("convT-pad-outpad", net(HW, L("conv_transpose", out_channels=4, kernel_size=3, stride=2,
                                   padding=1, output_padding=1)), {"H": 7, "W": 4}),
    ("convT-dilation", net(HW, L("conv_transpose", out_channels=2, kernel_size=3, dilation=2,
                                 stride=3, output_padding=[1, 2])), {"H": 4, "W": 5}),
    ("convT-groups-nobias", net([1, 4, 5, 6], L("conv_transpose", out_channels=6, kernel_size=3,
                                                groups=2, bias=False)), {}),
    ("convT-per-axis", net(HW, L("conv_transpose", out_channels=3, kernel_size=[2, 4],
                                 stride=[1, 2], padding=[0, 1])), {"H": 6, "W": 3}),
    ("convT1d", net([1, 3, "L"], L("conv_transpose", out_channels=2, kernel_size=5, stride=3,
                                   padding=2, output_padding=2)), {"L": 7}),
    ("convT3d", net([1, 2, 3, 4, 5], L("conv_transpose", out_channels=2, kernel_size=2,
                                       stride=2, dilation=[1, 2, 1])), {}),
    # --- separable_conv --------------------------------------------------------------------
    ("sep-basic", net(HW, L("separable_conv", out_channels=8, kernel_size=3, padding=1)),
     {"H": 9, "W": 12}),
    ("sep-mult-same-s2", net([1, 4, "H", "W"], L("separable_conv", out_channels=6, kernel_size=3,
                                                 stride=2, padding="same",
                                                 depth_multiplier=2)), {"H": 11, "W": 8}),
    ("sep-dil-nobias", net(HW, L("separable_conv", out_channels=5, kernel_size=[3, 2],
                                 dilation=2, bias=False)), {"H": 10, "W": 9}),
    ("sep1d", net([1, 3, 20], L("separable_conv", out_channels=4, kernel_size=5, stride=2,
                                depth_multiplier=3)), {}),
    ("sep3d", net([1, 2, 5, 6, 7], L("separable_conv", out_channels=3, kernel_size=3,
                                     padding=[[1, 0], [0, 0], [1, 1]])), {}),
    # --- max_pool ----------------------------------------------------------------------------
    ("maxpool-k2", net(HW, L("max_pool", kernel_size=2)), {"H": 8, "W": 9}),
    ("maxpool-k3s2p1", net(HW, L("max_pool", kernel_size=3, stride=2, padding=1)),
     {"H": 15, "W": 16}),
    ("maxpool-ceil", net(HW, L("max_pool", kernel_size=3, stride=2, ceil_mode=True)),
     {"H": 10, "W": 11}),
    ("maxpool-ceil-pad-drop", net(HW, L("max_pool", kernel_size=2, stride=2, padding=1,
                                        ceil_mode=True)), {"H": 6, "W": 7}),
    ("maxpool-ceil-k3s3p1", net(HW, L("max_pool", kernel_size=3, stride=3, padding=1,
                                      ceil_mode=True)), {"H": 7, "W": 8}),
    ("maxpool-dilation", net(HW, L("max_pool", kernel_size=2, stride=1, dilation=3)),
     {"H": 9, "W": 6}),
    ("maxpool-same", net(HW, L("max_pool", kernel_size=3, stride=2, padding="same")),
     {"H": 10, "W": 9}),
    ("maxpool-pairs", net(HW, L("max_pool", kernel_size=2, stride=2, padding=[[0, 1], [1, 0]])),
     {"H": 7, "W": 6}),
    ("maxpool1d-ceil", net([1, 2, "L"], L("max_pool", kernel_size=3, stride=2, ceil_mode=True,
                                          padding=1)), {"L": 12}),
    ("maxpool3d", net([1, 2, 6, 7, 5], L("max_pool", kernel_size=[2, 3, 2], stride=2)), {}),
    # --- avg_pool ----------------------------------------------------------------------------
    ("avgpool-k2", net(HW, L("avg_pool", kernel_size=2)), {"H": 7, "W": 8}),
    ("avgpool-pad-nocount", net(HW, L("avg_pool", kernel_size=3, stride=2, padding=1,
                                      count_include_pad=False)), {"H": 9, "W": 12}),
    ("avgpool-ceil", net(HW, L("avg_pool", kernel_size=2, stride=2, ceil_mode=True)),
     {"H": 7, "W": 9}),
    ("avgpool-ceil-pad", net(HW, L("avg_pool", kernel_size=3, stride=2, padding=1,
                                   ceil_mode=True, count_include_pad=False)), {"H": 8, "W": 11}),
    ("avgpool-per-axis", net(HW, L("avg_pool", kernel_size=[2, 3], stride=[2, 1],
                                   padding=[1, 0])), {"H": 5, "W": 6}),
    ("avgpool-same", net(HW, L("avg_pool", kernel_size=2, stride=2, padding="same")),
     {"H": 7, "W": 8}),
    ("avgpool1d", net([1, 3, 17], L("avg_pool", kernel_size=4, stride=3)), {}),
    ("avgpool3d-ceil", net([1, 1, 5, 6, 7], L("avg_pool", kernel_size=2, ceil_mode=True)), {}),
    # --- adaptive pools ------------------------------------------------------------------------
    ("adaptive-avg-7", net(HW, L("adaptive_avg_pool", output_size=7)), {"H": 13, "W": 16}),
    ("adaptive-avg-nonsquare", net(HW, L("adaptive_avg_pool", output_size=[3, 2])),
     {"H": 10, "W": 5}),
    ("adaptive-avg-upsizing", net(HW, L("adaptive_avg_pool", output_size=5)), {"H": 3, "W": 4}),
    ("adaptive-avg1d", net([1, 4, 11], L("adaptive_avg_pool", output_size=4)), {}),
    ("adaptive-max-3d", net([1, 2, 5, 6, 7], L("adaptive_max_pool", output_size=[2, 3, 1])), {}),
    ("adaptive-max-2d", net(HW, L("adaptive_max_pool", output_size=1)), {"H": 9, "W": 6}),
    ("adaptive-max-1d", net([2, 3, 10], L("adaptive_max_pool", output_size=3)), {}),
    # --- global_avg_pool -----------------------------------------------------------------------
    ("gap-keepdim", net(HW, L("global_avg_pool")), {"H": 7, "W": 5}),
    ("gap-flat", net(HW, L("global_avg_pool", keepdim=False), L("linear", out_features=10)),
     {"H": 6, "W": 6}),
    ("gap1d", net([2, 4, 9], L("global_avg_pool", keepdim=False)), {}),
    ("gap3d", net([1, 3, 4, 5, 6], L("global_avg_pool")), {}),
    # --- linear / flatten ---------------------------------------------------------------------
    ("linear-2d-head", net(HW, L("conv", out_channels=4, kernel_size=3), L("flatten"),
                           L("linear", out_features=10)), {"H": 8, "W": 7}),
    ("linear-4d-last-axis", net(HW, L("linear", out_features=6)), {"H": 5, "W": 9}),
    ("linear-4d-nobias", net([2, 3, 4, 5], L("linear", out_features=3, bias=False)), {}),
    ("linear-3d", net([2, 3, 7], L("linear", out_features=4), L("linear", out_features=2)), {}),
    ("linear-expr", net([1, 3, "H", "W"], L("flatten"), L("linear", out_features="F"),
                        L("relu"), L("linear", out_features=3)), {"H": 4, "W": 3, "F": 16}),
    ("flatten-default", net(HW, L("flatten")), {"H": 3, "W": 4}),
    ("flatten-start2", net(HW, L("flatten", start_dim=2), L("linear", out_features=5)),
     {"H": 3, "W": 4}),
    ("flatten-mid", net([1, 2, 3, 4, 5], L("flatten", start_dim=1, end_dim=2)), {}),
    ("flatten-neg", net([1, 2, 3, 4, 5], L("flatten", start_dim=-3, end_dim=-2),
                        L("linear", out_features=2)), {}),
    ("flatten-noop", net([1, 2, 3, 4], L("flatten", start_dim=2, end_dim=2)), {}),
    ("flatten-all", net([2, 3, 4], L("flatten", start_dim=0)), {}),
    # --- norms ----------------------------------------------------------------------------------
    ("bn2d", net(HW, L("conv", out_channels=6, kernel_size=3), L("batch_norm")),
     {"H": 6, "W": 7}),
    ("bn1d-spatial", net([2, 4, 9], L("batch_norm")), {}),
    ("bn1d-features", net(HW, L("global_avg_pool", keepdim=False), L("batch_norm")),
     {"H": 4, "W": 4}),
    ("bn3d-noaffine", net([1, 3, 3, 4, 5], L("batch_norm", affine=False)), {}),
    ("bn-no-stats", net(HW, L("batch_norm", track_running_stats=False)), {"H": 4, "W": 4}),
    ("ln-default", net(HW, L("layer_norm")), {"H": 5, "W": 6}),
    ("ln-1", net(HW, L("layer_norm", normalized_dims=1)), {"H": 5, "W": 6}),
    ("ln-2", net(HW, L("layer_norm", normalized_dims=2)), {"H": 5, "W": 6}),
    ("ln-3d-no-affine", net([1, 2, 3, 4, 5], L("layer_norm", normalized_dims=3,
                                               elementwise_affine=False)), {}),
    ("ln-after-linear", net([2, 3, 8], L("linear", out_features=6), L("layer_norm",
                                                                       normalized_dims=1)), {}),
    ("gn", net([1, 6, "H", "W"], L("group_norm", num_groups=3)), {"H": 4, "W": 5}),
    ("gn-one-group", net([1, 4, 7], L("group_norm", num_groups=1)), {}),
    ("gn-3d-no-affine", net([1, 4, 2, 3, 4], L("group_norm", num_groups=4, affine=False)), {}),
    # --- element-wise ---------------------------------------------------------------------------
    ("activations-2d", net(HW, L("relu"), L("relu6"), L("leaky_relu", negative_slope=0.2),
                           L("gelu"), L("gelu", approximate="tanh"), L("silu"), L("sigmoid"),
                           L("tanh"), L("hardswish"), L("dropout", p=0.3), L("identity")),
     {"H": 5, "W": 3}),
    ("activations-1d", net([2, 3, 6], L("relu"), L("silu"), L("dropout"), L("identity")), {}),
    ("activations-3d", net([1, 2, 3, 4, 5], L("tanh"), L("hardswish"), L("leaky_relu")), {}),
    ("softmax-ch", net(HW, L("softmax")), {"H": 4, "W": 3}),
    ("softmax-last", net(HW, L("softmax", dim=-1)), {"H": 4, "W": 3}),
    ("softmax-head", net(HW, L("flatten"), L("linear", out_features=5), L("softmax", dim=1)),
     {"H": 3, "W": 3}),
    ("softmax-dim2-3d", net([1, 2, 3, 4, 5], L("softmax", dim=2)), {}),
    # --- merges ------------------------------------------------------------------------------
    ("add-residual", net([1, 4, "H", "W"],
                         L("conv", name="a", out_channels=4, kernel_size=3, padding=1),
                         L("relu"),
                         L("conv", name="b", out_channels=4, kernel_size=3, padding=1),
                         L("add", inputs=["b", "input"])), {"H": 6, "W": 7}),
    ("add-three", net([1, 3, 5, 6], L("relu", name="r"), L("tanh", name="t", inputs=["input"]),
                      L("add", inputs=["input", "r", "t"])), {}),
    ("mul-se", net([1, 8, "H", "W"],
                   L("conv", name="body", out_channels=8, kernel_size=3, padding=1),
                   L("global_avg_pool", name="sq"),
                   L("conv", name="fc1", out_channels=2, kernel_size=1),
                   L("relu"),
                   L("conv", name="fc2", out_channels=8, kernel_size=1),
                   L("sigmoid", name="gate"),
                   L("mul", inputs=["body", "gate"])), {"H": 7, "W": 6}),
    ("mul-broadcast-both", net([1, 4, 5, 6],
                               L("adaptive_avg_pool", name="row", output_size=[5, 1]),
                               L("adaptive_avg_pool", name="col", output_size=[1, 6],
                                 inputs=["input"]),
                               L("mul", inputs=["row", "col"])), {}),
    ("add-broadcast-1d", net([2, 3, 8], L("global_avg_pool", name="g"),
                             L("add", inputs=["input", "g"])), {}),
    ("concat-three", net(HW,
                         L("conv", name="b1", out_channels=4, kernel_size=1),
                         L("conv", name="b2", out_channels=5, kernel_size=3, padding=1,
                           inputs=["input"]),
                         L("max_pool", name="b3", kernel_size=3, stride=1, padding=1,
                           inputs=["input"]),
                         L("concat", inputs=["b1", "b2", "b3"]),
                         L("conv", out_channels=2, kernel_size=1)), {"H": 7, "W": 8}),
    ("concat-dim2", net([1, 2, 3, 4], L("relu", name="r"),
                        L("concat", dim=2, inputs=["input", "r"])), {}),
    ("concat-neg-dim-3d", net([1, 2, 3, 4, 5], L("relu", name="r"),
                              L("concat", dim=-1, inputs=["r", "input", "r"])), {}),
    ("concat-single", net([1, 2, 5], L("concat")), {}),
    # --- upsample / pad ----------------------------------------------------------------------
    ("up-nearest-scale", net(HW, L("upsample", scale_factor=2)), {"H": 3, "W": 5}),
    ("up-nearest-scale-axes", net(HW, L("upsample", scale_factor=[3, 2])), {"H": 3, "W": 4}),
    ("up-nearest-size", net(HW, L("upsample", size=[7, 9])), {"H": 3, "W": 4}),
    ("up-bilinear", net(HW, L("upsample", scale_factor=2, mode="bilinear")), {"H": 4, "W": 5}),
    ("up-bilinear-align", net(HW, L("upsample", size=[6, 11], mode="bilinear",
                                    align_corners=True)), {"H": 4, "W": 5}),
    ("up-linear-1d", net([1, 2, 7], L("upsample", scale_factor=3, mode="linear")), {}),
    ("up-nearest-1d-size", net([1, 2, 7], L("upsample", size=10)), {}),
    ("up-trilinear", net([1, 2, 2, 3, 4], L("upsample", scale_factor=2, mode="trilinear")), {}),
    ("up-nearest-3d", net([1, 2, 2, 3, 4], L("upsample", size=[3, 4, 5])), {}),
    ("up-then-conv", net(HW, L("upsample", scale_factor=2),
                         L("conv", out_channels=2, kernel_size=3, padding=1)), {"H": 3, "W": 5}),
    ("pad-int", net(HW, L("pad", padding=2), L("conv", out_channels=2, kernel_size=5)),
     {"H": 4, "W": 3}),
    ("pad-per-axis", net(HW, L("pad", padding=[1, 0])), {"H": 4, "W": 3}),
    ("pad-pairs", net(HW, L("pad", padding=[[0, 1], [2, 3]])), {"H": 4, "W": 3}),
    ("pad-1d", net([1, 2, 5], L("pad", padding=[[3, 0]])), {}),
    ("pad-3d", net([1, 1, 2, 3, 4], L("pad", padding=[[1, 0], 1, [0, 2]])), {}),
    # --- blocks and repeat --------------------------------------------------------------------
    ("block-args", net(
        [1, 4, "H", "W"],
        L("block", name="s1", block="basic", args={"width": 4, "stride": 1}),
        L("block", name="s2", block="down", args={"width": 8, "stride": 2}),
        L("global_avg_pool", keepdim=False), L("linear", out_features=3),
        blocks={
            "basic": {"args": ["width", "stride"], "layers": [
                L("conv", name="conv1", out_channels="width", kernel_size=3, stride="stride",
                  padding=1, bias=False),
                L("batch_norm", name="bn1"), L("relu", name="relu"),
                L("conv", name="conv2", out_channels="width", kernel_size=3, padding=1,
                  bias=False),
                L("batch_norm", name="bn2"),
                L("add", name="add", inputs=["bn2", "input"]), L("relu", name="out")]},
            "down": {"args": ["width", "stride"], "layers": [
                L("conv", name="conv1", out_channels="width", kernel_size=3, stride="stride",
                  padding=1, bias=False),
                L("batch_norm", name="bn1"), L("relu", name="relu"),
                L("conv", name="conv2", out_channels="width", kernel_size=3, padding=1,
                  bias=False),
                L("batch_norm", name="bn2"),
                L("conv", name="proj", out_channels="width", kernel_size=1, stride="stride",
                  bias=False, inputs=["input"]),
                L("add", name="add", inputs=["bn2", "proj"]), L("relu", name="out")]}}),
     {"H": 9, "W": 12}),
    ("repeat-body", net([1, 3, "H", "W"],
                        L("conv", name="stem", out_channels=4, kernel_size=3, padding=1),
                        L("repeat", name="stage", times=3, body=[
                            L("conv", name="c", out_channels=4, kernel_size=3, padding=1),
                            L("relu", name="r"),
                            L("add", name="a", inputs=["r", "input"])])),
     {"H": 6, "W": 5}),
    ("repeat-of-block", net(
        [1, 2, 16],
        L("repeat", name="stage", times="T", body=[L("block", block="b", args={"k": 3})]),
        blocks={"b": {"args": ["k"], "layers": [
            L("conv", name="conv", out_channels=2, kernel_size="k", padding="same"),
            L("group_norm", name="gn", num_groups=2), L("silu", name="act")]}}),
     {"T": 2}),
    # --- a little of everything ---------------------------------------------------------------
    ("unet-ish", net([1, 2, "H", "W"],
                     L("conv", name="e1", out_channels=4, kernel_size=3, padding=1),
                     L("max_pool", name="p1", kernel_size=2),
                     L("conv", name="e2", out_channels=8, kernel_size=3, padding=1),
                     L("conv_transpose", name="u1", out_channels=4, kernel_size=2, stride=2),
                     L("concat", name="cat", inputs=["u1", "e1"]),
                     L("conv", name="d1", out_channels=2, kernel_size=1)), {"H": 8, "W": 12}),
]


@pytest.mark.parametrize(("arch", "bindings"), [pytest.param(a, b, id=i) for i, a, b in CASES])
def test_parity_with_torch(arch: dict[str, Any], bindings: dict[str, int]) -> None:
    assert mismatches(arch, bindings or None) == []


@pytest.mark.parametrize("name", ["layer", "replace", "forward", "eval", "to"])
def test_layer_named_like_a_module_method_builds(name: str) -> None:
    """Layer names that are also nn.Module / Network attributes still build and run."""
    arch = net([1, 2, 5], L("repeat", name=name, times=2, body=[
        L("conv", name="conv1", out_channels=2, kernel_size=3, padding=1)]))
    assert mismatches(arch) == []
    m = cnncalc.to_torch(arch, {})
    assert f"{name}.1.conv1" in dict(m.named_modules())


def _types(items: list[dict[str, Any]], blocks: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for it in items:
        if it["type"] == "repeat":
            found |= _types(it["body"], blocks)
        elif it["type"] == "block":
            found |= _types(blocks[it["block"]]["layers"], blocks)
        else:
            found.add(it["type"])
    return found


def test_parity_cases_cover_every_layer_type() -> None:
    used: set[str] = set()
    for _, arch, _ in CASES:
        used |= _types(arch["layers"], arch.get("blocks", {}))
    assert set(cnncalc.LAYER_TYPES) - used == set()
    assert used - {"block", "repeat"} <= set(cnncalc.LAYER_TYPES)


def test_every_layer_type_has_a_torch_builder() -> None:
    assert len(cnncalc.LAYER_TYPES) == 29
    assert set(cnncalc.LAYER_TYPES) - set(BUILDERS) == set()


def test_parity_covers_1d_2d_3d_inputs() -> None:
    ranks = {len(arch["input"]["shape"]) for _, arch, _ in CASES}
    assert ranks == {3, 4, 5}


# --- hand arithmetic ------------------------------------------------------------------------

# (id, arch, bindings, index of the layer checked, shape, params, macs, buffers)
HAND: list[tuple[str, dict[str, Any], dict[str, int], int, tuple[int, ...], int, int, int]] = [
    ("conv 3->12 k6 s2 on 32x32",
     net(HW, L("conv", out_channels=12, kernel_size=6, stride=2)), {"H": 32, "W": 32}, 0,
     (1, 12, 14, 14), 6 * 6 * 3 * 12 + 12, 14 * 14 * 12 * 6 * 6 * 3, 0),
    ("conv 3->8 k3 p1 no bias on 10x7",
     net(HW, L("conv", out_channels=8, kernel_size=3, padding=1, bias=False)),
     {"H": 10, "W": 7}, 0, (1, 8, 10, 7), 3 * 3 * 3 * 8, 10 * 7 * 8 * 3 * 3 * 3, 0),
    ("conv 8->12 k3 groups 4 batch 2 on 8x9",
     net([2, 8, "H", "W"], L("conv", out_channels=12, kernel_size=3, groups=4)),
     {"H": 8, "W": 9}, 0, (2, 12, 6, 7), 3 * 3 * (8 // 4) * 12 + 12,
     2 * 6 * 7 * 12 * 3 * 3 * (8 // 4), 0),
    ("depthwise 6 k3 s2 p1 on 10x11",
     net([1, 6, "H", "W"], L("conv", out_channels=6, kernel_size=3, groups=6, padding=1,
                             stride=2)), {"H": 10, "W": 11}, 0,
     (1, 6, 5, 6), 3 * 3 * 1 * 6 + 6, 5 * 6 * 6 * 3 * 3 * 1, 0),
    ("conv1d 3->5 k4 s2 p1 on 21",
     net([1, 3, "L"], L("conv", out_channels=5, kernel_size=4, stride=2, padding=1)),
     {"L": 21}, 0, (1, 5, (21 + 2 - 4) // 2 + 1), 4 * 3 * 5 + 5, 10 * 5 * 4 * 3, 0),
    ("conv3d 2->4 k3 p1 on 6x7x8",
     net([1, 2, 6, 7, 8], L("conv", out_channels=4, kernel_size=3, padding=1)), {}, 0,
     (1, 4, 6, 7, 8), 27 * 2 * 4 + 4, 6 * 7 * 8 * 4 * 27 * 2, 0),
    ("conv same s2 k3 on 11x12",
     net(HW, L("conv", out_channels=4, kernel_size=3, stride=2, padding="same")),
     {"H": 11, "W": 12}, 0, (1, 4, 6, 6), 9 * 3 * 4 + 4, 6 * 6 * 4 * 9 * 3, 0),
    ("conv_transpose 3->4 k3 s2 p1 op1 on 7x4",
     net(HW, L("conv_transpose", out_channels=4, kernel_size=3, stride=2, padding=1,
               output_padding=1)), {"H": 7, "W": 4}, 0,
     (1, 4, (7 - 1) * 2 - 2 + 3 + 1, (4 - 1) * 2 - 2 + 3 + 1), 3 * 3 * 3 * 4 + 4,
     3 * 7 * 4 * 3 * 3 * 4, 0),
    ("conv_transpose 4->6 k2 s2 groups 2 no bias on 5x6",
     net([1, 4, 5, 6], L("conv_transpose", out_channels=6, kernel_size=2, stride=2, groups=2,
                         bias=False)), {}, 0,
     (1, 6, 10, 12), 2 * 2 * 4 * (6 // 2), 4 * 5 * 6 * 2 * 2 * (6 // 2), 0),
    ("separable 4->6 k3 x2 s2 same on 11x8",
     net([1, 4, "H", "W"], L("separable_conv", out_channels=6, kernel_size=3, stride=2,
                             padding="same", depth_multiplier=2)), {"H": 11, "W": 8}, 0,
     (1, 6, 6, 4), 3 * 3 * 8 + 8 * 6 + 6, 6 * 4 * 8 * 3 * 3 + 6 * 4 * 6 * 8, 0),
    ("separable 3->8 k3 p1 no bias on 9x12",
     net(HW, L("separable_conv", out_channels=8, kernel_size=3, padding=1, bias=False)),
     {"H": 9, "W": 12}, 0, (1, 8, 9, 12), 3 * 3 * 3 + 3 * 8, 9 * 12 * 3 * 9 + 9 * 12 * 8 * 3, 0),
    ("linear 48->10 after flatten",
     net([1, 3, 4, 4], L("flatten"), L("linear", out_features=10)), {}, 1,
     (1, 10), 48 * 10 + 10, 48 * 10, 0),
    ("linear 9->6 on 4D input (last axis)",
     net([2, 3, 5, 9], L("linear", out_features=6)), {}, 0,
     (2, 3, 5, 6), 9 * 6 + 6, 2 * 3 * 5 * 9 * 6, 0),
    ("linear no bias 7->4 batch 3",
     net([3, 2, 7], L("flatten"), L("linear", out_features=4, bias=False)), {}, 1,
     (3, 4), 14 * 4, 3 * 14 * 4, 0),
    ("batch_norm C=6 after conv",
     net(HW, L("conv", out_channels=6, kernel_size=3), L("batch_norm")), {"H": 6, "W": 7}, 1,
     (1, 6, 4, 5), 2 * 6, 0, 2 * 6),
    ("batch_norm 3d C=3 no affine",
     net([1, 3, 3, 4, 5], L("batch_norm", affine=False)), {}, 0, (1, 3, 3, 4, 5), 0, 0, 2 * 3),
    ("group_norm C=6",
     net([1, 6, 4, 5], L("group_norm", num_groups=3)), {}, 0, (1, 6, 4, 5), 2 * 6, 0, 0),
    ("layer_norm last 2 axes",
     net([1, 6, 4, 5], L("layer_norm", normalized_dims=2)), {}, 0, (1, 6, 4, 5), 2 * 4 * 5, 0, 0),
    ("max_pool k3 s2 ceil on 10",
     net(HW, L("max_pool", kernel_size=3, stride=2, ceil_mode=True)), {"H": 10, "W": 11}, 0,
     (1, 3, 5, 5), 0, 0, 0),
    # H: ceil((6+2-2)/2)+1 = 4; W: ceil((7+2-2)/2)+1 = 5 but window 5 would start at
    # 4*2 = 8 >= 7+1 (past the input), so PyTorch drops it: 4.
    ("max_pool k2 s2 p1 ceil on 6x7 (last window dropped on W)",
     net(HW, L("max_pool", kernel_size=2, stride=2, padding=1, ceil_mode=True)),
     {"H": 6, "W": 7}, 0, (1, 3, 4, 4), 0, 0, 0),
]


@pytest.mark.parametrize(("arch", "bindings", "idx", "shape", "params", "macs", "buffers"),
                         [pytest.param(*c[1:], id=c[0]) for c in HAND])
def test_hand_arithmetic(arch: dict[str, Any], bindings: dict[str, int], idx: int,
                         shape: tuple[int, ...], params: int, macs: int, buffers: int) -> None:
    an = cnncalc.analyze(arch, bindings or None)
    r = an.layers[idx]
    assert tuple(r.output_shape) == shape
    assert r.params == params
    assert r.macs == macs
    assert r.flops == 2 * macs
    assert r.buffers == buffers
    assert r.activations == int(np.prod(shape))
    assert an.totals.params == sum(x.params for x in an.layers)
    assert an.totals.macs == sum(x.macs for x in an.layers)
    assert an.totals.flops == 2 * an.totals.macs
    assert an.totals.buffers == sum(x.buffers for x in an.layers)
    # and torch agrees with the hand arithmetic too
    assert mismatches(arch, bindings or None) == []


@pytest.mark.parametrize(("arch", "bindings"),
                         [pytest.param(a, b, id=i) for i, a, b in CASES
                          if i.startswith(("bn", "block", "gn", "ln"))])
def test_buffers_match_torch(arch: dict[str, Any], bindings: dict[str, int]) -> None:
    """Buffers: batch-norm's running mean and variance (not PyTorch's num_batches_tracked)."""
    an = cnncalc.analyze(arch, bindings or None)
    torch_net = build(an)
    real = sum(b.numel() for n, b in torch_net.named_buffers()
               if not n.endswith("num_batches_tracked"))
    assert an.totals.buffers == real


def test_seed_example_totals() -> None:
    arch = net(HW, L("conv", name="conv1", out_channels=12, kernel_size=6, stride=2),
               L("relu"))
    d = cnncalc.analyze(arch, {"H": 32, "W": 32}).to_dict()
    assert d["layers"][0]["output_shape"] == [1, 12, 14, 14]
    assert d["layers"][0]["params"] == 1308
    assert d["layers"][0]["macs"] == 254016
    assert d["layers"][0]["flops"] == 508032
    assert d["totals"]["params"] == 1308
    assert d["totals"]["macs"] == 254016
    assert d["totals"]["receptive_field"] == {"size": [6, 6], "stride": [2, 2], "start": [0, 0]}


# --- symbolic vs bound ------------------------------------------------------------------------

STRIDED = [L("conv", out_channels=8, kernel_size=3, stride=2, padding="same"),
           L("max_pool", kernel_size=3, stride=2, padding=1, ceil_mode=True),
           L("separable_conv", out_channels=6, kernel_size=3, dilation=2, padding=2),
           L("avg_pool", kernel_size=2, ceil_mode=True)]
HEAD = [L("global_avg_pool", keepdim=False), L("linear", out_features=5)]

TRANSPOSED = net(HW, *STRIDED, L("conv_transpose", out_channels=4, kernel_size=3, stride=2,
                                  padding=1, output_padding=1), *HEAD)

SYMBOLIC: list[tuple[str, dict[str, Any], list[dict[str, int]]]] = [
    ("seed", net(HW, L("conv", out_channels=12, kernel_size=6, stride=2), L("relu")),
     [{"H": 32, "W": 32}, {"H": 7, "W": 6}, {"H": 33, "W": 100}]),
    ("strided-mix", net(HW, *STRIDED, *HEAD),
     [{"H": 16, "W": 16}, {"H": 17, "W": 23}, {"H": 40, "W": 9}, {"H": 64, "W": 31}]),
    ("residual-upsample", net([1, "C", "H", "W"],
                              L("conv", name="a", out_channels="C", kernel_size=3, padding=1),
                              L("add", inputs=["a", "input"]),
                              L("upsample", scale_factor=2, mode="bilinear"),
                              L("conv", out_channels=4, kernel_size=[3, 1], stride=[2, 1]),
                              L("flatten", start_dim=2), L("linear", out_features=3)),
     [{"C": 3, "H": 5, "W": 6}, {"C": 8, "H": 12, "W": 3}, {"C": 1, "H": 9, "W": 9}]),
    ("block-3d", net([1, 2, "D", "H", "W"],
                     L("repeat", times=2, body=[L("block", block="b", args={"s": 2})]),
                     blocks={"b": {"args": ["s"], "layers": [
                         L("conv", name="c", out_channels=3, kernel_size=3, stride="s",
                           padding=1),
                         L("batch_norm", name="bn"),
                         L("max_pool", name="p", kernel_size=2, stride=1, ceil_mode=True)]}}),
     [{"D": 8, "H": 9, "W": 10}, {"D": 13, "H": 7, "W": 8}]),
    ("strided-transposed", TRANSPOSED,
     [{"H": 16, "W": 16}, {"H": 17, "W": 23}, {"H": 40, "W": 9}, {"H": 64, "W": 31}]),
    ("upsample-size", net([1, 2, "L"], L("conv", out_channels=2, kernel_size=3, stride=2),
                          L("upsample", size=7, mode="linear"),
                          L("max_pool", kernel_size=2, ceil_mode=True)),
     [{"L": 5}, {"L": 9}, {"L": 30}]),
]

@pytest.mark.parametrize(("arch", "binds"), [pytest.param(a, b, id=i) for i, a, b in SYMBOLIC])
def test_symbolic_evaluate_equals_bound(arch: dict[str, Any], binds: list[dict[str, int]]
                                        ) -> None:
    sym = cnncalc.analyze(arch)
    assert sym.free_symbols
    for b in binds:
        ev = sym.evaluate(**b)
        bound = cnncalc.analyze(arch, b)
        assert not ev.free_symbols
        assert [r.name for r in ev.layers] == [r.name for r in bound.layers]
        for e, r in zip(ev.layers, bound.layers, strict=True):
            assert tuple(e.output_shape) == tuple(r.output_shape), e.name
            assert (e.params, e.buffers, e.macs, e.activations) == \
                (r.params, r.buffers, r.macs, r.activations), e.name
            assert e.receptive_field.size == r.receptive_field.size, e.name
            assert e.receptive_field.start == r.receptive_field.start, e.name
            assert e.receptive_field.stride == r.receptive_field.stride, e.name
        for q in ("params", "buffers", "macs", "flops", "activations", "other_ops"):
            assert getattr(ev.totals, q) == getattr(bound.totals, q), q


def test_partial_evaluate_then_rest() -> None:
    arch = SYMBOLIC[2][1]
    sym = cnncalc.analyze(arch)
    part = sym.evaluate(C=4)
    assert sorted(part.free_symbols) == ["H", "W"]
    full = part.evaluate(H=10, W=7)
    bound = cnncalc.analyze(arch, {"C": 4, "H": 10, "W": 7})
    for e, r in zip(full.layers, bound.layers, strict=True):
        assert (tuple(e.output_shape), e.params, e.macs) == \
            (tuple(r.output_shape), r.params, r.macs), e.name


@pytest.mark.parametrize(("arch", "binds"), [pytest.param(a, b, id=i) for i, a, b in SYMBOLIC])
def test_evaluate_many_equals_per_binding(arch: dict[str, Any], binds: list[dict[str, int]]
                                          ) -> None:
    sym = cnncalc.analyze(arch)
    names = sorted(binds[0])
    arrays = {k: np.array([b[k] for b in binds]) for k in names}
    many = sym.evaluate_many(**arrays)
    for q in ("params", "macs", "flops", "activations"):
        want = [getattr(cnncalc.analyze(arch, b).totals, q) for b in binds]
        assert [int(x) for x in many[q]] == want, q


def test_evaluate_many_sweep_matches_analyze() -> None:
    arch = TRANSPOSED
    sym = cnncalc.analyze(arch)
    hs = np.arange(16, 40, 3)
    ws = np.arange(9, 33, 3)
    many = sym.evaluate_many(H=hs, W=ws)
    for i, (h, w) in enumerate(zip(hs.tolist(), ws.tolist(), strict=True)):
        t = cnncalc.analyze(arch, {"H": h, "W": w}).totals
        assert (many["params"][i], many["macs"][i], many["flops"][i], many["activations"][i]) \
            == (t.params, t.macs, t.flops, t.activations)


# --- fractional receptive-field strides are exact (regressions) ----------------------------

def _exact(v: Any) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or isinstance(v, sympy.Basic)


def test_conv_transpose_rf_stride_is_exact() -> None:
    arch = net([1, 1, 8, 8], L("conv", out_channels=1, kernel_size=2, stride=2),
               L("conv_transpose", out_channels=1, kernel_size=2, stride=2))
    an = cnncalc.analyze(arch)
    rf = an.layers[-1].receptive_field
    assert all(_exact(v) for v in (*rf.size, *rf.stride, *rf.start))
    assert an.to_dict()["totals"]["receptive_field"]["stride"] == [1, 1]


def test_evaluate_after_conv_transpose() -> None:
    arch = TRANSPOSED
    ev = cnncalc.analyze(arch).evaluate(H=16, W=16)
    bound = cnncalc.analyze(arch, {"H": 16, "W": 16})
    assert ev.totals.macs == bound.totals.macs


def test_upsample_rf_stride_exact_and_consistent() -> None:
    arch = net([1, 1, "H"], L("upsample", size=7))
    bound = cnncalc.analyze(arch, {"H": 5}).layers[-1].receptive_field.stride[0]
    ev = cnncalc.analyze(arch).evaluate(H=5).layers[-1].receptive_field.stride[0]
    assert _exact(bound) and _exact(ev)
    assert sympy.Rational(5, 7) == bound == ev


# --- what torch refuses, cnncalc refuses ------------------------------------------------------

def agrees_with_torch(arch: dict[str, Any], bindings: dict[str, int] | None = None) -> bool:
    """cnncalc refuses the architecture, or torch runs it and agrees on every layer."""
    try:
        cnncalc.analyze(arch, bindings)
    except cnncalc.CnnCalcError:
        return True
    return mismatches(arch, bindings) == []



def _refusal(id_: str, arch: dict[str, Any], bindings: dict[str, int] | None = None,
             bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {bug}")] if bug else []
    return pytest.param(arch, bindings, id=id_, marks=marks)


REFUSALS = [
    _refusal("pool-pad-list-over-half",
             net([1, 1, 8, 8], L("max_pool", kernel_size=3, stride=1, padding=[2, 0]))),
    _refusal("pool-pad-sym-pairs-over-half",
             net([1, 1, 8, 8], L("max_pool", kernel_size=3, stride=1, padding=[[2, 2], [0, 0]]))),
    _refusal("pool-pad-expr-over-half",
             net([1, 1, 8, 8], L("avg_pool", kernel_size=3, stride=1, padding="P")), {"P": 2}),
    _refusal("maxpool-dilated-same",
             net([1, 1, 8, 8], L("max_pool", kernel_size=3, stride=1, dilation=2,
                                 padding="same"))),
    _refusal("ceil-asymmetric-pairs",
             net([1, 1, 5], L("avg_pool", kernel_size=3, stride=2, ceil_mode=True,
                              padding=[[0, 1]]))),
    _refusal("avgpool3d-input-under-kernel",
             net([1, 1, 1, 4, 4], L("avg_pool", kernel_size=2, stride=1, padding=1))),
    _refusal("groupnorm-one-value-per-group",
             net([1, 2, 1, 1], L("group_norm", num_groups=2))),
    _refusal("ceil-overhang-one-output",
             net([1, 1, 2], L("max_pool", kernel_size=3, stride=2, ceil_mode=True))),
    _refusal("batchnorm-batch-stats-one-value",
             net([1, 2, 1, 1], L("batch_norm", track_running_stats=False))),
]


@pytest.mark.parametrize(("arch", "bindings"), REFUSALS)
def test_cnncalc_refuses_what_torch_refuses(arch: dict[str, Any],
                                            bindings: dict[str, int] | None) -> None:
    assert agrees_with_torch(arch, bindings)
