"""A small pool of worker processes whose jobs can be stopped.

Symbolic work cannot be interrupted inside a thread, so every analysis runs in a worker process.
A request takes an idle worker, sends it ``(function, args)`` and waits at most its time limit;
a worker that runs past it is killed (SIGKILL) and replaced in the background, so the request
is answered at once and the server's own process never does symbolic work. Workers are forked
from a fork server that has already imported cnncalc, so a replacement is ready in milliseconds.

:meth:`WorkerPool.acall` (what the service uses) waits on the event loop itself, for an idle
worker and then for the reply on the worker's socket, so a request costs no thread: a thread
hop per request (a queue, a condition, a wake-up of the loop, the GIL changing hands) cost the
server's process more than the rest of a cached answer. :meth:`WorkerPool.call` blocks (tests,
scripts).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import pickle
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

from . import worker

log = logging.getLogger("cnncalc.api")

_CTX: ForkServerContext | SpawnContext | None = None
_CTX_LOCK = threading.Lock()


class PoolError(Exception):
    """Base of the pool's failures."""


class JobTimeout(PoolError):
    """The job ran past its time limit; its worker was killed."""


class PoolBusy(PoolError):
    """No worker became free within the queue timeout."""


class WorkerCrashed(PoolError):
    """The worker died while running the job."""


class WorkerBug(PoolError):
    """The job raised something unexpected; the message is the worker's traceback."""


def context() -> ForkServerContext | SpawnContext:
    """The multiprocessing context: a fork server preloaded with cnncalc where there is one."""
    global _CTX
    with _CTX_LOCK:
        if _CTX is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["cnncalc", "api.worker"])
                _CTX = ctx
            else:  # pragma: no cover - not Linux
                _CTX = multiprocessing.get_context("spawn")
        return _CTX


@dataclass(eq=False)
class _Worker:
    proc: BaseProcess
    conn: Connection
    sock: socket.socket | None = field(default=None, repr=False)
    """The connection's socket for non-blocking reads (:meth:`WorkerPool.acall`), made on
    first use (a duplicate of ``conn``'s descriptor, closed with it)."""

    def socket(self) -> socket.socket:
        if self.sock is None:
            self.sock = socket.socket(fileno=socket.dup(self.conn.fileno()))
        return self.sock


_Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[_Worker]"]


class WorkerPool:
    """``size`` worker processes; :meth:`call` runs one job with a time limit."""

    def __init__(self, name: str, size: int, *, queue_timeout_s: float, memory_mb: int = 0,
                 threads: int = 1, warm: str = "", start_timeout_s: float = 120.0,
                 headroom_bytes: int = 0) -> None:
        """``memory_mb`` caps each worker's address space from the start; ``headroom_bytes``
        caps it after warming up, at what the worker then maps plus this much (see
        :func:`api.worker.serve`)."""
        self.name = name
        self.size = size
        self.queue_timeout_s = queue_timeout_s
        self._args = (memory_mb, threads, warm, headroom_bytes)
        self.limits: dict[str, int] = {}
        self._start_timeout_s = start_timeout_s
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._live: set[_Worker] = set()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._generation = 0
        self.restarts = 0

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers in the background (idempotent; restarts a closed pool)."""
        with self._lock:
            if self._started:
                return
            self._started = True
            self._closed = False
            self._generation += 1
            gen = self._generation
        for _ in range(self.size):
            self._spawn_in_background(gen)

    def wait_ready(self, timeout: float) -> bool:
        """Block until every worker is idle (used at start-up and by tests)."""
        self.start()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._idle.qsize() >= self.size:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Kill every worker (a later :meth:`start` or :meth:`call` starts new ones)."""
        with self._lock:
            self._closed = True
            self._started = False
            live = list(self._live)
            self._live.clear()
            while True:
                try:
                    self._idle.get_nowait()
                except queue.Empty:
                    break
        for w in live:
            _kill(w)

    def stats(self) -> dict[str, int]:
        """Workers alive and idle, how many were replaced, and the last worker's memory cap
        and baseline (``address_space_*_bytes``, 0: none)."""
        with self._lock:
            live = len(self._live)
        return {"workers": live, "idle": self._idle.qsize(), "restarts": self.restarts,
                **self.limits}

    def _current(self, gen: int) -> bool:
        return gen == self._generation and not self._closed

    def _spawn_in_background(self, gen: int) -> None:
        threading.Thread(target=self._spawn, args=(gen,), name=f"{self.name}-spawn",
                         daemon=True).start()

    def _spawn(self, gen: int, attempts: int = 3) -> None:
        for i in range(attempts):
            if not self._current(gen) or self._spawn_once(gen):
                return
            time.sleep(0.5 * (i + 1))
        log.error("gave up starting a worker of the %s pool", self.name)

    def _spawn_once(self, gen: int) -> bool:
        ctx = context()
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker.serve, args=(child, *self._args),
                           name=f"cnncalc-{self.name}", daemon=True)
        try:
            proc.start()
        except Exception:  # start-up failures are logged; requests then wait and get 503
            log.exception("cannot start a worker of the %s pool", self.name)
            parent.close()
            return False
        finally:
            child.close()
        w = _Worker(proc, parent)
        try:
            hello: Any = parent.recv() if parent.poll(self._start_timeout_s) else ()
            ready = bool(hello) and hello[0] == "ready"
        except (EOFError, OSError, pickle.UnpicklingError):
            ready = False
        if ready and len(hello) > 2 and isinstance(hello[2], dict):
            self.limits = {k: int(v) for k, v in hello[2].items()}
        with self._lock:
            if ready and self._current(gen):
                self._live.add(w)
                self._release_locked(w)
                return True
        _kill(w)
        if not ready and self._current(gen):
            log.error("a worker of the %s pool did not start (exit code %s)", self.name,
                      proc.exitcode)
        return False

    def _retire(self, w: _Worker) -> None:
        with self._lock:
            if w not in self._live:  # closed meanwhile
                gen = -1
            else:
                self._live.discard(w)
                self.restarts += 1
                gen = self._generation
        threading.Thread(target=self._retire_and_respawn, args=(w, gen),
                         name=f"{self.name}-respawn", daemon=True).start()

    def _retire_and_respawn(self, w: _Worker, gen: int) -> None:
        _kill(w)
        if self._current(gen):
            self._spawn(gen)

    # --- jobs ---------------------------------------------------------------------------------

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout_s: float) -> Any:
        """Run ``fn(*args)`` in a worker: its return value, or JobTimeout, PoolBusy,
        WorkerCrashed, WorkerBug. ``fn`` must be importable (pickled by reference)."""
        self.start()
        data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        end = time.monotonic() + self.queue_timeout_s
        while True:
            try:
                w = self._idle.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise PoolBusy(f"no {self.name} worker was free within "
                               f"{self.queue_timeout_s:g} s") from None
            try:
                w.conn.send_bytes(data)
                break
            except OSError:  # died while idle: replace it and take another
                self._retire(w)
        try:
            if not w.conn.poll(timeout_s):
                self._retire(w)
                raise JobTimeout(f"stopped after {timeout_s:g} s")
            tag, value = pickle.loads(w.conn.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError) as e:
            self._retire(w)
            raise WorkerCrashed(f"a {self.name} worker died ({type(e).__name__})") from None
        if tag == "reply-and-exit":  # it ran out of memory and exits: replace it
            self._retire(w)
        else:
            self._release(w)
        if tag == "bug":
            raise WorkerBug(value)
        return value

    # --- jobs on the event loop ---------------------------------------------------------------

    def _release(self, w: _Worker) -> None:
        with self._lock:
            self._release_locked(w)

    def _release_locked(self, w: _Worker) -> None:
        """An idle worker to the longest-waiting caller of :meth:`acall`, else to the idle
        queue (where :meth:`call` and later callers find it); dropped if closed meanwhile.
        Called with the lock held, from any thread."""
        if w not in self._live:
            return
        while self._waiters:
            loop, fut = self._waiters.popleft()
            try:
                loop.call_soon_threadsafe(self._hand_over, fut, w)
                return
            except RuntimeError:  # that loop is closed: the next waiter
                continue
        self._idle.put(w)

    def _hand_over(self, fut: asyncio.Future[_Worker], w: _Worker) -> None:
        """On the waiter's loop: give it ``w``, or release ``w`` again if it stopped waiting."""
        if fut.done():
            self._release(w)
        else:
            fut.set_result(w)

    async def _idle_worker(self, deadline: float) -> _Worker:
        """An idle worker, waiting on the event loop until ``deadline`` (loop time) at most."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_Worker] = loop.create_future()
        with self._lock:
            try:  # put back meanwhile
                return self._idle.get_nowait()
            except queue.Empty:
                self._waiters.append((loop, fut))

        def expire() -> None:
            if not fut.done():
                fut.set_exception(PoolBusy(f"no {self.name} worker was free within "
                                           f"{self.queue_timeout_s:g} s"))

        timer = loop.call_at(deadline, expire)
        try:
            return await fut
        except BaseException:  # cancelled after a worker was handed over: give it back
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self._release(fut.result())
            raise
        finally:
            timer.cancel()

    async def acall(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout_s: float
                    ) -> Any:
        """:meth:`call` on the running event loop, without a thread: the same results and
        exceptions. The job's worker is looked after by callbacks of the loop, so a caller
        cancelled meanwhile leaves it to finish (or to be killed at its time limit) and
        return to the pool."""
        self.start()
        data = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.queue_timeout_s
        while True:
            w = await self._idle_worker(deadline)
            try:
                # the idle worker is blocked reading, so this returns once it has read the
                # request (at most the body limit, plus the job's arguments)
                w.conn.send_bytes(data)
                break
            except OSError:  # died while idle: replace it and take another
                self._retire(w)
        fut: asyncio.Future[tuple[str, Any]] = loop.create_future()
        _Reading(self, w, loop, fut, timeout_s)
        tag, value = await fut
        if tag == "bug":
            raise WorkerBug(value)
        return value


_HEADER = struct.Struct("!i")
_LONG_HEADER = struct.Struct("!Q")


class _Reading:
    """Reads one reply of ``w`` on ``loop`` without blocking it (the framing of
    :meth:`multiprocessing.connection.Connection.send_bytes`: a 4-byte big-endian length, or
    -1 and an 8-byte one), then releases or replaces the worker and resolves ``fut`` with
    ``(tag, value)``, JobTimeout or WorkerCrashed. The worker sends nothing else, so reading
    greedily never takes bytes of a later message."""

    def __init__(self, pool: WorkerPool, w: _Worker, loop: asyncio.AbstractEventLoop,
                 fut: asyncio.Future[tuple[str, Any]], timeout_s: float) -> None:
        self.pool, self.w, self.loop, self.fut = pool, w, loop, fut
        self.timeout_s = timeout_s
        self.buf = bytearray()
        self.size = -1
        self.start = 0
        self.sock = w.socket()
        self.fd = self.sock.fileno()
        self.timer = loop.call_later(timeout_s, self._timeout)
        loop.add_reader(self.fd, self._readable)

    def _finish(self, keep: bool, result: tuple[str, Any] | BaseException) -> None:
        """Stop watching the socket (before the worker can be closed, or handed to another
        request that watches it), then release (``keep``) or replace the worker, then
        resolve the future (unless its caller stopped waiting)."""
        self.loop.remove_reader(self.fd)
        self.timer.cancel()
        if keep:
            self.pool._release(self.w)
        else:
            self.pool._retire(self.w)
        if not self.fut.done():
            if isinstance(result, BaseException):
                self.fut.set_exception(result)
            else:
                self.fut.set_result(result)

    def _timeout(self) -> None:
        self._finish(False, JobTimeout(f"stopped after {self.timeout_s:g} s"))

    def _crashed(self, e: BaseException) -> None:
        self._finish(False, WorkerCrashed(f"a {self.pool.name} worker died "
                                          f"({type(e).__name__})"))

    def _readable(self) -> None:
        try:
            chunk = self.sock.recv(max(1 << 16, self.size + self.start - len(self.buf)),
                                   socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._crashed(e)
            return
        if not chunk:
            self._crashed(EOFError())
            return
        self.buf += chunk
        if self.size < 0:
            if len(self.buf) < _HEADER.size:
                return
            (n,) = _HEADER.unpack_from(self.buf)
            if n == -1:
                if len(self.buf) < _HEADER.size + _LONG_HEADER.size:
                    return
                (n,) = _LONG_HEADER.unpack_from(self.buf, _HEADER.size)
                self.start = _HEADER.size + _LONG_HEADER.size
            else:
                self.start = _HEADER.size
            self.size = n
        if len(self.buf) < self.start + self.size:
            return
        try:
            tag, value = pickle.loads(memoryview(self.buf)[self.start:self.start + self.size])
        except Exception as e:  # a torn or foreign message: the worker is not to be trusted
            self._crashed(e)
            return
        # "reply-and-exit": it ran out of memory and exits: replace it
        self._finish(tag != "reply-and-exit", (tag, value))


def _kill(w: _Worker) -> None:
    try:
        w.proc.kill()
        w.proc.join(5)
    except Exception:  # already gone
        pass
    try:
        w.conn.close()
    except OSError:
        pass
    if w.sock is not None:
        try:
            w.sock.close()
        except OSError:
            pass
