"""Import a real model with ``cnncalc.from_torch`` and check every figure against torch itself.

Shared by ``tests/models`` (one test per model) and ``scripts/models_table.py`` (docs/models.md).
A model is built on the ``meta`` device (no memory, no weight initialisation; regnet's
constructor computes its widths with tensors, so it runs on the CPU with each parameter moved
to ``meta`` as it is registered). The reference is torch on ``meta`` tensors:
``sum(p.numel())`` for the parameters, ``FlopCounterMode`` total / 2 for the MACs and the
shape that comes out. On meta tensors FlopCounterMode also counts what the CPU's fused kernels
hide from it (``nn.MultiheadAttention``'s inference fast path, the CPU kernel of
``scaled_dot_product_attention``): vit_b_16 counts 17.56 G there, torchvision's published
figure, against 11.27 G on the CPU. cnncalc imports the
model once with ``N, 3, H, W`` open, analyses it symbolically, and its formulas are evaluated
at 224x224 and at one non-square size the model accepts in torch (193x257, else 192x256; a
model whose forward asserts one size is checked at that size only).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import cnncalc
from cnncalc.algebra.printing import pretty
from cnncalc.pytorch.tvshim import declare_torchvision_ops

SQUARE = (224, 224)
NON_SQUARE = ((193, 257), (192, 256))
SYMBOLIC: list[int | str] = ["N", 3, "H", "W"]


@dataclass
class Case:
    """One model: ``build()`` returns it; ``fixed``: its forward cannot be traced with open
    sizes (Python arithmetic on ``x.shape``, such as TensorFlow-style "same" padding), so it is
    imported at 1x3x224x224 and checked there."""

    name: str
    build: Callable[[], Any]
    fixed: bool = False


@dataclass
class Figures:
    """What torch says at one size."""

    params: int
    macs: int
    shape: tuple[int, ...]


@dataclass
class Result:
    """What the sweep found for one model (the row of docs/models.md)."""

    name: str
    params: int = 0
    macs_224: int = 0
    macs_formula: str = ""
    import_s: float = 0.0
    analyze_s: float = 0.0
    sizes: list[tuple[int, int]] = field(default_factory=list)
    error: str | None = None


def tv_ready() -> None:
    """torchvision (and timm) importable over the CPU torch (cnncalc.pytorch.tvshim)."""
    declare_torchvision_ops()


def on_meta(factory: Callable[[], Any]) -> Any:
    """``factory()`` in eval mode with its parameters and buffers on ``meta``."""
    try:
        with torch.device("meta"):
            return factory().eval()
    except (NotImplementedError, RuntimeError):  # "Cannot copy out of meta tensor"
        pass
    # A constructor that computes with tensors (regnet's widths) runs on the CPU, each
    # parameter and buffer moved to meta as it is registered, before it is initialised.
    reg = torch.nn.modules.module
    hooks = [reg.register_module_parameter_registration_hook(_to_meta),
             reg.register_module_buffer_registration_hook(_to_meta)]
    try:
        return factory().eval()
    finally:
        for h in hooks:
            h.remove()


def _to_meta(module: Any, name: str, t: Any) -> Any:
    if t is None or t.device.type == "meta":
        return None
    if isinstance(t, torch.nn.Parameter):
        return torch.nn.Parameter(t.to("meta"), t.requires_grad)
    return t.to("meta")


def output_tensor(y: Any) -> Any:
    """The main output: the tensor, ``out`` of segmentation models' dict, else the first."""
    if isinstance(y, Mapping):
        return y["out"] if "out" in y else next(iter(y.values()))
    if isinstance(y, (tuple, list)):
        return y[0]
    return y


def torch_figures(model: Any, hw: tuple[int, int]) -> Figures:
    """Parameters, FlopCounterMode MACs and output shape of ``model`` at ``1x3xHxW``."""
    x = torch.empty(1, 3, *hw, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = output_tensor(model(x))
    return Figures(sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2,
                   tuple(y.shape))


def accepted_sizes(model: Any, fixed: bool) -> list[tuple[tuple[int, int], Figures]]:
    """(size, torch's figures) for 224x224 and the first non-square size torch runs."""
    out = [(SQUARE, torch_figures(model, SQUARE))]
    if not fixed:
        for hw in NON_SQUARE:
            try:
                out.append((hw, torch_figures(model, hw)))
                break
            except (RuntimeError, AssertionError, ValueError):
                continue
    return out


def check(case: Case) -> Result:
    """Import, analyse and compare ``case``; raises (CnnCalcError, AssertionError) on the first
    thing that differs, naming the model, the size and the quantity."""
    tv_ready()
    res = Result(case.name)
    model = on_meta(case.build)
    shape: list[int | str] = [1, 3, *SQUARE] if case.fixed else list(SYMBOLIC)
    t0 = time.perf_counter()
    arch = cnncalc.from_torch(model, shape, name=case.name)
    t1 = time.perf_counter()
    an = cnncalc.analyze(arch)
    res.import_s, res.analyze_s = t1 - t0, time.perf_counter() - t1
    for hw, want in accepted_sizes(model, case.fixed):
        bind = {} if case.fixed else {"N": 1, "H": hw[0], "W": hw[1]}
        got = an.evaluate(**bind)
        where = f"{case.name} at {hw[0]}x{hw[1]}"
        assert got.totals.params == want.params, \
            f"{where}: params {got.totals.params} != torch's {want.params}"
        assert got.totals.macs == want.macs, \
            f"{where}: MACs {got.totals.macs} != FlopCounterMode's {want.macs}"
        out = tuple(int(v) for v in got.layers[-1].output_shape)
        assert out == want.shape, f"{where}: output shape {out} != torch's {want.shape}"
        assert not got.totals.incomplete, f"{where}: opaque layers {got.totals.incomplete}"
        if hw == SQUARE:
            res.params, res.macs_224 = int(got.totals.params), int(got.totals.macs)
        res.sizes.append(hw)
    res.macs_formula = "" if case.fixed else formula(an.totals.macs, N=1)
    return res


def formula(value: Any, **bind: int) -> str:
    """``value`` with some symbols bound, as text (a substitution in this one value: cheaper
    than re-evaluating the whole analysis)."""
    if isinstance(value, int):
        return str(value)
    return pretty(value.xreplace({s: bind[s.name] for s in value.free_symbols
                                  if s.name in bind}))


_OP = re.compile(r"cannot import (\S+) in module '([^']*)' \(node '[^']*'\): (.*)")


def short_reason(error: str, where: bool = True) -> str:
    """The unsupported operation and why, from an import error: ``torch.einsum in
    'blocks.0.attn': no cnncalc layer for it`` (the list of what is supported left out;
    ``where=False``: without the module path)."""
    m = _OP.search(error)
    if not m:
        return error.removeprefix("CnnCalcError: ")[:200]
    op, module, why = m.groups()
    why = re.split(r"; pass allow_opaque| \(supported: ", why)[0].replace("AttributeError: ", "")
    return (f"{op} in '{module}': {why}" if where else f"{op}: {why}")[:200]


def run(case: Case) -> Result:
    """:func:`check`, with a failure recorded in ``error`` (its first line) instead of raised."""
    try:
        return check(case)
    except Exception as e:  # a table row per model, whatever went wrong
        text = " ".join(str(e).split()) or type(e).__name__
        return Result(case.name, error=f"{type(e).__name__}: {text}")


# --- the models ---------------------------------------------------------------------------------

TV_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}
"""torchvision models built with other than the defaults: no auxiliary heads."""

TV_FIXED: tuple[str, ...] = ()
"""torchvision models that cannot be traced with open sizes, imported at 224x224."""

SEGMENTATION = ("fcn_resnet50", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large",
                "lraspp_mobilenet_v3_large")
SEG_KWARGS: dict[str, Any] = {"weights_backbone": None}


def torchvision_cases() -> list[Case]:
    """Every classification model torchvision lists, then the segmentation models."""
    tv_ready()
    import torchvision
    from torchvision.models import segmentation

    def tv(name: str) -> Callable[[], Any]:
        return lambda: torchvision.models.get_model(name, **TV_KWARGS.get(name, {}))

    def seg(name: str) -> Callable[[], Any]:
        kw = dict(SEG_KWARGS, **({} if name.startswith("lraspp") else {"aux_loss": False}))
        return lambda: getattr(segmentation, name)(**kw)

    names = torchvision.models.list_models(module=torchvision.models)
    return [*(Case(n, tv(n), fixed=n in TV_FIXED) for n in names),
            *(Case(n, seg(n)) for n in SEGMENTATION)]


TIMM_MODELS = (
    # ResNet and variants; SE, ECA, SK attention; Res2Net, ResNeSt
    "resnet18", "resnet50d", "resnet26t", "resnext50_32x4d", "seresnet50", "ecaresnet50d",
    "skresnet18", "res2net50_26w_4s", "resnest14d", "tresnet_m",
    # aggregation, dual-path, cross-stage, high-resolution
    "dla34", "dpn68", "cspresnet50", "cspdarknet53", "cs3darknet_s", "hrnet_w18_small",
    # searched and mobile families
    "regnetx_002", "regnety_002", "rexnet_100", "ghostnet_100", "ghostnetv2_100", "mixnet_s",
    "efficientnet_b0", "tf_efficientnet_b0", "efficientnet_lite0", "mobilenetv2_100",
    "mobilenetv3_large_100", "mobilenetv4_conv_small", "fbnetc_100", "lcnet_050", "gernet_s",
    "selecsls42b",
    # re-parameterisable and one-shot aggregation; Xception and Inception; normaliser-free
    "repvgg_a0", "mobileone_s0", "ese_vovnet19b_dw", "xception41", "legacy_xception",
    "inception_v4", "inception_resnet_v2", "nf_resnet26", "dm_nfnet_f0",
    # ConvNeXt and other modern convnets
    "convnext_atto", "edgenext_xx_small", "poolformer_s12", "fastvit_t8",
    # transformers and hybrids
    "vit_tiny_patch16_224", "deit_tiny_patch16_224", "swin_tiny_patch4_window7_224",
    "mixer_s16_224", "mobilevit_xxs", "levit_128s", "coatnet_0_rw_224", "efficientformer_l1",
)
"""timm models across its families (``pretrained=False``: nothing is downloaded)."""

TIMM_FIXED = ("tf_efficientnet_b0", "dm_nfnet_f0", "mobilevit_xxs")
"""timm models that cannot be traced with open sizes, imported at 224x224."""


def timm_cases() -> list[Case]:
    tv_ready()
    import timm

    def make(name: str) -> Callable[[], Any]:
        return lambda: timm.create_model(name, pretrained=False)

    return [Case(n, make(n), fixed=n in TIMM_FIXED) for n in TIMM_MODELS]
