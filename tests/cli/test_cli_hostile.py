"""The ``cnncalc`` command under hostile input: exit code 2 and one line naming the problem,
never a traceback, never unbounded work."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cnncalc import envvars
from cnncalc.cli import main
from cnncalc.errors import CnnCalcError
from cnncalc.report.tables import human

SEED = {"name": "seed", "input": {"shape": [1, 3, "H", "W"]},
        "layers": [{"type": "conv", "name": "conv1", "out_channels": 12, "kernel_size": 6,
                    "stride": 2}, {"type": "relu"}]}
NAN_ARCH = ('{"name": "n", "input": {"shape": [1, 3, "H", "W"]}, "layers": [{"type": "conv", '
            '"out_channels": 4, "kernel_size": 3}, {"type": "batch_norm", "eps": %s}]}')
CSV_HEAD = "H,W,Cin,Cout,K1,K2,time_ms\n"
CSV_ROW = "8,8,4,4,3,3,0.5\n"


def _files(d: Path) -> dict[str, Path]:
    f = {
        "seed": json.dumps(SEED),
        "bin": b"\xff\xfe\x00\x01binary",
        "latin1": b'{"name": "caf\xe9"}',
        "nan": NAN_ARCH % "NaN",
        "inf": NAN_ARCH % "Infinity",
        "e400": NAN_ARCH % "1e400",
        "bigint": '{"name": "x", "v": ' + "9" * 5000 + "}",
        "empty": "",
        "list": "[1, 2]",
        "deep": "[" * 100_000 + "]" * 100_000,
        "csv_bin": b"\xffH,W\n",
        "csv_inf": CSV_HEAD + "8,8,4,4,3,3,inf\n" + CSV_ROW * 12,
        "csv_huge": CSV_HEAD + f"{10**200},8,4,4,3,3,0.5\n" + CSV_ROW * 12,
        "csv_field": CSV_HEAD + '"' + "x" * 200_000 + '",8,4,4,3,3,0.5\n' + CSV_ROW * 12,
        "csv_ok": CSV_HEAD + "".join(f"{8 + i},8,4,{4 + i},3,3,{0.5 + i / 10}\n"
                                     for i in range(11)),
    }
    out = {}
    for name, text in f.items():
        p = d / (name + (".csv" if name.startswith("csv") else ".json"))
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
        out[name] = p
    (d / "folder.json").mkdir()
    (d / "folder.png").mkdir()
    out["folder"] = d / "folder.json"
    out["folder_png"] = d / "folder.png"
    out["missing"] = d / "missing.json"
    out["nodir"] = d / "no" / "such" / "folder"
    return out


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return _files(tmp_path)


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse refusals
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cnncalc: error: "), err
    return lines[0]


HOSTILE: list[tuple[str, list[str], list[str]]] = [
    # architecture files
    ("binary-file", ["analyze", "{bin}"], ["bin.json", "not UTF-8"]),
    ("invalid-utf8", ["analyze", "{latin1}"], ["latin1.json", "UTF-8", "byte 13"]),
    ("binary-sweep", ["sweep", "{bin}", "-g", "H=1:3"], ["not UTF-8"]),
    ("binary-compare", ["compare", "{seed}", "{bin}"], ["not UTF-8"]),
    ("binary-plot", ["plot", "{bin}", "-o", "{tmp}/x.png"], ["not UTF-8"]),
    ("binary-validate", ["validate", "{bin}"], ["not UTF-8"]),
    ("nan", ["analyze", "{nan}"], ["NaN"]),
    ("nan-partial-binding", ["analyze", "{nan}", "-b", "H=32"], ["NaN"]),
    ("nan-all-bound", ["analyze", "{nan}", "-b", "H=32", "-b", "W=32"], ["NaN"]),
    ("infinity", ["analyze", "{inf}", "-b", "H=32"], ["Infinity"]),
    ("float-1e400", ["analyze", "{e400}"], ["1e400"]),
    ("nan-compare", ["compare", "{seed}", "{nan}"], ["NaN"]),
    ("int-5000-digits", ["analyze", "{bigint}"], ["5000 digits"]),
    ("empty-file", ["analyze", "{empty}"], ["not valid JSON"]),
    ("json-list", ["analyze", "{list}"], ["JSON object"]),
    ("deep-json", ["analyze", "{deep}"], ["nested too deeply"]),
    ("directory", ["analyze", "{folder}"], ["folder.json", "directory"]),
    ("missing-file", ["analyze", "{missing}"], ["no such file"]),
    ("profile-directory", ["analyze", "{seed}", "-p", "{folder}"], ["folder.json"]),
    # bindings
    ("bound-twice", ["analyze", "{seed}", "--bind", "H=32", "--bind", "H=64"],
     ["H is bound twice", "H=32", "H=64"]),
    ("bound-twice-short", ["sweep", "{seed}", "-g", "W=8", "-b", "H=32", "-b", "H=32"],
     ["H is bound twice"]),
    ("bind-fullwidth-digits", ["analyze", "{seed}", "--bind", "H=\uff13\uff12"],
     ["not an integer"]),
    ("bind-float", ["analyze", "{seed}", "--bind", "H=1e400"], ["not an integer"]),
    ("bind-5000-digits", ["analyze", "{seed}", "--bind", "H=" + "9" * 5000], ["digits"]),
    ("bind-huge", ["analyze", "{seed}", "--bind", "H=" + "9" * 25], ["H="]),
    ("bind-negative", ["analyze", "{seed}", "--bind", "H=-3"], ["H=-3"]),
    ("bind-malformed", ["analyze", "{seed}", "--bind", "H"], ["NAME=VALUE"]),
    ("unknown-quantity", ["sweep", "{seed}", "-g", "H=W=8:16:8", "-q", "bogus"], ["bogus"]),
    ("unknown-column", ["analyze", "{seed}", "-c", "bogus"], ["bogus"]),
    # unbounded work
    ("grid-too-many-values", ["sweep", "{seed}", "-g",
                              "H=" + ",".join(["1:9999999"] * 3), "-b", "W=8"],
     ["more than 10000000 values"]),
    ("plot-over-too-many", ["plot", "{seed}", "-k", "scaling", "-o", "{tmp}/x.png",
                            "--over", "H=W=" + ",".join(["1:9999999"] * 3)],
     ["more than 10000000 values"]),
    ("folds-huge", ["cost", "score", "{csv_ok}", "--folds", "1000000"], ["--folds", "2 to 50"]),
    ("folds-one", ["cost", "score", "{csv_ok}", "--folds", "1"], ["--folds", "2 to 50"]),
    ("validate-repeats", ["validate", "{seed}", "--repeats", "100000000000"], ["--repeats"]),
    ("validate-warmup", ["validate", "{seed}", "--warmup", "100000000000"], ["--warmup"]),
    ("validate-threads", ["validate", "{seed}", "--threads", "100000000000"], ["--threads"]),
    ("calibrate-budget-nan", ["calibrate", "--budget", "nan", "-o", "{tmp}/p.json"],
     ["--budget", "nan"]),
    ("calibrate-budget-inf", ["calibrate", "--budget", "inf", "-o", "{tmp}/p.json"],
     ["--budget"]),
    ("calibrate-configs", ["calibrate", "--configs", "100000000000", "-o", "{tmp}/p.json"],
     ["--configs"]),
    ("calibrate-repeats", ["calibrate", "--repeats", "100000000000", "-o", "{tmp}/p.json"],
     ["--repeats"]),
    ("calibrate-threads", ["calibrate", "--threads", "100000000000", "-o", "{tmp}/p.json"],
     ["--threads"]),
    ("calibrate-seed", ["calibrate", "--seed", "-1", "-o", "{tmp}/p.json"], ["--seed"]),
    # memory budgets
    ("max-memory-1e400", ["validate", "{seed}", "-b", "H=8", "-b", "W=8",
                          "--max-memory", "1e400"], ["--max-memory", "1e400", "1 PiB"]),
    ("max-memory-nan", ["validate", "{seed}", "--max-memory", "nan"], ["--max-memory", "nan"]),
    # output files
    ("plot-missing-folder", ["plot", "{seed}", "-b", "H=32", "-b", "W=32",
                             "-o", "{nodir}/x.png"], ["no folder", "folder"]),
    ("plot-into-directory", ["plot", "{seed}", "-b", "H=32", "-b", "W=32",
                             "-o", "{folder_png}"], ["directory"]),
    ("calibrate-missing-folder", ["calibrate", "-o", "{nodir}/p.json"], ["no folder"]),
    ("calibrate-csv-missing-folder", ["calibrate", "-o", "{tmp}/p.json", "--csv",
                                      "{nodir}/m.csv"], ["no folder"]),
    ("calibrate-into-directory", ["calibrate", "-o", "{folder}"], ["directory"]),
    # measurement tables
    ("csv-binary", ["cost", "score", "{csv_bin}"], ["not UTF-8"]),
    ("csv-infinite-time", ["cost", "score", "{csv_inf}"], ["line 2", "finite"]),
    ("csv-huge-size", ["cost", "score", "{csv_huge}"], ["line 2", "at most"]),
    ("csv-huge-field", ["cost", "score", "{csv_field}"], ["not a readable CSV"]),
    ("csv-directory", ["cost", "score", "{folder}"], ["directory"]),
    ("csv-missing", ["cost", "score", "{missing}"], ["no such file"]),
]


@pytest.mark.parametrize("argv, words", [pytest.param(a, w, id=i) for i, a, w in HOSTILE])
def test_hostile_invocation_exits_2_with_one_line(capsys: pytest.CaptureFixture[str],
                                                  files: dict[str, Path], tmp_path: Path,
                                                  argv: list[str], words: list[str]) -> None:
    subs = {k: str(v) for k, v in files.items()} | {"tmp": str(tmp_path)}
    code, out, err = run_cli(capsys, [a.format(**subs) for a in argv])
    assert code == 2, (out, err)
    assert out == ""
    line = one_line(err)
    for w in words:
        assert w in line, line


def test_unreadable_file_is_one_line(capsys: pytest.CaptureFixture[str],
                                     files: dict[str, Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A file the user may not read (simulated: the tests may run as root)."""
    real_open = pathlib.Path.open
    target = files["seed"]

    def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == target:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", deny)
    code, _, err = run_cli(capsys, ["analyze", str(target)])
    assert code == 2
    line = one_line(err)
    assert "Permission denied" in line and "seed.json" in line


def test_memory_budget_variable_is_named(capsys: pytest.CaptureFixture[str],
                                         files: dict[str, Path],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    for value, word in (("1e400", "1 PiB"), ("lots", "not a byte count")):
        monkeypatch.setenv("CNNCALC_VALIDATE_MAX_BYTES", value)
        code, _, err = run_cli(capsys, ["validate", str(files["seed"]), "-b", "H=8", "-b",
                                        "W=8"])
        assert code == 2
        line = one_line(err)
        assert "CNNCALC_VALIDATE_MAX_BYTES" in line and word in line


def test_folds_capped_at_row_count(capsys: pytest.CaptureFixture[str],
                                   files: dict[str, Path]) -> None:
    code, out, err = run_cli(capsys, ["cost", "score", str(files["csv_ok"]), "--folds", "50",
                                      "--measure", "flops", "-f", "json"])
    assert code == 0, err
    got = json.loads(out)
    assert got["rows"] == 11 and got["folds"] == 11  # 11 rows: leave-one-out, not 50 folds


def test_units_on_totals_past_the_largest_prefix(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    # MACs = 1 * 10**6 * 3 * 1 * 1 * 10**12 * 10**12 = 3 * 10**30: beyond "E" (10**18)
    arch = {"name": "big", "input": {"shape": [1, 3, 10**12, 10**12]},
            "layers": [{"type": "conv", "out_channels": 10**6, "kernel_size": 1}]}
    p = tmp_path / "big.json"
    p.write_text(json.dumps(arch))
    code, out, err = run_cli(capsys, ["analyze", str(p), "--units"])
    assert code == 0, err
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert "3.00e30" in total.split()


def test_human_is_exact_past_float_range() -> None:
    assert human(10**400) == "1.00e400"
    assert human(-(10**400), "bytes") == "-1.00e400 B"
    assert human(1234 * 10**397) == "1.23e400"
    assert human(1235 * 10**397) == "1.24e400"  # 123.5 to even: 124
    assert human(1225 * 10**397) == "1.22e400"  # 122.5 to even: 122
    assert human(9995 * 10**30) == "1.00e34"  # rounds up into the next power of ten
    assert human(123 * 10**5000, "bytes", "iec") == "1.23e5002 B"  # past 4,300 digits
    assert human(10**21 - 1) == "1000E" and human(10**21) == "1.00e21"


# --- CNNCALC_* environment variables -----------------------------------------------------------

@pytest.mark.parametrize("raw, ok", [("10_000", 10_000), (" 7 ", 7), ("", 5), ("+3", 3)])
def test_env_int_accepts(raw: str, ok: int) -> None:
    assert envvars.env_int("CNNCALC_X", 5, 1, 20_000, {"CNNCALC_X": raw}) == ok


@pytest.mark.parametrize("raw", ["abc", "1.5", "\uff11\uff12", "0", "20001", "-1",
                                 "9" * 100, "1e3"])
def test_env_int_refuses_naming_variable_and_range(raw: str) -> None:
    with pytest.raises(CnnCalcError) as ei:
        envvars.env_int("CNNCALC_X", 5, 1, 20_000, {"CNNCALC_X": raw})
    msg = str(ei.value)
    assert "CNNCALC_X" in msg and "from 1 to 20000" in msg and "default 5" in msg
    assert ei.value.kind == "limit"


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("CNNCALC_")} | env
    argv = code.split() if code.startswith("-m ") else ["-c", code]
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          timeout=120, env=full, cwd=Path(__file__).resolve().parents[2])


ENV_CASES = [("CNNCALC_MAX_EXPR_LENGTH", "abc", "from 1 to 100000"),
             ("CNNCALC_MAX_EXPR_DEPTH", "0", "from 1 to 100"),
             ("CNNCALC_MAX_LAYERS", "-5", "from 1 to 1000000"),
             ("CNNCALC_MAX_LAYERS", "9" * 40, "from 1 to 1000000")]


@pytest.mark.parametrize("name, value, words", ENV_CASES)
def test_invalid_env_var_is_one_line_naming_it(name: str, value: str, words: str) -> None:
    r = _python("-m cnncalc analyze seed_example", {name: value})
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    line = one_line(r.stderr)
    assert name in line and words in line


def test_invalid_env_var_does_not_break_import_but_refuses_analysis() -> None:
    code = ("import cnncalc\n"
            "try:\n"
            "    cnncalc.analyze('seed_example', {'H': 32, 'W': 32})\n"
            "except cnncalc.CnnCalcError as e:\n"
            "    print('refused:', e)\n")
    r = _python(code, {"CNNCALC_MAX_LAYERS": "lots"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("refused: environment variable CNNCALC_MAX_LAYERS='lots'")


def test_valid_env_var_is_used() -> None:
    """The limit really comes from the variable: 1 layer allowed, the seed has 2."""
    r = _python("-m cnncalc analyze seed_example", {"CNNCALC_MAX_LAYERS": "1"})
    assert r.returncode == 2
    assert "more than 1 layers" in one_line(r.stderr)
    ok = _python("-m cnncalc analyze seed_example", {"CNNCALC_MAX_LAYERS": "2"})
    assert ok.returncode == 0, ok.stderr


def test_console_script_env_var(files: dict[str, Path]) -> None:
    exe = Path(sys.executable).parent / "cnncalc"
    if not exe.exists():
        pytest.skip("the cnncalc console script is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNNCALC_")}
    r = subprocess.run([str(exe), "analyze", str(files["seed"])], capture_output=True,
                       text=True, timeout=120, env=env | {"CNNCALC_MAX_EXPR_DEPTH": "1e3"})
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert "CNNCALC_MAX_EXPR_DEPTH='1e3'" in line and "not an integer" in line
