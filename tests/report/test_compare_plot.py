"""Comparisons (design-choice tables) and plots (the data drawn is the analysis's)."""

from __future__ import annotations

import csv
import io
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.report.compare import compare


def _net(k: int, name: str, bottleneck: bool = False) -> dict[str, Any]:
    layers: list[dict[str, Any]] = [{"type": "conv", "name": "c1", "out_channels": 64,
                                     "kernel_size": k, "padding": "same"}, {"type": "relu"}]
    if bottleneck:
        layers = [{"type": "conv", "name": "squeeze", "out_channels": 16, "kernel_size": 1},
                  *layers]
    return {"name": name, "input": {"shape": [1, "C", "H", "W"]}, "layers": layers}


def test_three_by_three_vs_five_by_five() -> None:
    cmp = compare([_net(3, "k3"), _net(5, "k5")], {"C": 64, "H": 32, "W": 32})
    t3, t5 = (an.totals for an in cmp.analyses)
    assert t3.params == 3 * 3 * 64 * 64 + 64 and t5.params == 5 * 5 * 64 * 64 + 64
    assert t3.macs == 3 * 3 * 64 * 64 * 32 * 32 and t5.macs == 5 * 5 * 64 * 64 * 32 * 32
    assert cmp.ratio(1) == pytest.approx(25 / 9)
    rows = list(csv.reader(io.StringIO(cmp.render("csv"))))
    assert rows[0][-1] == "MACs vs first" and rows[2][-1] == "2.78x"
    assert rows[1][:3] == ["k3", "1x64x32x32", str(t3.params)]


def test_bottleneck_formulas() -> None:
    cmp = compare([_net(3, "plain"), _net(3, "bottleneck", bottleneck=True)])
    text = cmp.render("table")
    plain, bott = cmp.analyses
    # Formulas in C when unbound: C*64*9 + 64 vs C*16 + 16 + 16*64*9 + 64.
    assert str(plain.totals.params) == "576*C + 64"
    assert str(bott.totals.params) == "16*C + 9296"
    assert "576*C + 64" in text and "16*C + 9296" in text and "MACs vs first" not in text
    data = json.loads(cmp.render("json"))
    assert data[1]["totals"]["params"] == "16*C + 9296" and data[0]["symbols"] == ["C", "H", "W"]


def test_shared_bindings_apply_where_used() -> None:
    cmp = compare(["resnet18", "seed_example"], {"N": 1, "H": 224, "W": 224})
    assert cmp.analyses[0].bindings == {"N": 1, "H": 224, "W": 224}
    assert cmp.analyses[1].bindings == {"H": 224, "W": 224}
    with pytest.raises(cnncalc.CnnCalcError, match="binding for Q, but no compared"):
        compare(["seed_example"], {"Q": 1})
    with pytest.raises(cnncalc.CnnCalcError, match="nothing to compare"):
        compare([])
    with pytest.raises(cnncalc.CnnCalcError, match="unknown quantity"):
        compare(["seed_example"], quantities=("mac",))


def test_duplicate_names_get_labels(tmp_path: Path) -> None:
    p = tmp_path / "other.json"
    p.write_text(json.dumps({**_net(3, "seed-example")}))
    cmp = compare(["seed_example", str(p)])
    assert cmp.labels == ["seed-example (seed_example)", "seed-example (other.json)"]


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "csv", "html", "json"])
def test_cli_formats(capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    argv = ["compare", "resnet18", "resnet50", "-b", "N=1", "-b", "H=224", "-b", "W=224",
            "-f", fmt]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out == compare(["resnet18", "resnet50"], {"N": 1, "H": 224, "W": 224}).render(fmt)
    if fmt == "html":
        assert len(list(ET.fromstring(out).iter("tr"))) == 3
    if fmt == "json":
        assert [d["totals"]["macs"] for d in json.loads(out)] == [1_814_073_344, 4_089_184_256]
    if fmt == "csv":
        assert list(csv.reader(io.StringIO(out)))[2][-1] == "2.25x"


# --- plots ------------------------------------------------------------------------------------

R50 = {"N": 1, "H": 224, "W": 224}


@pytest.fixture
def mpl() -> Any:
    return pytest.importorskip("matplotlib", reason="matplotlib is an optional extra (tables)")


def test_layers_plot_draws_the_analysis(mpl: Any, tmp_path: Path) -> None:
    out = tmp_path / "layers.png"
    from cnncalc.report.plot import plot
    fig = plot("resnet18", "layers", out, bindings=R50)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    an = cnncalc.analyze("resnet18", R50)
    convs = [r for r in an.layers if r.macs]
    ax_m, ax_p = fig.axes
    assert [round(b.get_height()) for b in ax_m.patches] == [r.macs for r in convs]
    assert [round(b.get_height()) for b in ax_p.patches] == [r.params for r in convs]
    assert [t.get_text() for t in ax_p.get_xticklabels()] == [r.name for r in convs]


def test_rf_plot_draws_the_receptive_fields(mpl: Any, tmp_path: Path) -> None:
    from cnncalc.report.plot import plot
    out = tmp_path / "rf.svg"
    fig = plot("resnet50", "rf", out, bindings=R50, depth=1)
    assert b"<svg" in out.read_bytes()[:400]
    an = cnncalc.analyze("resnet50", R50)
    last = {}
    for r in an.layers:
        last[r.name.split(".")[0]] = r.receptive_field
    size_line = fig.axes[0].get_lines()[0]
    assert list(size_line.get_ydata()) == [float(v.size[0]) for v in last.values()]
    assert list(fig.axes[1].get_lines()[0].get_ydata()) == [float(v.stride[0])
                                                            for v in last.values()]


def test_rf_plot_of_an_mlp_is_refused(mpl: Any, tmp_path: Path) -> None:
    from cnncalc.report.plot import plot
    mlp = {"input": {"shape": ["N", 784]}, "layers": [{"type": "linear", "out_features": 10}]}
    with pytest.raises(cnncalc.CnnCalcError, match=r"needs spatial axes; the input \[N, 784\] "
                                                    r"is \[N, features\]") as e:
        plot(mlp, "rf", tmp_path / "rf.svg")
    assert e.value.kind == "input"
    assert not (tmp_path / "rf.svg").exists()


def test_scaling_plot_draws_the_sweep(mpl: Any, tmp_path: Path) -> None:
    from cnncalc.report.plot import plot
    out = tmp_path / "scaling.pdf"
    fig = plot("resnet50", "scaling", out, bindings={"N": 1}, over="H=W=32:224:64")
    assert out.read_bytes()[:5] == b"%PDF-"
    macs = fig.axes[0].get_lines()[0]
    assert list(macs.get_xdata()) == [32, 96, 160, 224]
    assert list(macs.get_ydata())[-1] == 4_089_184_256


def test_plot_errors(mpl: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    from cnncalc.report.plot import plot
    with pytest.raises(cnncalc.CnnCalcError, match="needs numbers: bind H, N, W"):
        plot("resnet18", "layers")
    with pytest.raises(cnncalc.CnnCalcError, match="cannot write a plot as .gif"):
        plot("resnet18", "layers", tmp_path / "x.gif", bindings=R50)
    with pytest.raises(cnncalc.CnnCalcError, match="needs the size to sweep"):
        plot("resnet18", "scaling", bindings={"N": 1})
    with pytest.raises(cnncalc.CnnCalcError, match="unknown plot kind"):
        plot("resnet18", "pie")
    assert main(["plot", "resnet18", "-o", str(tmp_path / "a.png"), "-k", "rf"]) == 2
    assert "bind H, N, W" in capsys.readouterr().err
    assert main(["plot", "seed_example", "-b", "H=32", "-b", "W=32", "-k", "rf", "-o",
                 str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(cnncalc.CnnCalcError, match=r"plots need matplotlib: pip install"):
        plot("resnet18", "layers", bindings=R50)
