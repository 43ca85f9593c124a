"""The page at ``/`` in a real browser (headless Chromium): what a person sees and does."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import cnncalc

from .conftest import Page

RESNET18_URL = "/?arch=resnet18&N=1&H=224&W=224"
SEED = {
    "name": "two-layer",
    "input": {"shape": ["N", 3, "H", "W"]},
    "layers": [
        {"type": "conv", "name": "conv1", "out_channels": 12, "kernel_size": 6, "stride": 2},
        {"type": "relu", "name": "act"},
    ],
}


def row_cells(p: Page, layer: str) -> list[str]:
    """The visible numbers of a layer's row (output shape, params, MACs, ...)."""
    cells: list[str] = p.tab.eval_on_selector_all(
        f'#table tr[data-layer="{layer}"] td .v', "els => els.map(e => e.textContent)")
    return cells


def set_editor(p: Page, text: str) -> None:
    p.tab.fill("#json", text)


def open_custom(p: Page, arch: dict[str, Any], **sizes: int) -> None:
    """The page with ``arch`` typed into the editor and ``sizes`` set in the fields."""
    p.open("/?arch=seed_example&H=32&W=32")
    loads = p.tab.evaluate("window.cnncalcPage.loads")
    set_editor(p, json.dumps(arch, indent=2))
    p.wait_ready(loads + 1)
    for name, v in sizes.items():
        p.tab.fill(f'#sizes input[name="{name}"]', str(v))


def test_shared_url_shows_resnet18_at_224(page: Page) -> None:
    # torchvision's published figures for resnet18: 11,689,512 parameters (weights
    # ResNet18_Weights.IMAGENET1K_V1, num_params) and 1.814 GMACs ("GFLOPS 1.81"); the exact
    # MACs are cnncalc's, which tests/pytorch checks against PyTorch's own counters
    assert cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224}).totals.macs == 1814073344
    page.open(RESNET18_URL)
    assert page.text(".total-params .v") == "11,689,512"
    assert page.text(".total-macs .v") == "1,814,073,344"
    assert page.tab.input_value('#sizes input[name="H"]') == "224"
    assert page.tab.input_value("#zoo") == "resnet18"
    # conv1: 64 filters 7x7 over 3 channels, stride 2, padding 3: 112x112
    assert row_cells(page, "conv1")[:3] == ["1 × 64 × 112 × 112", "9,408", "118,013,952"]
    assert 7 * 7 * 3 * 64 == 9408 and 9408 * 112 * 112 == 118013952


def test_size_change_updates_numbers_from_the_formulas(page: Page) -> None:
    page.open(RESNET18_URL)
    page.tab.fill('#sizes input[name="N"]', "8")
    assert page.text(".total-macs .v") == f"{8 * 1814073344:,}"
    assert page.text(".total-params .v") == "11,689,512"
    page.tab.fill('#sizes input[name="H"]', "100")
    want = cnncalc.analyze("resnet18", {"N": 8, "H": 100, "W": 224}).totals.macs
    assert page.text(".total-macs .v") == f"{want:,}"
    assert page.tab.evaluate("window.cnncalcPage.loads") == 1  # no second analysis: no reload


def test_editing_a_kernel_size_updates_the_table(page: Page) -> None:
    open_custom(page, SEED, N=1, H=32, W=32)
    # floor((32 - 6)/2) + 1 = 14; 6*6*3*12 + 12 params
    assert row_cells(page, "conv1")[:2] == ["1 × 12 × 14 × 14", f"{6 * 6 * 3 * 12 + 12:,}"]
    loads = page.tab.evaluate("window.cnncalcPage.loads")
    text = page.tab.input_value("#json").replace('"kernel_size": 6', '"kernel_size": 4')
    set_editor(page, text)
    page.wait_ready(loads + 1)
    # floor((32 - 4)/2) + 1 = 15; 4*4*3*12 + 12 params; MACs 4*4*3*12 per output, 15*15 of them
    assert row_cells(page, "conv1")[:3] == [
        "1 × 12 × 15 × 15", f"{4 * 4 * 3 * 12 + 12:,}", f"{4 * 4 * 3 * 12 * 15 * 15:,}"]
    assert page.text(".total-params .v") == "588"


def test_an_invalid_field_is_shown_at_its_layer_without_a_reload(page: Page) -> None:
    open_custom(page, SEED, N=1, H=32, W=32)
    page.tab.evaluate("window.__same_document = true")
    text = page.tab.input_value("#json").replace('"kernel_size": 6', '"kernel_size": "x.y"')
    set_editor(page, text)
    page.tab.wait_for_selector("#error:not([hidden])")
    assert "layer 'conv1' (#0)" in page.text("#error")
    assert "kernel_size" in page.text("#error")
    # the editor marks the layer's object and, inside it, the offending value
    assert page.text("#backdrop mark.err-at") == '"x.y"'
    assert '"name": "conv1"' in page.text("#backdrop mark.err-layer")
    assert json.loads(page.tab.get_attribute("#error", "data-path") or "[]")[-1] == "kernel_size"
    assert page.tab.evaluate("window.__same_document") is True
    # fixed again: the error goes away, the table is back
    loads = page.tab.evaluate("window.cnncalcPage.loads")
    set_editor(page, text.replace('"x.y"', "6"))
    page.wait_ready(loads + 1)
    assert page.tab.is_hidden("#error")
    assert page.tab.evaluate("window.__same_document") is True


def test_a_value_out_of_range_is_marked_in_its_layer(page: Page) -> None:
    open_custom(page, SEED, N=1, H=32, W=32)
    text = page.tab.input_value("#json").replace('"kernel_size": 6', '"kernel_size": -3')
    set_editor(page, text)
    page.tab.wait_for_selector("#error:not([hidden])")
    assert page.text("#error strong") == "layer 'conv1' (#0)"
    assert "kernel_size" in page.text("#error")
    assert page.text("#backdrop mark.err-at") == "-3"
    assert page.tab.locator('#table tr.err[data-layer="conv1"]').count() == 1


def test_a_json_syntax_error_names_the_layer(page: Page) -> None:
    open_custom(page, SEED, N=1, H=32, W=32)
    page.tab.evaluate("window.__same_document = true")
    text = page.tab.input_value("#json")
    broken = text.replace('"name": "act"', '"name" "act"')
    assert broken != text
    set_editor(page, broken)
    page.tab.wait_for_selector("#error:not([hidden])")
    assert page.text("#error strong").startswith("layer #1")
    assert "expected ':'" in page.text("#error")
    assert page.text("#backdrop mark.err-layer").lstrip().startswith("{")
    assert page.tab.evaluate("window.__same_document") is True


def test_sizes_too_small_show_the_service_error(page: Page) -> None:
    open_custom(page, SEED, N=1, H=32, W=32)
    page.tab.fill('#sizes input[name="H"]', "4")  # a 6-wide kernel on 4 rows
    page.tab.wait_for_selector("#error:not([hidden])")
    assert "conv1" in page.text("#error")
    assert "H >= 6" in page.text("#notes")
    page.tab.fill('#sizes input[name="H"]', "6")
    page.tab.wait_for_selector("#error", state="hidden")
    assert row_cells(page, "conv1")[0] == "1 × 12 × 1 × 14"


def test_graph_has_one_box_per_layer(page: Page) -> None:
    page.open(RESNET18_URL)
    page.tab.click('.tabs button[data-tab="graph"]')
    layers = cnncalc.analyze("resnet18").layers
    merges = [lr.name for lr in layers if len(lr.inputs) > 1]
    assert len(merges) == 8  # one add per basic block, [2, 2, 2, 2]
    assert page.tab.locator("#graph svg g.box").count() == len(layers)
    drawn = page.tab.eval_on_selector_all("#graph g.box.merge",
                                          "els => els.map(e => e.dataset.layer)")
    assert drawn == merges
    edges = page.tab.locator("#graph path.edge").count()
    assert edges == sum(len(lr.inputs) for lr in layers)
    # the edge out of conv1 carries its output shape at the chosen sizes
    labels = page.tab.eval_on_selector_all("#graph text.shape",
                                           "els => els.map(e => e.textContent)")
    assert "1×64×112×112" in labels and "1×3×224×224" in labels


def test_explain_a_clicked_layer(page: Page) -> None:
    open_custom(page, SEED, N=1, H=32, W=32)
    page.tab.click('#table tr[data-layer="conv1"]')
    page.tab.wait_for_function(
        "document.querySelector('#explain-text').textContent.includes('conv1')")
    text = page.text("#explain-text")
    assert "6*6*3*12 + 12 = 1308" in text
    assert "floor((32 + 0 - 6)/2) + 1 = 14" in text


def test_custom_architecture_url_restores_it(page: Page, browser: Any) -> None:
    open_custom(page, SEED, N=2, H=40, W=32)
    page.tab.wait_for_function(
        "location.hash.startsWith('#a=') && location.search.includes('H=40')")
    url = page.tab.evaluate("location.href")
    assert "arch=" not in url
    other = browser.new_page()
    try:
        other.goto(url)
        other.wait_for_function("window.cnncalcPage && window.cnncalcPage.loads >= 1")
        assert other.input_value("#json") == page.tab.input_value("#json")
        assert other.input_value('#sizes input[name="H"]') == "40"
        # 2 * 6*6*3*12 * 18*14 MACs: floor((40-6)/2)+1 = 18, floor((32-6)/2)+1 = 14
        assert other.inner_text(".total-macs .v") == f"{2 * 6 * 6 * 3 * 12 * 18 * 14:,}"
    finally:
        other.close()


def test_charts_compare_and_downloads(page: Page) -> None:
    page.open(RESNET18_URL)
    page.tab.click('.tabs button[data-tab="charts"]')
    n = len(cnncalc.analyze("resnet18").layers)
    assert page.tab.locator("#charts svg").count() == 3
    assert page.tab.locator("#charts svg").first.locator("rect.bar").count() == n
    assert page.tab.locator("#sweep circle.dot").count() == len(range(32, 513, 32))
    page.tab.click('.tabs button[data-tab="compare"]')
    page.tab.wait_for_selector("#compare table")
    rows = page.tab.eval_on_selector_all(
        "#compare tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.textContent))")
    want50 = cnncalc.analyze("resnet50", {"N": 1, "H": 224, "W": 224}).totals
    assert rows[0][:3] == ["params", "11,689,512", f"{want50.params:,}"]
    assert rows[1][:3] == ["macs", "1,814,073,344", f"{want50.macs:,}"]
    with page.tab.expect_download() as dl:
        page.tab.click('.downloads button[data-format="csv"]')
    assert dl.value.suggested_filename == "resnet18.csv"
    content = open(dl.value.path(), encoding="utf-8").read()
    assert "11689512" in content.replace(",", "")


def test_no_request_leaves_the_server(page: Page) -> None:
    page.open(RESNET18_URL)
    for tab in ("graph", "charts", "compare", "table"):
        page.tab.click(f'.tabs button[data-tab="{tab}"]')
    page.tab.wait_for_selector("#compare table", state="attached")
    page.tab.click('#table tr[data-layer="conv1"]')
    page.tab.wait_for_function("document.querySelector('#explain-text').textContent.length > 5")
    assert any(u.endswith("/static/app.js") for u in page.requests)
    assert any(u.endswith("/analyze") for u in page.requests)
    others = [u for u in page.requests
              if not (u.startswith(page.base + "/") or u.startswith(("data:", "blob:")))]
    assert others == []


def test_phone_width_has_no_sideways_scroll(browser: Any, server: Any) -> None:
    tab = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        tab.goto(server.url + RESNET18_URL)
        tab.wait_for_function("window.cnncalcPage && window.cnncalcPage.loads >= 1")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390
        assert tab.inner_text(".total-params .v") == "11,689,512"
    finally:
        tab.close()


def test_resnet50_size_change_is_evaluated_in_the_page(page: Page) -> None:
    """A generous bound only (the figures: tests/bench/bench_page.py)."""
    page.open("/?arch=resnet50&N=1&H=224&W=224")
    ms = page.tab.evaluate("""() => {
        const f = document.querySelector('#sizes input[name="H"]');
        f.value = "256"; f.dispatchEvent(new Event("input"));
        return window.cnncalcPage.lastRenderMs; }""")
    assert 0 < ms < 1000
    want = cnncalc.analyze("resnet50", {"N": 1, "H": 256, "W": 224}).totals.macs
    assert page.text(".total-macs .v") == f"{want:,}"


def test_evaluator_in_chromium_matches_cnncalc(page: Page) -> None:
    """evaluate.js in the browser gives cnncalc's numbers for every formula of a network."""
    page.open("/?arch=seed_example&H=32&W=32")
    arch = {"input": {"shape": ["N", 3, "H", "W"]}, "layers": [
        {"type": "conv", "out_channels": 12, "kernel_size": 6, "stride": 2},
        {"type": "adaptive_avg_pool", "output_size": 3}]}
    symbolic = cnncalc.analyze(arch).to_dict()
    for sizes in ({"N": 1, "H": 37, "W": 40}, {"N": 3, "H": 64, "W": 11}):
        bound = cnncalc.analyze(arch, sizes).to_dict()
        got = page.tab.evaluate("""async ([an, sizes]) => {
            const m = await import("/static/evaluate.js");
            const env = m.environment(sizes);
            const q = (v) => m.plain(m.evaluate(v, env));
            return an.layers.map((l) => [l.output_shape.map(q), q(l.macs),
                l.receptive_field.size.map(q), l.receptive_field.stride.map(q)]);
        }""", [symbolic, sizes])
        want = [[[str(d) for d in lr["output_shape"]], str(lr["macs"]),
                 [str(v) for v in lr["receptive_field"]["size"]],
                 [str(v) for v in lr["receptive_field"]["stride"]]] for lr in bound["layers"]]
        assert got == want
        assert re.fullmatch(r"\d+/3", got[1][3][0]) or got[1][3][0].isdigit()


def test_onnx_upload_is_imported_and_analysed(page: Page, tmp_path: Any) -> None:
    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    def init(name: str, *shape: int) -> Any:
        return numpy_helper.from_array(np.zeros(shape, dtype=np.float32), name)

    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv",
                              kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                      ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        initializer=[init("w", 8, 3, 3, 3), init("b", 8), init("fw", 10, 8), init("fb", 10)])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    page.open(RESNET18_URL)
    page.tab.set_input_files("#onnx", str(path))
    page.wait_ready(2)
    assert page.tab.input_value("#zoo") == ""
    assert '"type": "conv"' in page.tab.input_value("#json")
    # 3x3 conv 3 -> 8 with bias, then a linear 8 -> 10 with bias
    assert page.text(".total-params .v") == f"{8 * 3 * 9 + 8 + 8 * 10 + 10:,}"
    # at batch 1, 224x224 ("same" padding): 8*3*9 MACs per output position, and the linear's
    assert page.text(".total-macs .v") == f"{8 * 3 * 9 * 224 * 224 + 8 * 10:,}"


def test_a_declared_size_gets_a_field_within_its_range(page: Page) -> None:
    arch = {"input": {"shape": [1, 3, 16, 16]}, "symbols": {"K": {"min": 1, "max": 7}},
            "layers": [{"type": "conv", "name": "c", "out_channels": 4, "kernel_size": "K"}]}
    open_custom(page, arch)
    assert page.tab.get_attribute('#sizes input[name="K"]', "min") == "1"
    assert page.tab.get_attribute('#sizes input[type="range"][aria-label="slider K"]',
                                  "max") == "7"
    page.tab.fill('#sizes input[name="K"]', "3")
    # K*K*3*4 + 4 params; (16 - 3 + 1)**2 output positions
    assert row_cells(page, "c")[:3] == ["1 × 4 × 14 × 14", f"{3 * 3 * 3 * 4 + 4}",
                                        f"{3 * 3 * 3 * 4 * 14 * 14:,}"]


def test_fixed_sizes_need_no_fields(page: Page) -> None:
    arch = {"input": {"shape": [2, 3, 8, 8]},
            "layers": [{"type": "conv", "name": "c", "out_channels": 5, "kernel_size": 3}]}
    open_custom(page, arch)
    assert "fixed" in page.text("#sizes")
    assert row_cells(page, "c")[:2] == ["2 × 5 × 6 × 6", f"{3 * 3 * 3 * 5 + 5}"]


@pytest.mark.parametrize("name", cnncalc.zoo_names())
def test_every_zoo_model_renders(page: Page, name: str) -> None:
    """Each zoo model: one row and one box per layer, and its totals at 224 (299 for
    inception_v3, 32 for lenet5 and the seed example) as cnncalc computes them."""
    size = {"inception_v3": 299, "lenet5": 32, "seed_example": 32}.get(name, 224)
    sizes = {"N": 1, "H": size, "W": size}
    page.open(f"/?arch={name}&" + "&".join(f"{k}={v}" for k, v in sizes.items()))
    an = cnncalc.analyze(name)
    bound = an.evaluate(**{k: v for k, v in sizes.items() if k in an.symbols})
    assert page.tab.locator("#table tbody tr").count() == len(an.layers)
    assert page.text(".total-params .v") == f"{bound.totals.params:,}"
    assert page.text(".total-macs .v") == f"{bound.totals.macs:,}"
    page.tab.click('.tabs button[data-tab="graph"]')
    assert page.tab.locator("#graph g.box").count() == len(an.layers)
    assert page.tab.is_hidden("#error")


def test_an_unknown_zoo_name_in_the_link_is_said(page: Page) -> None:
    page.open("/?arch=resnet19&H=224")
    page.tab.wait_for_timeout(600)  # after the check at these sizes, it is still there
    assert "resnet19" in page.text("#status") and "resnet18" in page.text("#status")
    assert page.text(".total-params .v") == "11,689,512"  # the default model instead
