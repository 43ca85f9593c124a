"""cnncalc.from_torch: torchvision models and toy modules imported by torch.fx, every count
checked against torch itself (params: sum of numel; MACs: FlopCounterMode / 2; output shape:
a run), at the traced sizes and at other ones; and every refusal's message."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

import cnncalc
from cnncalc import CnnCalcError
from cnncalc.core.schema import LAYER_TYPES

torch = pytest.importorskip("torch")
nn = torch.nn
F = nn.functional

from cnncalc.pytorch.importer import from_torch, unused_parameters  # noqa: E402


def _torch_counts(m: Any, shape: Sequence[int]) -> tuple[int, tuple[int, ...]]:
    """(MACs by FlopCounterMode / 2, output shape) of ``m`` at ``shape``, on meta tensors where
    the module is on meta. Autograd stays on: under ``no_grad`` in eval mode
    ``nn.MultiheadAttention`` takes a fused kernel that FlopCounterMode does not count."""
    from torch.utils.flop_counter import FlopCounterMode

    dev = next((p.device for p in m.parameters()), torch.device("cpu"))
    x = torch.empty(*shape, device=dev) if dev.type == "meta" else torch.randn(*shape)
    with FlopCounterMode(display=False) as fc:
        y = m(x)
    if isinstance(y, dict):  # torchvision's segmentation models: {"out": ...}
        y = y["out"]
    return fc.get_total_flops() // 2, tuple(y.shape)


def check(m: Any, sizes: Sequence[Sequence[int]], input_shape: Sequence[int | str] = ("N", 3, "H",
                                                                                     "W"),
          unused: int = 0) -> cnncalc.Architecture:
    """Import ``m``, analyse it symbolically, and compare it with torch at each of ``sizes``."""
    m.eval()
    arch = from_torch(m, input_shape)
    an = cnncalc.analyze(arch)
    if arch.blocks:  # blocks expand to exactly the flat layers
        flat = cnncalc.analyze(from_torch(m, input_shape, blocks=False))
        assert _rows(an) == _rows(flat)
    want_params = sum(p.numel() for p in m.parameters()) - unused
    assert an.totals.params == want_params
    names = [str(v) for v in input_shape if isinstance(v, str)]
    for size in sizes:
        b = {n: size[i] for i, n in enumerate(input_shape) if isinstance(n, str)}
        ev = an.evaluate(**b) if names else an
        macs, out = _torch_counts(m, size)
        assert ev.totals.macs == macs, (size, ev.totals.macs, macs)
        assert tuple(ev.layers[-1].output_shape) == out, size
        assert ev.totals.params == want_params
    return arch


def _rows(an: Any) -> list[tuple[Any, ...]]:
    return [(r.name, r.type, r.inputs, r.output_shape, r.params, r.macs, r.other_ops)
            for r in an.layers]


def _needs(*types: str) -> None:
    missing = [t for t in types if t not in LAYER_TYPES]
    if missing:
        pytest.skip(f"layer types not available: {missing}")


# --- torchvision ---------------------------------------------------------------------------

def _torchvision() -> Any:
    from cnncalc.pytorch.tvshim import declare_torchvision_ops

    declare_torchvision_ops()
    return pytest.importorskip("torchvision")


def _tv_model(name: str, **kw: Any) -> Any:
    tv = _torchvision()
    try:
        with torch.device("meta"):
            return tv.models.get_model(name, **kw)
    except (NotImplementedError, RuntimeError):  # initialisers that read data (regnet)
        return tv.models.get_model(name, **kw).to("meta")


CNNS = ["resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2", "mobilenet_v3_large",
        "efficientnet_b0", "densenet121", "vgg11", "squeezenet1_0", "mnasnet0_5",
        "regnet_y_400mf", "alexnet"]
"""Models made of the CNN layer types only."""
TRANSFORMING = {"shufflenet_v2_x1_0": ("reshape", "transpose", "chunk"),
                "convnext_tiny": ("permute", "parameter"),
                "vit_b_16": ("reshape", "permute", "parameter", "expand", "index",
                             "multihead_attention")}
"""Models that need the tensor-shape layer types."""


@pytest.mark.parametrize("name", CNNS + sorted(TRANSFORMING))
def test_torchvision_models_import_exactly(name: str) -> None:
    _needs(*TRANSFORMING.get(name, ()))
    sizes = [(1, 3, 224, 224)] if name == "vit_b_16" else [(1, 3, 224, 224), (2, 3, 193, 257)]
    check(_tv_model(name), sizes)


def test_segmentation_and_video_models() -> None:
    check(_tv_model("lraspp_mobilenet_v3_large", weights_backbone=None),
          [(1, 3, 224, 224), (1, 3, 193, 257)])
    check(_tv_model("r3d_18"), [(1, 3, 8, 64, 64), (2, 3, 9, 72, 88)], ("N", 3, "T", "H", "W"))


@pytest.mark.parametrize("name", ["googlenet", "inception_v3"])
def test_aux_heads_are_reported_unused(name: str) -> None:
    m = _tv_model(name, aux_logits=True, init_weights=False)
    aux = {k: sum(p.numel() for p in getattr(m, k).parameters()) for k in ("aux1", "aux2",
                                                                         "AuxLogits")
           if getattr(m, k, None) is not None}
    assert unused_parameters(m) == aux
    size = 299 if name == "inception_v3" else 224
    arch = check(m, [(1, 3, size, size), (1, 3, size + 13, size + 40)], unused=sum(aux.values()))
    assert arch.description is not None
    for k in aux:
        assert f"{k} ({aux[k]:,})" in arch.description


def test_resnet50_import_and_analysis_are_fast() -> None:
    m = _tv_model("resnet50")
    from_torch(m)  # warm: the tables, torch.fx's imports
    t0 = time.perf_counter()
    arch = from_torch(m)
    t1 = time.perf_counter()
    cnncalc.analyze(arch)
    t2 = time.perf_counter()
    assert t1 - t0 < 2.0 and t2 - t1 < 1.0  # measured: ~0.05 s and ~0.04 s; slack for CI


def test_repeated_submodules_become_blocks() -> None:
    arch = from_torch(_tv_model("resnet50"))
    assert sorted(arch.blocks) == ["bottleneck", "bottleneck_2"]
    refs = [la for la in arch.layers if la.type == "block"]
    assert [r.name for r in refs] == [f"layer{i}.{j}" for i, n in ((1, 3), (2, 4), (3, 6), (4, 3))
                                      for j in range(n)]
    assert refs[3].model_dump(exclude_unset=True)["args"] == {"out_channels": 128,
                                                              "out_channels_2": 512,
                                                              "stride": 2}
    again = cnncalc.Architecture.from_json(arch.model_dump_json(exclude_unset=True))
    assert _rows(cnncalc.analyze(again)) == _rows(cnncalc.analyze(arch))


def test_names_are_module_paths() -> None:
    arch = from_torch(_tv_model("resnet18"), blocks=False)
    names = [la.name for la in arch.layers]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert "layer4.1.conv2" in names and "layer1.0.add" in names
    assert "layer1.0.relu_1" in names  # a module called twice: the second call numbered
    assert names[-1] == "fc"


# --- toy modules, one mapping each ----------------------------------------------------------

class Seq(nn.Module):
    def __init__(self, *mods: Any, fn: Any = None) -> None:
        super().__init__()
        self.body = nn.Sequential(*mods)
        self.fn = fn

    def forward(self, x: Any) -> Any:
        x = self.body(x)
        return self.fn(self, x) if self.fn is not None else x


SIZES = [(1, 3, 32, 32), (2, 3, 29, 41)]

MODULE_CASES = {
    "conv": [nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, (3, 5), padding="same",
                                                                 groups=4, bias=False),
             nn.Conv2d(8, 4, 3, padding=2, dilation=2, padding_mode="reflect"),
             nn.Conv2d(4, 4, 3, padding="valid", padding_mode="replicate")],
    "conv_transpose": [nn.ConvTranspose2d(3, 6, 3, stride=2, padding=1, output_padding=1)],
    "norms": [nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8), nn.GroupNorm(2, 8),
              nn.BatchNorm2d(8, affine=False, momentum=None), nn.InstanceNorm2d(8),
              nn.InstanceNorm2d(8, affine=True)],
    "pools": [nn.MaxPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(2, count_include_pad=False),
              nn.AdaptiveAvgPool2d((None, 3)), nn.AdaptiveMaxPool2d(2)],
    "activations": [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.2), nn.GELU(), nn.SiLU(),
                    nn.Sigmoid(), nn.Tanh(), nn.Hardswish(), nn.Hardsigmoid(), nn.ELU(0.5),
                    nn.Mish(), nn.Softplus(2.0), nn.PReLU(3), nn.Softmax(1), nn.Hardtanh(0, 6),
                    nn.Dropout(0.3), nn.Dropout2d(), nn.Identity()],
    "head": [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 5), nn.Linear(5, 2, bias=False)],
    "resize": [nn.Conv2d(3, 8, 1), nn.Upsample(scale_factor=2), nn.ChannelShuffle(2),
               nn.Upsample(size=(7, 9), mode="bilinear", align_corners=False)],
}


@pytest.mark.parametrize("case", sorted(MODULE_CASES))
def test_module_mappings(case: str) -> None:
    check(Seq(*MODULE_CASES[case]), SIZES)


def test_layer_norm_module_over_the_last_axes() -> None:
    check(Seq(nn.LayerNorm([4, 6])), [(1, 3, 4, 6), (5, 3, 4, 6)], ("N", 3, 4, 6))


def test_conv1d_and_conv3d() -> None:
    check(Seq(nn.Conv1d(3, 4, 3), nn.BatchNorm1d(4), nn.MaxPool1d(2)), [(1, 3, 20), (2, 3, 33)],
          ("N", 3, "L"))
    check(Seq(nn.Conv3d(3, 4, 3, padding=1), nn.AvgPool3d(2)), [(1, 3, 8, 8, 8)],
          ("N", 3, "D", "H", "W"))


class Functional(nn.Module):
    """The functional forms, merges, reductions and sizes read from the input."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.b = nn.Parameter(torch.randn(8))
        self.lw = nn.Parameter(torch.randn(5, 8))
        self.gain = nn.Parameter(torch.ones(8, 1, 1))

    def forward(self, x: Any) -> Any:
        y = F.relu(F.conv2d(x, self.w, self.b, padding=1))
        z = torch.cat([y, F.max_pool2d(y, 3, 1, 1)], dim=1)
        z = F.avg_pool2d(z, 2) * 0.5 + 1
        z = z - F.interpolate(F.adaptive_avg_pool2d(z, 1), size=z.shape[-2:])
        h = x.size(2) // 2
        z = F.interpolate(z, size=(h, x.shape[3] // 2), mode="nearest")
        z = F.pad(z, (1, 2, 0, 1))
        z = z[:, :8] * self.gain / 2.0
        z = torch.sigmoid(F.silu(z)) + F.hardswish(z).mean(dim=1, keepdim=True)
        v = torch.flatten(z.amax(dim=(2, 3)), 1)
        return F.linear(v, self.lw) + v.sum(dim=1, keepdim=True)


def test_functional_mappings() -> None:
    _needs("parameter", "slice")
    check(Functional(), [(1, 3, 32, 32), (2, 3, 30, 46)])


def test_functional_norms_with_weights() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln = nn.LayerNorm(6)  # called through F.layer_norm below
            self.gn = nn.GroupNorm(1, 3)

        def forward(self, x: Any) -> Any:
            x = F.layer_norm(x, (6,), self.ln.weight, self.ln.bias, 1e-6)
            return F.group_norm(x, 1, self.gn.weight, self.gn.bias)

    check(M(), [(2, 3, 5, 6)], ("N", 3, "H", 6))


def test_more_functional_forms() -> None:
    _needs("reshape", "expand", "matmul")

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x: Any) -> Any:
            y = F.batch_norm(x, self.bn.running_mean, self.bn.running_var, self.bn.weight,
                             self.bn.bias, False, 0.1, 1e-3)
            y = F.dropout(F.hardtanh(-y, 0.0, 6.0), 0.2, training=False)
            g = F.avg_pool2d(y, kernel_size=y.size()[2:]).expand_as(y)
            t = (y * g).flatten(2)                                   # [N, 3, H*W]
            return torch.bmm(t, t.transpose(1, 2)).unsqueeze(1).squeeze(1)

    check(M(), SIZES)


def test_in_place_operations_are_seen_by_later_readers() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x: Any) -> Any:
            y = self.conv(x)
            y.add_(x)
            F.relu(y, inplace=True)
            return torch.cat([y, x], dim=1)

    arch = check(M(), SIZES)
    assert arch.layers[-1].model_dump()["inputs"] == ["relu", "input"]


def test_symbolic_channels() -> None:
    arch = from_torch(Seq(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()), ["N", "C", 8, 8])
    an = cnncalc.analyze(arch)
    assert [str(v) for v in an.layers[-1].output_shape] == ["N", "C"]


# --- the new tensor-shape types ----------------------------------------------------------------

class Tokens(nn.Module):
    """A tiny ViT: patchify, class token, position embedding, attention, head."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, 16, 4, 4)
        self.cls = nn.Parameter(torch.zeros(1, 1, 16))
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.ln = nn.LayerNorm(16)
        self.qkv = nn.Linear(16, 48)
        self.head = nn.Linear(16, 3)

    def forward(self, x: Any) -> Any:
        n = x.shape[0]
        t = self.proj(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(n, -1, -1), t], dim=1)
        t = t + self.attn(t, t, t)[0]  # need_weights: the path FlopCounterMode counts
        q, k, v = self.qkv(self.ln(t)).chunk(3, dim=-1)
        t = t + F.scaled_dot_product_attention(q, k, v)
        b, s, e = t.shape
        t = t.reshape(b, s, 2, e // 2).permute(0, 2, 1, 3).reshape(b, s, e)
        return self.head(t[:, 0])


def test_token_ops() -> None:
    _needs("reshape", "permute", "transpose", "expand", "chunk", "index", "parameter",
           "attention", "multihead_attention")
    check(Tokens(), [(1, 3, 16, 16), (2, 3, 24, 20)])


def test_keyword_calls_and_views_like_another_tensor() -> None:
    _needs("reshape", "slice")

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 6, 1)

        def forward(self, x: Any) -> Any:
            y = self.conv(input=x)
            return y.view(y.size(0), 2, 3, -1).sum(dim=2).reshape_as(y[:, :2])

    check(M(), SIZES)


def test_einsum_matrix_products() -> None:
    _needs("transpose", "matmul", "reshape")

    class M(nn.Module):
        def forward(self, x: Any) -> Any:
            t = x.flatten(2)                                       # [N, C, L]
            a = torch.einsum("bcl,bdl->bcd", t, t)                 # t @ t^T
            b = torch.einsum("b c d, b c l -> b d l", a, t)        # a^T @ t
            return b

    check(M(), SIZES)
    with pytest.raises(CnnCalcError, match="only two-operand batched matrix products"):
        from_torch(Seq(fn=lambda s, x: torch.einsum("bchw->bhwc", x)))


def test_split_and_unbind() -> None:
    _needs("split", "index", "reshape")

    class M(nn.Module):
        def forward(self, x: Any) -> Any:
            a, b = torch.split(x, [1, 2], dim=1)
            c = x.unbind(1)
            return a * b[:, :1] + c[2].unsqueeze(1)

    check(M(), SIZES)


# --- refusals and fallbacks ---------------------------------------------------------------

class Roll(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Any) -> Any:
        return torch.roll(self.conv(x), 1, 2)


class Inner(nn.Module):
    def forward(self, x: Any) -> Any:
        return torch.cumsum(x, 1)


def test_unsupported_op_names_module_op_and_the_supported() -> None:
    m = Seq(nn.Conv2d(3, 4, 3), Inner())
    with pytest.raises(CnnCalcError) as e:
        from_torch(m)
    msg = str(e.value)
    assert e.value.kind == "input"
    assert "cumsum" in msg and "'body.1'" in msg and "supported: torch.nn modules" in msg
    assert "Conv1d/2d/3d" in msg
    assert "allow_opaque" in msg


def test_allow_opaque_records_the_traced_shape() -> None:
    _needs("opaque")
    arch = from_torch(Roll(), allow_opaque=True)
    layer = arch.layers[-1].model_dump()
    assert layer["type"] == "opaque" and "roll" in layer["op"]
    assert layer["shape"] == [1, 4, 222, 222]  # traced at batch 1, 224 x 224


def test_allow_opaque_also_takes_unsupported_options() -> None:
    _needs("opaque")
    m = Seq(nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular"), nn.ReLU())
    arch = from_torch(m, allow_opaque=True)
    assert [la.type for la in arch.layers] == ["opaque", "relu"]
    assert arch.layers[0].model_dump()["shape"] == [1, 4, 224, 224]
    assert "they read 112 parameters" in (arch.description or "")  # 4*3*3*3 + 4


def test_unsupported_module_option() -> None:
    with pytest.raises(CnnCalcError, match="padding_mode 'circular'"):
        from_torch(Seq(nn.Conv2d(3, 4, 3, padding=1, padding_mode="circular")))
    with pytest.raises(CnnCalcError, match="bias=False"):
        from_torch(Seq(nn.LayerNorm(8, bias=False)), ["N", 3, 4, 8])


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Any) -> Any:
        if x.shape[2] > 64:
            x = F.max_pool2d(x, 2)
        return self.conv(x)


def test_untraceable_says_where_and_suggests_concrete_sizes() -> None:
    with pytest.raises(CnnCalcError) as e:
        from_torch(Seq(Branchy()))
    msg = str(e.value)
    assert "cannot trace" in msg and "'body.0'" in msg and "test_import_torch.py" in msg
    assert "if x.shape[2] > 64" in msg and "[1, 3, 224, 224]" in msg


def test_concrete_input_falls_back_to_meta_tracing() -> None:
    m = Seq(Branchy())
    arch = from_torch(m, [1, 3, 100, 80])
    assert [la.type for la in arch.layers] == ["max_pool", "conv"]
    an = cnncalc.analyze(arch)
    macs, out = _torch_counts(m, (1, 3, 100, 80))
    assert an.totals.macs == macs and tuple(an.layers[-1].output_shape) == out
    small = from_torch(m, [1, 3, 40, 40])
    assert [la.type for la in small.layers] == ["conv"]


def test_unused_linear_is_reported_apart() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.extra = nn.Linear(10, 10)

        def forward(self, x: Any) -> Any:
            return self.conv(x)

    m = M()
    assert unused_parameters(m) == {"extra": 10 * 10 + 10}
    arch = check(m, SIZES, unused=110)
    assert "extra (110)" in (arch.description or "")


def test_shared_weights_are_refused() -> None:
    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x: Any) -> Any:
            return self.conv(self.conv(x))

    with pytest.raises(CnnCalcError, match="called 2 times and shares its parameters"):
        from_torch(M())


def test_bad_arguments() -> None:
    with pytest.raises(CnnCalcError, match="takes a torch.nn.Module"):
        from_torch("resnet18")  # type: ignore[arg-type]
    with pytest.raises(CnnCalcError, match="input_shape"):
        from_torch(Seq(nn.ReLU()), ["N"])
    with pytest.raises(CnnCalcError, match="input_shape"):
        from_torch(Seq(nn.ReLU()), ["N", 3, 1, 1, 1, 1])
    assert from_torch(Seq(nn.ReLU()), ["N", 3]).input.shape == ["N", 3]  # [N, features]

    class Two(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.relu(), x.sigmoid()

    with pytest.raises(CnnCalcError, match="returns 2 tensors"):
        from_torch(Two())

    class TwoIn(nn.Module):
        def forward(self, x: Any, y: Any) -> Any:
            return x + y

    with pytest.raises(CnnCalcError, match="second input 'y'"):
        from_torch(TwoIn())


def test_training_flags_are_restored() -> None:
    m = Seq(nn.Conv2d(3, 4, 3), nn.Dropout())
    m.train()
    from_torch(m)
    assert all(x.training for x in m.modules())
