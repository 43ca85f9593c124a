"""torchvision models exported to ONNX, read back by ``from_onnx``, checked against torch.

Each model is exported once per session (TorchScript exporter, batch and spatial axes
dynamic, batch norm kept apart from the convolutions) and its symbolic analysis evaluated at
224 x 224 and at a non-square size: params (torch's ``sum(numel)``), MACs
(``FlopCounterMode`` / 2) and the output shape must equal torch's exactly, and every layer's
shape must equal onnxruntime's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

import cnncalc  # noqa: E402
from cnncalc.onnx import from_onnx, validate  # noqa: E402

SYMBOLS = {"batch": "N", "height": "H", "width": "W"}
MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0", "densenet121", "squeezenet1_0",
          "mobilenet_v3_small", "shufflenet_v2_x0_5", "convnext_tiny", "regnet_y_400mf"]
SIZES = [(224, 224), (256, 192)]


def torchvision() -> Any:
    from cnncalc.pytorch.tvshim import declare_torchvision_ops
    declare_torchvision_ops()
    import torchvision as tv
    return tv


def _export(model: Any, path: Path, dynamic: bool, size: int = 224) -> None:
    from torch.onnx import TrainingMode
    x = torch.randn(1, 3, size, size)
    axes = {"input": {0: "batch", 2: "height", 3: "width"}} if dynamic else None
    torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["input"],
                      output_names=["logits"], dynamic_axes=axes, opset_version=17,
                      training=TrainingMode.PRESERVE, do_constant_folding=False)


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """name -> (torch module, path of its ONNX export), exported on first use."""
    root = tmp_path_factory.mktemp("onnx_exports")
    cache: dict[str, tuple[Any, Path]] = {}

    def get(name: str, dynamic: bool = True) -> tuple[Any, Path]:
        if name not in cache:
            torch.manual_seed(0)
            m = torchvision().models.get_model(name, weights=None).eval()
            path = root / f"{name}.onnx"
            _export(m, path, dynamic)
            cache[name] = (m, path)
        return cache[name]
    return get


def torch_counts(model: Any, h: int, w: int) -> tuple[int, int, tuple[int, ...]]:
    from torch.utils.flop_counter import FlopCounterMode
    with torch.inference_mode(), FlopCounterMode(display=False) as fc:
        out = model(torch.randn(1, 3, h, w))
    params = sum(p.numel() for p in model.parameters())
    return params, fc.get_total_flops() // 2, tuple(out.shape)


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model_matches_torch(name: str, exported: Any) -> None:
    model, path = exported(name)
    arch = from_onnx(path, symbols=SYMBOLS)
    assert arch.input.shape == ["N", 3, "H", "W"]
    an = cnncalc.analyze(arch)
    for h, w in SIZES:
        params, macs, shape = torch_counts(model, h, w)
        got = an.evaluate(N=1, H=h, W=w)
        assert got.totals.params == params, (name, h, w)
        assert got.totals.macs == macs, (name, h, w)
        assert tuple(got.layers[-1].output_shape) == shape
    report = validate(arch, path, {"N": 2, "H": SIZES[1][0], "W": SIZES[1][1]},
                      symbols=SYMBOLS)
    assert report.ok, report.to_table()
    covered = {r.layer for r in report.rows} | {r.layer.rpartition(".")[0] for r in report.rows}
    assert {layer.name for layer in arch.layers if layer.type != "parameter"} <= covered


def test_static_vgg11(exported: Any) -> None:
    """vgg11's adaptive pool to 7 x 7 exports only for the traced size: a static model."""
    model, path = exported("vgg11", dynamic=False)
    arch = from_onnx(path)
    assert arch.input.shape == [1, 3, 224, 224]
    an = cnncalc.analyze(arch)
    params, macs, shape = torch_counts(model, 224, 224)
    assert (an.totals.params, an.totals.macs) == (params, macs)
    assert tuple(an.layers[-1].output_shape) == shape
    assert validate(arch, path).ok


def test_vit_b_16(exported: Any) -> None:
    """Attention, class token, position embedding, GELU written with Erf. torch's fused
    attention kernels escape FlopCounterMode: the fast path is switched off and attention
    runs in its plain (math) form to count."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    model, path = exported("vit_b_16")
    arch = from_onnx(path, symbols=SYMBOLS)
    an = cnncalc.analyze(arch, {"H": 224, "W": 224})
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            params, macs, shape = torch_counts(model, 224, 224)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    got = an.evaluate(N=1)
    assert (got.totals.params, got.totals.macs) == (params, macs)
    assert tuple(got.layers[-1].output_shape) == shape
    assert validate(arch, path, {"N": 2, "H": 224, "W": 224}, symbols=SYMBOLS).ok


@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2_x0_5"])
def test_dynamo_export(name: str, tmp_path: Path) -> None:
    """The torch.export-based exporter (its optimiser folds batch norm into the
    convolutions, so params differ from torch's; MACs and shapes do not)."""
    pytest.importorskip("onnxscript")
    model = torchvision().models.get_model(name, weights=None).eval()
    path = tmp_path / f"{name}.onnx"
    dims = {0: torch.export.Dim("batch"), 2: torch.export.Dim("height", min=32),
            3: torch.export.Dim("width", min=32)}
    torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), str(path), dynamo=True,
                      input_names=["input"], output_names=["logits"],
                      dynamic_shapes={"x": dims})
    arch = from_onnx(path, symbols=SYMBOLS)
    an = cnncalc.analyze(arch)
    h, w = SIZES[1]
    _, macs, shape = torch_counts(model, h, w)
    got = an.evaluate(N=1, H=h, W=w)
    assert got.totals.macs == macs
    assert tuple(got.layers[-1].output_shape) == shape
    assert validate(arch, path, {"N": 1, "H": h, "W": w}, symbols=SYMBOLS).ok


def test_import_is_fast(exported: Any) -> None:
    _, path = exported("resnet18")
    from_onnx(path)  # onnx imported, caches warm
    t = time.perf_counter()
    arch = from_onnx(path, symbols=SYMBOLS)
    imported = time.perf_counter() - t
    t = time.perf_counter()
    cnncalc.analyze(arch)
    analysed = time.perf_counter() - t
    assert imported < 1.0 and analysed < 1.0, (imported, analysed)
