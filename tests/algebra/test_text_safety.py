"""Text and numbers an architecture may hold: ASCII names and expressions only (no Unicode
look-alikes that Python's parser would silently alias), valid Unicode everywhere, finite floats,
and integers no larger than expression literals (10**12), so no result outgrows ``str()``.

Issue 9, items 8 (bound plain integers like expressions), 9/12 (NaN, lone surrogates) and 13
(non-ASCII look-alikes).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

import cnncalc
from cnncalc import CnnCalcError
from cnncalc.algebra.expr import MAX_LITERAL, compile_expr


def net(layers: list[dict[str, Any]], shape: list[Any] | None = None,
        **extra: Any) -> dict[str, Any]:
    return {"input": {"shape": shape or [1, 3, 8, 8]}, "layers": layers, **extra}


def refuse(arch: Any, bindings: dict[str, int] | None = None) -> CnnCalcError:
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(arch, bindings)
    e = ei.value
    # The error must survive every way it is shown: str, UTF-8 JSON, the CLI's one line.
    json.dumps(e.to_dict(), ensure_ascii=False).encode("utf-8")
    str(e).encode("utf-8")
    return e


# --- item 13: non-ASCII look-alikes -----------------------------------------------------------

def test_lookalike_symbol_is_refused_not_aliased_to_h() -> None:
    """'ℌ' (U+210C) is NFKC-normalised to 'H' by Python's parser: it was silently H."""
    e = refuse(net([{"type": "relu"}], [1, 3, "\u210c", "W"]))
    assert "U+210C" in str(e)
    assert "ASCII" in str(e)


def test_fullwidth_max_call_is_refused() -> None:
    """'ｍａｘ(H,2)' was parsed as max(H, 2)."""
    e = refuse(net([{"type": "relu"}], [1, 3, "\uff4d\uff41\uff58(H,2)", "W"]))
    assert "U+FF4D" in str(e)


def test_compile_expr_refuses_non_ascii_directly() -> None:
    for text in ("\u210c", "H\u00a0+ 1", "\U0001d407", "K\u2212" "1", "\u0048\u0301"):
        with pytest.raises(CnnCalcError) as ei:
            compile_expr(text)
        assert ei.value.kind == "expression"
        assert "U+" in str(ei.value) and "ASCII" in str(ei.value)


def test_non_ascii_in_a_layer_field_expression_is_refused() -> None:
    e = refuse(net([{"type": "conv", "name": "c", "out_channels": "\u216b", "kernel_size": 1}]))
    assert "U+216B" in str(e)  # ROMAN NUMERAL TWELVE, NFKC 'XII'


@pytest.mark.parametrize(("case", "arch", "char"), [
    ("layer name", net([{"type": "relu", "name": "r\u00e9lu"}]), "U+00E9"),
    ("input ref", net([{"type": "relu", "inputs": ["\u0456nput"]}]), "U+0456"),
    ("block name", {"input": {"shape": [1, 3, 8, 8]},
                    "blocks": {"bl\u00f6ck": {"layers": [{"type": "relu"}]}},
                    "layers": [{"type": "block", "block": "bl\u00f6ck"}]}, "U+00F6"),
    ("block arg name", {"input": {"shape": [1, 3, 8, 8]},
                        "blocks": {"b": {"args": ["\u0138"], "layers": [{"type": "relu"}]}},
                        "layers": [{"type": "block", "block": "b", "args": {"\u0138": 1}}]},
     "U+0138"),
    ("block arg value", {"input": {"shape": [1, 3, 8, 8]},
                         "blocks": {"b": {"args": ["c"], "layers": [
                             {"type": "conv", "out_channels": "c", "kernel_size": 1}]}},
                         "layers": [{"type": "block", "block": "b", "args": {"c": "\u2167"}}]},
     "U+2167"),
    ("dtype", {"input": {"shape": [1, 3, 8, 8], "dtype": "fl\u043eat32"},
               "layers": [{"type": "relu"}]}, "U+043E"),
])
def test_non_ascii_in_names_is_refused_naming_the_character(case: str, arch: dict[str, Any],
                                                            char: str) -> None:
    e = refuse(arch)
    assert char in str(e), (case, str(e))


def test_block_arg_name_with_trailing_newline_is_refused() -> None:
    """``re.match`` with ``$`` let 'c\\n' through as an argument name."""
    arch = {"input": {"shape": [1, 3, 8, 8]},
            "blocks": {"b": {"args": ["c\n"], "layers": [{"type": "relu"}]}},
            "layers": [{"type": "block", "block": "b", "args": {"c\n": 1}}]}
    e = refuse(arch)
    assert "argument name" in str(e)


def test_non_ascii_title_and_description_are_fine() -> None:
    an = cnncalc.analyze(net([{"type": "relu"}], name="R\u00e9seau \u03b1",
                             description="caf\u00e9 \u2014 \u6f22\u5b57"))
    assert an.layers[0].output_shape == (1, 3, 8, 8)


# --- lone surrogates --------------------------------------------------------------------------

@pytest.mark.parametrize(("case", "arch"), [
    ("layer name", net([{"type": "relu", "name": "r\ud800"}])),
    ("expression", net([{"type": "relu"}], [1, 3, "H\ud800", 8])),
    ("title", net([{"type": "relu"}], name="x\udfff")),
    ("description", net([{"type": "relu"}], description="\ud800")),
    ("input ref", net([{"type": "relu", "inputs": ["input\udc80"]}])),
    ("block key", {"input": {"shape": [1, 3, 8, 8]},
                   "blocks": {"b\ud800": {"layers": [{"type": "relu"}]}},
                   "layers": [{"type": "block", "block": "b\ud800"}]}),
    ("unknown field key", net([{"type": "relu", "x\ud800": 1}])),
    ("mode", net([{"type": "upsample", "scale_factor": 2, "mode": "\ud800"}])),
])
def test_lone_surrogate_anywhere_is_a_clean_error(case: str, arch: dict[str, Any]) -> None:
    e = refuse(arch)
    assert "surrogate" in str(e), (case, str(e))
    assert e.layer is None or e.layer.isascii()


def test_lone_surrogate_in_json_text_is_a_clean_error() -> None:
    text = '{"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "relu", "name": "a\\ud800"}]}'
    e = refuse(text)
    assert "U+D800" in str(e)


# --- item 9: NaN and Infinity in float fields -------------------------------------------------

FLOAT_FIELDS = [("leaky_relu", "negative_slope"), ("batch_norm", "eps"),
                ("batch_norm", "momentum"), ("layer_norm", "eps"), ("dropout", "p"),
                ("elu", "alpha"), ("softplus", "beta"), ("softplus", "threshold"),
                ("prelu", "init"), ("add", "scalar"), ("sub", "scalar"), ("mul", "scalar"),
                ("div", "scalar")]


@pytest.mark.parametrize(("layer", "field"), FLOAT_FIELDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_float_in_a_dict_is_refused(layer: str, field: str, bad: float) -> None:
    extra: dict[str, Any] = {"num_groups": 1} if layer == "group_norm" else {}
    e = refuse(net([{"type": layer, "name": "f", field: bad, **extra}]))
    assert field in str(e)
    assert ("NaN" if math.isnan(bad) else "Infinity") in str(e)
    assert "finite" in str(e)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_float_in_json_text_is_refused(literal: str) -> None:
    text = ('{"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "batch_norm", "eps": '
            + literal + "}]}")
    e = refuse(text)
    assert literal.lstrip("-") in str(e) and "finite" in str(e)


def test_finite_floats_still_work() -> None:
    an = cnncalc.analyze(net([{"type": "leaky_relu", "negative_slope": 0.2},
                              {"type": "batch_norm", "eps": 1e-3, "momentum": 0.01}]))
    assert an.layers[1].params == 2 * 3


# --- item 8: integers bounded like expression literals ---------------------------------------

@pytest.mark.parametrize(("case", "arch"), [
    ("input shape", net([{"type": "relu"}], [1, 3, 10**4400, 8])),
    ("out_channels", net([{"type": "conv", "name": "c", "out_channels": 10**4400,
                           "kernel_size": 1}])),
    ("kernel list", net([{"type": "conv", "name": "c", "out_channels": 2,
                          "kernel_size": [1, 10**13]}])),
    ("padding pair", net([{"type": "conv", "name": "c", "out_channels": 2, "kernel_size": 1,
                           "padding": [[0, 10**13], 0]}])),
    ("negative", net([{"type": "pad", "name": "c", "padding": -10**13}])),
    ("repeat times", net([{"type": "repeat", "times": 10**13, "body": [{"type": "relu"}]}])),
    ("repeat start", net([{"type": "repeat", "times": 2, "start": 10**5000,
                           "body": [{"type": "relu"}]}])),
    ("softmax dim", net([{"type": "softmax", "dim": 10**5000}])),
    ("flatten start", net([{"type": "flatten", "start_dim": 10**5000}])),
])
def test_integer_over_the_literal_limit_is_refused(case: str, arch: dict[str, Any]) -> None:
    e = refuse(arch)
    assert "10**12" in str(e), (case, str(e))


def test_integer_at_the_limit_is_accepted() -> None:
    an = cnncalc.analyze(net([{"type": "conv", "name": "c", "out_channels": MAX_LITERAL,
                               "kernel_size": 1}], [1, 3, 2, 2]))
    assert an.layers[0].params == MAX_LITERAL * 3 + MAX_LITERAL
    assert an.layers[0].macs == MAX_LITERAL * 3 * 2 * 2


def test_huge_integer_in_json_text_is_refused() -> None:
    text = '{"input": {"shape": [1, 3, 8, 8]}, "layers": [{"type": "conv", "out_channels": ' \
           + "9" * 4400 + ', "kernel_size": 1}]}'
    # json.loads itself refuses over 4,300 digits: still a clean CnnCalcError.
    refuse(text)
    e = refuse(text.replace("9" * 4400, "9" * 4000))
    assert "digits" in str(e) or "10**12" in str(e)
    e = refuse(text.replace("9" * 4400, "9" * 13))
    assert "10**12" in str(e) and "out_channels" in str(e)


def test_strict_int_fields_are_bounded_when_layers_are_built_directly() -> None:
    """The field type itself carries the limit (for code that builds layer models)."""
    import pydantic

    from cnncalc.layers.conv import Conv
    with pytest.raises(pydantic.ValidationError) as ei:
        Conv(type="conv", out_channels=10**5000, kernel_size=1)
    assert "10**12" in str(ei.value)
    assert Conv(type="conv", out_channels=MAX_LITERAL, kernel_size=1).out_channels == MAX_LITERAL
