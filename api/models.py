"""Request and response models (for validation of the envelope and for the OpenAPI docs).

The architecture itself is validated by cnncalc, whose messages name the layer; the OpenAPI
document still shows its full JSON Schema (see :func:`api.docs.openapi`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from cnncalc.errors import ERROR_KINDS

from .errors import SERVICE_ERROR_KINDS, Kind
from .worker import MEDIA_TYPES

if TYPE_CHECKING:
    Format = str
else:  # json and the table formats, as a Literal so that OpenAPI lists them
    Format = Literal[tuple(MEDIA_TYPES)]
"""A ``?format=`` value of ``POST /analyze`` (a key of :data:`api.worker.MEDIA_TYPES`)."""


def _kinds(kinds: dict[str, str]) -> str:
    return "".join(f"\n- `{k}`: {meaning}" for k, meaning in kinds.items())

SEED_EXAMPLE: dict[str, Any] = {
    "name": "seed-example",
    "input": {"shape": [1, 3, "H", "W"]},
    "layers": [
        {"type": "conv", "name": "conv1", "out_channels": 12, "kernel_size": 6, "stride": 2},
        {"type": "relu"},
    ],
}


ArchitectureIn = dict[str, Any] | str
"""An architecture as its JSON object, or the name of a zoo model (``"resnet50"``)."""

ARCHITECTURE_HELP = ("The network: its JSON (input shape, layers, optional blocks; see GET "
                     "/schema), or the name of a zoo model (GET /zoo), e.g. \"resnet50\".")
BINDINGS_HELP = "Sizes to bind, e.g. {\"H\": 224}; the others stay symbolic."


class AnalyzeRequest(BaseModel):
    """An architecture (docs/schema.md) and integer bindings of some of its sizes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"architecture": SEED_EXAMPLE, "bindings": {"H": 32, "W": 32}}]})

    architecture: ArchitectureIn = Field(description=ARCHITECTURE_HELP)
    bindings: dict[str, StrictInt] = Field(default_factory=dict, description=BINDINGS_HELP)


class ValidateRequest(AnalyzeRequest):
    """Like ``/analyze``, but every size must be bound: the network is built and run."""


class ErrorBody(BaseModel):
    """Every error answer: what is wrong and, for architecture errors, where."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "error": "expression", "message": "layer 'c2' (#1): out_channels: expression 'x.y': "
        "Attribute is not allowed", "detail": "out_channels: expression 'x.y': Attribute is "
        "not allowed", "layer": "c2", "index": 1,
        "path": ["architecture", "layers", 1, "out_channels"]}]})

    error: Kind = Field(description="What is wrong. Kinds of the library (cnncalc.errors):\n"
                        + _kinds(ERROR_KINDS) + "\n\nKinds of the service:\n"
                        + _kinds(SERVICE_ERROR_KINDS))
    message: str = Field(description="One line for a person, naming the layer.")
    detail: str = Field(description="The message without the layer prefix.")
    layer: str | None = Field(None, description="Name of the layer concerned (after expanding "
                                                "blocks: outer.inner).")
    index: int | None = Field(None, description="Its index in its layer list.")
    path: list[str | int] = Field(default_factory=list,
                                  description="JSON path into the request body.")


class ReceptiveFieldOut(BaseModel):
    """Per input spatial axis; null where the field is not defined (axes merged or moved)."""

    size: list[int | str | None]
    stride: list[int | str | None]
    start: list[int | str | None]


class LayerOut(BaseModel):
    """One layer; a quantity is an integer where bound, else a formula string."""

    model_config = ConfigDict(extra="allow")

    name: str
    type: str
    inputs: list[str]
    output_shape: list[int | str]
    params: int | str
    buffers: int | str
    macs: int | str
    flops: int | str
    other_ops: int | str
    activations: int | str
    activation_bytes: int | str
    receptive_field: ReceptiveFieldOut
    output_shapes: list[list[int | str]] | None = Field(
        None, description="Every output's shape, for a layer with several (split, chunk).")
    opaque: bool | None = Field(None, description="True where the counts are unknown.")


Count = int | str
"""A quantity: an integer where every size it depends on is bound, else a formula string."""


class Totals(BaseModel):
    """The network's totals (``Totals.to_dict()``): counts, bytes by the input dtype, and the
    receptive field of the output."""

    params: Count = Field(description="Learnable parameters.")
    buffers: Count = Field(description="Elements kept but not learnt (batch-norm running "
                                       "statistics).")
    macs: Count = Field(description="Multiply-accumulates of one forward pass.")
    flops: Count = Field(description="2 * macs.")
    other_ops: Count = Field(description="The work of everything else: bias adds, norms, "
                                         "activations, pooling, merges.")
    activations: Count = Field(description="Output elements of every layer, summed.")
    activation_bytes: Count = Field(description="Bytes of those outputs at the input's dtype.")
    param_bytes: Count = Field(description="Bytes of the parameters at the input's dtype.")
    peak_activation_bytes: Count = Field(
        description="Inference: the most bytes of outputs alive at once (the input included), "
                    "each output freed after its last reader.")
    training_activation_bytes: Count = Field(
        description="Training: bytes of every output kept for the backward pass, the input "
                    "included.")
    receptive_field: ReceptiveFieldOut = Field(description="That of the last layer.")
    incomplete: list[str] | None = Field(
        None, description="The opaque layers, whose counts are unknown and left out (absent "
                          "when there are none).")


class AnalysisOut(BaseModel):
    """The output JSON of ``Analysis.to_dict()`` (docs/output.md)."""

    model_config = ConfigDict(extra="allow")

    name: str
    symbols: list[str]
    bindings: dict[str, int]
    input_shape: list[int | str]
    layers: list[LayerOut]
    totals: Totals
    constraints: list[str]
    exact_sizes: list[str] = Field(
        default_factory=list, description="Advice: the sizes at which every strided window "
        "tiles its input exactly, or whether the bound sizes do.")
    warnings: list[str] = Field(
        default_factory=list, description="Worth knowing, not errors: input rows a strided "
        "window never reads at the bound sizes, merges of different strides, an input that "
        "looks channels-last.")
    convention: dict[str, Any] | None = Field(
        None, description="With ?convention=NAME: the totals that tool reports "
        "(docs/conventions.md).")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    pools: dict[str, dict[str, int]] = Field(default_factory=dict)
    cache: dict[str, int] = Field(default_factory=dict)


class ExplainRequest(AnalyzeRequest):
    """Like ``/analyze``, and which layer to explain and in which format (``POST /explain``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"architecture": SEED_EXAMPLE, "bindings": {"H": 32, "W": 32},
                      "layer": "conv1", "format": "text"}]})

    layer: str | None = Field(None, min_length=1, max_length=200,
                              description="Only this layer, or every layer of the block of "
                                          "this name; default: every layer.")
    format: Literal["text", "markdown", "latex"] = Field(
        "text", description="The format of `text`, the rendered explanation.")


class CompareRequest(BaseModel):
    """Two to eight architectures under shared bindings (``POST /compare``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"architectures": ["resnet18", "resnet50"],
                      "bindings": {"N": 1, "H": 224, "W": 224}}]})

    architectures: list[ArchitectureIn] = Field(
        min_length=2, max_length=8, description="JSON objects or zoo names, compared in order "
        "(the first is the reference of `macs_vs_first`).")
    bindings: dict[str, StrictInt] = Field(
        default_factory=dict, description="Sizes to bind in every architecture that uses them "
        "(a size none of them uses is an error).")
    quantities: list[str] | None = Field(
        None, min_length=1, max_length=10, description="The totals to tabulate (default: "
        "params, macs, flops, activations, peak_activation_bytes); JSON answers carry every "
        "total.")


class CompareEntry(BaseModel):
    label: str = Field(description="The name, made unique (\"net #2\") where names repeat.")
    name: str
    symbols: list[str]
    bindings: dict[str, int]
    input_shape: list[int | str]
    totals: Totals
    macs_vs_first: float | None = Field(description="Total MACs over the first's, where both "
                                                    "are numbers (the first's non-zero).")


class CompareOut(BaseModel):
    """``POST /compare``'s JSON."""

    quantities: list[str]
    architectures: list[CompareEntry]


class SweepRequest(BaseModel):
    """The totals of one architecture over a grid of sizes (``POST /sweep``)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"architecture": "resnet18", "grid": {"H=W": "32:256:32"},
                      "bindings": {"N": 1}}]})

    architecture: ArchitectureIn = Field(description=ARCHITECTURE_HELP)
    grid: dict[str, list[StrictInt] | str] = Field(
        min_length=1, max_length=8,
        description="Each swept size and its values: a list of integers, \"32,64,128\", or an "
        "inclusive range \"32:512:32\"; a key \"H=W\" sweeps several sizes together.")
    bindings: dict[str, StrictInt] = Field(default_factory=dict,
                                           description="The other sizes, bound.")
    quantities: list[str] | None = Field(
        None, min_length=1, max_length=10, description="The totals of each row (default: "
        "params, macs, flops, activations, peak_activation_bytes).")


class SweepOut(BaseModel):
    """``POST /sweep``'s JSON: one row per combination, swept sizes first."""

    columns: list[str]
    rows: list[list[int]]


class ImportOut(BaseModel):
    """``POST /import/onnx``'s answer."""

    architecture: dict[str, Any] = Field(description="The architecture JSON, ready for "
                                                     "/analyze.")
    unused_parameters: list[dict[str, Any]] = Field(
        description="Initializers that no node of the graph reads (name, shape, params): "
                    "weights in the file that the architecture does not count.")
