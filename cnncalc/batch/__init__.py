"""Batches of architectures: one row of totals per network, for searches over thousands to
millions of them (``cnncalc batch``, :func:`analyze_many`; docs/batch.md).

Rows come out in input order and as they finish; the input is read lazily, a bounded number of
chunks at a time, so memory stays constant in the number of architectures. Work runs here
(``workers=1``), on a local process pool, or on a Dask cluster (``scheduler=``).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..core.load import ArchLike
from ..errors import CnnCalcError
from .rows import FIELDS, QUANTITIES, BadLine, BatchRow, Chunk

__all__ = ["CHUNK", "FIELDS", "QUANTITIES", "BatchRow", "analyze_many", "analyze_lines"]

CHUNK = 256
"""Architectures per task sent to a worker (a pool process or a Dask worker)."""


def chunks(items: Iterable[tuple[int, Any]], size: int) -> Iterator[Chunk]:
    """Consecutive lists of ``size`` items, each read only when asked for."""
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _check(workers: int, chunk: int, bindings: Mapping[str, int] | None) -> dict[str, int]:
    for what, v in (("workers", workers), ("chunk", chunk)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise CnnCalcError(f"{what} must be a positive integer, got {v!r}", kind="input")
    out = dict(bindings or {})
    for k, v in out.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int):
            raise CnnCalcError(f"bindings map size names to integers, got {k!r}: {v!r}",
                               kind="binding")
    return out


def _rows(items: Iterable[tuple[int, Any]], bindings: Mapping[str, int] | None, lines: bool,
          workers: int, scheduler: str | None, chunk: int) -> Iterator[BatchRow]:
    binds = _check(workers, chunk, bindings)
    if scheduler is not None:
        from .cluster import connect, run_cluster
        groups = run_cluster(chunks(items, chunk), binds, lines, connect(scheduler))
    elif workers == 1:
        from .rows import row
        return (row(item, index, binds, lines) for index, item in items)
    else:
        from .local import run_pool
        groups = run_pool(chunks(items, chunk), binds, lines, workers)
    return (r for group in groups for r in group)


def analyze_many(archs: Iterable[ArchLike], bindings: Mapping[str, int] | None = None, *,
                 workers: int = 1, scheduler: str | None = None,
                 chunk: int = CHUNK) -> Iterator[BatchRow]:
    """The totals of each architecture, one :class:`BatchRow` each, lazily and in input order.

    ``archs``: anything :func:`cnncalc.load` takes, one per network (dicts, JSON text, zoo names,
    :class:`~cnncalc.Architecture`\\ s), read only as the rows are asked for. ``bindings``: sizes
    bound in every network that has them (a size a network lacks is ignored for it). A bad
    network is a row with its ``error``, never an exception. ``workers``: processes on this
    machine (1: here, no pool); ``scheduler``: a Dask scheduler's address
    (``tcp://host:8786``), which then does the work (needs ``cnncalc[cluster]``); ``chunk``:
    architectures per task. Bad arguments, and a scheduler that does not answer within 5 s,
    raise :class:`CnnCalcError` (kind ``input``) at the call."""
    return _rows(enumerate(archs, 1), bindings, False, workers, scheduler, chunk)


def analyze_lines(lines: Iterable[tuple[int, str | BadLine]],
                  bindings: Mapping[str, int] | None = None, *, workers: int = 1,
                  scheduler: str | None = None, chunk: int = CHUNK) -> Iterator[BatchRow]:
    """As :func:`analyze_many`, for ``(line number, text)`` lines of a JSONL file: each an
    architecture object or a zoo model's name as a JSON string; a line that is not JSON is a
    row whose error names its line."""
    return _rows(lines, bindings, True, workers, scheduler, chunk)


def default_workers() -> int:
    """The processes ``cnncalc batch`` uses by default: one per CPU."""
    return os.cpu_count() or 1
