"""Checks of the parsed request body that JSON allows but the service cannot serve.

Python's JSON parser accepts two things that are not data this service can use: the literals
``NaN``, ``Infinity`` and ``-Infinity`` (not JSON at all, RFC 8259), and lone UTF-16 surrogates
written as escapes (``"\\ud800"``: valid JSON text, but no Unicode character, so it cannot be
encoded as UTF-8). :func:`first_bad_value` finds the first of either, with its JSON path, so
that the answer is a 422 that says what and where.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import safe_text

Path = list[str | int]


def _has_surrogate(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def first_bad_value(obj: Any, root: Path | None = None) -> tuple[Path, str] | None:
    """The path and a message for the first non-finite number or lone surrogate in ``obj``
    (keys included), or None. Iterative: any depth the parser accepted is walked."""
    stack: list[tuple[Any, Path]] = [(obj, list(root or []))]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _has_surrogate(value):
                return path, (f"the string {safe_text(value)[:80]!r} holds a lone UTF-16 "
                              "surrogate (an escape such as \\ud800 without its pair), which "
                              "is not a character and cannot be encoded as UTF-8; send text "
                              "without lone surrogates")
        elif isinstance(value, float):
            if not math.isfinite(value):
                return path, (f"{value!r} is not a number this service accepts: NaN, "
                              "Infinity and -Infinity are not allowed (they are not JSON); "
                              "send a finite number")
        elif isinstance(value, dict):
            items = list(value.items())
            for k, _ in items:
                if isinstance(k, str) and _has_surrogate(k):
                    return [*path, k], (f"the key {safe_text(k)[:80]!r} holds a lone UTF-16 "
                                        "surrogate (an escape such as \\ud800 without its "
                                        "pair), which is not a character and cannot be "
                                        "encoded as UTF-8; send text without lone surrogates")
            stack.extend((v, [*path, k]) for k, v in reversed(items))
        elif isinstance(value, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(value))))
    return None


def bad_value_message(path: Path, why: str) -> str:
    """``where: why`` with the path written like the service's other request errors."""
    where = "/".join(safe_text(str(p)) for p in path)
    return f"{where}: {why}" if where else why
