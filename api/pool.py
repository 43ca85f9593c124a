"""A small pool of worker processes whose jobs can be stopped.

Symbolic work cannot be interrupted inside a thread, so every analysis runs in a worker process.
A request takes an idle worker, sends it ``(function, args)`` and waits at most its time limit;
a worker that runs past it is killed (SIGKILL) and replaced in the background, so the request
is answered at once and the server's own process never does symbolic work. Workers are forked
from a fork server that has already imported cnncalc, so a replacement is ready in milliseconds.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
                self._idle.put(w)
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
            with self._lock:
                if w in self._live:  # not closed meanwhile
                    self._idle.put(w)
        if tag == "bug":
            raise WorkerBug(value)
        return value


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
