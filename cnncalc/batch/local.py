"""Run the chunks of a batch in this process or on a local process pool, in input order.

At most ``workers * AHEAD`` chunks are in flight at once, so memory stays constant however long
the input: the next chunk is read only when the oldest one's rows have been handed on.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool

from ..errors import CnnCalcError
from .rows import BatchRow, Chunk, rows_of_chunk

AHEAD = 2
"""Chunks in flight per worker: one running, one queued, so no worker waits for the reader."""


def run_serial(chunks: Iterable[Chunk], bindings: Mapping[str, int],
               lines: bool) -> Iterator[list[BatchRow]]:
    """The rows of each chunk, computed here (``workers=1``: no pool, no pickling)."""
    for chunk in chunks:
        yield rows_of_chunk(chunk, bindings, lines)


def run_pool(chunks: Iterable[Chunk], bindings: Mapping[str, int], lines: bool,
             workers: int) -> Iterator[list[BatchRow]]:
    """The rows of each chunk, computed by ``workers`` processes, in input order."""
    with cf.ProcessPoolExecutor(max_workers=workers) as pool:
        pending: deque[cf.Future[list[BatchRow]]] = deque()
        try:
            for chunk in chunks:
                pending.append(pool.submit(rows_of_chunk, chunk, bindings, lines))
                if len(pending) >= workers * AHEAD:
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
        finally:
            for f in pending:
                f.cancel()


def _result(future: cf.Future[list[BatchRow]]) -> list[BatchRow]:
    try:
        return future.result()
    except BrokenProcessPool:
        raise CnnCalcError("a worker process died (out of memory, or killed); try fewer "
                           "--workers or a smaller --chunk", kind="limit") from None
