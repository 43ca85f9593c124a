"""The ``cnncalc`` command: analyze (table and JSON), zoo, schema, and its errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cnncalc
import cnncalc.zoo
from cnncalc.cli import main

SEED = {
    "name": "seed-example",
    "input": {"shape": [1, 3, "H", "W"]},
    "layers": [
        {"type": "conv", "name": "conv1", "out_channels": 12, "kernel_size": 6, "stride": 2},
        {"type": "relu"},
    ],
}
ZOO_SEED = Path(cnncalc.zoo.__file__).parent / "seed_example.json"


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    p = tmp_path / "seed.json"
    p.write_text(json.dumps(SEED))
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_json_equals_library(capsys: pytest.CaptureFixture[str], seed_file: Path) -> None:
    code, out, err = run(capsys, "analyze", str(seed_file), "--bind", "H=32", "--bind", "W=32",
                         "--format", "json")
    assert code == 0 and err == ""
    got = json.loads(out)
    want = json.loads(json.dumps(cnncalc.analyze(str(seed_file), {"H": 32, "W": 32}).to_dict()))
    assert got == want
    conv1 = got["layers"][0]
    assert conv1["output_shape"] == [1, 12, 14, 14]
    assert conv1["params"] == 1308 and conv1["macs"] == 254016 and conv1["flops"] == 508032
    assert got["totals"]["params"] == 1308
    # every size is bound: no condition is left on a free symbol
    assert got["constraints"] == []


def test_analyze_json_symbolic(capsys: pytest.CaptureFixture[str], seed_file: Path) -> None:
    code, out, _ = run(capsys, "analyze", str(seed_file), "-f", "json")
    assert code == 0
    got = json.loads(out)
    assert got["bindings"] == {} and got["symbols"] == ["H", "W"]
    assert isinstance(got["totals"]["macs"], str) and "H" in got["totals"]["macs"]
    assert got == json.loads(json.dumps(cnncalc.analyze(str(seed_file)).to_dict()))


def test_analyze_table(capsys: pytest.CaptureFixture[str], seed_file: Path) -> None:
    code, out, err = run(capsys, "analyze", str(seed_file), "-b", "H=32", "-b", "W=32")
    assert code == 0 and err == ""
    for text in ("conv1", "relu1", "total", "1308", "254016", "1x12x14x14"):
        assert text in out, text
    assert "H >= 6" not in out  # H is bound: constraints name only free symbols
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert "1308" in total and "254016" in total


def test_analyze_table_is_the_default_and_symbolic(capsys: pytest.CaptureFixture[str],
                                                   seed_file: Path) -> None:
    code, out, _ = run(capsys, "analyze", str(seed_file))
    assert code == 0
    assert "conv1" in out and "total" in out and "floor" in out


def test_zoo_lists_seed_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "zoo")
    assert code == 0 and err == ""
    if not ZOO_SEED.is_file():
        pytest.skip("zoo file seed_example.json is not there (yet)")
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert "seed_example" in names
    assert names == sorted(names)


def test_analyze_zoo_name(capsys: pytest.CaptureFixture[str]) -> None:
    if not ZOO_SEED.is_file():
        pytest.skip("zoo file seed_example.json is not there (yet)")
    code, out, _ = run(capsys, "analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                       "--format", "json")
    assert code == 0
    layers = json.loads(out)["layers"]
    assert layers[0]["output_shape"] == [1, 12, 14, 14]


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "schema")
    assert code == 0 and err == ""
    schema = json.loads(out)
    assert "$defs" in schema
    assert schema == json.loads(json.dumps(cnncalc.json_schema()))
    assert {"Conv", "InputSpec"} <= schema["$defs"].keys()


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cnncalc: error:"), err
    assert "Traceback" not in err
    return lines[0]


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("kernel 0", {"input": {"shape": [1, 3, 32, 32]},
                  "layers": [{"type": "conv", "name": "conv1", "out_channels": 8,
                              "kernel_size": 0}]}, "layer 'conv1' (#0)"),
    ("unknown field", {"input": {"shape": [1, 3, 32, 32]},
                       "layers": [{"type": "relu"}, {"type": "relu", "nmae": "x"}]},
     "layer 'relu1' (#1)"),
    ("code", {"input": {"shape": [1, 3, 32, 32]},
              "layers": [{"type": "conv", "name": "c", "out_channels": "__import__('os')",
                          "kernel_size": 1}]}, "layer 'c' (#0)"),
    ("merge", {"input": {"shape": [1, 3, 32, 32]},
               "layers": [{"type": "conv", "name": "a", "out_channels": 4, "kernel_size": 3},
                          {"type": "add", "name": "sum", "inputs": ["a", "input"]}]},
     "layer 'sum' (#1)"),
]


@pytest.mark.parametrize("arch, where", [pytest.param(a, w, id=i) for i, a, w in BAD])
def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         arch: dict[str, Any], where: str) -> None:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(arch))
    code, out, err = run(capsys, "analyze", str(p))
    assert code == 2 and out == ""
    assert where in one_error_line(err)


@pytest.mark.parametrize("argv, words", [
    (["analyze", "{missing}.json"], ["no such file"]),
    (["analyze", "no_such_model"], ["no_such_model"]),
    (["analyze", "SEED", "--bind", "X=3"], ["'X'", "H, W"]),
    (["analyze", "SEED", "--bind", "H=0"], ["H=0"]),
])
def test_other_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], seed_file: Path,
                                           tmp_path: Path, argv: list[str],
                                           words: list[str]) -> None:
    argv = [str(seed_file) if a == "SEED" else a.replace("{missing}", str(tmp_path / "x"))
            for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    line = one_error_line(err)
    for w in words:
        assert w in line


def test_invalid_json_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text('{"input": ')
    code, _, err = run(capsys, "analyze", str(p))
    assert code == 2
    assert "not valid JSON" in one_error_line(err)


@pytest.mark.parametrize("bind", ["H", "=3", "H=x", "H=3.5", "H="])
def test_bad_bind_syntax_exits_2(capsys: pytest.CaptureFixture[str], seed_file: Path,
                                 bind: str) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["analyze", str(seed_file), "--bind", bind])
    assert ei.value.code == 2
    _, err = capsys.readouterr()
    assert "cnncalc: error:" in err and "--bind" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["analyze"],
                                  ["analyze", "x.json", "--format", "yaml"]])
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def _script() -> str:
    here = Path(sys.executable).parent / ("cnncalc.exe" if os.name == "nt" else "cnncalc")
    found = str(here) if here.exists() else shutil.which("cnncalc")
    if not found:
        pytest.skip("the cnncalc console script is not installed")
    return found


def test_console_script(seed_file: Path, tmp_path: Path) -> None:
    exe = _script()
    ok = subprocess.run([exe, "analyze", str(seed_file), "--bind", "H=32", "--bind", "W=32",
                         "--format", "json"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["totals"]["macs"] == 254016
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(BAD[0][1]))
    fail = subprocess.run([exe, "analyze", str(bad)], capture_output=True, text=True,
                          timeout=120)
    assert fail.returncode == 2 and fail.stdout == ""
    assert "layer 'conv1' (#0)" in one_error_line(fail.stderr)
