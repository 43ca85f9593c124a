"""Rows of :func:`cnncalc.analyze_many`: the totals of each network, checked against arithmetic
and against :func:`cnncalc.analyze`; formulas where a size is free; errors as rows."""

from __future__ import annotations

import json
from typing import Any

import pytest

import cnncalc
from cnncalc.batch import FIELDS, BatchRow, analyze_lines, analyze_many

CONV: dict[str, Any] = {"name": "conv", "input": {"shape": [1, 3, 32, 32]},
                        "layers": [{"type": "conv", "out_channels": 12, "kernel_size": 6}]}


def test_single_conv_by_arithmetic() -> None:
    """3 -> 12 channels, 6x6 kernel, 32x32 input: a 27x27 output."""
    (r,) = analyze_many([CONV])
    assert r == BatchRow(
        name="conv", index=1, params=6 * 6 * 3 * 12 + 12, macs=27 * 27 * 12 * 6 * 6 * 3,
        flops=2 * 27 * 27 * 12 * 6 * 6 * 3, activations=12 * 27 * 27,
        peak_activation_bytes=4 * (3 * 32 * 32 + 12 * 27 * 27), receptive_field="6x6 /1x1",
        error="")
    assert list(r.to_dict()) == list(FIELDS)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "lenet5", "unet"])
def test_zoo_totals_equal_analyze(name: str) -> None:
    bind = {"N": 2, "H": 64, "W": 64} if name != "lenet5" else {"N": 2, "H": 32, "W": 32}
    t = cnncalc.analyze(name, bind).totals
    (r,) = analyze_many([name], bind)
    assert r.error == ""
    assert (r.name, r.params, r.macs, r.flops, r.activations, r.peak_activation_bytes) == \
        (name, t.params, t.macs, t.flops, t.activations, t.peak_activation_bytes)
    assert all(isinstance(getattr(r, q), int) for q in ("params", "macs", "flops"))
    size, stride = t.receptive_field.size, t.receptive_field.stride
    assert r.receptive_field == f"{size[0]}x{size[1]} /{stride[0]}x{stride[1]}"


def test_free_sizes_give_formulas_and_bindings_skip_absent_sizes() -> None:
    arch = {"input": {"shape": ["N", 3, "H", "H"]},
            "layers": [{"type": "conv", "out_channels": 12, "kernel_size": 6}]}
    # W names no size of either network: ignored, not an error
    (r,) = analyze_many([arch], {"W": 7})
    assert r.params == 6 * 6 * 3 * 12 + 12  # a number: it uses no free size
    assert r.macs == f"{12 * 6 * 6 * 3}*N*(H - 5)**2"  # 12 outputs x 6x6x3 per pixel
    assert r.receptive_field == "6x6 /1x1"
    (bound,) = analyze_many([arch], {"N": 2, "H": 32, "W": 7})
    assert bound.macs == 2 * 27 * 27 * 12 * 6 * 6 * 3


def test_names_fall_back_to_the_position() -> None:
    unnamed = {k: v for k, v in CONV.items() if k != "name"}
    rows = list(analyze_many([unnamed, CONV, "lenet5", cnncalc.load(unnamed)]))
    assert [r.name for r in rows] == ["1", "conv", "lenet5", "network"]
    assert [r.index for r in rows] == [1, 2, 3, 4]


def test_bad_networks_are_rows_and_the_batch_goes_on() -> None:
    texts = [json.dumps(CONV), '{"input": {"shape": [1, 3', '"resnet18"', "[1, 2]",
             '"no_such_model"',
             json.dumps({"input": {"shape": [1, 3, 4, 4]}, "layers": [CONV["layers"][0]]}),
             json.dumps({"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "convv"}]}),
             json.dumps(CONV)]
    rows = list(analyze_lines([(i * 2, t) for i, t in enumerate(texts, 1)]))
    assert [r.index for r in rows] == [2, 4, 6, 8, 10, 12, 14, 16]
    assert [bool(r.error) for r in rows] == [False, True, False, True, True, True, True, False]
    assert rows[1].error.startswith("line 4 is not valid JSON")
    assert rows[1].name == "4" and rows[1].params is None and rows[1].receptive_field == ""
    assert rows[2].name == "resnet18"
    assert "is a JSON list" in rows[3].error
    assert "'no_such_model' is not a zoo model" in rows[4].error
    assert "larger than the padded input" in rows[5].error
    assert "unknown layer type 'convv'" in rows[6].error
    assert all("\n" not in r.error for r in rows)
    assert rows[7] == rows[0].__class__(**{**rows[0].to_dict(), "index": 16})


@pytest.mark.parametrize("kw", [{"workers": 0}, {"workers": -1}, {"chunk": 0},
                                {"workers": True}])
def test_bad_arguments_raise_at_the_call(kw: dict[str, Any]) -> None:
    with pytest.raises(cnncalc.CnnCalcError, match="must be a positive integer"):
        analyze_many([CONV], **kw)


def test_public_export() -> None:
    assert cnncalc.analyze_many is analyze_many


def test_no_optional_imports() -> None:
    """The batch package and its command import neither Dask, pyarrow nor torch."""
    import subprocess
    import sys
    code = ("import sys, cnncalc, cnncalc.batch, cnncalc.batch.io, cnncalc.commands.batch; "
            "cnncalc.analyze_many; "
            "print(sorted(m for m in ('dask', 'distributed', 'pyarrow', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"


def test_an_invalid_network_keeps_its_name() -> None:
    bad = {"name": "wide", "input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "convv"}]}
    (r,) = analyze_many([bad])
    assert (r.name, r.index) == ("wide", 1) and "unknown layer type 'convv'" in r.error
    (r,) = analyze_lines([(9, json.dumps(bad))])
    assert (r.name, r.index) == ("wide", 9) and "unknown layer type 'convv'" in r.error
