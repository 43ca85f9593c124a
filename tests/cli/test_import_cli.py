"""``cnncalc import torch|onnx`` and ``cnncalc analyze --from-torch``: output, figures checked
against torch, and every bad factory string, option and file as one line with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnncalc
from cnncalc.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    return code, out, err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """Standard output and error of a command that must succeed."""
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    return out, err


def one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The error of a command that must fail with exit code 2 and one line, no traceback."""
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnncalc: error: "), err
    return lines[0]


def test_start_up_imports_neither_torch_nor_onnx() -> None:
    code = ("import sys; from cnncalc.cli import parser; parser(); "
            "print(sorted(m for m in ('torch', 'onnx', 'timm', 'torchvision') if m in "
            "sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_bad_input_shape_fails_before_anything_is_imported(
        capsys: pytest.CaptureFixture[str]) -> None:
    msg = one_line_error(capsys, "import", "torch", "torchvision.models:resnet18",
                         "--input", "N,3,H,W-1")
    assert "'W-1' is neither a positive integer nor a symbol name" in msg
    msg = one_line_error(capsys, "import", "torch", "m:f", "--input", "N")
    assert "give the batch, the channels and the spatial sizes" in msg


def test_factory_string_without_colon(capsys: pytest.CaptureFixture[str]) -> None:
    msg = one_line_error(capsys, "import", "torch", "torchvision.models.resnet18")
    assert "is not PKG.MODULE:FACTORY" in msg and "torchvision.models:resnet50" in msg


@pytest.mark.parametrize("argv", [["analyze"], ["analyze", "resnet18", "--from-torch", "a:b"]])
def test_analyze_needs_exactly_one_source(capsys: pytest.CaptureFixture[str],
                                          argv: list[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "or --from-torch PKG.MODULE:FACTORY, not both" in err


def test_onnx_symbol_option_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["import", "onnx", "x.onnx", "--symbol", "batch"])
    assert e.value.code == 2
    assert "expected OLD=NEW" in capsys.readouterr().err


# --- with torch ---------------------------------------------------------------------------------

@pytest.fixture
def torchvision() -> None:
    pytest.importorskip("torch")
    from cnncalc.pytorch.tvshim import declare_torchvision_ops
    declare_torchvision_ops()
    pytest.importorskip("torchvision")


@pytest.mark.parametrize(("spec", "kwargs", "expect"), [
    ("no_such_module_xyz:f", None, "no module 'no_such_module_xyz': tried import "
                                   "no_such_module_xyz"),
    ("torchvision.no_such:f", None, "no module 'torchvision.no_such': tried import "
                                    "torchvision.no_such"),
    ("torchvision.models:resnet5", None, "'torchvision.models' has no attribute 'resnet5' "
                                         "(tried torchvision.models:resnet5); did you mean "
                                         "resnet50"),
    ("torchvision.models:resnet18.nope", None, "'torchvision.models.resnet18' has no "
                                               "attribute 'nope'"),
    ("torchvision:__version__", None, "is of type str, not callable"),
    ("torchvision.models:resnet18", "[1]", "--kwargs must be a JSON object"),
    ("torchvision.models:resnet18", "{nope", "--kwargs is not JSON"),
    ("torchvision.models:resnet18", '{"bogus": 1}',
     "torchvision.models:resnet18(bogus=1) raised TypeError: "),
    ("json:loads", '{"s": "[]"}', "json:loads returned a value of type list, not a "
                                  "torch.nn.Module"),
])
def test_bad_factory(torchvision: None, capsys: pytest.CaptureFixture[str], spec: str,
                     kwargs: str | None, expect: str) -> None:
    argv = ["import", "torch", spec, *(["--kwargs", kwargs] if kwargs else [])]
    assert expect in one_line_error(capsys, *argv)


def test_import_torchvision_resnet18(torchvision: None, capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    import torch
    import torchvision as tv
    out, err = ok(capsys, "import", "torch", "torchvision.models:resnet18")
    assert err == ""
    arch = cnncalc.Architecture.from_json(out)
    assert arch.name == "resnet18" and list(arch.input.shape) == ["N", 3, "H", "W"]
    with torch.device("meta"):
        params = sum(p.numel() for p in tv.models.resnet18().parameters())
    an = cnncalc.analyze(arch, {"N": 1, "H": 224, "W": 224})
    assert an.totals.params == params == 11_689_512
    assert an.totals.macs == 1_814_073_344  # FlopCounterMode / 2 (tests/models checks it)
    path = tmp_path / "net.json"
    out, err = ok(capsys, "import", "torch", "torchvision.models:resnet18",
                  "--kwargs", '{"num_classes": 10}', "--input", "1,3,H,W",
                  "--name", "r18-10", "-o", str(path))
    assert out == "" and f"wrote {path}" in err
    arch = cnncalc.Architecture.from_file(path)
    assert arch.name == "r18-10" and list(arch.input.shape) == [1, 3, "H", "W"]
    assert cnncalc.analyze(arch, {"H": 224, "W": 224}).totals.params == params - 1000 * 513 \
        + 10 * 513


def test_unused_parameters_are_reported_apart(torchvision: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """googlenet's auxiliary heads exist in eval mode but never run: named on stderr, not
    counted in the architecture."""
    out, err = ok(capsys, "import", "torch", "torchvision.models:googlenet",
                  "--kwargs", '{"aux_logits": true, "init_weights": false}')
    assert err.startswith("cnncalc: note: ") and "aux1" in err and "aux2" in err
    an = cnncalc.analyze(cnncalc.Architecture.from_json(out), {"N": 1, "H": 224, "W": 224})
    assert an.totals.params == 6_624_904  # googlenet without its auxiliary heads


def test_analyze_from_torch(torchvision: None, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = ok(capsys, "analyze", "--from-torch", "torchvision.models:resnet50",
                "--bind", "N=1", "--bind", "H=224", "--bind", "W=224", "-f", "json")
    totals = json.loads(out)["totals"]
    assert (totals["params"], totals["macs"]) == (25_557_032, 4_089_184_256)


def test_timm_factory(torchvision: None, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("timm")
    out, _ = ok(capsys, "import", "torch", "timm:create_model",
                "--kwargs", '{"model_name": "resnet18"}')
    arch = cnncalc.Architecture.from_json(out)
    assert arch.name == "resnet18"
    assert cnncalc.analyze(arch, {"N": 1, "H": 224, "W": 224}).totals.params == 11_689_512
    msg = one_line_error(capsys, "import", "torch", "timm:create_model",
                         "--kwargs", '{"model_name": "no_such_net"}')
    assert "timm:create_model(model_name='no_such_net') raised RuntimeError" in msg


# --- ONNX ---------------------------------------------------------------------------------------

def _conv_model(path: Path) -> None:
    """A 3->8 3x3 conv and a ReLU with named dynamic axes, written with onnx's helpers."""
    onnx = pytest.importorskip("onnx")
    if not hasattr(onnx, "ModelProto"):  # a folder named onnx on sys.path, not the package
        pytest.skip("onnx is not installed")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros((8,), np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1] * 4),
         helper.make_node("Relu", ["c"], ["y"])], "net",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                       ["batch", 8, "height", "width"])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_import_onnx(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "net.onnx"
    _conv_model(path)
    out, _ = ok(capsys, "import", "onnx", str(path), "--symbol", "batch=N",
                "--symbol", "height=H", "-s", "width=W")
    arch = cnncalc.Architecture.from_json(out)
    assert list(arch.input.shape) == ["N", 3, "H", "W"] and arch.name == "net"
    an = cnncalc.analyze(arch, {"N": 1, "H": 32, "W": 32})
    assert an.totals.params == 8 * 3 * 3 * 3 + 8
    assert an.totals.macs == 32 * 32 * 8 * 3 * 3 * 3


def test_bad_onnx_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "net.onnx"
    _conv_model(good)
    text = tmp_path / "notes.onnx"
    text.write_text("not a model at all\n")
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(good.read_bytes()[:60])
    for path in (text, cut, tmp_path / "missing.onnx"):
        assert str(path) in one_line_error(capsys, "import", "onnx", str(path))


# --- factories of the user's own modules ----------------------------------------------------------

USER_MODULE = '''
import torch

class Net(torch.nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, width, 3)

    def forward(self, x):
        return self.conv(x)

    @classmethod
    def build(cls, width=4):
        return cls(width)

def boom():
    raise ValueError("no such\\nconfiguration")

def not_a_module():
    return 42

class Bad(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("bad forward")

class Rolled(Net):
    def forward(self, x):
        return torch.roll(self.conv(x), 1, 2)
'''


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    pytest.importorskip("torch")
    (tmp_path / "h2_user_nets.py").write_text(USER_MODULE)
    (tmp_path / "h2_broken.py").write_text("import h2_nonexistent_dependency\n")
    (tmp_path / "h2_raises.py").write_text("raise RuntimeError('bad\\nstart')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "h2_user_nets"


def test_load_factory_resolves_dotted_names_in_eval_mode(user_module: str) -> None:
    from cnncalc.pytorch.factory import load_factory
    net = load_factory(f"{user_module}:Net.build", {"width": 8})
    assert not net.training and net.conv.out_channels == 8


@pytest.mark.parametrize(("spec", "expect"), [
    ("h2_user_nets:boom", "h2_user_nets:boom() raised ValueError: no such configuration"),
    ("h2_user_nets:not_a_module", "h2_user_nets:not_a_module returned a value of type int, "
                                  "not a torch.nn.Module"),
    ("h2_user_nets:Nte", "'h2_user_nets' has no attribute 'Nte' (tried h2_user_nets:Nte); "
                         "did you mean Net?"),
    ("h2_broken:f", "importing 'h2_broken' failed: it imports 'h2_nonexistent_dependency', "
                    "which is not installed"),
    ("h2_raises:f", "importing 'h2_raises' raised RuntimeError: bad start"),
    ("h2_user_nets:Bad", "bad forward"),
])
def test_user_factory_errors(user_module: str, capsys: pytest.CaptureFixture[str], spec: str,
                             expect: str) -> None:
    assert expect in one_line_error(capsys, "import", "torch", spec)


def test_user_factory_imports(user_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    out, err = ok(capsys, "import", "torch", f"{user_module}:Net", "--kwargs",
                  '{"width": 5}', "--input", "1,3,H,W")
    assert err == ""
    an = cnncalc.analyze(cnncalc.Architecture.from_json(out), {"H": 10, "W": 12})
    assert an.totals.params == 5 * 3 * 3 * 3 + 5
    assert an.totals.macs == 5 * 3 * 3 * 3 * (10 - 2) * (12 - 2)
    assert an.layers[-1].output_shape == (1, 5, 8, 10)


def test_allow_opaque(user_module: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An operation without a layer type: one line naming it, or with --allow-opaque an
    ``opaque`` layer and totals marked incomplete."""
    msg = one_line_error(capsys, "import", "torch", f"{user_module}:Rolled")
    assert "torch.roll" in msg and "--allow-opaque" in msg
    out, _ = ok(capsys, "import", "torch", f"{user_module}:Rolled", "--allow-opaque",
                "--input", "1,3,10,12")
    arch = json.loads(out)
    assert arch["layers"][-1]["type"] == "opaque" and arch["layers"][-1]["op"] == "torch.roll"
    out, _ = ok(capsys, "analyze", "--from-torch", f"{user_module}:Rolled", "--allow-opaque",
                "--input", "1,3,10,12", "-f", "json")
    totals = json.loads(out)["totals"]
    assert totals["incomplete"] == [arch["layers"][-1]["name"]]
    assert totals["params"] == 4 * 3 * 3 * 3 + 4

