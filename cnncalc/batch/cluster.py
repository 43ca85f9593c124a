"""Run the chunks of a batch on an existing Dask cluster (``dask.distributed``), in input order.

Dask is imported here only, when a scheduler address is given: ``import cnncalc`` never imports
it. Every worker of the cluster needs cnncalc installed (the same version as here); a chunk
travels as the raw items (JSON text), and the worker parses, validates and analyses them.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import CnnCalcError
from .rows import BatchRow, Chunk, rows_of_chunk

CONNECT_TIMEOUT_S = 5
"""How long to wait for the scheduler to answer before giving up."""

IN_FLIGHT_PER_THREAD = 2
"""Chunks in flight per worker thread of the cluster (at least 4 in all)."""


def connect(address: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, or one clear error (within
    :data:`CONNECT_TIMEOUT_S` seconds)."""
    if not isinstance(address, str):
        raise CnnCalcError(f"a scheduler address is text (tcp://HOST:PORT), got "
                           f"{type(address).__name__}", kind="input")
    try:
        from distributed import Client
    except ImportError:
        raise CnnCalcError("a Dask scheduler needs dask.distributed: pip install "
                           "'cnncalc[cluster]'", kind="dependency") from None
    _probe(address)
    try:
        return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        raise _no_answer(address, e) from None


def _no_answer(address: str, e: Exception) -> CnnCalcError:
    why = " ".join(str(e).split())[:200] or type(e).__name__
    return CnnCalcError(f"no Dask scheduler answered at {address!r} within {CONNECT_TIMEOUT_S} "
                        f"s ({why}); start one with `dask scheduler` and give its "
                        "tcp://HOST:PORT", kind="input")


def _probe(address: str) -> None:
    """For a ``tcp://`` address (or ``HOST:PORT``), a plain TCP connection first: a host that
    does not resolve or a port nobody listens on fails at once, before Dask starts its own
    retries (and its client's clean-up, which reports errors of its own at exit)."""
    text = address if "://" in address else f"tcp://{address}"
    u = urlsplit(text)
    if u.scheme != "tcp":
        return  # tls://, ucx://...: left to Dask
    try:
        host, port = u.hostname, u.port
    except ValueError:
        host = port = None
    if not host or port is None or u.path not in ("", "/"):
        raise CnnCalcError(f"{address[:100]!r} is not a scheduler address; write "
                           "tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786)", kind="input")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise _no_answer(address, e) from None


def _threads(client: Any) -> int:
    try:
        return max(sum(client.nthreads().values()), 1)
    except Exception:  # noqa: BLE001 - a guess for the bound is good enough
        return 1


def run_cluster(chunks: Iterable[Chunk], bindings: Mapping[str, int], lines: bool,
                client: Any) -> Iterator[list[BatchRow]]:
    """The rows of each chunk, computed on the cluster of ``client`` (from :func:`connect`),
    in input order; the client is closed at the end."""
    try:
        bound = max(IN_FLIGHT_PER_THREAD * _threads(client), 4)
        pending: deque[Any] = deque()
        binds = dict(bindings)
        for chunk in chunks:
            pending.append(client.submit(rows_of_chunk, list(chunk), binds, lines, pure=False))
            if len(pending) >= bound:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        client.close()


def _result(future: Any) -> list[BatchRow]:
    """A task's rows; a task the cluster itself failed (a worker without cnncalc, a worker
    lost) is one clear error: a row's own errors never reach here."""
    try:
        rows: list[BatchRow] = future.result()
    except CnnCalcError:
        raise
    except Exception as e:  # noqa: BLE001 - whatever a remote worker raised
        raise CnnCalcError(f"the Dask cluster failed a task ({type(e).__name__}: "
                           f"{' '.join(str(e).split())[:200]}); every worker needs cnncalc "
                           "installed, the same version as here", kind="dependency") from None
    return rows
