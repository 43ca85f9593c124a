"""Code that runs inside the worker processes: the job functions and the serve loop.

A job function takes plain arguments (the canonical request JSON as a string) and returns a
:data:`Reply` — status, media type and the encoded body — so that the parent process only
copies bytes. Every error the library raises on bad input becomes a 422 reply here; anything
unexpected is sent back as a traceback for the parent to log (never to the client).
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import os
import resource
import traceback
from collections import OrderedDict
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import PurePath
from typing import Any, NamedTuple

import cnncalc
from cnncalc.commands.sweep import sweep_table
from cnncalc.core.bindings import MAX_BINDING
from cnncalc.core.schema import Architecture
from cnncalc.onnx.load import load_onnx
from cnncalc.pytorch.build import LayerFailure
from cnncalc.report.compare import compare
from cnncalc.report.quantities import QUANTITIES, check_quantities
from cnncalc.report.sweep import parse_values, records, sweep
from cnncalc.report.tables import FORMATS, columns_of, write

from .errors import error_body

Reply = tuple[int, str, bytes]
"""(HTTP status, media type, body)."""

JSON = "application/json"
_TABLE_MEDIA_TYPES = {
    "table": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "latex": "application/x-latex; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "html": "text/html; charset=utf-8",
}
MEDIA_TYPES: dict[str, str] = {"json": JSON, **{f: _TABLE_MEDIA_TYPES[f] for f in FORMATS}}
"""``?format=`` values of ``POST /analyze`` (json and every table format of
:data:`cnncalc.report.tables.FORMATS`) and the media type of each."""


try:  # optional (the service extra): about ten times faster than the json module here
    _orjson: Any = importlib.import_module("orjson")
except ImportError:  # pragma: no cover - depends on the installation
    _orjson = None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON (a lone surrogate, which UTF-8 cannot carry, is sent escaped).

    With orjson installed it writes the JSON (the answer of resnet50, 56 KB: about 0.1 ms
    against 0.9 ms); what it refuses (an integer past 64 bits, a lone surrogate, a type it
    does not know) is written by the json module as without it."""
    if _orjson is not None:
        try:
            out: bytes = _orjson.dumps(obj)
            return out
        except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
            pass
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def error_reply(exc: cnncalc.CnnCalcError) -> Reply:
    """422 naming the layer; the JSON path is made relative to the request body."""
    d = exc.to_dict()
    d["path"] = exc.path if exc.path[:1] == ["bindings"] else ["architecture", *exc.path]
    return 422, JSON, dumps(d)


def _request(canonical: str) -> tuple[dict[str, Any], dict[str, int] | None]:
    req = json.loads(canonical)
    return req["architecture"], (req.get("bindings") or None)


ARCHITECTURE_CACHE_SIZE = 32
"""Validated architectures a worker keeps (by their canonical JSON): requests that differ only
in their bindings skip validating the same architecture again."""
_ARCHITECTURES: OrderedDict[str, Architecture] = OrderedDict()
_PREFIX = '{"architecture":'
_DECODER = json.JSONDecoder()


def _architecture(canonical: str, raw: dict[str, Any]) -> Architecture | dict[str, Any]:
    """The validated Architecture of a canonical request whose architecture is ``raw``: from
    this worker's cache when the same architecture JSON (byte for byte, canonical) was
    validated before, else ``cnncalc.load(raw)`` (which raises the library's error); ``raw``
    itself where the request is not of that form."""
    if not canonical.startswith(_PREFIX):
        return raw
    _, end = _DECODER.raw_decode(canonical, len(_PREFIX))
    text = canonical[len(_PREFIX):end]
    arch = _ARCHITECTURES.get(text)
    if arch is None:
        arch = cnncalc.load(raw)
        _ARCHITECTURES[text] = arch
        while len(_ARCHITECTURES) > ARCHITECTURE_CACHE_SIZE:
            _ARCHITECTURES.popitem(last=False)
    else:
        _ARCHITECTURES.move_to_end(text)
    return arch


class TableOptions(NamedTuple):
    """How a table format is drawn (the query options of ``POST /analyze``): the columns
    (comma list), one row per group of layers at ``depth``, and K/M/G units (``si``, ``iec``
    or False)."""

    columns: str | None = None
    depth: int | None = None
    units: str | bool = False


def option_error(option: str, exc: cnncalc.CnnCalcError) -> Reply:
    """422 for a bad query option, naming it (path ``["query", option]``)."""
    d = exc.to_dict()
    d["path"] = ["query", option]
    d["message"] = d["detail"] = f"{option}: {exc.message}"
    return 422, JSON, dumps(d)


def analyze_job(canonical: str, fmt: str, convention: str = "cnncalc",
                table: TableOptions | None = None) -> Reply:
    """``POST /analyze``: the output JSON (docs/output.md), or a table in ``fmt`` drawn with
    ``table``'s options; with another tool's ``convention``, its totals too (a
    ``convention`` block, a table line)."""
    arch, bindings = _request(canonical)
    t = table or TableOptions()
    if t.columns is not None:  # checked before the analysis, so that the error names it
        try:
            if "time" in columns_of(t.columns):
                raise cnncalc.CnnCalcError("the time column needs a device profile, which "
                                           "the service does not take (use cnncalc analyze "
                                           "--profile)", kind="input")
        except cnncalc.CnnCalcError as e:
            return option_error("columns", e)
    try:
        an = cnncalc.analyze(_architecture(canonical, arch), bindings, convention=convention)
        if fmt == "json":
            return 200, JSON, dumps(an.to_dict())
        return 200, MEDIA_TYPES[fmt], an.to_table(fmt, columns=t.columns, depth=t.depth,
                                                  units=t.units).encode()
    except cnncalc.CnnCalcError as e:
        return error_reply(e)


def _architectures(raw: list[dict[str, Any]]) -> list[Architecture] | Reply:
    """Each architecture validated, an error naming its index (``architectures/i/...``)."""
    out = []
    for i, a in enumerate(raw):
        try:
            out.append(cnncalc.load(a))
        except cnncalc.CnnCalcError as e:
            d = e.to_dict()
            d["path"] = ["architectures", i, *e.path]
            return 422, JSON, dumps(d)
    return out


def compare_job(canonical: str, fmt: str, quantities: Sequence[str] | None,
                units: str | bool = False) -> Reply:
    """``POST /compare``: every architecture's totals under the shared bindings (JSON), or the
    comparison table in ``fmt``."""
    req = json.loads(canonical)
    qs = _quantities(quantities)
    if not isinstance(qs, list):
        return qs
    archs = _architectures(req["architecture"])
    if isinstance(archs, tuple):
        return archs
    try:
        cmp = compare(archs, req.get("bindings") or None, qs)
    except cnncalc.CnnCalcError as e:
        return error_reply(e)
    if fmt != "json":
        return 200, MEDIA_TYPES[fmt], cmp.render(fmt, units).encode()
    entries = cmp.to_dict()
    for i, entry in enumerate(entries):
        r = cmp.ratio(i)
        entry["macs_vs_first"] = None if r is None or not math.isfinite(r) else r
    return 200, JSON, dumps({"quantities": list(cmp.quantities), "architectures": entries})


def _quantities(quantities: Sequence[str] | None) -> list[str] | Reply:
    """The totals to report (default :data:`~cnncalc.report.quantities.QUANTITIES`), or a 422
    naming the unknown one (path ``["quantities"]``)."""
    try:
        return list(check_quantities(QUANTITIES if quantities is None else quantities))
    except cnncalc.CnnCalcError as e:
        d = e.to_dict()
        d["path"] = ["quantities"]
        return 422, JSON, dumps(d)


MAX_SWEEP_ROWS = 100_000
"""Most rows of one ``POST /sweep`` answer (the library allows more; a reply must stay small
enough to send and to cache)."""


def sweep_job(canonical: str, grid: dict[str, list[int] | str], fmt: str,
              quantities: Sequence[str] | None, units: str | bool = False,
              max_binding: int = MAX_BINDING) -> Reply:
    """``POST /sweep``: one row per combination of the grid, swept sizes first, then the
    totals: ``{"columns", "rows"}`` (JSON) or the table in ``fmt``. Every grid value is at
    most ``max_binding`` (CNNCALC_MAX_BINDING), as a binding is."""
    arch_raw, bindings = _request(canonical)
    qs = _quantities(quantities)
    if not isinstance(qs, list):
        return qs
    try:
        arch = cnncalc.load(arch_raw)
    except cnncalc.CnnCalcError as e:
        return error_reply(e)
    try:
        count = 1
        for key, values in grid.items():
            vals = parse_values(values) if isinstance(values, str) else values
            big = [v for v in vals if v > max_binding]
            if big:
                return 422, JSON, dumps(error_body(
                    "binding", f"grid value {key}={big[0]} is above {max_binding} "
                    "(CNNCALC_MAX_BINDING)", path=["grid", key]))
            count *= len(vals)
            if count > MAX_SWEEP_ROWS:
                return 422, JSON, dumps(error_body(
                    "limit", f"the grid has more than {MAX_SWEEP_ROWS} combinations (this "
                    "service's most rows per sweep); use coarser steps", path=["grid", key]))
    except cnncalc.CnnCalcError as e:
        d = e.to_dict()
        d["path"] = ["grid"]
        return 422, JSON, dumps(d)
    try:
        rows = records(sweep(arch, grid, bindings, qs, as_frame=False))
    except cnncalc.CnnCalcError as e:
        if e.path:
            return error_reply(e)
        d = e.to_dict()
        d["path"] = ["grid"]
        return 422, JSON, dumps(d)
    swept = [n.strip() for key in grid for n in key.split("=")]
    if fmt != "json":
        t = sweep_table(arch.name, rows, swept, dict(bindings or {}))
        return 200, MEDIA_TYPES[fmt], write(t, fmt, units).encode()
    columns = list(rows[0]) if rows else swept
    return 200, JSON, dumps({"columns": columns, "rows": [[r[c] for c in columns]
                                                          for r in rows]})


def onnx_job(data: bytes, filename: str | None, name: str | None,
             allow_opaque: bool, symbols: dict[str, str] | None = None) -> Reply:
    """``POST /import/onnx``: the architecture of the uploaded bytes, parsed here (protobuf
    only: nothing in the file is run, no custom-op library is loaded), and the initializers
    no node reads; ``symbols`` renames input axes. Not a model: 422 kind ``input``."""
    label = PurePath(filename or "").name[:200] or "the upload"
    stem = PurePath(label).stem if filename else None
    try:
        onnx = load_onnx()
    except cnncalc.CnnCalcError as e:
        return 501, JSON, dumps(error_body("unavailable", e.message))
    try:
        model = _parse_onnx(onnx, data, label)
        arch = cnncalc.from_onnx(model, symbols=symbols, name=name or stem,
                                 allow_opaque=allow_opaque)
    except cnncalc.CnnCalcError as e:
        d = e.to_dict()
        d["path"] = ["file"]
        return 422, JSON, dumps(d)
    read = {i for n in model.graph.node for i in n.input}
    unused = [{"name": t.name, "shape": list(t.dims), "params": math.prod(t.dims)}
              for t in model.graph.initializer if t.name not in read]
    return 200, JSON, dumps({"architecture": arch.model_dump(mode="json", exclude_defaults=True),
                             "unused_parameters": unused})


def _parse_onnx(onnx: Any, data: bytes, label: str) -> Any:
    """The ``ModelProto`` of ``data`` (external data is never looked for), or a
    :class:`CnnCalcError` of kind ``input`` saying why these bytes are not a model."""
    if not data:
        raise cnncalc.CnnCalcError(f"{label}: the file is empty, not an ONNX model",
                                   kind="input")
    try:
        model = onnx.load_from_string(data)
    except Exception as e:  # protobuf's DecodeError and friends
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise cnncalc.CnnCalcError(f"{label}: not an ONNX model, or a truncated one "
                                   f"(protobuf: {why[:200]})", kind="input") from None
    if not model.HasField("graph") or not model.graph.node:
        raise cnncalc.CnnCalcError(f"{label}: not an ONNX model (no graph in the file)",
                                   kind="input")
    return model


def validate_job(canonical: str, max_activations: int, max_params: int, threads: int,
                 repeats: int, max_bytes: int | None = None) -> Reply:
    """``POST /validate``: check the budget on the symbolic analysis, then run in torch (CPU)."""
    arch, bindings = _request(canonical)
    try:
        an = cnncalc.analyze(arch, bindings)
        if an.free_symbols:
            return 422, JSON, dumps(error_body(
                "binding", "validation runs the network, so every size must be bound; free: "
                + ", ".join(an.free_symbols), path=["bindings"]))
        acts, params = an.totals.activations, an.totals.params
        if int(acts) > max_activations:
            return 422, JSON, dumps(error_body(
                "limit", f"{acts} activations exceed this service's validation budget of "
                f"{max_activations} (CNNCALC_VALIDATE_MAX_ACTIVATIONS); bind smaller sizes",
                path=["bindings"]))
        if int(params) > max_params:
            return 422, JSON, dumps(error_body(
                "limit", f"{params} parameters exceed this service's validation budget of "
                f"{max_params} (CNNCALC_VALIDATE_MAX_PARAMS)", path=["architecture"]))
        report = cnncalc.validate(arch, bindings, device="cpu", threads=threads,
                                  repeats=repeats, warmup=min(repeats, 1), max_bytes=max_bytes)
        return 200, JSON, dumps(report.to_dict())
    except cnncalc.CnnCalcError as e:
        if _out_of_memory(e):  # torch hit this worker's address-space cap
            raise OutOfMemory(str(e)) from None
        return error_reply(e)
    except ImportError as e:
        return 501, JSON, dumps(error_body(
            "unavailable", f"validation needs PyTorch, which this server cannot import ({e.name})"))


class OutOfMemory(MemoryError):
    """An allocation failed against the worker's address-space cap (torch's allocator says
    so with a RuntimeError, which the job turns into this)."""


_OOM_WORDS = ("can't allocate memory", "cannot allocate memory", "not enough memory",
              "out of memory", "std::bad_alloc")


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` or an exception in its chain is an allocation failure: a MemoryError or
    a RuntimeError of torch's allocator (``CnnCalcError("torch cannot build this layer")``
    keeps the one it wraps as its context). Wrappers that name a layer (``CnnCalcError``,
    ``LayerFailure``) are looked through, not read, so a layer called "out of memory" is not
    taken for one."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, MemoryError):
            return True
        if (isinstance(e, RuntimeError) and not isinstance(e, LayerFailure)
                and any(w in str(e).lower() for w in _OOM_WORDS)):
            return True
        e = e.__cause__ or e.__context__
    return False


VALIDATE_MARGIN_BYTES = 512 << 20
"""Address space a validation may use beyond its memory budget: allocator slack, torch's
workspaces and lazily mapped libraries (measured: see :func:`validate_headroom`)."""


def validate_headroom(budget_bytes: int) -> int:
    """Address space allowed to a validation worker above its torch baseline: the budget,
    plus a quarter of it, plus :data:`VALIDATE_MARGIN_BYTES`. Measured with 1 torch thread:
    importing torch and running the seed example maps about 690 MB of address space (the
    baseline, measured in the worker itself after warming up); resnet18 at 224x224 then adds
    under 80 MB over its predicted 80 MB need."""
    return budget_bytes + budget_bytes // 4 + VALIDATE_MARGIN_BYTES


def address_space() -> int:
    """This process's mapped address space (VmSize), bytes; 0 where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    return 0


def _limit_address_space(cap: int) -> int:
    """Cap RLIMIT_AS at ``cap`` bytes (never above the current hard limit); the cap set, or
    0 where the platform has none."""
    if cap <= 0:
        return 0
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard if hard != resource.RLIM_INFINITY
                                                else cap))
        return cap
    except (ValueError, OSError):  # pragma: no cover - platform without RLIMIT_AS
        return 0


def _limit_memory(mb: int) -> int:
    return _limit_address_space(mb << 20) if mb > 0 else 0


def _memory_reply(why: str) -> Reply:
    return 422, JSON, dumps(error_body("limit", why))


def serve(conn: Connection, memory_mb: int, threads: int, warm: str,
          headroom_bytes: int = 0) -> None:
    """Worker main loop: receive ``(function, args)``, send ``("reply", Reply)``,
    ``("reply-and-exit", Reply)`` (after running out of memory: the parent replaces the
    worker) or ``("bug", traceback)``; exit when the parent closes the pipe.

    ``memory_mb`` caps the address space before anything runs; ``headroom_bytes`` (the
    validation worker) caps it after warming up, at what torch then maps plus the headroom."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    cap = _limit_memory(memory_mb)
    try:
        if warm == "analyze":
            cnncalc.analyze("seed_example", {"H": 32, "W": 32}).to_dict()
        elif warm == "validate":
            cnncalc.validate("seed_example", {"H": 32, "W": 32}, device="cpu", threads=threads,
                             repeats=0, warmup=0)
    except Exception:  # warming up is best effort
        pass
    # What is alive now (modules, caches, warm-up) is kept for good: later collections walk
    # only what requests allocate (about 12 % of an uncached resnet50 analysis here).
    gc.collect()
    gc.freeze()
    baseline = address_space()
    if headroom_bytes > 0:
        cap = _limit_address_space(baseline + headroom_bytes) if baseline else 0
    if headroom_bytes > 0:
        limit_text = (f"this service's validation budget (CNNCALC_VALIDATE_MAX_BYTES, with "
                      f"{(cap - baseline) >> 20} MiB of address space above torch's own)")
    else:
        limit_text = f"this service's {memory_mb} MiB per worker (CNNCALC_WORKER_MEMORY_MB)"
    try:
        conn.send(("ready", os.getpid(), {"address_space_limit_bytes": cap,
                                          "address_space_baseline_bytes": baseline}))
        while True:
            try:
                fn, args = conn.recv()
            except EOFError:
                return
            out: tuple[str, Any]
            try:
                out = ("reply", fn(*args))
            except RecursionError:
                out = ("reply", (422, JSON, dumps(error_body(
                    "limit", "the architecture's formulas are nested too deeply to analyse"))))
            except MemoryError:
                out = ("reply-and-exit", _memory_reply(
                    f"the request needs more memory than {limit_text}; use smaller sizes"))
            except Exception as e:  # sent to the parent, which logs it
                if _out_of_memory(e):
                    out = ("reply-and-exit", _memory_reply(
                        f"the request needs more memory than {limit_text}; use smaller sizes"))
                else:
                    out = ("bug", traceback.format_exc())
            conn.send(out)
            if out[0] == "reply-and-exit":
                return
    except (KeyboardInterrupt, BrokenPipeError, EOFError, OSError):
        return
