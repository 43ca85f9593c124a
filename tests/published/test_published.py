"""Published figures, reproduced: each number below is copied from the table that printed it,
with the source beside it, and checked against cnncalc's analysis.

Sources (full references in docs/validation.md, "Published figures"):

- TV: torchvision 0.28, ``torchvision.models.<Model>_Weights.IMAGENET1K_V1.meta``:
  ``num_params`` (exact) and ``_ops`` (GFLOPS, rounded to 3 decimals; torchvision's "FLOPS"
  are multiply-accumulates, i.e. our MACs). The exact integers for the zoo models are in
  tests/core/test_zoo_figures.py; here are the printed figures themselves.
- MOBILENET: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
  Vision Applications", arXiv:1704.04861 (2017), Tables 1, 2, 4, 6 and 7 ("mult-adds" = MACs).
- RF: Araujo, Norris, Sim, "Computing Receptive Fields of Convolutional Neural Networks",
  Distill 2019 (https://distill.pub/2019/computing-receptive-fields/), computed with its
  library: github.com/google-research/receptive_field, README.md (final end-points) and
  receptive_field/RECEPTIVE_FIELD_TABLE.md (every end-point, resolutions None, 224 and 321).
- RESNET: He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385,
  Table 1 ("FLOPs" = multiply-adds, section 3.3).
- VGG: Simonyan, Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
  Recognition", arXiv:1409.1556, Table 2 (parameters in millions).

The architectures of networks the zoo does not hold are in ``archs/`` (TF-slim's alexnet_v2,
mobilenet_v1 and resnet_v1_50); deeper or wider variants are derived from them or from the zoo
here. Where torch is installed, the MobileNet figures are also measured on a network built
directly from the paper's Table 1, so the JSON is checked, not only the totals.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pytest
import sympy

import cnncalc
from cnncalc.zoo import zoo_json

ARCHS = Path(__file__).resolve().parent / "archs"


def _arch(name: str) -> dict[str, Any]:
    """A fresh copy of ``archs/NAME.json``."""
    data: dict[str, Any] = json.loads((ARCHS / f"{name}.json").read_text("utf-8"))
    return data


def _one(values: tuple[Any, ...]) -> Any:
    """The value of a square field: both spatial axes agree (a formula in W is the one in H
    with W for H)."""
    h, w = values
    if isinstance(w, sympy.Expr):
        w = w.subs(sympy.Symbol("W", integer=True, positive=True),
                   sympy.Symbol("H", integer=True, positive=True))
    assert h == w, values
    return h


def _int(v: object) -> int:
    """A quantity that bound sizes make a number."""
    assert isinstance(v, int), v
    return v


# --- 1. torchvision's metadata ------------------------------------------------------------------

TV_SOURCE = "torchvision.models <Model>_Weights.IMAGENET1K_V1 meta, torchvision 0.28"

# inception_v3's num_params includes the auxiliary classifier (training only; the zoo model,
# like torchvision in eval mode, runs without it): AuxLogits conv0 768->128 1x1 + BN, conv1
# 128->768 5x5 + BN, fc 768->1000.
INCEPTION_AUX = (768 * 128 + 2 * 128) + (128 * 25 * 768 + 2 * 768) + (768 * 1000 + 1000)

TORCHVISION = [
    # zoo name, torchvision weights, input size (its crop size), num_params, _ops (GFLOPS)
    ("alexnet", "AlexNet_Weights", 224, 61_100_840, 0.714),
    ("vgg16", "VGG16_Weights", 224, 138_357_544, 15.47),
    ("resnet18", "ResNet18_Weights", 224, 11_689_512, 1.814),
    ("resnet50", "ResNet50_Weights", 224, 25_557_032, 4.089),
    ("mobilenet_v2", "MobileNet_V2_Weights", 224, 3_504_872, 0.301),
    ("squeezenet1_0", "SqueezeNet1_0_Weights", 224, 1_248_424, 0.819),
    ("densenet121", "DenseNet121_Weights", 224, 7_978_856, 2.834),
    ("googlenet", "GoogLeNet_Weights", 224, 6_624_904, 1.498),
    ("inception_v3", "Inception_V3_Weights", 299, 27_161_264, 5.713),
]
"""Source: TV_SOURCE (``meta["num_params"]``, ``meta["_ops"]``)."""

TORCHVISION_DERIVED = [
    # torchvision name, weights, num_params, _ops: the ResNets the zoo does not ship, built here
    # from the zoo's resnet18 / resnet50 with torchvision's block counts (_resnet_basic etc.)
    ("resnet34", "ResNet34_Weights", 21_797_672, 3.664),
    ("resnet101", "ResNet101_Weights", 44_549_160, 7.801),
    ("resnet152", "ResNet152_Weights", 60_192_808, 11.514),
]
"""Source: TV_SOURCE."""


@pytest.mark.parametrize(("name", "weights", "size", "params", "gflops"), TORCHVISION,
                         ids=[r[0] for r in TORCHVISION])
def test_torchvision_metadata(name: str, weights: str, size: int, params: int,
                              gflops: float) -> None:
    an = cnncalc.analyze(name, {"N": 1, "H": size, "W": size})
    aux = INCEPTION_AUX if name == "inception_v3" else 0
    assert _int(an.totals.params) + aux == params
    assert round(_int(an.totals.macs) / 1e9, 3) == gflops


def _resnet_basic(counts: tuple[int, int, int, int]) -> dict[str, Any]:
    """torchvision's ResNet with basic blocks and these block counts, from the zoo's resnet18
    (whose stages 2-4 are a down-sampling block then one basic block each)."""
    d = zoo_json("resnet18")
    layers: list[dict[str, Any]] = []
    for layer in d["layers"]:
        name = layer.get("name", "")
        if name == "layer1":
            layer = {**layer, "times": counts[0]}
        elif name in ("layer2.1", "layer3.1", "layer4.1"):
            stage = int(name[5])
            layer = {"type": "repeat", "name": f"layer{stage}", "times": counts[stage - 1] - 1,
                     "start": 1, "body": [{k: v for k, v in layer.items() if k != "name"}]}
        layers.append(layer)
    return {**d, "name": f"resnet{2 * sum(counts) + 2}", "layers": layers}


def _resnet_bottleneck(counts: tuple[int, int, int, int], *,
                       stride_on_1x1: bool = False) -> dict[str, Any]:
    """torchvision's bottleneck ResNet with these block counts, from the zoo's resnet50.
    ``stride_on_1x1``: the original ResNet v1 of the paper (and of Caffe), whose down-sampling
    block strides its first 1x1 conv; torchvision (v1.5) strides the 3x3 conv."""
    d = zoo_json("resnet50")
    for layer in d["layers"]:
        if layer["type"] == "repeat":
            layer["times"] = counts[int(layer["name"][-1]) - 1] - 1
    if stride_on_1x1:
        for layer in d["blocks"]["bottleneck_down"]["layers"]:
            if layer.get("name") == "conv1":
                layer["stride"] = "stride"
            if layer.get("name") == "conv2":
                del layer["stride"]
    d["name"] = f"resnet{3 * sum(counts) + 2}"
    return d


DERIVED_ARCHS = {
    "resnet34": lambda: _resnet_basic((3, 4, 6, 3)),
    "resnet101": lambda: _resnet_bottleneck((3, 4, 23, 3)),
    "resnet152": lambda: _resnet_bottleneck((3, 8, 36, 3)),
}


@pytest.mark.parametrize(("name", "weights", "params", "gflops"), TORCHVISION_DERIVED,
                         ids=[r[0] for r in TORCHVISION_DERIVED])
def test_torchvision_metadata_derived_resnets(name: str, weights: str, params: int,
                                              gflops: float) -> None:
    an = cnncalc.analyze(DERIVED_ARCHS[name](), {"N": 1, "H": 224, "W": 224})
    assert an.totals.params == params
    assert round(_int(an.totals.macs) / 1e9, 3) == gflops


def test_torchvision_literals_are_the_installed_metadata() -> None:
    """The literals above are what the installed torchvision says (skipped without it)."""
    pytest.importorskip("torch")
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    from cnncalc.pytorch.tvshim import declare_torchvision_ops

    declare_torchvision_ops()
    from torchvision import models  # loads with the shim's operator declarations

    rows = [(w, p, g) for _, w, _, p, g in TORCHVISION] + \
           [(w, p, g) for _, w, p, g in TORCHVISION_DERIVED]
    for weights, params, gflops in rows:
        meta = getattr(models, weights).IMAGENET1K_V1.meta
        assert (meta["num_params"], meta["_ops"]) == (params, gflops), weights
    assert models.Inception_V3_Weights.IMAGENET1K_V1.transforms().crop_size == [299]


# --- 2. MobileNet v1 ----------------------------------------------------------------------------

MOBILENET_BODY = [(2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2)] + [(16, 1)] * 5 \
    + [(32, 2), (32, 1)]
"""MOBILENET Table 1, after the first 3x3/2 conv of 32 channels: each depthwise separable
layer as (output channels / 32, stride of its 3x3 depthwise conv). The table's last depthwise
row reads "s2" on a 7x7 input that stays 7x7: stride 1, as in TF-slim's mobilenet_v1."""


def _mobilenet(c: int = 32) -> dict[str, Any]:
    """archs/mobilenet_v1.json at width c = 32*alpha (the block argument of the body)."""
    d = _arch("mobilenet_v1")
    d["layers"][0]["args"]["c"] = c
    return d


@functools.cache
def _mobilenet_symbolic(c: int) -> cnncalc.Analysis:
    """One analysis with H and W open, evaluated at every resolution of the tables."""
    return cnncalc.analyze(_mobilenet(c), {"N": 1})


MOBILENET_ROWS = [
    # table, alpha, c = 32*alpha, resolution, mult-adds (millions), params (millions)
    ("Table 6/7", "1.0", 32, 224, 569, 4.2),
    ("Table 6", "0.75", 24, 224, 325, 2.6),
    ("Table 6", "0.5", 16, 224, 149, 1.3),
    ("Table 6", "0.25", 8, 224, 41, 0.5),
    ("Table 7", "1.0", 32, 192, 418, 4.2),
    ("Table 7", "1.0", 32, 160, 290, 4.2),
    ("Table 7", "1.0", 32, 128, 186, 4.2),
]
"""Source: MOBILENET Tables 6 and 7 (also the text: "569 million mult-adds and 4.2 million
parameters"). Rounded to the million (mult-adds) and to 0.1 million (params)."""

MOBILENET_OURS = {
    # (c, resolution): (MACs, params), exact; the torch test below measures the same integers
    (32, 224): (568_740_352, 4_231_976),
    (24, 224): (325_400_448, 2_585_560),
    (16, 224): (149_497_088, 1_331_592),
    (8, 224): (41_030_272, 470_072),
    (32, 192): (418_121_728, 4_231_976),
    (32, 160): (290_675_200, 4_231_976),
    (32, 128): (186_400_768, 4_231_976),
}


@pytest.mark.parametrize(("table", "alpha", "c", "res", "madds", "mparams"), MOBILENET_ROWS,
                         ids=[f"{r[1]}-{r[3]}" for r in MOBILENET_ROWS])
def test_mobilenet_v1_width_and_resolution(table: str, alpha: str, c: int, res: int,
                                           madds: int, mparams: float) -> None:
    an = _mobilenet_symbolic(c).evaluate(H=res, W=res)
    macs, params = _int(an.totals.macs), _int(an.totals.params)
    assert (macs, params) == MOBILENET_OURS[(c, res)]
    assert c == round(32 * float(alpha))
    # Params: weights, batch-norm scale and shift, the classifier's bias. The paper's figure
    # rounds the same either way (4,231,976 - 21,888 BN - 1,000 bias = 4,209,088).
    assert round(params / 1e6, 1) == mparams
    if res == 160:
        # 290,675,200 is printed 290 (truncated), where every other row rounds to nearest.
        assert math.floor(macs / 1e6) == madds
    else:
        assert round(macs / 1e6) == madds


def test_mobilenet_v1_resource_shares() -> None:
    """MOBILENET Table 2, "Resource per layer type" (1.0 MobileNet-224): share of mult-adds
    and of parameters. The parameter shares are of the weights alone (no batch norm, no
    bias): 4,209,088 = 864 + 44,640 + 3,139,584 + 1,024,000."""
    an = _mobilenet_symbolic(32).evaluate(H=224, W=224)
    macs: dict[str, int] = {}
    weights: dict[str, int] = {}
    for layer in an.layers:
        if layer.type == "linear":
            kind, w = "fc", _int(layer.params) - 1000  # its bias
        elif layer.type == "conv":
            kind = layer.name.rsplit(".", 1)[-1]  # Conv2d_0, depthwise, pointwise
            w = _int(layer.params)  # no conv has a bias
        else:
            assert layer.macs == 0
            continue
        macs[kind] = macs.get(kind, 0) + _int(layer.macs)
        weights[kind] = weights.get(kind, 0) + w
    assert sum(weights.values()) == 4_209_088

    def share(d: dict[str, int], k: str) -> float:
        return round(100 * d[k] / sum(d.values()), 2)

    assert share(macs, "pointwise") == 94.86 and share(weights, "pointwise") == 74.59
    assert share(macs, "depthwise") == 3.06 and share(weights, "depthwise") == 1.06
    assert share(weights, "Conv2d_0") == 0.02
    # The paper prints 1.19 % for the full 3x3 conv: its four mult-add shares then sum to
    # 99.29 %; ours, 1.91 % (the digits swapped), makes them sum to 100.01 %.
    assert share(macs, "Conv2d_0") == 1.91
    assert share(macs, "fc") == 0.18 and share(weights, "fc") == 24.33


def test_mobilenet_v1_full_convolutions() -> None:
    """MOBILENET Table 4, "Conv MobileNet" (every depthwise separable layer a full 3x3 conv):
    29.3 million parameters, 4866 million mult-adds. Params agree; our 4,867,293,184 MACs are
    1.3 million (0.03 %) above the printed 4866 and we do not know which part the paper left
    out (not the classifier: without its 1,024,000 the 1.0 MobileNet row would read 568)."""
    d = _mobilenet(32)
    d["blocks"]["dw_separable"]["layers"] = [
        {"type": "conv", "name": "conv", "out_channels": "out_ch", "kernel_size": 3,
         "stride": "stride", "padding": "same", "bias": False},
        {"type": "batch_norm", "name": "bn"},
        {"type": "relu6", "name": "relu"},
    ]
    an = cnncalc.analyze(d, {"N": 1, "H": 224, "W": 224})
    macs = _int(an.totals.macs)
    assert round(_int(an.totals.params) / 1e6, 1) == 29.3
    assert macs == 4_867_293_184
    assert abs(macs / 1e6 - 4866) / 4866 < 3e-4


def _torch_mobilenet(c: int) -> Any:
    """MobileNet v1 built in torch from MOBILENET_BODY (the paper's Table 1), not from the
    JSON: conv / BN / ReLU, depthwise separable layers, global average pool, FC 1000.
    Symmetric padding 1 where the JSON has 'same': the counts agree at even sizes."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    layers: list[Any] = [nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
    ch = c
    for mult, stride in MOBILENET_BODY:
        out = mult * c
        layers += [nn.Conv2d(ch, ch, 3, stride, 1, groups=ch, bias=False), nn.BatchNorm2d(ch),
                   nn.ReLU(), nn.Conv2d(ch, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
        ch = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, 1000)]
    return nn.Sequential(*layers).eval()


@pytest.mark.parametrize(("c", "res"), [(32, 224), (24, 224), (32, 160)])
def test_mobilenet_v1_in_torch(c: int, res: int) -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    net = _torch_mobilenet(c)
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        out = net(torch.zeros(1, 3, res, res))
    assert tuple(out.shape) == (1, 1000)
    params = sum(p.numel() for p in net.parameters())
    assert (fc.get_total_flops() // 2, params) == MOBILENET_OURS[(c, res)]


# --- 3. Receptive fields (Araujo et al. 2019) ---------------------------------------------------

# Rows of RECEPTIVE_FIELD_TABLE.md: end-point, RF size, effective stride, and the effective
# padding printed at resolution None (None where it depends on the input size), 224 and 321.
# Their effective padding P is our -start: the first input pixel output 0 sees is -P.
RF_TABLE: dict[str, list[tuple[str, int, int, int | None, int, int]]] = {
    "alexnet_v2": [
        ("conv1", 11, 4, 0, 0, 0), ("pool1", 19, 8, 0, 0, 0), ("conv2", 51, 8, 16, 16, 16),
        ("conv3", 99, 16, 32, 32, 32), ("conv4", 131, 16, 48, 48, 48),
        ("conv5", 163, 16, 64, 64, 64), ("pool5", 195, 32, 64, 64, 64),
    ],
    "vgg_16": [
        ("conv1/conv1_1", 3, 1, 1, 1, 1), ("pool1", 6, 2, 2, 2, 2),
        ("conv2/conv2_1", 10, 2, 4, 4, 4), ("pool2", 16, 4, 6, 6, 6),
        ("conv3/conv3_1", 24, 4, 10, 10, 10), ("conv3/conv3_2", 32, 4, 14, 14, 14),
        ("pool3", 44, 8, 18, 18, 18), ("conv4/conv4_1", 60, 8, 26, 26, 26),
        ("conv4/conv4_2", 76, 8, 34, 34, 34), ("pool4", 100, 16, 42, 42, 42),
        ("conv5/conv5_1", 132, 16, 58, 58, 58), ("conv5/conv5_2", 164, 16, 74, 74, 74),
        ("pool5", 212, 32, 90, 90, 90),
    ],
    "mobilenet_v1": [
        ("Conv2d_0", 3, 2, None, 0, 1), ("Conv2d_1_pointwise", 7, 2, None, 2, 3),
        ("Conv2d_2_pointwise", 11, 4, None, 2, 5), ("Conv2d_3_pointwise", 19, 4, None, 6, 9),
        ("Conv2d_4_pointwise", 27, 8, None, 6, 13), ("Conv2d_5_pointwise", 43, 8, None, 14, 21),
        ("Conv2d_6_pointwise", 59, 16, None, 14, 29),
        ("Conv2d_7_pointwise", 91, 16, None, 30, 45),
        ("Conv2d_8_pointwise", 123, 16, None, 46, 61),
        ("Conv2d_9_pointwise", 155, 16, None, 62, 77),
        ("Conv2d_10_pointwise", 187, 16, None, 78, 93),
        ("Conv2d_11_pointwise", 219, 16, None, 94, 109),
        ("Conv2d_12_pointwise", 251, 32, None, 94, 125),
        ("Conv2d_13_pointwise", 315, 32, None, 126, 157),
    ],
    "resnet_v1_50": [
        ("block1", 35, 8, None, 15, 17), ("block2", 99, 16, None, 47, 49),
        ("block3", 291, 32, None, 143, 145), ("block4", 483, 32, None, 239, 241),
    ],
    "resnet_v1_101": [
        ("block1", 35, 8, None, 15, 17), ("block2", 99, 16, None, 47, 49),
        ("block3", 835, 32, None, 415, 417), ("block4", 1027, 32, None, 511, 513),
    ],
    "resnet_v1_152": [
        ("block1", 35, 8, None, 15, 17), ("block2", 163, 16, None, 79, 81),
        ("block3", 1315, 32, None, 655, 657), ("block4", 1507, 32, None, 751, 753),
    ],
    "resnet_v1_200": [
        ("block1", 35, 8, None, 15, 17), ("block2", 419, 16, None, 207, 209),
        ("block3", 1571, 32, None, 783, 785), ("block4", 1763, 32, None, 879, 881),
    ],
    "inception_v3": [
        ("Conv2d_1a_3x3", 3, 2, 0, 0, 0), ("Conv2d_2a_3x3", 7, 2, 0, 0, 0),
        ("Conv2d_2b_3x3", 11, 2, 2, 2, 2), ("MaxPool_3a_3x3", 15, 4, 2, 2, 2),
        ("Conv2d_3b_1x1", 15, 4, 2, 2, 2), ("Conv2d_4a_3x3", 23, 4, 2, 2, 2),
        ("MaxPool_5a_3x3", 31, 8, 2, 2, 2), ("Mixed_5b", 63, 8, 18, 18, 18),
        ("Mixed_5c", 95, 8, 34, 34, 34), ("Mixed_5d", 127, 8, 50, 50, 50),
        ("Mixed_6a", 159, 16, 58, 58, 58), ("Mixed_6b", 351, 16, 154, 154, 154),
        ("Mixed_6c", 543, 16, 250, 250, 250), ("Mixed_6d", 735, 16, 346, 346, 346),
        ("Mixed_6e", 927, 16, 442, 442, 442), ("Mixed_7a", 1055, 32, 490, 490, 490),
        ("Mixed_7b", 1183, 32, 554, 554, 554), ("Mixed_7c", 1311, 32, 618, 618, 618),
    ],
}
"""Source: RF (RECEPTIVE_FIELD_TABLE.md; the final end-points also in the README's table)."""
RF_TABLE["mobilenet_v1_075"] = RF_TABLE["mobilenet_v1"]  # the table's rows are the same

SLIM_RESNET_UNITS = {"resnet_v1_50": (3, 4, 6, 3), "resnet_v1_101": (3, 4, 23, 3),
                     "resnet_v1_152": (3, 8, 36, 3), "resnet_v1_200": (3, 24, 36, 3)}
"""Units per block of TF-slim's resnet_v1 nets (nets/resnet_v1.py)."""


def _slim_resnet(name: str) -> dict[str, Any]:
    """archs/resnet_v1_50.json with the unit counts of ``name``: each block is a projecting
    first unit, ``repeat`` of identity units, and a last unit (which strides, in blocks 1-3)."""
    d = _arch("resnet_v1_50")
    units = SLIM_RESNET_UNITS[name]
    by_name = {layer["name"]: layer for layer in d["layers"]}
    for i, n in enumerate(units, start=1):
        by_name[f"block{i}"]["times"] = n - 2
        by_name[f"block{i}.unit_{SLIM_RESNET_UNITS['resnet_v1_50'][i - 1]}"]["name"] = \
            f"block{i}.unit_{n}"
    d["name"] = name
    return d


def _endpoint(net: str, endpoint: str) -> str:
    """Our layer for a TF-slim end-point (its output; activations do not move a field)."""
    if net == "vgg_16":  # the zoo's vgg16 (torchvision's features.N), same layers as slim's
        vgg = {"conv1/conv1_1": 0, "pool1": 4, "conv2/conv2_1": 5, "pool2": 9,
               "conv3/conv3_1": 10, "conv3/conv3_2": 12, "pool3": 16, "conv4/conv4_1": 17,
               "conv4/conv4_2": 19, "pool4": 23, "conv5/conv5_1": 24, "conv5/conv5_2": 26,
               "pool5": 30}
        return f"features.{vgg[endpoint]}"
    if net.startswith("mobilenet_v1"):
        return "MobilenetV1." + endpoint.replace("_pointwise", ".pointwise")
    if net.startswith("resnet_v1"):
        block = int(endpoint[-1])
        return f"{endpoint}.unit_{SLIM_RESNET_UNITS[net][block - 1]}.relu"
    if net == "inception_v3":  # the zoo's (torchvision's port of TF-slim's)
        pools = {"MaxPool_3a_3x3": "maxpool1", "MaxPool_5a_3x3": "maxpool2"}
        if endpoint in pools:
            return pools[endpoint]
        return f"{endpoint}.cat" if endpoint.startswith("Mixed") else f"{endpoint}.conv"
    return endpoint  # alexnet_v2: same names


def _rf_arch(net: str) -> Any:
    if net == "vgg_16":
        return "vgg16"
    if net == "inception_v3":
        return "inception_v3"
    if net.startswith("mobilenet_v1"):
        return _mobilenet(24 if net.endswith("_075") else 32)
    if net.startswith("resnet_v1"):
        return _slim_resnet(net)
    return _arch(net)


@functools.cache
def _rf_analysis(net: str, size: int | None) -> dict[str, Any]:
    """Receptive field per layer name; ``size`` None: H and W left open (the table's
    resolution None), else the symbolic analysis evaluated at that size."""
    an = cnncalc.analyze(_rf_arch(net), {"N": 1})
    if size is not None:
        an = an.evaluate(H=size, W=size)
    return {layer.name: layer.receptive_field for layer in an.layers}


RF_ROWS = [(net, *row) for net, rows in RF_TABLE.items() for row in rows]


@pytest.mark.parametrize(("net", "endpoint", "size", "stride", "pad_none", "pad224", "pad321"),
                         RF_ROWS, ids=[f"{r[0]}/{r[1]}" for r in RF_ROWS])
def test_receptive_field_table(net: str, endpoint: str, size: int, stride: int,
                               pad_none: int | None, pad224: int, pad321: int) -> None:
    layer = _endpoint(net, endpoint)
    free = _rf_analysis(net, None)[layer]
    assert (_one(free.size), _one(free.stride)) == (size, stride)
    start = _one(free.start)
    if pad_none is None:
        # 'same' padding with a stride: the padding depends on the input size, which the
        # table prints as None and cnncalc as a formula in H.
        assert isinstance(start, sympy.Expr) and start.free_symbols
    else:
        assert start == -pad_none
    for res, pad in ((224, pad224), (321, pad321)):
        rf = _rf_analysis(net, res)[layer]
        assert (_one(rf.size), _one(rf.stride), _one(rf.start)) == (size, stride, -pad)


def test_receptive_field_readme_summary() -> None:
    """RF, the README's table (final end-point of each net at 224: RF size, effective stride,
    effective padding); the rows for the nets expressed here."""
    readme = {"alexnet_v2": (195, 32, 64), "vgg_16": (212, 32, 90),
              "inception_v3": (1311, 32, 618), "mobilenet_v1": (315, 32, 126),
              "mobilenet_v1_075": (315, 32, 126), "resnet_v1_50": (483, 32, 239),
              "resnet_v1_101": (1027, 32, 511), "resnet_v1_152": (1507, 32, 751),
              "resnet_v1_200": (1763, 32, 879)}
    for net, (size, stride, pad) in readme.items():
        last = RF_TABLE[net][-1]
        rf = _rf_analysis(net, 224)[_endpoint(net, last[0])]
        assert (_one(rf.size), _one(rf.stride), -_one(rf.start)) == (size, stride, pad), net


def test_slim_architectures_have_the_published_parameter_counts() -> None:
    """The TF-slim JSONs hold the right layers, not only the right fields: slim's
    resnet_v1_50/101/152 differ from torchvision's only in where the stride sits, so their
    parameters are torchvision's (TV_SOURCE); alexnet_v2's count is written out per layer
    (11x11 conv 64, 5x5 conv 192, 3x3 convs 384, 384, 256, fc6 a 5x5 conv 4096, fc7, fc8)."""
    for slim, params in (("resnet_v1_50", 25_557_032), ("resnet_v1_101", 44_549_160),
                         ("resnet_v1_152", 60_192_808)):
        an = cnncalc.analyze(_slim_resnet(slim), {"N": 1, "H": 224, "W": 224})
        assert an.totals.params == params, slim
    alexnet = (11 * 11 * 3 * 64 + 64) + (5 * 5 * 64 * 192 + 192) + (3 * 3 * 192 * 384 + 384) \
        + (3 * 3 * 384 * 384 + 384) + (3 * 3 * 384 * 256 + 256) + (5 * 5 * 256 * 4096 + 4096) \
        + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    an = cnncalc.analyze(_arch("alexnet_v2"), {"N": 1, "H": 224, "W": 224})
    assert an.totals.params == alexnet
    assert an.layers[-1].output_shape == (1, 1000, 1, 1)  # alexnet_v2's default size is 224


def test_same_padding_in_torch() -> None:
    """TF's 'same' at a stride puts the odd padding pixel after, which is what the table's
    effective paddings at 321 (odd) show; torch, running the mobilenet_v1 JSON at an odd size,
    measures the same shapes, counts and receptive fields (those not clipped by the border)."""
    pytest.importorskip("torch")
    report = cnncalc.validate(_mobilenet(8), {"N": 1, "H": 35, "W": 35}, "cpu", repeats=0,
                              warmup=0, threads=1, rf=True)
    assert report.ok, report.summary()
    fields = [layer["receptive_field"] for layer in report.to_dict()["layers"]]
    assert sum(f["status"] == "match" for f in fields) >= 10


# --- 4. Other papers ----------------------------------------------------------------------------

RESNET_TABLE1 = [
    # layers, FLOPs (x10^9, multiply-adds) as printed
    (18, 1.8), (34, 3.6), (50, 3.8), (101, 7.6), (152, 11.3),
]
"""Source: RESNET Table 1, the "FLOPs" row at 224x224."""


def test_resnet_paper_table1() -> None:
    """RESNET Table 1: within one unit of the printed digit (0.1 x 10^9) for all five, but no
    single rounding rule gives all five: ours are 1.814, 3.664, 3.858, 7.570, 11.282 x 10^9,
    so rounding to nearest misses 34 and 50 and truncating misses 101 and 152. 18 and 34 are
    torchvision's (projection shortcuts, option B); 50-152 stride the first 1x1 conv of each
    down-sampling block, as the paper's models do (torchvision's v1.5 stride the 3x3)."""
    archs: dict[int, Any] = {18: "resnet18", 34: _resnet_basic((3, 4, 6, 3)),
             50: _resnet_bottleneck((3, 4, 6, 3), stride_on_1x1=True),
             101: _resnet_bottleneck((3, 4, 23, 3), stride_on_1x1=True),
             152: _resnet_bottleneck((3, 8, 36, 3), stride_on_1x1=True)}
    ours: dict[int, float] = {}
    for depth, published in RESNET_TABLE1:
        macs = _int(cnncalc.analyze(archs[depth], {"N": 1, "H": 224, "W": 224}).totals.macs)
        ours[depth] = round(macs / 1e9, 3)
        assert abs(macs / 1e9 - published) < 0.1, depth
    assert ours == {18: 1.814, 34: 3.664, 50: 3.858, 101: 7.570, 152: 11.282}


VGG_CONFIGS: dict[str, list[tuple[int, int] | str]] = {
    # VGG Table 1: conv layers as (channels, kernel), "M" a 2x2/2 max pool
    "A": [(64, 3), "M", (128, 3), "M", (256, 3), (256, 3), "M", (512, 3), (512, 3), "M",
          (512, 3), (512, 3), "M"],
    "B": [(64, 3), (64, 3), "M", (128, 3), (128, 3), "M", (256, 3), (256, 3), "M",
          (512, 3), (512, 3), "M", (512, 3), (512, 3), "M"],
    "C": [(64, 3), (64, 3), "M", (128, 3), (128, 3), "M", (256, 3), (256, 3), (256, 1), "M",
          (512, 3), (512, 3), (512, 1), "M", (512, 3), (512, 3), (512, 1), "M"],
    "D": [(64, 3), (64, 3), "M", (128, 3), (128, 3), "M", (256, 3), (256, 3), (256, 3), "M",
          (512, 3), (512, 3), (512, 3), "M", (512, 3), (512, 3), (512, 3), "M"],
    "E": [(64, 3), (64, 3), "M", (128, 3), (128, 3), "M", (256, 3), (256, 3), (256, 3),
          (256, 3), "M", (512, 3), (512, 3), (512, 3), (512, 3), "M", (512, 3), (512, 3),
          (512, 3), (512, 3), "M"],
}
VGG_TABLE2 = {"A": 133, "B": 133, "C": 134, "D": 138, "E": 144}
"""Source: VGG Table 2, "Number of parameters (in millions)" (A-LRN, also 133, adds a
parameter-free LRN)."""


def _vgg(config: str) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    for item in VGG_CONFIGS[config]:
        if isinstance(item, str):  # "M"
            layers.append({"type": "max_pool", "kernel_size": 2, "stride": 2})
        else:
            ch, k = item
            layers += [{"type": "conv", "out_channels": ch, "kernel_size": k,
                        "padding": (k - 1) // 2}, {"type": "relu"}]
    layers += [{"type": "flatten"}, {"type": "linear", "out_features": 4096}, {"type": "relu"},
               {"type": "linear", "out_features": 4096}, {"type": "relu"},
               {"type": "linear", "out_features": 1000}]
    return {"input": {"shape": ["N", 3, "H", "W"]}, "layers": layers}


@pytest.mark.parametrize("config", list(VGG_TABLE2))
def test_vgg_paper_table2(config: str) -> None:
    an = cnncalc.analyze(_vgg(config), {"N": 1, "H": 224, "W": 224})
    assert round(_int(an.totals.params) / 1e6) == VGG_TABLE2[config]
    if config == "D":  # the zoo's vgg16 (torchvision's) is configuration D
        zoo = cnncalc.analyze("vgg16", {"N": 1, "H": 224, "W": 224})
        assert (an.totals.params, an.totals.macs) == (zoo.totals.params, zoo.totals.macs)

