"""A misspelt layer type or field is one short line with a did-you-mean, not pydantic's
union dump: the names people bring from PyTorch, Keras and lecture notes."""

from __future__ import annotations

from typing import Any

import pytest

import cnncalc


def _error(layer: dict[str, Any]) -> str:
    with pytest.raises(cnncalc.CnnCalcError) as ei:
        cnncalc.load({"input": {"shape": [1, 3, 8, 8]}, "layers": [layer]})
    assert ei.value.kind == "schema"
    return ei.value.message


@pytest.mark.parametrize(("given", "meant"), [
    ("Conv2d", "conv"), ("dense", "linear"), ("batchnorm", "batch_norm"),
    ("BatchNorm2d", "batch_norm"), ("MaxPool2d", "max_pool"), ("relu_", "relu"),
    ("Dropout", "dropout"), ("maxpool", "max_pool"), ("concatenate", "concat"),
    ("blok", "block"),
])
def test_layer_type(given: str, meant: str) -> None:
    msg = _error({"type": given})
    assert msg == (f"unknown layer type {given!r}; did you mean {meant!r}? (`cnncalc schema` "
                   "lists the types)")
    assert len(msg) < 120  # one line, not the list of every type


def test_layer_type_without_a_close_name() -> None:
    assert _error({"type": "xyzzy"}) == ("unknown layer type 'xyzzy' (`cnncalc schema` lists "
                                         "the types)")


@pytest.mark.parametrize(("layer", "field", "meant"), [
    ({"type": "conv", "filters": 4, "kernel_size": 3}, "filters", "out_channels"),
    ({"type": "conv", "out_channels": 4, "kernel_size": 3, "strides": 2}, "strides", "stride"),
    ({"type": "conv", "out_channels": 4, "kernel": 3}, "kernel", "kernel_size"),
    ({"type": "linear", "units": 10}, "units", "out_features"),
    ({"type": "max_pool", "pool_size": 2}, "pool_size", "kernel_size"),
    ({"type": "conv", "out_channels": 4, "kernel_size": 3, "dilaton": 2}, "dilaton", "dilation"),
])
def test_field(layer: dict[str, Any], field: str, meant: str) -> None:
    """Also where the misspelling leaves a required field missing: the typo is the cause."""
    assert _error(layer) == f"unknown field {field!r}; did you mean {meant!r}?"


def test_field_without_a_close_name() -> None:
    assert _error({"type": "relu", "colour": "red"}) == "unknown field 'colour'"
