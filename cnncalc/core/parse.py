"""Reading architecture JSON: text files, JSON text, and pydantic's errors as one CnnCalcError.

Nothing here knows the schema (:mod:`cnncalc.core.schema` builds on it): a file that cannot be
read, text that is not JSON (or holds NaN, Infinity or a 400-digit integer), and the most
useful of pydantic's validation errors each become one :class:`~cnncalc.errors.CnnCalcError`
naming the file, the layer and the JSON path.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pydantic

from ..errors import CnnCalcError, format_path
from .suggest import FIELD_ALIASES, TYPE_ALIASES, did_you_mean

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Largest JSON file read."""

MAX_INT_DIGITS = 400
"""Longest integer literal read from architecture JSON (the schema bounds values further)."""


def read_text(p: Path, what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> str:
    """A user's text file as UTF-8: a missing, unreadable, oversized or non-UTF-8 file is a
    :class:`CnnCalcError` naming it (never an ``OSError`` or ``UnicodeDecodeError``)."""
    try:
        if p.is_dir():
            raise CnnCalcError(f"{p} is a directory, not a {what}", kind="input")
        if not p.is_file():
            raise CnnCalcError(f"no such file: {p}", kind="input")
        if p.stat().st_size > max_bytes:
            raise CnnCalcError(f"{p} is larger than {max_bytes} bytes", kind="limit")
        with p.open("rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise CnnCalcError(f"cannot read {p}: {e.strerror or e}", kind="input") from None
    if len(data) > max_bytes:
        raise CnnCalcError(f"{p} is larger than {max_bytes} bytes", kind="limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise CnnCalcError(f"{p} is not UTF-8 text (byte {e.start}, line {line}); save the "
                           f"{what} as UTF-8", kind="input") from None


def read_json(text: str, what: str) -> Any:
    """``text`` parsed as JSON; ``what`` (``"the JSON string"``, a file name) names it in
    errors. NaN, Infinity, floats too large and integers past :data:`MAX_INT_DIGITS` digits
    are refused."""
    def refuse(name: str) -> Any:
        raise CnnCalcError(f"{what} holds {name}, which is not a number cnncalc accepts (JSON "
                           "has no NaN or Infinity; write a finite number)", kind="input")

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            raise CnnCalcError(f"{what} holds an integer of {len(digits.lstrip('-'))} digits; "
                               f"at most {MAX_INT_DIGITS}", kind="limit")
        return int(digits)

    def parse_float(literal: str) -> float:
        v = float(literal)
        if not math.isfinite(v):
            raise CnnCalcError(f"{what} holds {literal[:40]}, a number too large for a float "
                               "(write a finite number)", kind="input")
        return v

    try:
        return json.loads(text, parse_constant=refuse, parse_int=parse_int,
                          parse_float=parse_float)
    except json.JSONDecodeError as e:
        msg = e.msg.removesuffix(" at")  # "Invalid control character at": json's own "at"
        raise CnnCalcError(f"{what} is not valid JSON: {msg} at line {e.lineno} column "
                           f"{e.colno}", kind="input") from None
    except RecursionError:
        raise CnnCalcError(f"{what} is nested too deeply", kind="limit") from None


def _score(e: Any) -> int:
    """Prefer our own messages (expressions), then errors that are not a union's type miss,
    and an unknown field over a missing one (a misspelt field is both: the typo says why)."""
    msg = str(e.get("msg", ""))
    return 4 * ("expression" in msg) + 2 * (e.get("type") not in (
        "int_type", "string_type", "list_type")) + (e.get("type") == "extra_forbidden")


def from_validation(err: pydantic.ValidationError, raw: object, types: Sequence[str] = (),
                    fields_of: Callable[[str], Sequence[str]] | None = None) -> CnnCalcError:
    """The most useful of pydantic's errors, with the layer's name and index and a JSON path.

    The error location is walked through the raw JSON: parts that are real keys or indices
    form the path; the rest (union tags such as ``conv`` or ``int``) are skipped. An unknown
    layer type or field gets a did-you-mean from ``types`` and ``fields_of(type)``.
    """
    best = max(err.errors(include_url=False), key=_score)
    path: list[str | int] = []
    layer: str | None = None
    index: int | None = None
    node: Any = raw
    tag: Any = None  # the union tag pydantic puts after a layer's index
    layer_node: Any = None  # the layer's JSON object
    for part in best["loc"]:
        if tag is not None and part == tag:
            tag = None
            continue
        tag = None
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, dict) and path and path[-1] in ("layers", "body"):
                index = part
                layer = str(node.get("name") or f"{node.get('type')}{part}")
                layer_node = node
                tag = node.get("type")
        elif best["type"] in ("missing", "extra_forbidden") and part == best["loc"][-1]:
            pass
        else:
            continue
        path.append(part)
    # The field as a path inside the layer (``args.w``, ``padding[1]``), or from the top.
    start = 0
    for i, p in enumerate(path):
        if isinstance(p, int) and i and path[i - 1] in ("layers", "body"):
            start = i + 1
    field = format_path(path[start:])
    msg = str(best["msg"]).removeprefix("Value error, ")
    kind = layer_node.get("type") if isinstance(layer_node, dict) else None
    if best["type"] == "union_tag_invalid" and isinstance(kind, str):
        tag = kind
        guess = did_you_mean(tag, types, TYPE_ALIASES) if types else None
        msg = (f"unknown layer type {tag[:60]!r}" + (f"; did you mean {guess!r}?" if guess else "")
               + " (`cnncalc schema` lists the types)")
    elif best["type"] == "extra_forbidden":
        msg = f"unknown field {field!r}"
        name = str(best["loc"][-1])
        if layer is not None and fields_of is not None and isinstance(kind, str):
            guess = did_you_mean(name, fields_of(kind), FIELD_ALIASES)
            if guess and guess != name:
                msg += f"; did you mean {guess!r}?"
    elif best["type"] == "missing":
        msg = f"missing field {field!r}"
    elif layer is not None and field:
        msg = f"{field}: {msg}"
    return CnnCalcError(msg, layer=layer, index=index, path=path, kind="schema")
