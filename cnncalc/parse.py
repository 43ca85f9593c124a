"""Validate architecture JSON; turn pydantic's errors into one precise CnnCalcError."""

from __future__ import annotations

from typing import Any

import pydantic

from .errors import CnnCalcError, format_path
from .schema import Architecture


def parse(obj: object) -> Architecture:
    """Validate a dict as an Architecture; pydantic errors become one CnnCalcError."""
    try:
        return Architecture.model_validate(obj)
    except pydantic.ValidationError as e:
        raise from_validation(e, obj) from None
    except RecursionError:
        raise CnnCalcError("the architecture is nested too deeply", kind="limit") from None


def _score(e: Any) -> int:
    """Prefer our own messages (expressions), then errors that are not a union's type miss."""
    msg = str(e.get("msg", ""))
    return 4 * ("expression" in msg) + 2 * (e.get("type") not in ("int_type", "string_type",
                                                                  "list_type")) + 0


def from_validation(err: pydantic.ValidationError, raw: object) -> CnnCalcError:
    """The most useful of pydantic's errors, with the layer's name and index and a JSON path.

    The error location is walked through the raw JSON: parts that are real keys or indices
    form the path; the rest (union tags such as ``conv`` or ``int``) are skipped.
    """
    best = max(err.errors(include_url=False), key=_score)
    path: list[str | int] = []
    layer: str | None = None
    index: int | None = None
    node: Any = raw
    tag: Any = None  # the union tag pydantic puts after a layer's index
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
    if best["type"] == "extra_forbidden":
        msg = f"unknown field {field!r}"
    elif best["type"] == "missing":
        msg = f"missing field {field!r}"
    elif layer is not None and field:
        msg = f"{field}: {msg}"
    return CnnCalcError(msg, layer=layer, index=index, path=path, kind="schema")
