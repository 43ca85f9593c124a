"""``cnncalc batch``: the formats read back, standard input, and its errors (one line, exit 2)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import cnncalc
from cnncalc.batch import FIELDS
from cnncalc.cli import main

CONV: dict[str, Any] = {"name": "conv", "input": {"shape": ["N", 3, 32, 32]},
                        "layers": [{"type": "conv", "out_channels": 12, "kernel_size": 6}]}
PARAMS = 6 * 6 * 3 * 12 + 12
MACS = 27 * 27 * 12 * 6 * 6 * 3


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    p = tmp_path / "nets.jsonl"
    p.write_text("\n".join([json.dumps(CONV), "", '{"broken', '"lenet5"']) + "\n")
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_command_is_registered() -> None:
    from cnncalc.commands import COMMANDS
    assert "batch" in COMMANDS


def test_csv_to_stdout(capsys: pytest.CaptureFixture[str], nets: Path) -> None:
    code, out, err = run(capsys, "batch", str(nets), "--bind", "N=2", "--workers", "1")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == list(FIELDS)
    assert [r["index"] for r in rows] == ["1", "3", "4"]  # the blank line 2 gives no row
    assert rows[0]["params"] == str(PARAMS) and rows[0]["macs"] == str(2 * MACS)
    assert rows[0]["receptive_field"] == "6x6 /1x1" and rows[0]["error"] == ""
    assert rows[1]["error"].startswith("line 3 is not valid JSON") and rows[1]["params"] == ""
    lenet = cnncalc.analyze("lenet5", {"N": 2}).totals
    assert rows[2]["name"] == "lenet5" and rows[2]["params"] == str(lenet.params)
    assert rows[2]["macs"].startswith(str(2 * 150)) and "H" in rows[2]["macs"]  # H, W free
    assert err == "cnncalc: 1 of 3 architectures failed (see the error column)\n"


def test_jsonl_output_file(capsys: pytest.CaptureFixture[str], nets: Path,
                           tmp_path: Path) -> None:
    out_file = tmp_path / "rows.jsonl"
    code, out, _ = run(capsys, "batch", str(nets), "-b", "N=1", "-b", "H=32", "-b", "W=32",
                       "--format", "jsonl", "--output", str(out_file), "--workers", "2",
                       "--chunk", "1")
    assert code == 0 and out == ""
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["index"] for r in rows] == [1, 3, 4]
    assert rows[0]["params"] == PARAMS and rows[0]["flops"] == 2 * MACS
    assert rows[1]["params"] is None and "line 3" in rows[1]["error"]
    lenet = cnncalc.analyze("lenet5", {"N": 1, "H": 32, "W": 32}).totals
    assert rows[2]["macs"] == lenet.macs and rows[2]["receptive_field"] == "32x32 /32x32"


def test_parquet_read_back(capsys: pytest.CaptureFixture[str], nets: Path,
                           tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="parquet output needs pyarrow")
    out_file = tmp_path / "rows.parquet"
    code, _, _ = run(capsys, "batch", str(nets), "-b", "N=3", "-f", "parquet", "-o",
                     str(out_file), "-j", "1")
    assert code == 0
    table = pq.read_table(out_file)
    assert table.column_names == list(FIELDS)
    rows = table.to_pylist()
    assert rows[0]["params"] == PARAMS and rows[0]["macs"] == 3 * MACS
    assert str(table.schema.field("macs").type) == "int64"
    assert "line 3" in rows[1]["error"]
    # lenet5 with H and W free: Parquet holds numbers, so the row says what to bind
    assert rows[2]["macs"] is None and "bind every size" in rows[2]["error"]


def test_parquet_row_groups_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pq = pytest.importorskip("pyarrow.parquet", reason="parquet output needs pyarrow")
    import cnncalc.batch.io as bio
    monkeypatch.setattr(bio, "ROW_GROUP", 4)
    p = tmp_path / "many.jsonl"
    p.write_text("\n".join(json.dumps({**CONV, "name": f"n{i}"}) for i in range(10)) + "\n")
    assert main(["batch", str(p), "-b", "N=1", "-f", "parquet", "-o", str(tmp_path / "o.pq"),
                 "-j", "1"]) == 0
    f = pq.ParquetFile(tmp_path / "o.pq")
    assert f.metadata.num_row_groups == 3
    assert f.read().column("name").to_pylist() == [f"n{i}" for i in range(10)]


def test_stdin() -> None:
    text = json.dumps(CONV) + "\n" + '"lenet5"\n'
    proc = subprocess.run([sys.executable, "-m", "cnncalc", "batch", "-", "-b", "N=1", "-f",
                           "jsonl", "-j", "1"], input=text, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["name"] for r in rows] == ["conv", "lenet5"]
    assert rows[0]["macs"] == MACS


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "must be >= 1, got 0"),
    (["--workers", "-2"], "must be >= 1, got -2"),
    (["--format", "parquet"], "give a file with --output FILE"),
    (["--format", "xml"], "invalid choice"),
    (["--bind", "N=x"], "not an integer"),
])
def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str], nets: Path, argv: list[str],
                            message: str) -> None:
    try:  # argparse refuses an option by SystemExit(2), the command a bad pair by returning 2
        code = main(["batch", str(nets), *argv])
    except SystemExit as e:
        code = int(e.code or 0)
    assert code == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") == 1 and out == ""


@pytest.mark.parametrize("name", ["missing.jsonl", "."])
def test_missing_input_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                              name: str) -> None:
    path = str(tmp_path / name) if name != "." else str(tmp_path)
    code, out, err = run(capsys, "batch", path)
    assert code == 2 and out == ""
    assert err.startswith("cnncalc: error: ") and err.count("\n") == 1
    assert "no such file" in err or "is a folder" in err


def test_overlong_line_is_a_row(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    import cnncalc.batch.io as bio
    monkeypatch.setattr(bio, "MAX_LINE_BYTES", 200)
    long_line = json.dumps({**CONV, "description": "x" * 450})
    p = tmp_path / "nets.jsonl"
    p.write_text("\n".join([long_line, json.dumps(CONV)]) + "\n")
    code, out, _ = run(capsys, "batch", str(p), "-b", "N=1", "-f", "jsonl", "-j", "1")
    assert code == 0
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["error"].startswith("line 1 is longer than")
    assert f"({len(long_line) + 1} bytes)" in first["error"]  # the newline counted
    assert (second["index"], second["params"]) == (2, PARAMS)


def test_not_utf8_line_is_a_row(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = tmp_path / "nets.jsonl"
    p.write_bytes(json.dumps(CONV).encode() + b'\n"\xff\xfe"\n' + json.dumps(CONV).encode())
    code, out, _ = run(capsys, "batch", str(p), "-b", "N=1", "-f", "jsonl", "-j", "1")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["params"] for r in rows] == [PARAMS, None, PARAMS]
    assert rows[1]["error"] == ("line 2 is not UTF-8 text (invalid start byte at byte 2 of the "
                                "line); save the file as UTF-8")


@pytest.mark.parametrize("module, argv, message", [
    ("pyarrow", ["-f", "parquet", "-o", "x.parquet"], "pip install 'cnncalc[tables]'"),
    ("distributed", ["--scheduler", "tcp://127.0.0.1:8786"], "pip install 'cnncalc[cluster]'"),
])
def test_missing_extras_exit_2(capsys: pytest.CaptureFixture[str], nets: Path,
                               monkeypatch: pytest.MonkeyPatch, module: str, argv: list[str],
                               message: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.chdir(nets.parent)
    code, out, err = run(capsys, "batch", str(nets), *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert not (nets.parent / "x.parquet").exists()


@pytest.mark.parametrize("address", ["foo", "tcp://host:port", "tcp://:8786"])
def test_malformed_scheduler_address(capsys: pytest.CaptureFixture[str], nets: Path,
                                     address: str) -> None:
    pytest.importorskip("distributed")
    code, _, err = run(capsys, "batch", str(nets), "--scheduler", address)
    assert code == 2 and "is not a scheduler address; write tcp://HOST:PORT" in err


def test_progress_count_for_a_stream() -> None:
    from cnncalc.batch.io import Counter, progress
    s = io.StringIO()
    bar = Counter("analysing", stream=s, enabled=True)
    bar.advance()
    bar.advance(41)
    bar._last = 0.0  # past the redraw interval
    bar.advance()
    bar.close()
    assert "1 done" in s.getvalue() and "43 done" in s.getvalue()
    assert not progress(None, enabled=False).enabled and progress(10, True).total == 10
