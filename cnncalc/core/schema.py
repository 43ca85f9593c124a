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
from typing import Annotated, Any, Literal, TypeVar, Union, get_args

import pydantic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .. import envvars
from ..algebra.expr import MAX_LITERAL, RESERVED, describe_char, first_non_ascii, names_in
from ..errors import CnnCalcError, format_path
from ..layers import LAYER_CLASSES
from ..layers.base import IntLike, LayerBase, expr_fields
from .bindings import MAX_BINDING
from .dtypes import DTYPE_BYTES
from .parse import from_validation, read_json, read_text
from .suggest import did_you_mean

ARG_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_M = TypeVar("_M", bound=BaseModel)


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
# Every model here defers its build to first validation (``defer_build``): then Repeat's
# forward reference to LayerSpec resolves from this module, and the zoo, built without
# validation (:meth:`Architecture.from_trusted`), never pays for the union.


class Block(BaseModel):
    """A named sub-graph with arguments usable in its integer fields."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

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
    """``shape``: ``[batch, channels, *spatial]`` with 0 to 3 spatial axes (``[N, features]``
    for an MLP); entries are integers or expression strings. ``dtype`` sets the bytes per
    element for memory figures."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    shape: list[IntLike] = Field(..., min_length=2, max_length=5)
    dtype: str = "float32"

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str) -> str:
        if v not in DTYPE_BYTES:
            raise ValueError(f"unknown dtype {v!r}; one of {sorted(DTYPE_BYTES)}")
        return v


class SymbolSpec(BaseModel):
    """A declared size: the integer range it may take (bindings, sweeps and constraints keep to
    it). ``min`` may be 0 for sizes such as a padding; a size that sets an output length must
    still be at least 1 there, which the constraints say."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    min: int = Field(1, ge=0, le=MAX_BINDING, description="Smallest value (default 1).")
    max: int = Field(MAX_BINDING, ge=0, le=MAX_BINDING,
                     description=f"Largest value (default {MAX_BINDING:,}).")
    description: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> SymbolSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class Architecture(BaseModel):
    """A network: its input, reusable blocks, and the list of layers (a graph by ``inputs``).

    Sizes: the names in the input shape are declared by their use there, block arguments
    inside their block; any other name a field uses must be declared in ``symbols`` (so that a
    typo such as ``"SAME"`` is an error, not a new size).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True,
                              json_schema_extra={"title": "cnncalc architecture (version 1)"})

    version: Literal[1] = 1
    name: str = Field("network", max_length=200)
    description: str | None = Field(None, max_length=2000)
    input: InputSpec
    symbols: dict[str, SymbolSpec] = Field(
        default_factory=dict, max_length=64,
        description='Sizes the fields use besides the input shape\'s, with their ranges: '
                    '{"K": {"min": 1, "max": 11}, "P": {"min": 0}}.')
    blocks: dict[str, Block] = Field(default_factory=dict)
    layers: list[LayerSpec] = Field(..., min_length=1)

    _json: str | None = PrivateAttr(None)
    _names_checked: bool = PrivateAttr(False)

    @classmethod
    def from_dict(cls, obj: object) -> Architecture:
        """Validate parsed JSON; the most useful of pydantic's errors becomes one
        :class:`CnnCalcError` naming the layer and the JSON path."""
        envvars.check()
        try:
            arch = cls.model_validate(obj)
        except pydantic.ValidationError as e:
            raise from_validation(e, obj, (*LAYER_TYPES, "block", "repeat"),
                                  _fields_of) from None
        except RecursionError:
            raise CnnCalcError("the architecture is nested too deeply", kind="limit") from None
        check_declared(arch)
        return arch

    @classmethod
    def from_trusted(cls, obj: dict[str, Any]) -> Architecture:
        """An architecture from JSON that cnncalc ships (the zoo), built without validation:
        pydantic's validators for the layer union cost more than the analysis they precede.
        ``tests/core/test_zoo.py`` checks that every zoo model built so equals, value for value
        and type for type, the one :meth:`from_dict` validates. Never for a user's JSON."""
        arch = _construct(cls, obj)
        check_declared(arch)
        return arch

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

    @field_validator("symbols")
    @classmethod
    def _symbol_names(cls, v: dict[str, SymbolSpec]) -> dict[str, SymbolSpec]:
        for name in v:
            if not ARG_RE.fullmatch(name) or name in RESERVED or "__" in name:
                raise ValueError(f"{name!r} is not a valid size name (a letter, then letters, "
                                 "digits or _; at most 32)")
        return v

    def declared(self) -> frozenset[str]:
        """The size names the layers may use: the input shape's and ``symbols``."""
        out: set[str] = set(self.symbols)
        for v in self.input.shape:
            out |= names_in(v)
        return frozenset(out)

    def ranges(self) -> dict[str, tuple[int, int]]:
        """The declared ranges of sizes (inclusive); any other size takes ``1..MAX_BINDING``."""
        return {k: (v.min, v.max) for k, v in self.symbols.items()}


_LAYER_CLASS: dict[str, type[BaseModel]] = {}


def _construct(cls: type[_M], data: dict[str, Any]) -> _M:
    """``cls`` from trusted JSON by ``model_construct``, nested models made likewise."""
    values = {}
    for k, v in data.items():
        if k in ("layers", "body"):
            v = [_construct(_layer_class(x["type"]), x) for x in v]
        elif k == "input" and cls is Architecture:
            v = _construct(InputSpec, v)
        elif k == "symbols" and cls is Architecture:
            v = {name: _construct(SymbolSpec, x) for name, x in v.items()}
        elif k == "blocks" and cls is Architecture:
            v = {name: _construct(Block, x) for name, x in v.items()}
        values[k] = v
    return cls.model_construct(**values)


def _layer_class(tag: str) -> type[BaseModel]:
    if not _LAYER_CLASS:
        _LAYER_CLASS.update(zip(LAYER_TYPES, LAYER_CLASSES, strict=True))
        _LAYER_CLASS.update(block=BlockRef, repeat=Repeat)
    return _LAYER_CLASS[tag]


def check_declared(arch: Architecture) -> None:
    """Every name a layer field uses is declared (:meth:`Architecture.declared`, or an argument
    of the enclosing block): otherwise a :class:`CnnCalcError` (kind ``schema``) at the field,
    with a did-you-mean (``"SAME"`` -> the padding ``"same"``, ``"h"`` -> ``H``). Checked once
    per architecture object (by :meth:`Architecture.from_dict`, else by the first analysis)."""
    if arch._names_checked:
        return
    declared = arch.declared()
    for i, item in enumerate(arch.layers):
        _check_item(item, ["layers", i], declared, frozenset(), arch)
    for bname, blk in arch.blocks.items():
        for i, item in enumerate(blk.layers):
            _check_item(item, ["blocks", bname, "layers", i], declared, frozenset(blk.args), arch)
    arch._names_checked = True


def _check_item(item: LayerBase, path: list[str | int], declared: frozenset[str],
                args: frozenset[str], arch: Architecture) -> None:
    for fname in expr_fields(type(item)):
        _check_value(getattr(item, fname), [*path, fname], fname, item, declared, args, arch)
    if isinstance(item, Repeat):
        for j, sub in enumerate(item.body):
            _check_item(sub, [*path, "body", j], declared, args, arch)


def _check_value(v: Any, path: list[str | int], field: str, item: LayerBase,
                 declared: frozenset[str], args: frozenset[str], arch: Architecture) -> None:
    if isinstance(v, list):
        for j, x in enumerate(v):
            _check_value(x, [*path, j], field, item, declared, args, arch)
    elif isinstance(v, dict):
        for k, x in v.items():
            _check_value(x, [*path, k], field, item, declared, args, arch)
    elif isinstance(v, str) and v not in ("same", "valid"):
        for name in sorted(names_in(v) - declared - args):
            raise _undeclared(name, v, path, field, item, declared | args, args, arch)


def _undeclared(name: str, text: str, path: list[str | int], field: str, item: LayerBase,
                known: frozenset[str], args: frozenset[str], arch: Architecture) -> CnnCalcError:
    keywords = ("same", "valid") if field == "padding" else ()
    guess = did_you_mean(name, [*keywords, *sorted(known)], {})
    whole = text.strip() == name
    if guess in keywords:
        hint = f'did you mean the padding "{guess}"?' if whole else \
            f'did you mean "{guess}" (a padding keyword, on its own)?'
    elif guess is not None:
        hint = f"did you mean {guess!r}?"
    else:
        sizes = (f"the sizes here are {', '.join(sorted(known))}" if known
                 else "the input shape names no size")
        hint = (f"{sizes}; declare a new one in \"symbols\" "
                f"(\"symbols\": {{\"{name}\": {{\"min\": 1}}}})")
    where = "" if whole else f" (in {text!r})"
    # A named layer is named in the error (its path is in .path); else the path says where.
    field_path = format_path(path[path.index(field):]) if item.name else ""
    return CnnCalcError(f"{field_path + ': ' if field_path else ''}{name!r}{where} is not a "
                        f"size of {arch.name!r}: {hint}", kind="schema", path=path,
                        layer=item.name)


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
    # A path is a linked list, (parent, key), made a list only for an error: copying lists
    # would make 3,000 nested repeats quadratic.
    stack: list[tuple[_Link, Any]] = [(None, data)]
    while stack:
        link, obj = stack.pop()
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(k, str):
                    _check_text(k, (link, "<key>"), data, key=True, free=False)
                stack.append(((link, k if isinstance(k, str) and k.isascii() else "?"), v))
        elif isinstance(obj, (list, tuple)):
            stack.extend(((link, i), v) for i, v in enumerate(obj))
        elif isinstance(obj, str):
            _check_text(obj, link, data, key=False,
                        free=link is not None and link[0] is None and link[1] in FREE_TEXT)
        elif isinstance(obj, bool):
            continue
        elif isinstance(obj, int):
            # bit_length first: str() of a 5,000-digit int raises.
            if obj.bit_length() >= _LIMIT_BITS and abs(obj) > MAX_LITERAL:
                raise _raw_error(_path(link), data, "integers are limited to 10**12 in "
                                 "magnitude (as expression literals are); give a smaller value")
        elif isinstance(obj, float) and not math.isfinite(obj):
            what = "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
            raise _raw_error(_path(link), data, f"{what} is not allowed; give a finite number")


_Link = Union[tuple["_Link", Union[str, int]], None]


def _path(link: _Link) -> list[str | int]:
    out: list[str | int] = []
    while link is not None:
        link, key = link
        out.append(key)
    return out[::-1]


def _check_text(text: str, link: _Link, data: Any, *, key: bool, free: bool) -> None:
    if text.isascii():
        return
    where = "a key" if key else "the value"
    for ch in text:
        if 0xD800 <= ord(ch) <= 0xDFFF:
            raise _raw_error(_path(link), data, f"{where} holds {describe_char(ch)}; send "
                                                "valid Unicode (UTF-8) text")
    if not free:
        bad = first_non_ascii(text)
        raise _raw_error(_path(link), data, f"{where} holds the non-ASCII character {bad}; "
                                            "names, expressions and keywords are ASCII "
                                            "(look-alike letters would silently stand for "
                                            "others)")


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
