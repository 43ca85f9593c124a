"""Declared sizes: ``"symbols"`` with ranges; any other name in a field is an error with a
did-you-mean; ranges bound bindings, sweeps and constraints; a size declared from 0 may be 0."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.errors import CnnCalcError

# The lecture's first example: 32x32x3 input, 12 filters 6x6, stride 2, padding P.
LECTURE: dict[str, Any] = {
    "name": "lecture",
    "input": {"shape": [1, 3, "H", "H"]},
    "symbols": {"K": {"min": 1, "max": 11}, "P": {"min": 0}},
    "layers": [{"type": "conv", "name": "conv1", "out_channels": 12, "kernel_size": "K",
                "stride": 2, "padding": "P"}],
}


def conv_with(**fields: Any) -> dict[str, Any]:
    return {"name": "net", "input": {"shape": ["N", 3, "H", "W"]},
            "layers": [{"type": "conv", "name": "c1", "out_channels": 8, "kernel_size": 3,
                        **fields}]}


def refuse(arch: Any, bindings: Any = None) -> CnnCalcError:
    with pytest.raises(CnnCalcError) as e:
        cnncalc.analyze(arch, bindings)
    return e.value


@pytest.mark.parametrize("field, value, hint", [
    ("padding", "SAME", 'did you mean the padding "same"?'),
    ("padding", "Same", 'did you mean the padding "same"?'),
    ("padding", "vaild", 'did you mean the padding "valid"?'),
    ("padding", "VALID", 'did you mean the padding "valid"?'),
    ("padding", "h", "did you mean 'H'?"),
    ("stride", "w", "did you mean 'W'?"),
    ("kernel_size", "n", "did you mean 'N'?"),
    ("out_channels", "2*h", "did you mean 'H'?"),
    ("kernel_size", "SAME", 'the sizes here are H, N, W; declare a new one in "symbols"'),
    ("kernel_size", "K", '"symbols": {"K": {"min": 1}}'),
])
def test_undeclared_name_is_an_error_with_a_did_you_mean(field: str, value: str,
                                                         hint: str) -> None:
    e = refuse(conv_with(**{field: value}))
    assert e.kind == "schema"
    assert e.layer == "c1"
    assert e.path == ["layers", 0, field]
    name = value.split("*")[-1]
    assert f"{name!r}" in e.message and "is not a size of 'net'" in e.message
    assert hint in e.message, e.message
    assert str(e).startswith(f"layer 'c1': {field}: ")


def test_unnamed_layer_error_gives_the_path() -> None:
    arch = conv_with(padding="SAME")
    del arch["layers"][0]["name"]
    e = refuse(arch)
    assert str(e).startswith("layers[0].padding: 'SAME' is not a size"), str(e)


def test_list_entries_and_expressions_name_the_entry() -> None:
    e = refuse(conv_with(kernel_size=[3, "k + 1"]))
    assert e.path == ["layers", 0, "kernel_size", 1]
    assert "'k' (in 'k + 1')" in e.message


def test_declared_names_and_block_arguments_are_accepted() -> None:
    arch = {
        "input": {"shape": ["N", 3, "H", "W"]},
        "symbols": {"C": {"min": 1, "description": "width"}},
        "blocks": {"b": {"args": ["k"], "layers": [
            {"type": "conv", "out_channels": "C", "kernel_size": "k", "padding": "k // 2"}]}},
        "layers": [{"type": "block", "block": "b", "args": {"k": 3}},
                   {"type": "repeat", "times": 2, "body": [{"type": "relu"}]}],
    }
    an = cnncalc.analyze(arch, {"N": 1, "H": 8, "W": 8, "C": 4})
    assert an.totals.params == 3 * 3 * 3 * 4 + 4
    # A block argument is known only inside its block; outside it is a size like any other.
    bad = copy.deepcopy(arch)
    bad["layers"][1]["times"] = "k"
    e = refuse(bad)
    assert e.path == ["layers", 1, "times"] and "'k'" in e.message
    # Names used as block-instance arguments must be declared too.
    bad = copy.deepcopy(arch)
    bad["layers"][0]["args"] = {"k": "Kk"}
    e = refuse(bad)
    assert e.path == ["layers", 0, "args", "k"], e.path


def test_a_name_in_a_repeat_body_is_checked() -> None:
    arch = {"input": {"shape": ["N", 3, 8, 8]},
            "layers": [{"type": "repeat", "times": 2,
                        "body": [{"type": "conv", "name": "c", "out_channels": 3,
                                  "kernel_size": 1, "padding": "SAME"}]}]}
    e = refuse(arch)
    assert e.path == ["layers", 0, "body", 0, "padding"]
    assert 'did you mean the padding "same"?' in e.message


@pytest.mark.parametrize("symbols, words", [
    ({"K": {"min": 5, "max": 2}}, "min (5) is larger than max (2)"),
    ({"K": {"min": -1}}, "greater than or equal to 0"),
    ({"floor": {}}, "'floor' is not a valid size name"),
    ({"2K": {}}, "'2K' is not a valid size name"),
    ({"K": {"low": 1}}, "low"),
])
def test_bad_declarations_are_schema_errors(symbols: Any, words: str) -> None:
    arch = copy.deepcopy(LECTURE)
    arch["symbols"] = symbols
    e = refuse(arch)
    assert e.kind == "schema"
    assert words in str(e), str(e)


def test_declared_range_bounds_the_bindings() -> None:
    e = refuse(LECTURE, {"K": 12})
    assert e.kind == "binding" and e.path == ["bindings", "K"]
    assert "K=12 is outside the range K is declared with, 1..11" in e.message
    e = refuse(LECTURE, {"P": -1})
    assert "outside the range P is declared with, 0..1000000000" in e.message
    e = refuse(LECTURE, {"H": 0})
    assert "outside 1..1000000000" in e.message  # undeclared: the default range
    an = cnncalc.analyze(LECTURE)
    with pytest.raises(CnnCalcError, match="outside the range K is declared with"):
        an.evaluate(K=12)
    with pytest.raises(CnnCalcError, match="outside the range K is declared with"):
        an.evaluate_many(H=np.array([32]), K=np.array([12]), P=np.array([0]))


def test_declared_range_is_a_constraint() -> None:
    an = cnncalc.analyze(LECTURE)
    assert "K <= 11" in an.constraints
    # A kernel K - 11 >= 1 needs K >= 12, which the declared range 1..11 excludes.
    arch = copy.deepcopy(LECTURE)
    arch["layers"].append({"type": "max_pool", "kernel_size": "K - 11", "stride": 1})
    e = refuse(arch, {"H": 32, "P": 0})
    assert e.kind == "constraint"
    assert "K is declared in 1..11" in e.message


def test_padding_bound_to_zero_checks_the_lecture_formula() -> None:
    # (W - K + 2P)/S + 1 at W=32, K=6, P=0, S=2: (32 - 6 + 0)/2 + 1 = 14
    an = cnncalc.analyze(LECTURE, {"H": 32, "K": 6, "P": 0})
    assert an.layers[0].output_shape == (1, 12, (32 - 6 + 2 * 0) // 2 + 1,
                                         (32 - 6 + 2 * 0) // 2 + 1)
    assert an.totals.params == 6 * 6 * 3 * 12 + 12
    # The symbolic analysis bound to 0 gives the same numbers (evaluated by a bound analysis).
    sym = cnncalc.analyze(LECTURE)
    ev = sym.evaluate(H=32, K=6, P=0)
    assert ev.layers[0].output_shape == an.layers[0].output_shape
    assert ev.totals.macs == an.totals.macs == 6 * 6 * 3 * 12 * 14 * 14
    assert sym.warnings == ["P is declared from 0 but left free: the formulas and constraints "
                            "here hold for P >= 1; bind P=0 to analyse 0"]
    assert an.warnings == []
    # and at P=1: (32 - 6 + 2)/2 + 1 = 15
    assert sym.evaluate(H=32, K=6, P=1).layers[0].output_shape[2] == (32 - 6 + 2) // 2 + 1


def test_evaluate_many_and_sweep_rows_at_zero() -> None:
    sym = cnncalc.analyze(LECTURE)
    got = sym.evaluate_many(("macs",), H=np.array([32, 32, 33]), K=np.array([6, 6, 6]),
                            P=np.array([0, 1, 0]))
    outs = [(32 - 6) // 2 + 1, (32 - 6 + 2) // 2 + 1, (33 - 6) // 2 + 1]
    assert got["macs"].tolist() == [6 * 6 * 3 * 12 * o * o for o in outs]
    rows = cnncalc.sweep(LECTURE, {"P": "0:2"}, {"H": 32, "K": 6}, ("macs",), as_frame=False)
    assert [r["P"] for r in rows] == [0, 1, 2]
    assert [r["macs"] for r in rows] == [6 * 6 * 3 * 12 * ((32 - 6 + 2 * p) // 2 + 1) ** 2
                                         for p in (0, 1, 2)]
    with pytest.raises(CnnCalcError, match="grid value K=12 is outside the range K is "
                                           "declared with, 1..11"):
        cnncalc.sweep(LECTURE, {"K": [3, 12]}, {"H": 32, "P": 0}, as_frame=False)


def test_free_size_declared_from_zero_refusal_says_how_to_analyse_zero() -> None:
    # groups P + 1 divides 1 only at P = 0: free P is analysed from 1, where nothing works.
    arch = {"input": {"shape": [1, 1, 3]}, "symbols": {"P": {"min": 0}},
            "layers": [{"type": "conv", "out_channels": 1, "kernel_size": 1,
                        "groups": "P + 1"}]}
    e = refuse(arch)
    assert "P is declared from 0: bind P=0 to analyse that" in e.message
    assert cnncalc.analyze(arch, {"P": 0}).totals.params == 1 * 1 * 1 * 1 + 1


def test_zero_only_when_no_value_from_one_works() -> None:
    # avg_pool padding must be <= kernel/2 = 1; a second field needs P + 1 to divide 1.
    arch = {"input": {"shape": [1, 2, "L"]}, "symbols": {"P": {"min": 0}},
            "layers": [{"type": "conv", "out_channels": 2, "kernel_size": 1,
                        "groups": "2 - P"}]}
    an = cnncalc.analyze(arch)
    # over P >= 1 only P = 1 works (groups 1); P = 0 (groups 2) is valid too, when bound
    assert an.constraints[:1] == ["P <= 1"] or "P in {1}" in " ".join(an.constraints)
    assert cnncalc.analyze(arch, {"P": 0, "L": 4}).totals.params == 1 * 1 * 1 * 2 + 2
    assert cnncalc.analyze(arch, {"P": 1, "L": 4}).totals.params == 1 * 1 * 2 * 2 + 2


def test_declared_symbols_in_the_output_and_schema() -> None:
    an = cnncalc.analyze(LECTURE)
    assert an.to_dict()["symbols"] == ["H", "K", "P"]
    schema = cnncalc.core.schema.json_schema()
    spec = schema["$defs"]["SymbolSpec"]["properties"]
    assert spec["min"]["default"] == 1 and spec["max"]["default"] == 10**9


def test_cli_undeclared_name_exits_2_with_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "net.json"
    p.write_text(json.dumps(conv_with(padding="SAME")))
    code = main(["analyze", str(p)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0, err
    assert 'did you mean the padding "same"?' in err


def test_http_undeclared_name_is_422_naming_layer_and_field() -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings

    with TestClient(create_app(Settings(workers=1)), raise_server_exceptions=False) as c:
        r = c.post("/analyze", json={"architecture": conv_with(padding="vaild")})
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "schema"
        assert body["layer"] == "c1"
        assert body["path"] == ["architecture", "layers", 0, "padding"]
        assert 'did you mean the padding "valid"?' in body["message"]
        r = c.post("/analyze", json={"architecture": LECTURE, "bindings": {"K": 40}})
        assert r.status_code == 422 and r.json()["error"] == "binding"
        r = c.post("/analyze", json={"architecture": LECTURE,
                                     "bindings": {"H": 32, "K": 6, "P": 0}})
        assert r.status_code == 200, r.text
        assert r.json()["totals"]["params"] == 6 * 6 * 3 * 12 + 12
