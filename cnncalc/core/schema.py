"""The architecture JSON (version 1) as pydantic models.

The layer union is declared once, discriminated by ``type``, so a bad tag gives one precise
error. Besides the layer classes it holds two graph items: ``block`` (an instance of a named
sub-graph from ``blocks``, with arguments) and ``repeat`` (a body repeated in sequence).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

import pydantic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .. import envvars
from ..algebra.expr import MAX_LITERAL, describe_char, first_non_ascii
from ..errors import CnnCalcError, format_path
from ..layers import LAYER_CLASSES
from ..layers.base import IntLike, LayerBase
from .dtypes import DTYPE_BYTES
from .parse import from_validation, read_json, read_text

ARG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")


class BlockRef(LayerBase):
    """An instance of ``blocks[block]``; names inside become ``NAME.inner``; its output is the
    block's last layer."""

    type: Literal["block"]
    block: str
    args: dict[str, IntLike] = Field(default_factory=dict)


class Repeat(LayerBase):
    """``body`` repeated ``times`` in sequence; iteration ``i`` is named ``NAME.{start+i}``.

    Inside the body, ``"input"`` is the previous iteration's output. A body of one unnamed block
    takes the iteration's name itself (``layer1.1.conv1``, as torchvision).
    """

    type: Literal["repeat"]
    times: IntLike
    start: int = Field(0, ge=0, le=MAX_LITERAL)
    body: list[LayerSpec] = Field(..., min_length=1)


LayerSpec = Annotated[
    Union[(*LAYER_CLASSES, BlockRef, Repeat)],  # type: ignore[valid-type]  # built at run time
    Field(discriminator="type"),
]
"""Any layer or graph item, discriminated by ``type``."""

Repeat.model_rebuild()


class Block(BaseModel):
    """A named sub-graph with arguments usable in its integer fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    args: list[str] = Field(default_factory=list)
    layers: list[LayerSpec] = Field(..., min_length=1)

    @field_validator("args")
    @classmethod
    def _arg_names(cls, v: list[str]) -> list[str]:
        for a in v:
            if not ARG_RE.fullmatch(a) or a in ("floor", "ceil", "min", "max", "input"):
                raise ValueError(f"{a!r} is not a valid argument name")
        if len(set(v)) != len(v):
            raise ValueError("argument names must be unique")
        return v


class InputSpec(BaseModel):
    """``shape``: ``[batch, channels, *spatial]`` with 1 to 3 spatial axes; entries are integers
    or expression strings. ``dtype`` sets the bytes per element for memory figures."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shape: list[IntLike] = Field(..., min_length=3, max_length=5)
    dtype: str = "float32"

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str) -> str:
        if v not in DTYPE_BYTES:
            raise ValueError(f"unknown dtype {v!r}; one of {sorted(DTYPE_BYTES)}")
        return v


class Architecture(BaseModel):
    """A network: its input, reusable blocks, and the list of layers (a graph by ``inputs``)."""

    model_config = ConfigDict(extra="forbid", frozen=True,
                              json_schema_extra={"title": "cnncalc architecture (version 1)"})

    version: Literal[1] = 1
    name: str = Field("network", max_length=200)
    description: str | None = Field(None, max_length=2000)
    input: InputSpec
    blocks: dict[str, Block] = Field(default_factory=dict)
    layers: list[LayerSpec] = Field(..., min_length=1)

    _json: str | None = PrivateAttr(None)

    @classmethod
    def from_dict(cls, obj: object) -> Architecture:
        """Validate parsed JSON; the most useful of pydantic's errors becomes one
        :class:`CnnCalcError` naming the layer and the JSON path."""
        envvars.check()
        try:
            return cls.model_validate(obj)
        except pydantic.ValidationError as e:
            raise from_validation(e, obj, (*LAYER_TYPES, "block", "repeat"),
                                  _fields_of) from None
        except RecursionError:
            raise CnnCalcError("the architecture is nested too deeply", kind="limit") from None

    @classmethod
    def from_json(cls, text: str, what: str = "the JSON string") -> Architecture:
        """An architecture from JSON text (``what`` names it in errors)."""
        return cls.from_dict(read_json(text, what))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Architecture:
        """An architecture from a JSON file (UTF-8, at most 8 MiB)."""
        p = Path(path)
        return cls.from_json(read_text(p, "JSON file"), str(p))

    def canonical_json(self) -> str:
        """The architecture as canonical JSON (cache key for derived results)."""
        if self._json is None:
            self._json = self.model_dump_json(exclude_defaults=False)
        return self._json

    @model_validator(mode="before")
    @classmethod
    def _not_a_list(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError("an architecture is a JSON object with 'input' and 'layers'")
        check_raw(data)
        return data


FREE_TEXT = ("name", "description")
"""Top-level fields that are free text (any valid Unicode); every other string is a name, an
expression or a keyword and must be ASCII."""

_LIMIT_BITS = MAX_LITERAL.bit_length()


def check_raw(data: dict[str, Any]) -> None:
    """What no field of an architecture may hold, checked once over the raw JSON before the
    fields are validated, so that every field (and every future one) is covered:

    * a lone surrogate in any string or key (not valid Unicode: it cannot be encoded as UTF-8);
    * a non-ASCII character in any string or key except the free-text :data:`FREE_TEXT`:
      Python's parser NFKC-normalises identifiers, so look-alikes would silently alias
      (U+210C is ``H``) and names that look equal would differ;
    * NaN or Infinity (JSON's ``NaN`` literals, or floats in a dict);
    * an integer beyond ``10**12`` in magnitude, the limit of expression literals: plain JSON
      integers are otherwise unbounded and a result past 4,300 digits cannot even be printed.

    Raises :class:`CnnCalcError` (kind ``schema``) naming the JSON path (and the layer).
    """
    stack: list[tuple[list[str | int], Any]] = [([], data)]
    while stack:
        path, obj = stack.pop()
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(k, str):
                    _check_text(k, [*path, "<key>"], data, key=True, free=False)
                stack.append(([*path, k if isinstance(k, str) and k.isascii() else "?"], v))
        elif isinstance(obj, (list, tuple)):
            stack.extend(([*path, i], v) for i, v in enumerate(obj))
        elif isinstance(obj, str):
            _check_text(obj, path, data, key=False,
                        free=len(path) == 1 and path[0] in FREE_TEXT)
        elif isinstance(obj, bool):
            continue
        elif isinstance(obj, int):
            # bit_length first: str() of a 5,000-digit int raises.
            if obj.bit_length() >= _LIMIT_BITS and abs(obj) > MAX_LITERAL:
                raise _raw_error(path, data, "integers are limited to 10**12 in magnitude (as "
                                             "expression literals are); give a smaller value")
        elif isinstance(obj, float) and not math.isfinite(obj):
            what = "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
            raise _raw_error(path, data, f"{what} is not allowed; give a finite number")


def _check_text(text: str, path: list[str | int], data: Any, *, key: bool, free: bool) -> None:
    if text.isascii():
        return
    where = "a key" if key else "the value"
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise _raw_error(path, data, f"{where} holds {describe_char(ch)}; send valid "
                                         "Unicode (UTF-8) text")
    if not free:
        bad = first_non_ascii(text)
        raise _raw_error(path, data, f"{where} holds the non-ASCII character {bad}; names, "
                                     "expressions and keywords are ASCII (look-alike letters "
                                     "would silently stand for others)")


def _raw_error(path: list[str | int], data: Any, message: str) -> CnnCalcError:
    """A CnnCalcError at ``path`` (its text starts with the path), naming the layer the path
    goes through when its name is plain ASCII."""
    clean = [p for p in path if p != "<key>"]
    where = format_path(clean) or "architecture"
    node: Any = data
    label = ""
    for i, p in enumerate(clean):
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(p, int) and i and clean[i - 1] in ("layers", "body") \
                and isinstance(node, dict):
            name = node.get("name")
            label = f" (layer {name!r})" if isinstance(name, str) and name.isascii() else ""
    return CnnCalcError(f"{where}{label}: {message}", kind="schema")


LAYER_TYPES: tuple[str, ...] = tuple(get_args(c.model_fields["type"].annotation)[0]
                                     for c in LAYER_CLASSES)
"""The ``type`` tag of every concrete layer class."""

_FIELDS = {t: tuple(c.model_fields) for t, c in zip(LAYER_TYPES, LAYER_CLASSES, strict=True)}


def _fields_of(layer_type: str) -> Sequence[str]:
    """The JSON fields of a layer type (none for an unknown one), for did-you-mean."""
    return _FIELDS.get(layer_type, ())


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the architecture (``cnncalc schema``, ``GET /schema``)."""
    return Architecture.model_json_schema()
