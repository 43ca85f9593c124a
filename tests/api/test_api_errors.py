"""Every error kind the service can answer is in ``ErrorBody``'s Literal, with its meaning in
the OpenAPI document; the formats of ``?format=`` are json and the library's table formats; an
allocation failure is told from a layer that is merely called "out of memory"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from api.errors import KINDS, SERVICE_ERROR_KINDS, Kind, error_body
from api.main import HTTP_KINDS, create_app
from api.models import ErrorBody, Format
from api.settings import Settings
from api.worker import MEDIA_TYPES, _out_of_memory
from cnncalc.errors import ERROR_KINDS, CnnCalcError
from cnncalc.pytorch.build import LayerFailure
from cnncalc.report.tables import FORMATS

ROOT = Path(__file__).resolve().parents[2]

# A kind written as a literal: error_body("busy", ...), _reply(send, 413, "limit", ...),
# CnnCalcError(..., kind="input").
EMITTED = [re.compile(r'error_body\(\s*"(\w+)"'), re.compile(r'_reply\(\s*send,\s*\d+,\s*"(\w+)"'),
           re.compile(r'\bkind="(\w+)"')]


def emitted_kinds(folder: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / folder).rglob("*.py"):
        text = path.read_text()
        for pattern in EMITTED:
            found.update(pattern.findall(text))
    return found


def test_every_kind_in_the_code_is_in_the_literal() -> None:
    kinds = set(get_args(Kind))
    service = emitted_kinds("api") | set(HTTP_KINDS.values())
    assert {"busy", "timeout", "request", "limit", "not_found"} <= service  # the grep works
    assert service <= kinds, service - kinds
    library = emitted_kinds("cnncalc") - {"mergesort"}  # numpy's sort kind, not an error
    assert {"input", "binding", "torch"} <= library
    assert library <= set(ERROR_KINDS), library - set(ERROR_KINDS)


def test_every_kind_has_one_meaning() -> None:
    assert not set(ERROR_KINDS) & set(SERVICE_ERROR_KINDS)
    assert set(get_args(Kind)) == set(KINDS) == set(ERROR_KINDS) | set(SERVICE_ERROR_KINDS)
    assert all(meaning.strip() for meaning in KINDS.values())


def test_openapi_lists_each_kind_with_its_meaning() -> None:
    doc = create_app(Settings(workers=1)).openapi()
    error = doc["components"]["schemas"]["ErrorBody"]["properties"]["error"]
    assert error["enum"] == list(get_args(Kind))
    for kind, meaning in KINDS.items():
        assert f"`{kind}`: {meaning}" in error["description"]
    params = doc["paths"]["/analyze"]["post"]["parameters"]
    fmt = next(p for p in params if p["name"] == "format")
    assert fmt["schema"]["enum"] == ["json", *FORMATS]


def test_formats_are_json_and_the_table_formats() -> None:
    assert tuple(MEDIA_TYPES) == get_args(Format) == ("json", *FORMATS)


def test_error_body_has_the_shape_of_the_library_errors() -> None:
    e = CnnCalcError("bad", layer="c1", index=0, path=["layers", 0], kind="binding")
    body = error_body("binding", str(e), layer="c1", index=0, path=["layers", 0])
    assert set(body) == set(e.to_dict()) == set(ErrorBody.model_fields)


def _wrapped(inner: BaseException, outer: BaseException, cause: bool = False) -> BaseException:
    """``outer`` raised while handling ``inner``: ``from inner`` (as a LayerFailure is) or
    ``from None`` (as the torch builder's CnnCalcError is; ``inner`` stays its context)."""
    try:
        try:
            raise inner
        except BaseException as e:
            raise outer from (e if cause else None)
    except BaseException as e:
        return e


@pytest.mark.parametrize("exc, oom", [
    (MemoryError(), True),
    (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"), True),
    (RuntimeError("shapes do not match"), False),
    (_wrapped(RuntimeError("[enforce fail] std::bad_alloc"),
              CnnCalcError("torch cannot build this layer: std::bad_alloc", layer="c",
                           kind="torch")), True),
    (_wrapped(ValueError("bad size"), CnnCalcError("torch cannot build this layer: bad size",
                                                   layer="out of memory", kind="torch")), False),
    (LayerFailure("out of memory", ValueError("bad size")), False),
    (_wrapped(RuntimeError("CUDA out of memory"),
              LayerFailure("c1", RuntimeError("CUDA out of memory")), cause=True), True),
    (CnnCalcError("out of memory", layer="out of memory"), False),
])
def test_out_of_memory_reads_allocators_not_layer_names(exc: BaseException, oom: bool) -> None:
    assert _out_of_memory(exc) is oom
