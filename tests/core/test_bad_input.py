"""Bad input gives one CnnCalcError that names the layer (name and index) and what is wrong.

Every case must fail fast and never with another exception type. Each refusal takes
milliseconds; the bound checked is generous (a hang or a blow-up, not a timing: a garbage
collection of the whole test session's heap once took one refusal past a second).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

import cnncalc
from cnncalc import CnnCalcError

FAST = 10.0  # seconds; every refusal here takes milliseconds


def net(layers: list[dict[str, Any]], shape: tuple[Any, ...] = (1, 3, 32, 32),
      **extra: Any) -> dict[str, Any]:
    return {"input": {"shape": list(shape)}, "layers": layers, **extra}


def conv(**kw: Any) -> dict[str, Any]:
    return {"type": "conv", "name": "conv1", "out_channels": 8, "kernel_size": 3, **kw}


def refuse(arch: Any, bindings: dict[str, Any] | None = None) -> CnnCalcError:
    t0 = time.perf_counter()
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(arch, bindings)
    assert time.perf_counter() - t0 < FAST
    assert "Traceback" not in str(ei.value)
    return ei.value


BLOCK_W = {"A": {"args": ["w"], "layers": [{"type": "conv", "out_channels": "w",
                                            "kernel_size": 1}]}}
TWO_BRANCHES = [conv(padding=1),
                {"type": "conv", "name": "c2", "out_channels": 8, "kernel_size": 3,
                 "inputs": ["input"]}]

# id, architecture, bindings, layer name, words (lower case) that say what is wrong
LAYER_CASES: list[tuple[str, dict[str, Any], dict[str, int] | None, str, list[str]]] = [
    ("unknown type", net([{"type": "convv", "name": "conv1"}]), None, "conv1",
     ["convv", "unknown layer type", "did you mean 'conv'"]),
    ("unknown field", net([conv(kernal=3)]), None, "conv1", ["unknown field", "kernal"]),
    ("float for int", net([conv(kernel_size=3.0)]), None, "conv1", ["kernel_size", "integer"]),
    ("fraction for int", net([conv(out_channels=8.5)]), None, "conv1", ["out_channels", "integer"]),
    ("list where int", net([conv(out_channels=[8])]), None, "conv1", ["out_channels", "integer"]),
    ("nested list kernel", net([conv(kernel_size=[[3]])]), None, "conv1", ["kernel_size"]),
    ("missing field", net([{"type": "conv", "name": "conv1", "out_channels": 3}]), None, "conv1",
     ["missing", "kernel_size"]),
    ("kernel 0", net([conv(kernel_size=0)]), None, "conv1", ["kernel_size", ">= 1", "0"]),
    ("kernel -1", net([conv(kernel_size=-1)]), None, "conv1", ["kernel_size", ">= 1"]),
    ("stride 0", net([conv(stride=0)]), None, "conv1", ["stride", ">= 1", "0"]),
    ("out_channels 0", net([conv(out_channels=0)]), None, "conv1", ["out_channels", ">= 1"]),
    ("out_channels bound negative", net([conv(out_channels="C - 5")], symbols={"C": {}}),
     {"C": 2}, "conv1",
     ["out_channels", ">= 1", "-3"]),
    ("kernel list too long", net([conv(kernel_size=[3, 3, 3])]), None, "conv1",
     ["kernel_size", "3 values", "2 spatial"]),
    ("kernel larger than padded input", net([conv(kernel_size=40, padding=2)]), None, "conv1",
     ["kernel", "larger", "padded input", "36"]),
    ("kernel larger than symbolic input", net([conv(kernel_size=40)], shape=(1, 3, "H", 8)),
     {"H": 64}, "conv1", ["kernel", "larger"]),
    ("pool window larger than input", net([{"type": "max_pool", "name": "p", "kernel_size": 5}],
                                        shape=(1, 3, 4, 4)), None, "p", ["kernel", "larger"]),
    ("groups do not divide in_channels", net([conv(groups=2)]), None, "conv1",
     ["groups", "in_channels", "3", "2"]),
    ("groups do not divide out_channels", net([conv(groups=3, out_channels=8)],
                                            shape=(1, 6, 32, 32)), None, "conv1",
     ["groups", "out_channels", "8", "3"]),
    ("group_norm groups", net([{"type": "group_norm", "name": "gn", "num_groups": 2}]), None,
     "gn", ["num_groups", "3"]),
    ("add channel mismatch",
     net([conv(), {"type": "conv", "name": "c2", "out_channels": 4, "kernel_size": 3,
                 "inputs": ["input"]},
        {"type": "add", "name": "sum", "inputs": ["conv1", "c2"]}]), None, "sum",
     ["axis 1", "8", "4"]),
    ("add spatial mismatch", net([*TWO_BRANCHES, {"type": "add", "name": "sum",
                                                "inputs": ["conv1", "c2"]}]), None, "sum",
     ["axis 2", "32", "30"]),
    ("concat spatial mismatch", net([*TWO_BRANCHES, {"type": "concat", "name": "cat",
                                                   "inputs": ["conv1", "c2"]}]), None, "cat",
     ["axis 2", "32", "30"]),
    ("concat symbolic mismatch", net([*TWO_BRANCHES, {"type": "concat", "name": "cat",
                                                    "inputs": ["conv1", "c2"]}],
                                   shape=(1, 3, "H", "W")), None, "cat", ["h - 2", "h"]),
    ("add with one input", net([{"type": "add", "name": "s"}]), None, "s", ["input", "got 1"]),
    ("unknown input", net([conv(inputs=["nope"])]), None, "conv1", ["unknown input", "nope"]),
    ("duplicate names", net([conv(), conv()]), None, "conv1", ["given twice"]),
    ("duplicate default names", net([{"type": "relu", "name": "relu1"}, {"type": "relu"}]),
     None, "relu1", ["given twice"]),
    ("cycle", net([{"type": "relu", "name": "a", "inputs": ["b"]},
                 {"type": "relu", "name": "b", "inputs": ["a"]}]), None, "a", ["cycle"]),
    ("reads itself", net([{"type": "relu", "name": "a", "inputs": ["a"]}]), None, "a",
     ["own output"]),
    ("layer named input", net([{"type": "relu", "name": "input"}]), None, "input", ["reserved"]),
    ("code: __import__", net([conv(out_channels="__import__('os').system('echo hi')")]), None,
     "conv1", ["out_channels", "expression"]),
    ("code: dunder attribute", net([conv(kernel_size="H.__class__")]), None, "conv1",
     ["kernel_size", "attribute"]),
    ("code: dunder name", net([conv(stride="__builtins__")]), None, "conv1",
     ["stride", "not allowed"]),
    ("code: lambda", net([conv(padding="lambda: 1")]), None, "conv1", ["padding", "lambda"]),
    ("huge exponent", net([conv(out_channels="9**9**9")]), None, "conv1",
     ["out_channels", "exponent"]),
    ("deep expression nesting", net([conv(out_channels="(" * 100 + "1" + ")" * 100)]), None,
     "conv1", ["out_channels", "nested"]),
    ("block recursion", net([{"type": "block", "name": "b1", "block": "A"}],
                          blocks={"A": {"layers": [{"type": "block", "name": "inner",
                                                    "block": "A"}]}}),
     None, "b1.inner", ["instantiates itself", "a -> a"]),
    ("mutual block recursion", net([{"type": "block", "name": "b1", "block": "A"}],
                                 blocks={"A": {"layers": [{"type": "block", "name": "x",
                                                           "block": "B"}]},
                                         "B": {"layers": [{"type": "block", "name": "y",
                                                           "block": "A"}]}}),
     None, "b1.x.y", ["instantiates itself", "a -> b -> a"]),
    ("unknown block", net([{"type": "block", "name": "b1", "block": "Z"}]), None, "b1",
     ["unknown block", "z"]),
    ("missing block arg", net([{"type": "block", "name": "b1", "block": "A"}], blocks=BLOCK_W),
     None, "b1", ["missing", "w"]),
    ("extra block arg", net([{"type": "block", "name": "b1", "block": "A",
                            "args": {"w": 4, "z": 1}}], blocks=BLOCK_W), None, "b1",
     ["unknown", "z"]),
    ("repeat with symbolic times", net([{"type": "repeat", "name": "rep", "times": "T",
                                       "body": [{"type": "relu"}]}], symbols={"T": {}}),
     None, "rep",
     ["times", "number", "t"]),
    ("repeat times 0", net([{"type": "repeat", "name": "rep", "times": 0,
                           "body": [{"type": "relu"}]}]), None, "rep", ["times"]),
    ("string for bool", net([conv(bias="yes")]), None, "conv1", ["bias"]),
    ("string for bool (pool)", net([{"type": "max_pool", "name": "p", "kernel_size": 2,
                                   "ceil_mode": "yes"}]), None, "p", ["ceil_mode"]),
    ("dunder in block args", net([{"type": "block", "name": "b1", "block": "A",
                                 "args": {"w": "().__class__"}}], blocks=BLOCK_W), None, "b1",
     ["args", "expression"]),
]

def _cases() -> list[Any]:
    return [pytest.param(*case[1:], id=case[0]) for case in LAYER_CASES]


@pytest.mark.parametrize("arch, bindings, layer, words", _cases())
def test_layer_error_names_layer_and_problem(arch: dict[str, Any], bindings: Any, layer: str,
                                            words: list[str]) -> None:
    e = refuse(arch, bindings)
    msg = str(e)
    assert msg.startswith(f"layer {layer!r}"), msg
    assert e.layer == layer
    for w in words:
        assert w in msg.lower(), (w, msg)


# The index shown with the name: every case whose layer is the top-level layer #k.
INDEX_CASES = {
    "unknown type": 0, "unknown field": 0, "float for int": 0, "kernel 0": 0, "stride 0": 0,
    "out_channels 0": 0, "kernel larger than padded input": 0,
    "groups do not divide in_channels": 0, "groups do not divide out_channels": 0,
    "add channel mismatch": 2, "concat spatial mismatch": 2, "duplicate names": 1,
    "cycle": 0, "reads itself": 0, "code: __import__": 0, "huge exponent": 0,
    "unknown input": 0, "unknown block": 0, "missing block arg": 0, "extra block arg": 0,
    "repeat with symbolic times": 0,
}


@pytest.mark.parametrize("case, index", [pytest.param(c, i, id=c)
                                         for c, i in INDEX_CASES.items()])
def test_layer_error_gives_index(case: str, index: int) -> None:
    (arch, bindings, layer) = next((a, b, n) for c, a, b, n, _ in LAYER_CASES if c == case)
    e = refuse(arch, bindings)
    assert f"layer {layer!r} (#{index})" in str(e)
    assert e.index == index


def test_error_inside_repeat_body_has_a_path() -> None:
    arch = net([{"type": "repeat", "name": "r", "times": 2,
               "body": [{"type": "relu"}, conv(kernel_size="H.__x")]}])
    e = refuse(arch)
    assert e.layer == "conv1" and e.index == 1
    assert e.path == ["layers", 0, "body", 1, "kernel_size"]


# --- input shape, limits, nesting --------------------------------------------------------------

def test_input_shape_zero() -> None:
    e = refuse(net([{"type": "relu"}], shape=(1, 3, 0, 32)))
    assert "input" in str(e) and ">= 1" in str(e) and "0" in str(e)
    assert e.path == ["input", "shape", 2]


def test_input_shape_expression_zero() -> None:
    e = refuse(net([{"type": "relu"}], shape=(1, 3, "H - H", 32)))
    assert e.path == ["input", "shape", 2]


def test_input_shape_rank() -> None:
    e = refuse(net([{"type": "relu"}], shape=(3,)))
    assert e.path[:2] == ["input", "shape"] and "at least 2" in str(e)
    e = refuse(net([{"type": "relu"}], shape=(1, 3, 2, 2, 2, 2)))
    assert e.path[:2] == ["input", "shape"] and "at most 5" in str(e)
    # rank 2 is [N, features]: taken
    assert cnncalc.analyze(net([{"type": "relu"}], shape=(1, 3))).layers[0].output_shape == (1, 3)


def test_input_shape_code() -> None:
    e = refuse(net([{"type": "relu"}], shape=(1, 3, "H.__class__", 8)))
    assert e.path[:2] == ["input", "shape"]
    assert "attribute" in str(e).lower()


def test_repeat_times_over_the_layer_limit_is_a_limit() -> None:
    e = refuse(net([{"type": "repeat", "name": "rep", "times": 20000,
                   "body": [{"type": "relu"}]}]))
    assert e.kind == "limit"
    assert e.to_dict()["error"] == "limit"


def test_repeat_times_over_the_layer_limit_is_refused() -> None:
    e = refuse(net([{"type": "repeat", "name": "rep", "times": 20000,
                   "body": [{"type": "relu"}]}]))
    assert e.layer == "rep"
    assert "20000" in str(e) and "times" in str(e)


def test_too_many_layers_after_expansion() -> None:
    e = refuse(net([{"type": "repeat", "name": "rep", "times": 5000,
                   "body": [{"type": "relu"}, {"type": "relu"}, {"type": "relu"}]}]))
    assert e.kind == "limit"
    assert "more than" in str(e) and "layers" in str(e)


def test_nested_repeats_past_the_limit() -> None:
    body: list[dict[str, Any]] = [{"type": "relu"}]
    for _ in range(40):
        body = [{"type": "repeat", "times": 1, "body": body}]
    e = refuse(net(body))
    assert "nested" in str(e)


def test_very_deep_json_nesting() -> None:
    body: list[dict[str, Any]] = [{"type": "relu"}]
    for _ in range(3000):
        body = [{"type": "repeat", "times": 1, "body": body}]
    e = refuse(net(body))
    assert "depth" in str(e).lower() or "nested" in str(e).lower()


def test_very_deep_json_text() -> None:
    text = '{"input": {"shape": [1, 3, 8, 8]}, "layers": ' + "[" * 50000 + "]" * 50000 + "}"
    e = refuse(text)
    assert "nested" in str(e) or "deep" in str(e)


# --- bindings ----------------------------------------------------------------------------------

SEED = net([conv(out_channels=12, kernel_size=6, stride=2), {"type": "relu"}],
         shape=(1, 3, "H", "W"))


def test_binding_for_unknown_symbol_lists_the_symbols() -> None:
    e = refuse(SEED, {"X": 3})
    assert "'X'" in str(e) and "H, W" in str(e)
    assert e.kind == "binding" and e.path == ["bindings", "X"]


def test_binding_when_there_are_no_symbols() -> None:
    e = refuse(net([{"type": "relu"}]), {"H": 3})
    assert "none" in str(e)


@pytest.mark.parametrize("value", [3.5, "32", True, None, [32]])
def test_non_integer_binding(value: Any) -> None:
    e = refuse(SEED, {"H": value, "W": 32})
    assert "integer" in str(e) and "H" in str(e)
    assert e.kind == "binding"


@pytest.mark.parametrize("value", [0, -1, 10**12])
def test_binding_out_of_range(value: int) -> None:
    e = refuse(SEED, {"H": value, "W": 32})
    assert str(value) in str(e) and e.kind == "binding"


def test_binding_too_small_for_the_network() -> None:
    e = refuse(SEED, {"H": 5, "W": 32})
    assert e.layer == "conv1" and "(#0)" in str(e)


def test_bindings_not_a_mapping() -> None:
    refuse(SEED, [("H", 32), ("W", 32)])  # type: ignore[arg-type]


# --- what is read ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [[1, 2], 42, None, 1.5])
def test_not_an_object(value: Any) -> None:
    e = refuse(value)
    assert e.kind == "input"


def test_json_file_holding_a_list(tmp_path: Path) -> None:
    p = tmp_path / "list.json"
    p.write_text("[1, 2]")
    e = refuse(str(p))
    assert "object" in str(e)


def test_empty_object() -> None:
    e = refuse({})
    assert "missing" in str(e) and "input" in str(e)


def test_invalid_json_string() -> None:
    e = refuse('{"input": {"shape": [1, 3, 8, 8]}, "layers": [')
    assert "not valid JSON" in str(e)
    assert e.kind == "input"


def test_invalid_json_file(tmp_path: Path) -> None:
    p = tmp_path / "bad.json"
    p.write_text("{bad")
    e = refuse(p)
    assert "not valid JSON" in str(e) and "line 1" in str(e)


def test_missing_path(tmp_path: Path) -> None:
    e = refuse(str(tmp_path / "nope.json"))
    assert "no such file" in str(e)
    e = refuse(tmp_path / "nope.json")
    assert "no such file" in str(e)


def test_unknown_zoo_name() -> None:
    e = refuse("no_such_model")
    assert "no_such_model" in str(e) and "zoo" in str(e)


def test_valid_json_string_is_accepted() -> None:
    an = cnncalc.analyze(json.dumps(SEED), {"H": 32, "W": 32})
    assert an.layers[0].output_shape == (1, 12, 14, 14)


# --- the error object --------------------------------------------------------------------------

def test_to_dict_keys() -> None:
    e = refuse(net([conv(kernel_size=0)]))
    d = e.to_dict()
    assert {"error", "message", "layer", "index", "path"} <= d.keys()
    assert d["layer"] == "conv1" and d["index"] == 0
    assert d["message"] == str(e)
    assert d["error"] == e.kind
    assert d["path"] == ["layers", 0]
    json.dumps(d)


def test_to_dict_without_layer() -> None:
    d = refuse(SEED, {"X": 1}).to_dict()
    assert d["layer"] is None and d["index"] is None
    assert d["path"] == ["bindings", "X"]


def test_schema_error_path_points_at_the_field() -> None:
    d = refuse(net([{"type": "relu"}, conv(kernal=3)])).to_dict()
    assert d["path"] == ["layers", 1, "kernal"]
    assert d["index"] == 1 and d["error"] == "schema"
