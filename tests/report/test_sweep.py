"""Sweeps: every combination equals a per-binding analyze; invalid sizes are rejected exactly
where analyze rejects them; errors name the symbols."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.report.sweep import QUANTITIES, parse_grid, parse_values, records, sweep

SEED = "seed_example"
STACK = {"name": "stack", "input": {"shape": [1, "C", "H", "W"]}, "symbols": {"K": {}},
         "layers": [{"type": "conv", "out_channels": "2*C", "kernel_size": "K", "stride": 2},
                    {"type": "relu"}, {"type": "max_pool", "kernel_size": 2}]}
BROADCAST = {"name": "bc", "input": {"shape": [1, 4, "H", "H"]}, "symbols": {"K": {}},
             "layers": [{"type": "conv", "name": "a", "out_channels": 4, "kernel_size": "K",
                         "inputs": ["input"]},
                        {"type": "add", "name": "s", "inputs": ["a", "input"]}]}
REPEAT = {"name": "rep", "input": {"shape": [1, 3, "H", "H"]}, "symbols": {"R": {}},
          "layers": [{"type": "repeat", "times": "R", "body": [
              {"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1}]}]}


def _direct(arch: Any, point: dict[str, int]) -> dict[str, int]:
    t = cnncalc.analyze(arch, point).totals
    return {q: int(getattr(t, q)) for q in QUANTITIES}


def test_seed_by_hand() -> None:
    got = sweep(SEED, {"H": [32, 64], "W": [32]}, as_frame=False)
    assert [(r["H"], r["W"]) for r in got] == [(32, 32), (64, 32)]
    # 6x6 kernel, 3 -> 12 channels, stride 2: out (H/2 - 2) x (W/2 - 2).
    assert got[0]["macs"] == 6 * 6 * 3 * 12 * 14 * 14 and got[0]["params"] == 6 * 6 * 3 * 12 + 12
    assert got[1]["macs"] == 6 * 6 * 3 * 12 * 30 * 14 and got[1]["flops"] == 2 * got[1]["macs"]


def test_grid_equals_per_binding_analyze() -> None:
    grid: dict[str, Any] = {"H": [9, 32, 57, 224], "W": "10:40:15", "C": [1, 16], "K": "3,4"}
    got = sweep(STACK, grid, as_frame=False)
    assert len(got) == 4 * 3 * 2 * 2
    assert list(got[0]) == ["H", "W", "C", "K", *QUANTITIES]
    for r in got:
        point = {k: r[k] for k in ("H", "W", "C", "K")}
        assert {q: r[q] for q in QUANTITIES} == _direct(STACK, point), point


def test_tied_sizes_and_bindings() -> None:
    got = sweep("resnet50", {"H=W": [32, 224, 225]}, {"N": 2}, ("params", "macs"),
                as_frame=False)
    assert [(r["H"], r["W"]) for r in got] == [(32, 32), (224, 224), (225, 225)]
    assert got[1]["macs"] == 2 * 4_089_184_256 and got[1]["params"] == 25_557_032
    for r in got:
        t = cnncalc.analyze("resnet50", {"N": 2, "H": r["H"], "W": r["W"]}).totals
        assert (r["params"], r["macs"]) == (t.params, t.macs)


def test_structural_symbol_falls_back_to_one_analysis_per_point() -> None:
    got = sweep(REPEAT, {"R": [1, 2, 5], "H": [8, 16]}, as_frame=False)
    for r in got:
        assert {q: r[q] for q in QUANTITIES} == _direct(REPEAT, {"R": r["R"], "H": r["H"]})
    assert got[0]["params"] == 3 * 3 * 3 * 8 + 8


@pytest.mark.parametrize(("arch", "grid", "bind"), [
    (SEED, {"H": list(range(1, 14)), "W": [6, 7]}, {}),
    ("unet", {"H": [16, 17, 24, 32, 48], "W": [16, 40]}, {"N": 1}),
    (STACK, {"H": [2, 3, 4, 5, 6, 8], "K": [1, 2, 3, 4]}, {"C": 1, "W": 8}),
    (BROADCAST, {"H": [1, 2, 3, 5], "K": [1, 2, 3, 5]}, {}),
])
def test_rejects_exactly_what_analyze_rejects(arch: Any, grid: dict, bind: dict) -> None:
    keys = list(grid)
    for a in grid[keys[0]]:
        for b in grid[keys[1]]:
            point = {keys[0]: a, keys[1]: b}
            try:
                cnncalc.analyze(arch, {**bind, **point})
                ok = True
            except cnncalc.CnnCalcError:
                ok = False
            if ok:
                got = sweep(arch, {k: [v] for k, v in point.items()}, bind, as_frame=False)
                assert got[0]["macs"] == _direct(arch, {**bind, **point})["macs"]
            else:
                with pytest.raises(cnncalc.CnnCalcError, match="is not a valid size"):
                    sweep(arch, {k: [v] for k, v in point.items()}, bind, as_frame=False)


def test_merges_that_broadcast_are_analysed_on_their_own() -> None:
    # K == H leaves a 1x1 map that broadcasts in the add: valid, though the symbolic totals
    # assumed the merged sizes equal.
    got = sweep(BROADCAST, {"H=K": [2, 3, 7]}, as_frame=False)
    got += sweep(BROADCAST, {"H": [2, 3, 7], "K": [1]}, as_frame=False)
    for r in got:
        assert {q: r[q] for q in QUANTITIES} == _direct(BROADCAST, {"H": r["H"], "K": r["K"]})
    assert got[1]["activations"] == 4 * 1 * 1 + 4 * 3 * 3  # the add's output is 3x3


def test_invalid_point_is_named() -> None:
    with pytest.raises(cnncalc.CnnCalcError) as e:
        sweep("unet", {"H=W": [32, 17]}, {"N": 1}, as_frame=False)
    msg = str(e.value)
    assert msg.startswith("H=17, W=17 is not a valid size") and "up4.cat" in msg
    assert "H mod 16 == 0" in msg


@pytest.mark.parametrize(("grid", "bind", "message"), [
    ({"X": [1]}, {}, "unknown grid symbol 'X'; the symbols of resnet50 are H, N, W"),
    ({"H": [32]}, {}, "N, W neither bound nor in the grid"),
    ({"H": [32]}, {"H": 32, "N": 1, "W": 3}, "H is given twice"),
    ({"H=W": [0]}, {"N": 1}, r"grid value H=0 is outside 1\.\.1000000000"),
    ({"H=W": "a,b"}, {"N": 1}, "grid values must be integers"),
    ({}, {}, "the grid is empty"),
])
def test_errors(grid: dict, bind: dict, message: str) -> None:
    with pytest.raises(cnncalc.CnnCalcError, match=message):
        sweep("resnet50", grid, bind)


def test_unknown_quantity_and_binding() -> None:
    with pytest.raises(cnncalc.CnnCalcError, match="unknown quantity 'gflops'"):
        sweep(SEED, {"H": [8], "W": [8]}, quantities=("gflops",))
    with pytest.raises(cnncalc.CnnCalcError, match="binding for 'N'"):
        sweep(SEED, {"H": [8]}, {"N": 1, "W": 8})


def test_check_quantities() -> None:
    """One check for every report: a list or ``--quantities`` text; a typo gets a suggestion."""
    from cnncalc.core.analysis import TOTALS
    from cnncalc.report.quantities import check_quantities

    assert check_quantities(" macs, params,,") == ("macs", "params")
    assert check_quantities(list(TOTALS)) == TOTALS
    with pytest.raises(cnncalc.CnnCalcError, match=r"'flop' \(did you mean 'flops'\?\)") as e:
        check_quantities("macs,flop")
    assert e.value.kind == "input"
    with pytest.raises(cnncalc.CnnCalcError, match="unknown quantity 'zzz'; one of params"):
        check_quantities(["zzz"])
    with pytest.raises(cnncalc.CnnCalcError, match="did you mean 'peak_activation_bytes'"):
        cnncalc.compare([SEED], quantities=("peak_activations_bytes",))


def test_parse() -> None:
    assert parse_values("32:64:16") == [32, 48, 64] and parse_values("1:3") == [1, 2, 3]
    assert parse_values("8, 16,") == [8, 16]
    # ranges are counted together: two of 6,000,001 values pass MAX_POINTS (10,000,000)
    with pytest.raises(cnncalc.CnnCalcError, match="more than 10000000 values"):
        parse_values("1:6000001,1:6000001")
    assert parse_grid("H=W=1,2") == ("H=W", [1, 2])
    for bad in ("1:2:0", "1:2:3:4", "x", ""):
        with pytest.raises(cnncalc.CnnCalcError):
            parse_values(bad)


def test_dataframe_or_records(monkeypatch: pytest.MonkeyPatch) -> None:
    pd = pytest.importorskip("pandas")
    df = sweep(SEED, {"H": [32, 64], "W": [32]})
    assert isinstance(df, pd.DataFrame) and list(df["macs"]) == [254016, 544320]
    assert records(df) == sweep(SEED, {"H": [32, 64], "W": [32]}, as_frame=False)
    monkeypatch.setitem(sys.modules, "pandas", None)
    assert isinstance(sweep(SEED, {"H": [32], "W": [32]}), list)
    with pytest.raises(cnncalc.CnnCalcError, match="needs pandas: pip install"):
        sweep(SEED, {"H": [32], "W": [32]}, as_frame=True)


def test_large_sweep_is_exact() -> None:
    got = sweep("resnet50", {"H": "1:400", "W": "1:100"}, {"N": 1}, ("macs",), as_frame=False)
    assert len(got) == 40_000
    for r in got[::4999]:
        assert r["macs"] == cnncalc.analyze("resnet50", {"N": 1, "H": r["H"], "W": r["W"]}) \
            .totals.macs


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    want = sweep(SEED, {"H": [32, 64], "W": [32, 48]}, as_frame=False)
    assert main(["sweep", SEED, "--grid", "H=32,64", "--grid", "W=32,48", "-f", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [{k: int(v) for k, v in r.items()} for r in rows] == want
    assert main(["sweep", SEED, "-g", "H=32,64", "-g", "W=32,48", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == want
    assert main(["sweep", SEED, "-g", "H=W=32", "-q", "macs", "-u"]) == 0
    out = capsys.readouterr().out
    assert "254K" in out and "params" not in out
    assert main(["sweep", "resnet50", "-g", "X=1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnncalc: error: unknown grid symbol 'X'") and err.count("\n") == 1
