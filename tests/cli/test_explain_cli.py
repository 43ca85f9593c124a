"""``cnncalc explain``: the lecture's working on the command line, each format, its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import cnncalc
from cnncalc.cli import main

ONE_D = {"name": "1d", "input": {"shape": [1, 1, "W"]},
         "layers": [{"type": "conv", "name": "conv", "out_channels": 1, "kernel_size": 3,
                     "stride": 2}]}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_lecture_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "seed_example", "--bind", "H=32", "-b", "W=32")
    assert code == 0 and not err
    assert out.startswith("seed-example  input 1x3x32x32  bindings H=32, W=32\n")
    assert (32 + 0 - 6) // 2 + 1 == 14 and 6 * 6 * 3 * 12 + 12 == 1308
    assert "floor((H + P - K)/S) + 1 = floor((32 + 0 - 6)/2) + 1 = 14" in out
    assert "K1*K2*C_in*C_out + C_out = 6*6*3*12 + 12 = 1308" in out
    assert out == cnncalc.analyze("seed_example", {"H": 32, "W": 32}).explain()


def test_one_dimension_from_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "1d.json"
    p.write_text(json.dumps(ONE_D))
    code, out, _ = run(capsys, "explain", str(p), "--bind", "W=7")
    assert code == 0
    assert (7 - 3) // 2 + 1 == 3
    assert "floor((W + P - K)/S) + 1 = floor((7 + 0 - 3)/2) + 1 = 3" in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "latex"])
def test_formats_and_layer(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    code, out, _ = run(capsys, "explain", "seed_example", "--layer", "conv1", "--format", fmt)
    assert code == 0
    assert out == cnncalc.analyze("seed_example").explain("conv1", fmt=fmt)
    assert "relu1" not in out


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", "seed_example", "-b", "H=32", "-b", "W=32", "-f",
                       "json")
    assert code == 0
    d = json.loads(out)
    params = [s for s in d["layers"][0]["steps"] if s["of"] == "params"][0]
    assert params["substituted"] == "6*6*3*12 + 12" and params["result"] == 1308
    assert params["latex"]["substituted"] == r"6 \cdot 6 \cdot 3 \cdot 12 + 12"
    assert d["conventions"]["MACs"].endswith("FLOPs = 2*MACs")


def test_unknown_layer_is_one_line_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "seed_example", "--layer", "Conv1")
    assert code == 2 and not out
    assert err == ("cnncalc: error: no layer or block 'Conv1' in this network; did you mean "
                   "'conv1'?\n")


def test_bad_binding_and_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "explain", "seed_example", "--bind", "Q=3")
    assert code == 2 and err.startswith("cnncalc: error:") and err.count("\n") == 1
    with pytest.raises(SystemExit) as e:
        main(["explain", "seed_example", "--format", "html"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_console_script() -> None:
    res = subprocess.run([sys.executable, "-m", "cnncalc", "explain", "seed_example", "-b",
                          "H=32", "-b", "W=32", "-l", "conv1"], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert "6*6*3*12 + 12 = 1308" in res.stdout
