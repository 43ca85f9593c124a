"""Reading layers timed in networks, and leave-one-network-out, on measurements made up from
zoo analyses with a known law (so the expected numbers are arithmetic), without torch."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from pathlib import Path

import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.cost.features import NUMERIC, Caches, layer_features
from cnncalc.cost.lono import (
    RunTime,
    fit_glue,
    glue_per_layer,
    leave_one_network_out,
    load_context_csv,
)
from cnncalc.errors import CnnCalcError

COLUMNS = ("run", "network", "source", "h", "w", "batch", "device", "dtype", "index", "layer",
           "time_ms", "iqr_ms", "type", "group", "prev", *NUMERIC, "layers", "macs",
           "layer_sum_ms")
GLUE_MS = 0.002


def law_ms(row: dict[str, float | str]) -> float:
    """The made-up law: 5 us per layer, 1 ns per MAC, 0.2 ns per byte moved."""
    return 5e-3 + 1e-6 * math.expm1(float(row["log_macs"])) \
        + 2e-7 * math.expm1(float(row["log_bytes"]))


def write_csv(path: Path, nets: dict[str, list[int]]) -> dict[str, float]:
    """Runs of zoo networks at square sizes, timed by :func:`law_ms`; returns each run's
    network ms (layers plus GLUE_MS per layer)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    totals = {}
    for net, sizes in nets.items():
        for h in sizes:
            an = cnncalc.analyze(net, {k: v for k, v in {"N": 1, "H": h, "W": h}.items()
                                       if k in cnncalc.analyze(net).free_symbols})
            run = f"{net}@{h}x{h}@b1@t1"
            head = [run, net, "zoo", h, h, 1, "cpu", "float32"]
            feats = layer_features(an, 1, Caches())
            layer_sum = 0.0
            for i, (r, ft) in enumerate(zip(an.layers, feats, strict=True)):
                t = law_ms(ft)
                layer_sum += t
                w.writerow([*head, i, r.name, repr(t), 0, ft["type"], ft["group"], ft["prev"],
                            *(ft[c] for c in NUMERIC), "", "", ""])
            totals[run] = layer_sum + GLUE_MS * len(an.layers)
            w.writerow([*head, -1, "(network)", repr(totals[run]), 0, "", "", "",
                        *(1 if c == "threads" else "" for c in NUMERIC), len(an.layers),
                        an.totals.macs, repr(layer_sum)])
    path.write_text(buf.getvalue())
    return totals


def test_reads_runs_and_layers(tmp_path: Path) -> None:
    totals = write_csv(tmp_path / "c.csv", {"seed_example": [32, 48], "lenet5": [32]})
    d = load_context_csv(tmp_path / "c.csv")
    assert d.networks() == ["lenet5", "seed_example"]
    assert len(d.rows) == 2 + 2 + 12
    run = d.runs["lenet5@32x32@b1@t1"]
    assert (run.layers, run.batch, run.threads) == (12, 1, 1)
    assert run.seconds == pytest.approx(totals["lenet5@32x32@b1@t1"] / 1e3)
    # the glue: (network - layer sum) / layers, the same 2 us in every run
    assert glue_per_layer(list(d.runs.values())) == pytest.approx(GLUE_MS / 1e3)
    gz = tmp_path / "c.csv.gz"
    gz.write_bytes(gzip.compress((tmp_path / "c.csv").read_bytes()))
    assert load_context_csv(gz).runs == d.runs


def test_glue_is_never_negative() -> None:
    runs = [RunTime("a", "a", "1x1", 1, 1, 1.0, 10, 1.5)]
    assert glue_per_layer(runs) == 0.0


def test_glue_fit_recovers_a_constant_and_a_share_of_the_layers() -> None:
    # network = layers + 2 us per layer + 3 % of the layers' time, exactly; one run timed
    # beside other load (30 % slower) does not move the fit (least absolute deviations)
    runs = [RunTime(f"r{n}", "x", "1x1", 1, 1, s * 1.03 + 2e-6 * n, n, s)
            for n, s in ((2, 1e-4), (12, 2e-4), (50, 5e-3), (150, 2e-2), (300, 1e-1),
                         (70, 1e-3))]
    runs.append(RunTime("slow", "x", "1x1", 1, 1, 1.3 * (4e-2 * 1.03 + 2e-4), 100, 4e-2))
    a, b = fit_glue(runs)
    assert (a, b) == pytest.approx((2e-6, 0.03), rel=1e-3)
    # too few runs to tell the two apart: the median per layer, nothing relative
    assert fit_glue(runs[:2]) == (glue_per_layer(runs[:2]), 0.0)


def test_rows_of_an_unfinished_run_are_ignored(tmp_path: Path) -> None:
    write_csv(tmp_path / "c.csv", {"seed_example": [32, 48]})
    lines = (tmp_path / "c.csv").read_text().splitlines()
    (tmp_path / "c.csv").write_text("\n".join(lines[:-1]) + "\n")  # the last network row lost
    d = load_context_csv(tmp_path / "c.csv")
    assert list(d.runs) == ["seed_example@32x32@b1@t1"] and len(d.rows) == 2


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("time_ms", "time"), "no column time_ms"),
    (lambda t: t.replace(",conv,conv,none,", ",conv,conv,none,x", 1), "line 2: "),
    (lambda t: t.splitlines()[0] + "\n", "no complete run"),
    (lambda t: t.replace("(network)", "net"), "line 4: log_batch '' is not a number"),
])
def test_bad_measurements_are_one_clear_error(tmp_path: Path, edit: object,
                                              message: str) -> None:
    write_csv(tmp_path / "c.csv", {"seed_example": [32]})
    p = tmp_path / "bad.csv"
    p.write_text(edit((tmp_path / "c.csv").read_text()))  # type: ignore[operator]
    with pytest.raises(CnnCalcError, match=message) as e:
        load_context_csv(p)
    assert e.value.kind == "input"


def test_a_damaged_gzip_is_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "c.csv.gz"
    p.write_bytes(b"\x1f\x8b\x08not really gzip")
    with pytest.raises(CnnCalcError, match="not a readable gzip file"):
        load_context_csv(p)


def test_leave_one_network_out_on_a_known_law(tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    nets = {"seed_example": [24, 32, 40, 48, 56, 64], "lenet5": [32, 36, 40, 44, 48, 52],
            "alexnet": [127, 160]}
    totals = write_csv(tmp_path / "c.csv", nets)
    d = load_context_csv(tmp_path / "c.csv")
    ev = leave_one_network_out(d, Caches())
    assert {r.run.id for r in ev.runs} == set(totals)
    assert len(ev.layer_measured) == len(d.rows)
    for r in ev.runs:  # each run's measured time is the CSV's network row
        assert r.run.seconds == pytest.approx(totals[r.run.id] / 1e3)
    # the same two-sided law holds in every network, so held-out networks come out close
    s = ev.summary()
    assert s["runs"] == 14 and s["networks"] == 3 and s["median_error"] < 0.35
    net_band, layer_band = ev.bands()
    assert net_band.n == 14 and layer_band.n == len(d.rows)
    assert net_band.q05 <= net_band.q50 <= net_band.q95
    # two workers give the same folds
    ev2 = leave_one_network_out(d, Caches(), workers=2)
    assert [r.predicted for r in ev2.runs] == [r.predicted for r in ev.runs]


def test_cost_lono_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("lightgbm")
    write_csv(tmp_path / "c.csv", {"seed_example": [32, 48], "lenet5": [32, 40]})
    assert main(["cost", "lono", str(tmp_path / "c.csv"), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["summary"]["runs"] == 4 and len(d["runs"]) == 4
    assert main(["cost", "lono", str(tmp_path / "c.csv"), "--runs", "--format",
                 "markdown"]) == 0
    out = capsys.readouterr().out
    assert "| runs | networks |" in out and "seed_example" in out
    assert main(["cost", "lono", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
