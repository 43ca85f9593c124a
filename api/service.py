"""The service object behind the routes: settings, worker pools and the answer cache.

The server's process only parses the envelope, checks cheap limits, looks up the cache and
copies bytes; every analysis runs in a worker process under the time limit.

Everything runs on the event loop: a cache hit never waits for a thread, and a miss waits
for a worker and its reply there too (:meth:`api.pool.WorkerPool.acall`), holding no thread;
at most ``workers + CNNCALC_MAX_QUEUE`` requests per pool are running or waiting, and the next
one is answered 503 at once.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import logging
from collections.abc import Callable
from typing import Any

from fastapi.responses import Response

import cnncalc

from . import worker
from .body import bad_value_message, first_bad_value
from .cache import BodyIndex, ReplyCache, canonical, key
from .errors import error_body
from .pool import JobTimeout, PoolBusy, PoolError, WorkerCrashed, WorkerPool
from .settings import Settings
from .worker import JSON, Reply, dumps

log = logging.getLogger("cnncalc.api")

CACHE_HEADER = "X-Cnncalc-Cache"


def _declared_min(architecture: Any, name: str) -> int:
    """The smallest value the architecture declares for size ``name`` (``"symbols": {"P":
    {"min": 0}}``), read from the raw request: 0 or 1 (the library checks the rest); for a
    list of architectures, the smallest any of them declares."""
    if isinstance(architecture, list):
        return min((_declared_min(a, name) for a in architecture), default=1)
    syms = architecture.get("symbols") if isinstance(architecture, dict) else None
    spec = syms.get(name) if isinstance(syms, dict) else None
    lo = spec.get("min") if isinstance(spec, dict) else None
    return 0 if lo == 0 and not isinstance(lo, bool) else 1


@functools.cache
def _zoo_names() -> tuple[str, ...]:
    return tuple(cnncalc.zoo_names())


@functools.cache
def _zoo_json(name: str) -> dict[str, Any]:
    """A zoo model's JSON, read once (never mutated: requests only serialise it)."""
    return cnncalc.zoo_json(name)


def resolve(architecture: Any, path: list[str | int]) -> dict[str, Any] | Reply:
    """The architecture JSON of a request: the object as given, or the zoo model a string
    names (only a zoo name: never a file), or a 422 reply (kind ``input``) at ``path`` with
    the closest names."""
    if not isinstance(architecture, str):
        arch: dict[str, Any] = architecture
        return arch
    names = _zoo_names()
    if architecture in names:
        return _zoo_json(architecture)
    text = architecture.strip()
    if text.startswith("{"):
        msg = ("the architecture is a string holding JSON; send the JSON object itself (not "
               "quoted), or a zoo model's name")
    else:
        close = difflib.get_close_matches(text.lower(), names, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        msg = (f"unknown zoo model {text[:80]!r}{hint} (the zoo: {', '.join(names)}; GET "
               "/zoo)")
    return 422, JSON, dumps(error_body("input", msg, path=path))


def resolve_all(architectures: list[Any], field: str = "architectures"
                ) -> list[dict[str, Any]] | Reply:
    """:func:`resolve` of each architecture of a list (the first error answers)."""
    out: list[dict[str, Any]] = []
    for i, a in enumerate(architectures):
        r = resolve(a, [field, i])
        if isinstance(r, tuple):
            return r
        out.append(r)
    return out


class Gate:
    """At most ``limit`` requests running in or waiting for one pool (each waits on the event
    loop: a waiting request holds no thread)."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self.inside = 0  # touched on the event loop only


class Service:
    """One per app (and so one per uvicorn worker process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache = ReplyCache(settings.cache_size, settings.cache_max_bytes)
        self.bodies = BodyIndex(settings.cache_size)
        self.analysis = WorkerPool("analysis", settings.workers,
                                   queue_timeout_s=settings.queue_timeout_s,
                                   memory_mb=settings.worker_memory_mb, threads=1,
                                   warm="analyze")
        self.validation = WorkerPool("validate", 1, queue_timeout_s=settings.queue_timeout_s,
                                     threads=settings.validate_threads, warm="validate",
                                     headroom_bytes=worker.validate_headroom(
                                         settings.validate_max_bytes))
        self.gates = {"analysis": Gate("analysis", settings.workers + settings.max_queue),
                      "validate": Gate("validate", 1 + settings.max_queue)}

    def start(self) -> None:
        """Start the analysis workers (validation workers start on first use)."""
        self.analysis.start()

    def close(self) -> None:
        self.analysis.close()
        self.validation.close()

    def stats(self) -> dict[str, Any]:
        pools = {"analysis": {**self.analysis.stats(),
                              "requests": self.gates["analysis"].inside}}
        if self.validation.stats()["workers"]:
            pools["validate"] = {**self.validation.stats(),
                                 "requests": self.gates["validate"].inside}
        return {"pools": pools, "cache": self.cache.stats()}

    # --- requests ----------------------------------------------------------------------------

    def _envelope(self, architecture: Any, bindings: dict[str, int],
                  extra: dict[str, Any] | None = None) -> str | Reply:
        """Canonical JSON of the request (``architecture``: a JSON object, a zoo name, or a
        list of them), or a 422 reply for an unknown zoo name, a cheap limit or a value the
        service cannot use (NaN, Infinity, a lone surrogate: named with its path).

        A zoo name is replaced by its JSON here, once: the worker never sees the name, and the
        request has the cache key of the same request with the JSON (values the service cannot
        use are looked for first, in the request as sent). ``extra``: the request's other
        fields (a grid, quantities), checked alike and part of the canonical request."""
        more = extra or {}
        body = {"architecture": architecture, "bindings": bindings, **more}
        try:
            req = canonical(body)
            req.encode()  # a lone surrogate cannot be (the cache key and the worker need it)
        except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
            bad = first_bad_value(body)  # walked only when something is wrong
            if bad is not None:
                return 422, JSON, dumps(error_body("request", bad_value_message(*bad),
                                                   path=bad[0]))
            return 422, JSON, dumps(error_body(
                "limit", "the architecture JSON is nested too deeply", path=["architecture"]))
        names = isinstance(architecture, str) or (
            isinstance(architecture, list) and any(isinstance(a, str) for a in architecture))
        if names:
            resolved = (resolve_all(architecture) if isinstance(architecture, list)
                        else resolve(architecture, ["architecture"]))
            if isinstance(resolved, tuple):
                return resolved
            architecture = resolved
            req = canonical({"architecture": architecture, "bindings": bindings, **more})
        for k, v in bindings.items():
            lo = _declared_min(architecture, k)
            if not lo <= v <= self.settings.max_binding:
                return 422, JSON, dumps(error_body(
                    "binding", f"binding {k}={v} is outside {lo}..{self.settings.max_binding} "
                    "(CNNCALC_MAX_BINDING)", path=["bindings", k]))
        return req

    async def analyze(self, architecture: dict[str, Any] | str, bindings: dict[str, int],
                      fmt: str, convention: str = "cnncalc",
                      table: worker.TableOptions | None = None) -> Response:
        """``POST /analyze``: from the cache (on the event loop), or computed in a worker and
        cached. ``table``: columns, depth and units of a table format."""
        parts: tuple[str, ...] = (fmt,) if convention == "cnncalc" else (
            fmt, "convention", convention)
        if table is not None and table != worker.TableOptions():
            parts = (*parts, "table", canonical(list(table)))
        return await self.analysis_job(architecture, bindings, worker.analyze_job,
                                       (fmt, convention, table), parts)

    async def analysis_job(self, architecture: Any, bindings: dict[str, int],
                           job: Callable[..., Reply], args: tuple[Any, ...],
                           key_parts: tuple[str, ...],
                           extra: dict[str, Any] | None = None) -> Response:
        """``job(canonical_request, *args)`` in an analysis worker under the time limit, its
        200 and 422 answers cached under the request and ``key_parts`` (which must tell apart
        every answer ``args`` can give). ``job`` must be importable by the worker process.
        ``architecture``: a JSON object or zoo name, or a list of them (``POST /compare``);
        ``extra``: the request's other fields, checked as the architecture is (a lone
        surrogate is a 422) before ``key_parts`` are hashed."""
        response, _ = await self.keyed_job(architecture, bindings, job, args, key_parts, extra)
        return response

    async def keyed_job(self, architecture: Any, bindings: dict[str, int],
                        job: Callable[..., Reply], args: tuple[Any, ...],
                        key_parts: tuple[str, ...], extra: dict[str, Any] | None = None
                        ) -> tuple[Response, bytes | None]:
        """:meth:`analysis_job`, and the cache key of its answer where the answer is in the
        cache now (a hit, or a miss just stored), else None."""
        req = self._envelope(architecture, bindings, extra)
        if not isinstance(req, str):
            return reply_response(req), None
        k = key(req, *key_parts)
        hit = self.cache.get(k)
        if hit is not None:
            return reply_response(hit, cache="hit"), k
        reply, computed = await self._queued(
            self.gates["analysis"], self.analysis, job, (req, *args),
            self.settings.time_limit_s, "CNNCALC_TIME_LIMIT_S")
        stored = computed and reply[0] in (200, 422) and self.cache.put(k, reply)
        return reply_response(reply, cache="miss" if self.cache.enabled else "off"), (
            k if stored else None)

    async def uncached_job(self, job: Callable[..., Reply], args: tuple[Any, ...]) -> Response:
        """``job(*args)`` in an analysis worker under the time limit, never cached (an
        upload)."""
        reply, _ = await self._queued(
            self.gates["analysis"], self.analysis, job, args, self.settings.time_limit_s,
            "CNNCALC_TIME_LIMIT_S")
        return reply_response(reply)

    async def validate(self, architecture: dict[str, Any] | str,
                       bindings: dict[str, int]) -> Response:
        """``POST /validate``: build and run in torch on the CPU (never cached: it times)."""
        why = validation_unavailable()
        if why:
            return reply_response((501, JSON, dumps(error_body("unavailable", why))))
        req = self._envelope(architecture, bindings)
        if not isinstance(req, str):
            return reply_response(req)
        s = self.settings
        reply, _ = await self._queued(
            self.gates["validate"], self.validation, worker.validate_job,
            (req, s.validate_max_activations, s.validate_max_params, s.validate_threads,
             s.validate_repeats, s.validate_max_bytes),
            s.validate_time_limit_s, "CNNCALC_VALIDATE_TIME_LIMIT_S")
        return reply_response(reply)

    async def _queued(self, gate: Gate, pool: WorkerPool, fn: Any, args: tuple[Any, ...],
                      limit: float, env: str) -> tuple[Reply, bool]:
        """``fn(*args)`` in a worker of ``pool``, waited for on the event loop: the worker's
        reply and True, or an error reply of the service and False (503 at once when
        ``gate`` is full)."""
        if gate.inside >= gate.limit:
            return (503, JSON, dumps(error_body(
                "busy", f"server busy: {gate.limit} requests are already running or waiting "
                f"for a {gate.name} worker (CNNCALC_WORKERS + CNNCALC_MAX_QUEUE); retry "
                "later"))), False
        gate.inside += 1
        try:
            result: Reply = await pool.acall(fn, args, limit)
            return result, True
        except PoolError as e:
            return _pool_error(e, limit, env), False
        finally:
            gate.inside -= 1

    def _run(self, pool: WorkerPool, fn: Any, args: tuple[Any, ...], limit: float,
             env: str) -> tuple[Reply, bool]:
        """:meth:`_queued` blocking, without the gate (scripts, tests)."""
        try:
            result: Reply = pool.call(fn, args, limit)
            return result, True
        except PoolError as e:
            return _pool_error(e, limit, env), False


def _pool_error(e: PoolError, limit: float, env: str) -> Reply:
    """The answer to a job the pool could not finish (a bug or a crash is logged here)."""
    if isinstance(e, JobTimeout):
        return (422, JSON, dumps(error_body(
            "timeout", f"the analysis took longer than this service's limit of {limit:g} s "
            f"({env}) and was stopped; bind more sizes or use a smaller network")))
    if isinstance(e, PoolBusy):
        return 503, JSON, dumps(error_body("busy", f"server busy: {e}; retry later"))
    if isinstance(e, WorkerCrashed):
        log.error("%s", e)
        return (503, JSON, dumps(error_body(
            "busy", "the worker running this request died; retry later")))
    log.error("unexpected error in a worker:\n%s", e)
    return 500, JSON, dumps(error_body("internal", "internal error (logged on the server)"))


def reply_response(reply: Reply, cache: str | None = None) -> Response:
    """A worker's reply as an HTTP response."""
    status, media, body = reply
    headers = {CACHE_HEADER: cache} if cache else None
    if status == 503:
        headers = {**(headers or {}), "Retry-After": "1"}
    return Response(content=body, status_code=status, media_type=media, headers=headers)


def onnx_unavailable() -> str | None:
    """Why ``/import/onnx`` cannot work here, or None."""
    if importlib.util.find_spec("onnx") is None:
        return ("importing ONNX needs the onnx package, which is not installed on this "
                "server; install cnncalc[onnx] to enable /import/onnx")
    return None


def validation_unavailable() -> str | None:
    """Why ``/validate`` cannot work here, or None."""
    if importlib.util.find_spec("torch") is None:
        return ("validation builds the network in PyTorch, which is not installed on this "
                "server; install cnncalc[torch] (CPU build) to enable /validate")
    return None
