"""Notebooks: the design table as HTML and Markdown (``_repr_html_``, ``_repr_markdown_``), one
DataFrame row per layer, readable layer results, and explanations as Markdown.

Oracles: resnet18 at 224 has torchvision's published 11,689,512 parameters and 1,814,073,344
MACs (its weights' metadata: ``num_params`` 11689512, ``_ops`` 1.814 GFLOPS); the seed
example's conv is the lecture's, its figures written out as arithmetic; every DataFrame cell
is compared with the analysis's own result, and a symbolic frame's formulas, read back in
cnncalc's grammar, give the bound frame.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser

import pytest

import cnncalc
from cnncalc.algebra.expr import compile_formula
from cnncalc.core.explain import explain
from cnncalc.core.results import QUANTITIES, RECORD_COLUMNS
from cnncalc.report.explain import render as render_explanation

pd = pytest.importorskip("pandas")

R18 = {"N": 1, "H": 224, "W": 224}
R18_PARAMS = 11_689_512
R18_MACS = 1_814_073_344


class _Tree(HTMLParser):
    """Checks tags balance (no void elements are expected) and collects the text of every
    element, by tag, as the stack of open tags sees it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.cells: list[list[str]] = []  # rows of <td>/<th> texts
        self.items: list[str] = []        # <li> texts
        self.sections: list[str] = []     # the tbody/tfoot/thead each row is in

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)
        if tag == "tr":
            self.cells.append([])
            self.sections.append(next((t for t in reversed(self.stack)
                                       if t in ("thead", "tbody", "tfoot")), ""))
        elif tag in ("td", "th"):
            self.cells[-1].append("")
        elif tag == "li":
            self.items.append("")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if self.stack and self.stack[-1] in ("td", "th", "code") and self.cells \
                and "tr" in self.stack:
            self.cells[-1][-1] += data
        elif "li" in self.stack:
            self.items[-1] += data


def _parse(text: str) -> _Tree:
    t = _Tree()
    t.feed(text)
    t.close()
    assert not t.problems, t.problems
    assert not t.stack, f"unclosed: {t.stack}"
    return t


def _unescape_md(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


# --- layer results ------------------------------------------------------------------------------

def test_layer_repr_bound() -> None:
    an = cnncalc.analyze("seed_example", {"H": 32, "W": 32})
    out = (32 - 6) // 2 + 1  # 14: floor((H - K)/S) + 1
    params = 6 * 6 * 3 * 12 + 12
    macs = 6 * 6 * 3 * 12 * out * out
    assert (params, macs) == (1308, 254016)
    assert repr(an.layers[0]) == (f"<conv1 conv: 1x12x{out}x{out}, params {params}, MACs {macs}, "
                                  "RF 6x6/2x2>")
    assert repr(an.layers[1]) == f"<relu1 relu: 1x12x{out}x{out}, params 0, MACs 0, RF 6x6/2x2>"


def test_layer_repr_symbolic_and_without_spatial_axes() -> None:
    an = cnncalc.analyze("seed_example")
    assert repr(an.layers[0]) == ("<conv1 conv: 1x12x(floor(H/2) - 2)x(floor(W/2) - 2), params "
                                  "1308, MACs 1296*(floor(H/2) - 2)*(floor(W/2) - 2), RF 6x6/2x2>")
    mlp = cnncalc.analyze({"input": {"shape": ["N", 20]},
                           "layers": [{"type": "linear", "name": "fc", "out_features": 5}]})
    assert repr(mlp.layers[0]) == f"<fc linear: Nx5, params {20 * 5 + 5}, MACs {20 * 5}*N, RF none>"


OPAQUE = {"input": {"shape": [1, 3, 8, 8]},
          "layers": [{"type": "opaque", "name": "roll", "op": "torch.roll", "shape": [1, 3, 8, 8]},
                     {"type": "conv", "name": "c", "out_channels": 2, "kernel_size": 3}]}


def test_opaque_layers_say_their_counts_are_unknown() -> None:
    an = cnncalc.analyze(OPAQUE)
    assert [repr(r) for r in an.layers] == [
        "<roll opaque: 1x3x8x8, params 0, MACs 0, RF not defined, counts unknown>",
        f"<c conv: 1x2x6x6, params {3 * 3 * 3 * 2 + 2}, MACs {3 * 3 * 3 * 2 * 6 * 6}, "
        "RF not defined>"]
    note = "incomplete: counts of opaque layers roll are unknown"
    assert _parse(an._repr_html_()).items == [note]
    md = an._repr_markdown_()
    assert md.count("incomplete:") == 1 and f"- *{note}*" in md


# --- DataFrame ----------------------------------------------------------------------------------

def test_dataframe_bound_resnet18_equals_the_analysis() -> None:
    an = cnncalc.analyze("resnet18", R18)
    df = an.to_dataframe()
    assert list(df.columns) == list(RECORD_COLUMNS)
    assert len(df) == len(an.layers)
    for q in QUANTITIES:
        assert df[q].dtype == "int64", q
    assert int(df["params"].sum()) == R18_PARAMS
    assert int(df["macs"].sum()) == R18_MACS
    assert int(df["flops"].sum()) == 2 * R18_MACS
    assert int(df["activations"].sum()) == an.totals.activations
    for row, r in zip(df.itertuples(index=False), an.layers, strict=True):
        assert row.name == r.name and row.type == r.type and row.inputs == tuple(r.inputs)
        assert row.output_shape == r.output_shape
        for q in QUANTITIES:
            assert getattr(row, q) == getattr(r, q), (r.name, q)
        rf = r.receptive_field
        assert (row.rf_size, row.rf_stride, row.rf_start) == (rf.size, rf.stride, rf.start)
    first = df.iloc[0]  # conv1: 7x7, stride 2, pad 3, 3 -> 64 channels, 224 -> 112
    assert first["params"] == 7 * 7 * 3 * 64
    assert first["macs"] == 7 * 7 * 3 * 64 * 112 * 112
    assert first["output_shape"] == (1, 64, 112, 112)
    assert (first["rf_size"], first["rf_stride"], first["rf_start"]) == ((7, 7), (2, 2), (-3, -3))


def test_dataframe_symbolic_formulas_read_back_to_the_bound_numbers() -> None:
    sym = cnncalc.analyze("resnet18").to_dataframe()
    bound = cnncalc.analyze("resnet18", R18).to_dataframe()
    assert list(sym.columns) == list(bound.columns) and len(sym) == len(bound)
    assert sym.loc[sym["name"] == "fc", "macs"].item() == "512000*N"
    assert sym.loc[0, "output_shape"] == ("N", 64, "ceil(H/2)", "ceil(W/2)")
    formulas = 0
    for (_, s), (_, b) in zip(sym.iterrows(), bound.iterrows(), strict=True):
        for col in ("output_shape", *QUANTITIES, "rf_size", "rf_stride", "rf_start"):
            sv = s[col] if isinstance(s[col], tuple) else (s[col],)
            bv = b[col] if isinstance(b[col], tuple) else (b[col],)
            for x, y in zip(sv, bv, strict=True):
                if isinstance(x, str):
                    formulas += 1
                    assert compile_formula(x)(R18) == y, (s["name"], col, x)
                else:
                    assert isinstance(x, int) and x == y, (s["name"], col)
    assert formulas > 300  # shapes, counts and fields are formulas in N, H and W


def test_dataframe_without_pandas_is_a_dependency_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    an = cnncalc.analyze("seed_example")
    with pytest.raises(cnncalc.CnnCalcError) as e:
        an.to_dataframe()
    assert e.value.kind == "dependency"
    assert "pip install 'cnncalc[tables]'" in str(e.value)


# --- HTML ---------------------------------------------------------------------------------------

def test_html_is_the_table_with_totals_and_notes_resnet18() -> None:
    an = cnncalc.analyze("resnet18", R18)
    text = an._repr_html_()
    assert text.startswith(an.to_table("html"))
    t = _parse(text)
    body = [c for c, s in zip(t.cells, t.sections, strict=True) if s == "tbody"]
    foot = [c for c, s in zip(t.cells, t.sections, strict=True) if s == "tfoot"]
    assert len(body) == len(an.layers)
    assert body[0] == ["conv1", "conv", "1x64x112x112", str(7 * 7 * 3 * 64),
                       str(7 * 7 * 3 * 64 * 112 * 112), str(64 * 112 * 112), "7x7 /2x2"]
    assert foot == [["total", "", "", str(R18_PARAMS), str(R18_MACS),
                     str(an.totals.activations), "224x224 /224x224"]]
    assert sum(int(r[5]) for r in body) == an.totals.activations
    # resnet18 at 224 has no constraint left (every size bound) and 224 is not 32k + 1.
    assert an.constraints == []
    assert t.items == ["exact sizes: " + "; ".join(an.exact_sizes)]
    assert t.items[0].startswith("exact sizes: H=224, W=224: not every strided window tiles")


def test_html_symbolic_lists_constraints_and_escapes_warnings() -> None:
    seed = cnncalc.analyze("seed_example")
    t = _parse(seed._repr_html_())
    # A 6-wide window needs 6 rows and columns; stride 2 tiles exactly at even sizes.
    assert t.items == ["constraints: H >= 6; W >= 6",
                       "exact sizes: H mod 2 == 0 tiles every stride exactly; "
                       "W mod 2 == 0 tiles every stride exactly"]
    assert "<code>1296*(floor(H/2) - 2)*(floor(W/2) - 2)</code>" in seed._repr_html_()
    unet = cnncalc.analyze("unet")
    text = unet._repr_html_()
    t = _parse(text)
    assert unet.warnings and any("['" in w for w in unet.warnings)
    assert t.items == ["constraints: " + "; ".join(unet.constraints),
                       "exact sizes: " + "; ".join(unet.exact_sizes),
                       *("warning: " + w for w in unet.warnings)]
    assert "['" not in text  # quotes escaped


def test_html_names_an_unread_row() -> None:
    # 33 = 2*13 + 6 + 1: the window of 6 at stride 2 ends one row and one column short.
    an = cnncalc.analyze("seed_example", {"H": 33, "W": 33})
    t = _parse(an._repr_html_())
    assert t.items == [
        "exact sizes: H=33, W=33: not every strided window tiles its input exactly: 1 row and "
        "1 column past the last window at conv1",
        "warning: conv1: the last row and the last column of its input are never read (they lie "
        "past the last window)"]


# --- Markdown -----------------------------------------------------------------------------------

def test_markdown_is_the_table_with_totals_and_notes() -> None:
    an = cnncalc.analyze("resnet18", R18)
    text = an._repr_markdown_()
    title, table = text.split("\n\n", 1)
    assert title == "**resnet18**, input `1x3x224x224`, bindings `N=1, H=224, W=224`"
    assert table.startswith(an.to_table("markdown"))
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(an.layers) + 1
    total = [c.strip() for c in rows[-1].strip("|").split("|")]
    assert total == ["**total**", "", "", str(R18_PARAMS), str(R18_MACS),
                     str(an.totals.activations), "224x224 /224x224"]
    notes = [line for line in text.splitlines() if line.startswith("- ")]
    assert notes == [f"- *exact sizes: {'; '.join(an.exact_sizes)}*"]


def test_markdown_lists_each_warning_once_escaped() -> None:
    unet = cnncalc.analyze("unet")
    text = unet._repr_markdown_()
    notes = [_unescape_md(line[3:-1]) for line in text.splitlines() if line.startswith("- *")]
    assert sorted(notes) == sorted(["constraints: " + "; ".join(unet.constraints),
                                    "exact sizes: " + "; ".join(unet.exact_sizes),
                                    *("warning: " + w for w in unet.warnings)])
    assert "\\['7/2', '15/2'\\]" in text  # brackets would start a link
    assert "H mod 16 == 0" in text


# --- explanations -------------------------------------------------------------------------------

def test_explanation_renders_as_markdown() -> None:
    ex = explain(cnncalc.analyze("seed_example", {"H": 32, "W": 32}))
    md = ex._repr_markdown_()
    assert md == render_explanation(ex, "markdown")
    assert "| params | `K1*K2*C_in*C_out + C_out` | `6*6*3*12 + 12` | `1308` |" in md
    assert f"`{6 * 6 * 3 * 12 * 14 * 14}`" in md
