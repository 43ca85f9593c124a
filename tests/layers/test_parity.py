"""Parity of cnncalc with PyTorch, layer type by layer type (torch-scan style tables).

Every case is a small architecture at concrete sizes; ``mismatches`` builds it in torch, runs it
under FlopCounterMode and compares every layer's output shape, parameter count and MACs. The
hand-arithmetic table of test_arithmetic.py is run in torch here too. A new layer type needs a
row in ``CASES`` (``test_parity_cases_cover_every_layer_type``) and a torch builder
(``test_every_layer_class_has_a_torch_builder``): see docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_arithmetic import HAND, HW, L, net

import cnncalc
from cnncalc.layers import LAYER_CLASSES
from cnncalc.pytorch.build import build
from cnncalc.pytorch.builders import BUILDERS

pytest.importorskip("torch")
from torch_oracle import mismatches  # noqa: E402 - imports torch

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
                                                   padding="K//2"), symbols={"K": {}}),
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
                        L("relu"), L("linear", out_features=3), symbols={"F": {}}),
     {"H": 4, "W": 3, "F": 16}),
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
    ("activations-new-2d", net(HW, L("hardsigmoid"), L("elu"), L("elu", alpha=0.5), L("mish"),
                               L("softplus"), L("softplus", beta=2.0, threshold=5.0)),
     {"H": 5, "W": 3}),
    ("activations-new-1d-3d", net([2, 3, 4, 5, 6], L("hardsigmoid"), L("mish"),
                                  L("elu", alpha=2.0), L("softplus", beta=0.5)), {}),
    ("prelu-shared", net(HW, L("prelu")), {"H": 4, "W": 5}),
    ("prelu-per-channel", net([2, 6, "H", "W"], L("conv", out_channels=8, kernel_size=3),
                              L("prelu", num_parameters=8, init=0.1)), {"H": 6, "W": 5}),
    ("prelu-symbolic-channels", net([1, "C", "H", "W"], L("prelu", num_parameters="C"),
                                    L("prelu")), {"C": 5, "H": 4, "W": 3}),
    ("prelu-features-1d", net([2, 4, 7], L("prelu", num_parameters=4),
                              L("flatten"), L("prelu", num_parameters=28)), {}),
    ("prelu-rank-1", net([2, 3, 4], L("flatten", start_dim=0), L("prelu")), {}),
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
    ("sub-residual", net([1, 4, "H", "W"],
                         L("conv", name="a", out_channels=4, kernel_size=3, padding=1),
                         L("sub", inputs=["a", "input"])), {"H": 6, "W": 7}),
    ("sub-broadcast-three", net([1, 4, 5, 6], L("global_avg_pool", name="g"),
                                L("adaptive_avg_pool", name="row", output_size=[5, 1],
                                  inputs=["input"]),
                                L("sub", inputs=["input", "g", "row"])), {}),
    ("div-broadcast-both", net([1, 4, 5, 6],
                               L("adaptive_avg_pool", name="row", output_size=[5, 1]),
                               L("sigmoid", name="col0", inputs=["input"]),
                               L("adaptive_avg_pool", name="col", output_size=[1, 6]),
                               L("div", inputs=["row", "col"])), {}),
    ("div-1d-three", net([2, 3, 8], L("sigmoid", name="s"), L("global_avg_pool", name="g"),
                         L("div", inputs=["input", "s", "g"])), {}),
    ("add-scalar", net(HW, L("add", scalar=1.5)), {"H": 4, "W": 5}),
    ("sub-scalar", net([1, 2, 7], L("sub", scalar=-2.0)), {}),
    ("mul-scalar", net(HW, L("conv", out_channels=2, kernel_size=3), L("mul", scalar=0.5)),
     {"H": 5, "W": 6}),
    ("div-scalar-3d", net([1, 2, 2, 3, 4], L("div", scalar=3.0)), {}),
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
    ("pad-reflect", net(HW, L("pad", padding=[[0, 3], [2, 1]], mode="reflect"),
                        L("conv", out_channels=2, kernel_size=3)), {"H": 4, "W": 3}),
    ("pad-reflect-sym", net(HW, L("pad", padding="P", mode="reflect"),
                            symbols={"P": {"min": 0}}),
     {"H": 5, "W": 4, "P": 3}),
    ("pad-reflect-1d", net([1, 2, 5], L("pad", padding=[[4, 1]], mode="reflect")), {}),
    ("pad-reflect-3d", net([1, 1, 2, 3, 4], L("pad", padding=[[1, 0], 1, [0, 3]],
                                              mode="reflect")), {}),
    ("pad-replicate", net(HW, L("pad", padding=[[0, 5], 2], mode="replicate")),
     {"H": 2, "W": 1}),
    ("pad-replicate-3d", net([1, 1, 2, 1, 3], L("pad", padding=2, mode="replicate")), {}),
    ("pad-constant-explicit", net(HW, L("pad", padding=1, mode="constant")), {"H": 3, "W": 2}),
    ("channel-shuffle-sym-c", net([2, "C", "H", "W"], L("channel_shuffle", groups=3),
                                  L("conv", out_channels=2, kernel_size=3)),
     {"C": 6, "H": 5, "W": 4}),
    ("channel-shuffle-sym-groups", net([1, "C", 5], L("channel_shuffle", groups="G"),
                                       symbols={"G": {}}),
     {"C": 8, "G": 4}),
    ("channel-shuffle-3d", net([1, 4, 2, 3, 2], L("channel_shuffle", groups=2)), {}),
    # --- tensor shape operations ------------------------------------------------------------
    ("permute-nhwc-linear", net(HW, L("permute", dims=[0, 2, 3, 1]), L("linear", out_features=5),
                                L("permute", dims=[0, -1, 1, 2])), {"H": 4, "W": 6}),
    ("transpose-tokens", net([2, 3, "L"], L("transpose", dim0=1, dim1=-1),
                             L("linear", out_features=4)), {"L": 7}),
    ("reshape-tokens", net(HW, L("conv", out_channels=6, kernel_size=2, stride=2),
                           L("reshape", shape=[1, 6, -1]), L("transpose", dim0=1, dim1=2),
                           L("linear", out_features=3)), {"H": 8, "W": 6}),
    ("reshape-heads-expr", net([2, "C", 5], L("reshape", shape=[2, "G", "C/G", 5]),
                               L("reshape", shape=[2, "C", 5]), symbols={"G": {}}),
     {"C": 6, "G": 3}),
    ("expand-lead-and-ones", net([1, 4, 1], L("expand", shape=[3, 2, -1, 5])), {}),
    ("split-list", net(HW, L("split", name="s", dim=1, sizes=[1, 2]),
                       L("conv", out_channels=2, kernel_size=1, inputs=["s.1"]),
                       L("add", inputs=["s.0", "conv1"])), {"H": 5, "W": 4}),
    ("split-size-spatial", net([1, 2, 7, 3], L("split", name="s", dim=2, sizes=3),
                               L("relu", inputs=["s.2"])), {}),
    ("chunk-fewer-parts", net([1, 5, 3], L("chunk", name="c", chunks=4, dim=1),
                              L("concat", inputs=["c.2", "c.0"])), {}),
    ("slice-step-3d", net([1, 2, 5, 6, 7], L("slice", dim=-1, start=1, end=-1, step=2),
                          L("slice", dim=2, start=-3)), {}),
    ("slice-expr-channels", net([1, "C", 4, 4], L("slice", dim=1, start=1, end="C"),
                                L("conv", out_channels=2, kernel_size=3)), {"C": 4}),
    ("index-token", net([2, 5, 8], L("index", dim=1, index=0), L("linear", out_features=3)), {}),
    ("index-neg-spatial", net(HW, L("index", dim=-1, index=-2)), {"H": 3, "W": 4}),
    # --- reductions ---------------------------------------------------------------------------
    ("mean-spatial", net(HW, L("mean", dim=[2, 3])), {"H": 5, "W": 6}),
    ("mean-spatial-keepdim-then-conv", net(HW, L("mean", dim=[-1, -2], keepdim=True),
                                           L("conv", out_channels=4, kernel_size=1)),
     {"H": 5, "W": 6}),
    ("mean-channels-keepdim", net(HW, L("mean", dim=1, keepdim=True),
                                  L("conv", out_channels=2, kernel_size=3)), {"H": 7, "W": 6}),
    ("sum-one-axis", net(HW, L("sum", dim=-1), L("conv", out_channels=2, kernel_size=2)),
     {"H": 7, "W": 3}),
    ("sum-channels", net(HW, L("sum", dim=[1])), {"H": 4, "W": 3}),
    ("sum-3d-mixed", net([2, 3, 4, 5, 6], L("sum", dim=[1, 3], keepdim=True)), {}),
    ("amax-channels", net(HW, L("amax", dim=1, keepdim=True)), {"H": 4, "W": 5}),
    ("amax-spatial", net(HW, L("amax", dim=[2, -1])), {"H": 4, "W": 5}),
    ("amax-after-flatten", net(HW, L("flatten"), L("amax", dim=-1, keepdim=True)),
     {"H": 2, "W": 3}),
    ("mean-1d", net([2, 3, "L"], L("mean", dim=2), L("linear", out_features=4)), {"L": 9}),
    # --- attention, learned tensors -----------------------------------------------------------
    ("matmul-batched", net([2, 4, "L"], L("linear", name="q", out_features=3),
                           L("parameter", name="w", shape=[2, 3, 6]),
                           L("matmul", inputs=["q", "w"])), {"L": 3}),
    ("matmul-broadcast", net([2, 4, 5], L("parameter", name="w", shape=[5, 6]),
                             L("matmul", inputs=["input", "w"])), {}),
    ("attention-heads", net([2, 4, "L", 8], L("attention", scale=0.5,
                                              inputs=["input", "input", "input"])), {"L": 5}),
    ("attention-causal-value-width", net([1, 2, 6, 8], L("linear", name="v", out_features=3),
                                         L("attention", is_causal=True,
                                           inputs=["input", "input", "v"])), {}),
    ("mha-vit-tokens", net([1, "L", 16], L("parameter", name="cls", shape=[1, 1, 16]),
                           L("concat", name="cat", dim=1, inputs=["cls", "input"]),
                           L("parameter", name="pos", shape=[1, "L+1", 16]),
                           L("add", name="embed", inputs=["cat", "pos"]),
                           L("layer_norm", name="ln", normalized_dims=1),
                           L("multihead_attention", num_heads=4, batch_first=True)), {"L": 4}),
    ("mha-seq-first-no-bias", net([5, 2, 12], L("multihead_attention", num_heads=3,
                                                bias=False)), {}),
    ("ln-dims-channels", net(HW, L("layer_norm", dims=[1]),
                             L("conv", out_channels=2, kernel_size=3)), {"H": 5, "W": 4}),
    ("ln-dims-trailing", net([2, 3, 4, 5], L("layer_norm", dims=[-2, -1], eps=1e-6)), {}),
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
            L("group_norm", name="gn", num_groups=2), L("silu", name="act")]}},
        symbols={"T": {"description": "how many blocks the stage repeats"}}),
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
    # an opaque layer stands for an operation cnncalc cannot build (tests/layers/
    # test_attention_ops.py checks that building one is refused)
    assert set(cnncalc.LAYER_TYPES) - used == {"opaque"}
    assert used - {"block", "repeat"} <= set(cnncalc.LAYER_TYPES)


def test_every_layer_class_has_a_torch_builder() -> None:
    """A layer class without ``@builds(TheClass)`` in cnncalc/pytorch/builders.py fails here."""
    assert len(LAYER_CLASSES) == len(cnncalc.LAYER_TYPES)
    assert [cls.__name__ for cls in LAYER_CLASSES if cls not in BUILDERS] == []


def test_parity_covers_1d_2d_3d_inputs() -> None:
    ranks = {len(arch["input"]["shape"]) for _, arch, _ in CASES}
    assert ranks == {3, 4, 5}


@pytest.mark.parametrize("case", [pytest.param(c, id=c[0]) for c in HAND])
def test_hand_cases_match_torch(case: tuple[Any, ...]) -> None:
    """Torch agrees with the hand arithmetic of test_arithmetic.py too."""
    _, arch, bindings = case[:3]
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

