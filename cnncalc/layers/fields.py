"""The JSON field types of layer classes (docs/schema.md): integers, flags, expression strings.

An integer field of a layer takes a JSON integer or an expression string in size names
(:data:`IntLike`); :func:`expr_fields` tells the graph which fields of a class may hold one.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, Strict

from ..algebra.expr import MAX_LITERAL, compile_expr


def _check_expr(v: str) -> str:
    if v in ("same", "valid"):
        return v
    compile_expr(v)
    return v


def _bounded_int(v: int) -> int:
    if abs(v) > MAX_LITERAL:  # never str(v): past 4,300 digits it raises
        raise ValueError(f"integers are limited to 10**{len(str(MAX_LITERAL)) - 1} in "
                         "magnitude (as expression literals are); give a smaller value")
    return v


_EXPR_CHECK = AfterValidator(_check_expr)

StrictInt = Annotated[int, Strict(), AfterValidator(_bounded_int)]
"""A JSON integer (not a float, string or boolean) of at most 10**12 in magnitude."""
Flag = Annotated[bool, Strict()]
"""A JSON boolean (``true``/``false``; not ``1`` or ``"yes"``)."""
ExprStr = Annotated[str, Strict(), _EXPR_CHECK]
"""An expression string in size names, checked by :func:`cnncalc.algebra.expr.compile_expr`
(``"same"`` and ``"valid"`` pass as they are)."""
IntLike = Union[StrictInt, ExprStr]
"""An integer, or an expression string in size names (``"H"``, ``"2*C"``)."""
Axes = Union[IntLike, list[IntLike]]
"""One value for every spatial axis, or a list with one value per axis."""
Padding = Union[IntLike, list[IntLike | list[IntLike]]]
"""An integer, per-axis list, per-axis ``[before, after]`` pairs, ``"same"`` or ``"valid"``."""


def _holds_expr(tp: Any) -> bool:
    """Whether the type ``tp`` admits an :data:`ExprStr` anywhere (in a union, list, dict)."""
    if get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        return _EXPR_CHECK in meta or _holds_expr(base)
    return any(_holds_expr(a) for a in get_args(tp))


@functools.cache
def expr_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """Names of the fields of ``cls`` that may hold expression strings."""
    return tuple(n for n, f in cls.model_fields.items()
                 if _holds_expr(f.annotation) or _EXPR_CHECK in f.metadata)
