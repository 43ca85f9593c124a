"""The row of one architecture in a batch: its totals, or the one-line error that stopped it.

A quantity is an ``int`` when every size it uses is bound and the formula's text (cnncalc's
grammar, as in JSON output) when a size is left free. A row never raises: a bad JSON line, a
schema error, an analysis error and even an internal failure become the row's ``error``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .. import zoo
from ..core.analysis import Analysis, jsonable
from ..core.load import analyze, load
from ..core.parse import MAX_FILE_BYTES, read_json
from ..core.schema import Architecture
from ..errors import CnnCalcError, ErrorKind
from ..report.formats import cell_text

FIELDS = ("name", "index", "params", "macs", "flops", "activations", "peak_activation_bytes",
          "receptive_field", "error")
"""The columns of a batch, in output order."""

QUANTITIES = ("params", "macs", "flops", "activations", "peak_activation_bytes")
"""The columns that hold a count (an int, or a formula's text)."""

Quantity = int | str | None


@dataclass(frozen=True, slots=True)
class BatchRow:
    """The totals of one architecture of a batch.

    ``name``: the architecture's ``name`` field, else its ``index`` as text. ``index``: its
    position in the input, from 1 (the line number of a JSONL file). ``params``: learned
    parameters; ``macs``: multiply-accumulates; ``flops``: ``2 * macs``; ``activations``: the
    output elements of every layer, summed; ``peak_activation_bytes``: the most activation
    memory alive at once in inference (bytes, by the input dtype); ``receptive_field``: the final
    layer's, per spatial axis, as the analysis table writes it (``size /stride``, e.g.
    ``212x212 /32x32``; ``none`` without spatial axes, ``not defined`` where a layer mixes every
    position). ``error``: empty when the row is fine, else the one-line message, and the totals
    are None."""

    name: str
    index: int
    params: Quantity = None
    macs: Quantity = None
    flops: Quantity = None
    activations: Quantity = None
    peak_activation_bytes: Quantity = None
    receptive_field: str = ""
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as a dict in :data:`FIELDS` order."""
        return asdict(self)

    @property
    def ok(self) -> bool:
        return not self.error


def _one_line(text: str) -> str:
    return " ".join(text.split())


def row_of_analysis(an: Analysis, name: str, index: int) -> BatchRow:
    """The row of a finished analysis."""
    t = an.totals
    return BatchRow(name=name, index=index, params=jsonable(t.params), macs=jsonable(t.macs),
                    flops=jsonable(t.flops), activations=jsonable(t.activations),
                    peak_activation_bytes=jsonable(t.peak_activation_bytes),
                    receptive_field=cell_text(t.receptive_field, "rf", False))


def _bound(arch: Architecture, bindings: Mapping[str, int]) -> dict[str, int]:
    """The bindings that name a size of ``arch``: the same bindings serve a whole batch of
    different networks, so a size one of them lacks is no error for it."""
    if not bindings:
        return {}
    declared = arch.declared()
    return {k: v for k, v in bindings.items() if k in declared}


MAX_LINE_BYTES = MAX_FILE_BYTES
"""The longest line read (as an architecture file may be at most 8 MiB)."""


@dataclass(frozen=True, slots=True)
class BadLine:
    """What the reader sends in place of a line it cannot give as text (too long, not UTF-8):
    the row's error."""

    message: str
    kind: ErrorKind = "input"


def _name_of(obj: object, default: str) -> str:
    """The ``name`` field of a network's JSON (known even when the rest is invalid)."""
    name = obj.get("name") if isinstance(obj, Mapping) else None
    return name[:200] if isinstance(name, str) else default


def _parse_line(text: str | BadLine, index: int) -> object:
    """A JSONL line parsed: an architecture object, or a zoo model's name as a JSON string."""
    if isinstance(text, BadLine):
        raise CnnCalcError(text.message, kind=text.kind)
    obj = read_json(text, f"line {index}")
    if isinstance(obj, str):
        if obj not in zoo.zoo_names():
            raise CnnCalcError(f"line {index}: {obj[:60]!r} is not a zoo model; one of "
                               f"{', '.join(zoo.zoo_names())}", kind="input")
        return zoo.load(obj)
    if not isinstance(obj, dict):
        raise CnnCalcError(f"line {index} is a JSON {type(obj).__name__}; each line is an "
                           "architecture object or a zoo model's name", kind="input")
    return obj


def row(item: Any, index: int, bindings: Mapping[str, int], lines: bool) -> BatchRow:
    """The row of one input: a JSONL line's text when ``lines``, else anything
    :func:`cnncalc.load` takes. Its name: the JSON's ``name`` field, an Architecture's (or zoo
    model's) name, else the index."""
    name = str(index)
    try:
        obj = _parse_line(item, index) if lines else item
        name = obj.name if isinstance(obj, Architecture) else _name_of(obj, name)
        arch = load(obj)  # type: ignore[arg-type]  # load refuses what it cannot read
        if not isinstance(obj, (Mapping, Architecture)):  # JSON text, a zoo name, a file
            name = arch.name
        return row_of_analysis(analyze(arch, _bound(arch, bindings)), name, index)
    except CnnCalcError as e:
        return BatchRow(name=name, index=index, error=_one_line(str(e)))
    except RecursionError:
        return BatchRow(name=name, index=index, error="the analysis recursed past Python's "
                        "limit; binding more sizes may help")
    except Exception as e:  # noqa: BLE001 - one bad network never stops a batch
        return BatchRow(name=name, index=index, error=_one_line(
            f"internal error ({type(e).__name__}: {e}); please report this architecture"))


Chunk = Sequence[tuple[int, Any]]
"""``(index, item)`` pairs sent to a worker in one task."""


def rows_of_chunk(chunk: Chunk, bindings: Mapping[str, int], lines: bool) -> list[BatchRow]:
    """The rows of a chunk, in its order (the task a worker runs: it parses, validates and
    analyses the raw items itself)."""
    return [row(item, index, bindings, lines) for index, item in chunk]
