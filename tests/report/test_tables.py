"""Design tables: golden files per format, CSV round trip, well-formed HTML, LaTeX that compiles,
depth grouping and units checked against hand arithmetic.

Regenerate the golden files with ``CNNCALC_REGEN_GOLDEN=1 pytest tests/report/test_tables.py``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.report.tables import ALL_COLUMNS, FORMATS, human, layer_rows, plain, render, rows

GOLDEN = Path(__file__).parent / "golden"
REGEN = bool(os.environ.get("CNNCALC_REGEN_GOLDEN"))
SUFFIX = {"table": "txt", "markdown": "md", "latex": "tex", "csv": "csv", "html": "html"}
R18 = {"N": 1, "H": 224, "W": 224}
CASES: dict[str, tuple[str, dict[str, int], dict[str, Any]]] = {
    "resnet18": ("resnet18", R18, {}),
    "seed_example": ("seed_example", {}, {}),
    "resnet18_depth1_units": ("resnet18", R18, {"depth": 1, "units": True,
                                                "columns": tuple(ALL_COLUMNS)}),
}
FULL_SEED = {"name": "seed-example", "input": {"shape": [1, 3, "H", "W"]},
             "layers": [{"type": "conv", "name": "conv1", "out_channels": 12,
                         "kernel_size": 6, "stride": 2}, {"type": "relu"}]}


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run CNNCALC_REGEN_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(encoding="utf-8"), \
        f"{name} differs from its golden file; if intended, regenerate with CNNCALC_REGEN_GOLDEN=1"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", ["resnet18", "seed_example"])
def test_golden(case: str, fmt: str) -> None:
    arch, bind, opts = CASES[case]
    _golden(f"{case}_{fmt}.{SUFFIX[fmt]}", cnncalc.analyze(arch, bind).to_table(fmt, **opts))


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_golden_depth_units(fmt: str) -> None:
    arch, bind, opts = CASES["resnet18_depth1_units"]
    _golden(f"resnet18_depth1_units_{fmt}.{SUFFIX[fmt]}",
            render(cnncalc.analyze(arch, bind), fmt, **opts))


def test_table_format_is_the_plain_renderer() -> None:
    an = cnncalc.analyze("seed_example", {"H": 32, "W": 32})
    assert an.to_table() == plain(an) == render(an, "table")
    header, body, foot = rows(an)
    assert header[0] == "layer" and foot[0] == "total"
    assert body[0][:5] == ["conv1", "conv", "1x12x14x14", "1308", "254016"]


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("bind", [R18, {}])
def test_csv_round_trips(bind: dict[str, int]) -> None:
    an = cnncalc.analyze("resnet18", bind)
    cols = ("name", "type", "output_shape", "params", "macs", "flops", "memory")
    got = _csv(an.to_table("csv", columns=cols))
    assert got[0] == ["layer", "type", "output shape", "params", "MACs", "FLOPs", "memory"]
    assert len(got) == len(an.layers) + 2
    for r, row in zip(an.layers, got[1:-1], strict=True):
        d = r.to_dict()
        assert row[0] == r.name and row[1] == r.type
        want_shape = "x".join(str(x) if isinstance(x, int) else f"({x})"
                              if not str(x).isalnum() else str(x) for x in d["output_shape"])
        assert row[2] == want_shape
        assert row[3:6] == [str(d["params"]), str(d["macs"]), str(d["flops"])]
    tot = an.totals.to_dict()
    assert got[-1][:2] == ["total", ""]
    assert got[-1][3:7] == [str(tot["params"]), str(tot["macs"]), str(tot["flops"]),
                            str(tot["activation_bytes"])]
    if bind:
        assert got[-1][3] == "11689512" and got[-1][4] == "1814073344"  # torchvision's figures


def test_csv_quotes_commas() -> None:
    an = cnncalc.analyze({**FULL_SEED, "symbols": {"K1": {}, "K2": {}}, "layers": [
        {"type": "conv", "name": "c", "out_channels": 4, "kernel_size": ["K1", "K2"]}]})
    got = _csv(an.to_table("csv", columns=("name", "macs", "receptive_field")))
    assert got[1] == ["c", str(cnncalc.core.analysis.jsonable(an.layers[0].macs)), "K1xK2 /1x1"]


@pytest.mark.parametrize("bind", [R18, {}])
def test_html_is_well_formed(bind: dict[str, int]) -> None:
    an = cnncalc.analyze("resnet18", bind)
    root = ET.fromstring(an.to_table("html", columns=tuple(ALL_COLUMNS)))
    assert root.tag == "table"
    head = [th.text for th in root.iter("th")]
    assert head == [h for h, _ in ALL_COLUMNS.values()]
    body = root.find("tbody")
    assert body is not None and len(body) == len(an.layers)
    first = ["".join(td.itertext()) for td in body[0]]
    assert first[0] == "conv1" and first[3] == "9408"
    foot = root.find("tfoot")
    assert foot is not None
    assert "".join(foot[0][3].itertext()) == str(cnncalc.core.analysis.jsonable(an.totals.params))


def test_markdown_shape() -> None:
    an = cnncalc.analyze("seed_example")
    lines = an.to_table("markdown").splitlines()
    assert lines[1].startswith("|:") and "-:|" in lines[1]
    ncols = lines[0].count("|")
    assert all(line.count("|") == ncols for line in lines)
    assert "`1296*(floor(H/2) - 2)*(floor(W/2) - 2)`" in lines[2]
    assert lines[-1].startswith("| **total**")


def test_latex_escapes_and_formulas() -> None:
    arch = {"name": "a&b_%", "input": {"shape": [1, 3, "H_in", "W"]},
            "layers": [{"type": "conv", "name": "c_1", "out_channels": 4, "kernel_size": 3},
                       {"type": "batch_norm", "name": "bn_1"}]}
    tex = cnncalc.analyze(arch).to_table("latex")
    assert r"\caption{a\&b\_\%: input $1 \times 3 \times H_{in} \times W$}" in tex
    assert r"c\_1 & conv" in tex and r"bn\_1 & batch\_norm" in tex
    assert r"$108 \left(H_{in} - 2\right) \left(W - 2\right)$" in tex
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1
    assert "_" not in re.sub(r"\$[^$]*\$|\\_", "", tex.split(r"\begin{tabular}")[1])


def _pdflatex() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        pytest.skip("pdflatex is not installed (Debian: apt-get install texlive-latex-base "
                    "texlive-latex-recommended; scripts/test.sh does it when CI is set)")
    return exe


def test_latex_compiles(tmp_path: Path) -> None:
    exe = _pdflatex()
    tables = [cnncalc.analyze("resnet18", R18).to_table("latex", depth=2, units=True),
              cnncalc.analyze("seed_example").to_table("latex"),
              cnncalc.compare(["seed_example", "seed_example"]).render("latex"),
              render(cnncalc.analyze("unet", {"N": 1}), "latex",
                     columns=("name", "type", "output_shape", "memory"), depth=1, units="iec"),
              render(cnncalc.analyze(UNREAD), "latex")]  # ends with its warning
    assert "never read" in tables[-1]
    doc = "\n".join([r"\documentclass{article}", r"\usepackage{booktabs}",
                     r"\usepackage[margin=5mm,paperwidth=60cm,paperheight=80cm]{geometry}",
                     r"\begin{document}", *tables, r"\end{document}", ""])
    (tmp_path / "t.tex").write_text(doc)
    res = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-3000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "! " not in log


def test_depth_sums_match_hand_arithmetic() -> None:
    an = cnncalc.analyze("resnet18", R18)
    d1 = {r["name"]: r for r in layer_rows(an, 1)}
    assert list(d1)[:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    # layer1: two basic blocks, each two 3x3 convs 64->64 (no bias) and two batch norms.
    block = 2 * (3 * 3 * 64 * 64) + 2 * (2 * 64)
    assert d1["layer1"]["params"] == 2 * block
    assert d1["layer1"]["macs"] == 2 * 2 * (3 * 3 * 64 * 64 * 56 * 56)
    assert d1["layer1"]["type"] == "basic" and d1["layer2"]["type"] == "basic_down, basic"
    assert d1["layer4"]["output_shape"] == (1, 512, 7, 7)
    d2 = {r["name"]: r for r in layer_rows(an, 2)}
    assert d2["layer1.0"]["params"] == block and d2["conv1"]["type"] == "conv"
    assert d2["layer1.0"]["activations"] == 7 * 64 * 56 * 56
    assert d2["layer1.0"]["memory"] == 4 * 7 * 64 * 56 * 56


@pytest.mark.parametrize("model", ["resnet50", "densenet121", "unet", "inception_v3"])
def test_depth_groups_add_up_to_the_totals(model: str) -> None:
    an = cnncalc.analyze(model)
    for depth in (1, 2, 3):
        grouped = layer_rows(an, depth)
        for q in ("params", "macs", "activations"):
            got = sum(r[q] for r in grouped)
            assert got - getattr(an.totals, q) == 0, (depth, q)


def test_units() -> None:
    assert human(25_557_032) == "25.6M" and human(4_089_184_256) == "4.09G"
    assert human(999) == "999" and human(1308) == "1.31K" and human(999_500) == "1.00M"
    assert human(512, "bytes") == "512 B" and human(1536, "bytes") == "1.54 KB"
    assert human(1536, "bytes", "iec") == "1.50 KiB"
    assert human(3 * 2**20, "bytes", "iec") == "3.00 MiB"
    assert human(1536, "count", "iec") == "1.54K"
    assert human(1536, "count", False) == "1536"
    an = cnncalc.analyze("resnet50", {"N": 1, "H": 224, "W": 224})
    foot = _csv(an.to_table("csv", columns=("name", "params", "macs", "memory"),
                            units=True))[-1]
    assert foot == ["total", "25.6M", "4.09G", human(int(an.totals.activation_bytes), "bytes")]
    sym = cnncalc.analyze("seed_example").to_table("csv", units=True)
    assert "1296*(floor(H/2) - 2)" in sym and "1.31K" in sym  # formulas are never scaled


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"fmt": "docx"}, "unknown table format 'docx'"),
    ({"columns": ("name", "flops2")}, "unknown column 'flops2'"),
    ({"depth": 0}, "depth must be a positive integer"),
    ({"units": "bits"}, "unknown units"),
])
def test_bad_options(kwargs: dict, message: str) -> None:
    an = cnncalc.analyze("seed_example")
    with pytest.raises(cnncalc.CnnCalcError, match=re.escape(message)):
        an.to_table(**kwargs)


def test_columns_and_aliases() -> None:
    an = cnncalc.analyze("seed_example", {"H": 32, "W": 32})
    got = _csv(render(an, "csv", columns="name,shape,rf,mem"))
    assert got[0] == ["layer", "output shape", "RF size /stride", "memory"]
    assert got[1] == ["conv1", "1x12x14x14", "6x6 /2x2", str(4 * 12 * 14 * 14)]


def test_cli_formats(capsys: pytest.CaptureFixture[str]) -> None:
    an = cnncalc.analyze("resnet18", R18)
    for fmt in FORMATS:
        assert main(["analyze", "resnet18", "-b", "N=1", "-b", "H=224", "-b", "W=224",
                     "-f", fmt, "-d", "1", "-c", "name,params,macs", "-u"]) == 0
        assert capsys.readouterr().out == an.to_table(fmt, columns=("name", "params", "macs"),
                                                      depth=1, units=True)
    assert main(["analyze", "seed_example", "-c", "name,nope"]) == 2
    assert "unknown column 'nope'" in capsys.readouterr().err
    assert main(["analyze", "seed_example", "--depth", "0"]) == 2
    assert "depth must be a positive integer" in capsys.readouterr().err


# 8 rows, kernel 3, stride 2: windows start at 0, 2, 4 and read rows 0..6; row 7 is unread.
UNREAD = {"name": "w", "input": {"shape": [1, 3, 8, 8]},
          "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 2}]}


def test_every_format_carries_the_warnings(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    arch = UNREAD
    an = cnncalc.analyze(arch)
    assert an.layers[0].output_shape == (1, 4, (8 - 3) // 2 + 1, (8 - 3) // 2 + 1)
    [w] = an.warnings
    assert "never read" in w
    for fmt in ("table", "markdown", "latex", "html"):
        assert "never read" in render(an, fmt), fmt
    latex = render(an, "latex")
    assert latex.index(r"\end{tabular}") < latex.index("never read") < latex.index(r"\end{table}")
    html = render(an, "html")
    assert html.index("</table>") < html.index("never read")
    ET.fromstring(f"<div>{html}</div>")  # still well-formed
    csv_text = render(an, "csv")
    assert "never read" not in csv_text  # the rows stay data; the command puts it on stderr
    assert len(list(csv.reader(io.StringIO(csv_text)))) == 1 + 1 + 1  # header, conv, total
    src = tmp_path / "warned.json"
    src.write_text(json.dumps(arch))
    assert main(["analyze", str(src), "--format", "csv"]) == 0
    out, err = capsys.readouterr()
    assert "never read" not in out and "warning: conv0:" in err
