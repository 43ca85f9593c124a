"""``cnncalc.load`` says what it takes: one documented order, and never a silent shadow.

A file named like a zoo model is refused by name alone (``"resnet50"``) and read by any
spelling that can only be a file (``./resnet50``, a ``Path``, ``Architecture.from_file``);
``cnncalc.zoo.load`` only ever reads the zoo.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import cnncalc
from cnncalc import Architecture, CnnCalcError

SMALL: dict[str, Any] = {"name": "small", "input": {"shape": [1, 3, "H", "H"]},
                         "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3}]}


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding a file named ``resnet50`` (the small net)."""
    (tmp_path / "resnet50").write_text(json.dumps(SMALL), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_file_named_like_a_zoo_model_is_refused_by_name(here: Path) -> None:
    with pytest.raises(CnnCalcError) as e:
        cnncalc.load("resnet50")
    assert e.value.kind == "input"
    assert "./resnet50" in e.value.message and "cnncalc.zoo.load('resnet50')" in e.value.message
    with pytest.raises(CnnCalcError, match="both a zoo model and a file"):
        cnncalc.analyze("resnet50")


@pytest.mark.parametrize("spelling", ["./resnet50", "abs", Path("resnet50")],
                         ids=["dot-slash", "absolute", "Path"])
def test_the_file_by_a_spelling_that_is_only_a_file(here: Path, spelling: Any) -> None:
    arg = str(here / "resnet50") if spelling == "abs" else spelling
    assert cnncalc.load(arg).name == "small"
    assert Architecture.from_file(arg).name == "small"


def test_the_zoo_model_by_its_helper(here: Path) -> None:
    assert cnncalc.zoo.load("resnet50").name == cnncalc.zoo_json("resnet50")["name"]
    assert cnncalc.zoo.load("resnet50") == Architecture.from_dict(cnncalc.zoo_json("resnet50"))


def test_a_directory_does_not_shadow_a_zoo_name(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "resnet50").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cnncalc.load("resnet50") == cnncalc.zoo.load("resnet50")


def test_every_kind_of_argument() -> None:
    arch = cnncalc.load(SMALL)
    assert cnncalc.load(arch) is arch
    assert cnncalc.load(json.dumps(SMALL)) == arch
    assert cnncalc.load("  " + json.dumps(SMALL)) == arch
    assert Architecture.from_json(json.dumps(SMALL)) == arch
    assert cnncalc.load("resnet50") == cnncalc.zoo.load("resnet50")


NOT_AN_ARCH: Any = 3


def test_refusals_name_what_was_given(tmp_path: Path) -> None:
    with pytest.raises(CnnCalcError, match="neither a JSON file nor a zoo model") as e:
        cnncalc.load("resnet5")
    assert e.value.kind == "input"
    with pytest.raises(CnnCalcError, match="unknown zoo model 'net.json'"):
        cnncalc.zoo.load("net.json")
    with pytest.raises(CnnCalcError, match="no such file"):
        cnncalc.load(tmp_path / "missing.json")
    with pytest.raises(CnnCalcError, match="the JSON string is not valid JSON"):
        cnncalc.load("{")
    with pytest.raises(CnnCalcError, match="cannot read an architecture from int"):
        cnncalc.load(NOT_AN_ARCH)
    with pytest.raises(CnnCalcError) as e:
        Architecture.from_dict({**SMALL, "extra": 1})
    assert e.value.kind == "schema" and "unknown field 'extra'" in str(e.value)


def test_control_character_message_reads_once() -> None:
    """json's own message ends in "at"; the position is said once: "... character at line 1"."""
    with pytest.raises(CnnCalcError) as e:
        cnncalc.load('{"name": "a\tb"}')
    assert "Invalid control character at line 1 column 12" in str(e.value)
    assert "at at" not in str(e.value)
