"""The architecture JSON (version 1) as pydantic models.

The layer union is declared once, discriminated by ``type``, so a bad tag gives one precise
error. Besides the layer classes it holds two graph items: ``block`` (an instance of a named
sub-graph from ``blocks``, with arguments) and ``repeat`` (a body repeated in sequence).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from .dtypes import DTYPE_BYTES
from .layers import LAYER_CLASSES
from .layers.base import IntLike, LayerBase

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
    start: int = Field(0, ge=0)
    body: list[LayerSpec] = Field(..., min_length=1)


LayerSpec = Annotated[
    Union[(*LAYER_CLASSES, BlockRef, Repeat)],  # type: ignore[valid-type]
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
            if not ARG_RE.match(a) or a in ("floor", "ceil", "min", "max", "input"):
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
        return data


LAYER_TYPES: tuple[str, ...] = tuple(c.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
                                     for c in LAYER_CLASSES)
"""The ``type`` tag of every concrete layer class."""


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the architecture (``cnncalc schema``, ``GET /schema``)."""
    return Architecture.model_json_schema()
