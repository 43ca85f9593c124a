"""Load test of the HTTP service against its targets; prints figures, asserts nothing.

Run: ``python tests/bench/bench_api.py`` (figures recorded in docs/benchmarks.md).

For 1 and then 2 uvicorn workers it starts ``python -m api.serve`` on a free 127.0.0.1 port and
drives ``POST /analyze`` of resnet50 with N, H, W bound from a second process: Debian's ``wrk``
when installed (``apt-get install wrk``), else an async httpx client (``--tool httpx``). Runs are
bounded by ``--duration`` seconds each; nothing but 127.0.0.1 is ever contacted.

- uncached: every request binds sizes no earlier request used (H and W vary), so the answer
  cache never hits and every request is a full analysis in a worker process;
- cached: the identical request over and over (answered from the LRU cache);
- hostile: three clients loop over refused requests (8e5-deep JSON nesting, a 300 KB
  expression, a symbolic network that runs into the time limit, a body over the size limit)
  while this process times ``GET /health`` every 50 ms.

Where the time goes: for each load run, the CPU time the server's processes used per request,
read from /proc: the uvicorn processes (HTTP, routing, the cache, copying bytes) apart from
the analysis workers (the analysis, its JSON), and the load generator's own. The load
generator runs on the same machine, so it takes CPU from the server; its share is printed.
From these, the rate the CPUs could sustain at that cost if nothing else ran is printed
too (CPUs x 1000 / CPU ms per request): on a shared machine the req/s measured is lower, and
the CPU cost per request is the steadier figure. Access logging is off (``--no-access-log``)
unless ``--access-log``; the service's default (``scripts/serve.sh``) logs every request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

import cnncalc

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
RESNET50 = cnncalc.zoo_json("resnet50")
PREFIX = json.dumps({"architecture": RESNET50})[:-1] + ', "bindings": {"N": 1, "H": '
SLOW = {"input": {"shape": ["N", "C", "H", "W"]}, "symbols": {"K": {}, "S": {}, "P": {}},
        "layers": [{"type": "repeat", "times": 40, "body": [
            {"type": "conv", "out_channels": "C", "kernel_size": "K", "stride": "S",
             "padding": "P"}]}]}


def body(h: int, w: int) -> bytes:
    return (PREFIX + f'{h}, "W": {w}}}}}').encode()


# --- the server --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def start_server(workers: int, port: int, env: dict[str, str],
                 access_log: bool = False) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.serve", "--host", HOST, "--port", str(port),
         "--workers", str(workers), "--log-level", "warning",
         *([] if access_log else ["--no-access-log"])],
        cwd=ROOT, env={**os.environ, **env},  # log lines discarded: made, not displayed
        stdout=subprocess.DEVNULL if access_log else None,
        stderr=subprocess.DEVNULL if access_log else None)
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                # every uvicorn worker answers once its pool is ready: warm them all
                with httpx.Client(base_url=url, timeout=30) as c:
                    for i in range(20 * workers):
                        c.post("/analyze", content=body(100 + i, 100),
                               headers={"content-type": "application/json"})
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not start")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(root: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the processes under ``root``: ``server``
    (the uvicorn processes) and ``analysis`` (the fork server and its analysis workers)."""
    procs: dict[int, tuple[int, int, str]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as fb:
                cmd = fb.read().decode(errors="replace")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        procs[int(name)] = (int(rest[1]), int(rest[11]) + int(rest[12]), cmd)
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    out = {"server": 0.0, "analysis": 0.0}
    hz = os.sysconf("SC_CLK_TCK")
    for pid in tree & procs.keys():
        _, ticks, cmd = procs[pid]
        out["analysis" if "forkserver" in cmd else "server"] += ticks / hz
    return out


def server_stack() -> str:
    """The HTTP parser and event loop uvicorn picks here (its ``auto`` choice), and what
    writes the answers' JSON (api.worker.dumps)."""
    import importlib.util
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    json_writer = "orjson" if importlib.util.find_spec("orjson") else "json"
    return f"uvicorn {http} + {loop}, JSON by {json_writer}"


def measured(load: Any, proc: subprocess.Popen[bytes], url: str, cached: bool,
             connections: int, duration: int) -> dict[str, Any]:
    """``load(...)``'s figures and the CPU milliseconds per request of the server's processes
    and of the load generator."""
    before, t0 = cpu_seconds(proc.pid), os.times()
    r: dict[str, Any] = load(url, cached, connections, duration)
    after, t1 = cpu_seconds(proc.pid), os.times()
    n = max(1, r["requests"])
    r["cpu_ms"] = {k: (after[k] - before[k]) * 1000 / n for k in after}
    r["cpu_ms"]["load generator"] = (t1.children_user + t1.children_system
                                     - t0.children_user - t0.children_system) * 1000 / n
    return r


# --- load generators (a second process) ----------------------------------------------------------

WRK_SCRIPT = """
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  n = 0
  prefix = [==[%s]==]
  cached = %s
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  n = n + 1
  local h, w = 224, 224
  if not cached then h, w = 64 + n, 1000 * id + 7 end
  return wrk.format(nil, "/analyze", nil, prefix .. h .. ', "W": ' .. w .. '}}')
end
"""


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v


def run_wrk(url: str, cached: bool, connections: int, duration: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % (PREFIX, "true" if cached else "false"))
        script = f.name
    try:
        out = subprocess.run(
            ["wrk", "-t", "1", "-c", str(connections), "-d", f"{duration}s", "--latency",
             "--timeout", "10s", "-s", script, url],
            capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(script)
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": _ms(lat.get("50", "")), "p99": _ms(lat.get("99", "")),
            "requests": total, "non2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": errors.group(1) if errors else ""}


async def _httpx_load(url: str, cached: bool, connections: int, duration: float) -> dict[str, Any]:
    lat: list[float] = []
    bad = 0
    end = time.perf_counter() + duration
    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as c:
        async def one(worker: int) -> None:
            nonlocal bad
            n = 0
            while time.perf_counter() < end:
                n += 1
                b = body(224, 224) if cached else body(64 + n, 1000 * worker + 7)
                t0 = time.perf_counter()
                r = await c.post("/analyze", content=b,
                                 headers={"content-type": "application/json"})
                lat.append(time.perf_counter() - t0)
                bad += r.status_code != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i + 1) for i in range(connections)))
        wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100)
    return {"rps": len(lat) / wall, "p50": q[49] * 1000, "p99": q[98] * 1000,
            "requests": len(lat), "non2xx": bad, "socket_errors": ""}


def run_httpx(url: str, cached: bool, connections: int, duration: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--load-client", url, "--cached" if cached else "--uncached",
         "--connections", str(connections), "--duration", str(duration)],
        capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# --- hostile clients -----------------------------------------------------------------------------

def hostile_client(url: str, duration: float) -> None:
    """Loop over refused requests from three threads; print the status counts as JSON."""
    deep = b'{"architecture": ' + b"[" * 400_000 + b"]" * 400_000 + b"}"
    huge = json.dumps({"architecture": {"input": {"shape": [1, 3, "H", "W"]}, "layers": [
        {"type": "conv", "out_channels": "+".join(["H"] * 150_000), "kernel_size": 1}]}}).encode()
    slow = json.dumps({"architecture": SLOW}).encode()
    too_big = b'{"architecture": {"description": "' + b"x" * (2 << 20) + b'"}}'
    counts: dict[str, int] = {}
    lock = threading.Lock()
    end = time.monotonic() + duration

    def loop(payloads: list[bytes]) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            i = 0
            while time.monotonic() < end:
                p = payloads[i % len(payloads)]
                i += 1
                try:
                    code = str(c.post("/analyze", content=p,
                                      headers={"content-type": "application/json"}).status_code)
                except httpx.HTTPError as e:
                    code = type(e).__name__
                with lock:
                    counts[code] = counts.get(code, 0) + 1

    threads = [threading.Thread(target=loop, args=(p,))
               for p in ([deep, too_big], [huge], [slow])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(counts))


def health_under_hostile_load(url: str, duration: int) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, __file__, "--hostile-client", url, "--duration",
                             str(duration)], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let the hostile requests get going
    lat: list[float] = []
    with httpx.Client(base_url=url, timeout=10) as c:
        end = time.monotonic() + duration - 2
        while time.monotonic() < end:
            t0 = time.perf_counter()
            c.get("/health")
            lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.05)
    out, _ = proc.communicate(timeout=120)
    q = statistics.quantiles(lat, n=100)
    return {"n": len(lat), "p50": q[49], "p99": q[98], "max": max(lat),
            "hostile": json.loads(out.strip().splitlines()[-1])}


# --- main ---------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                    help="uvicorn worker counts to measure")
    ap.add_argument("--duration", type=int, default=15, help="seconds per load run")
    ap.add_argument("--connections", type=int, default=4, help="uncached concurrency")
    ap.add_argument("--cached-connections", type=int, default=8, help="cached concurrency")
    ap.add_argument("--tool", choices=["wrk", "httpx"],
                    default="wrk" if shutil.which("wrk") else "httpx")
    ap.add_argument("--access-log", action="store_true",
                    help="log every request, as the service does by default")
    ap.add_argument("--no-hostile", action="store_true", help="skip the hostile-load run")
    ap.add_argument("--load-client", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--hostile-client", metavar="URL", help=argparse.SUPPRESS)
    ap.add_argument("--cached", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--uncached", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.load_client:
        print(json.dumps(asyncio.run(_httpx_load(a.load_client, a.cached, a.connections,
                                                 a.duration))))
        return
    if a.hostile_client:
        hostile_client(a.hostile_client, a.duration)
        return

    load = run_wrk if a.tool == "wrk" else run_httpx
    print(f"load generator: {a.tool}, on the same machine; {os.cpu_count()} CPUs; "
          f"{a.duration} s per run; uncached {a.connections} connections, cached "
          f"{a.cached_connections}; {server_stack()}; access log "
          f"{'on' if a.access_log else 'off'}")
    rows = []
    for workers in a.workers:
        port = free_port()
        url = f"http://{HOST}:{port}"
        proc = start_server(workers, port, {"CNNCALC_TIME_LIMIT_S": "2"}, a.access_log)
        try:
            unc = measured(load, proc, url, False, a.connections, a.duration)
            cac = measured(load, proc, url, True, a.cached_connections, a.duration)
            health = None if a.no_hostile else health_under_hostile_load(url, 12)
        finally:
            stop_server(proc)
        rows.append((workers, unc, cac, health))
        per = os.environ.get("CNNCALC_WORKERS") or str(max(1, (os.cpu_count() or 1) // workers))
        print(f"\n== {workers} uvicorn worker(s), {per} analysis worker(s) each ==")
        for name, r in (("uncached", unc), ("cached", cac)):
            print(f"{name:9s} {r['rps']:8.1f} req/s  p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} "
                  f"ms  ({r['requests']} requests, non-2xx {r['non2xx']}"
                  f"{', socket errors ' + r['socket_errors'] if r['socket_errors'] else ''})")
            total = sum(r["cpu_ms"].values())
            print("          CPU ms per request: " + ", ".join(
                f"{k} {v:.2f}" for k, v in r["cpu_ms"].items())
                + (f"; {os.cpu_count()} CPUs at this cost: at most "
                   f"{(os.cpu_count() or 1) * 1000 / total:.0f} req/s" if total else ""))
        if health is not None:
            print(f"/health under hostile load: p50 {health['p50']:.1f} ms, p99 "
                  f"{health['p99']:.1f} ms, max {health['max']:.1f} ms over {health['n']} "
                  f"probes; hostile answers {health['hostile']}")
    print("\n| uvicorn workers | uncached req/s | p50 ms | p99 ms | cached req/s | p50 ms | "
          "p99 ms | /health p99 / max ms, hostile load |")
    print("|---|---|---|---|---|---|---|---|")
    for workers, unc, cac, health in rows:
        hostile = "-" if health is None else f"{health['p99']:.1f} / {health['max']:.1f}"
        print(f"| {workers} | {unc['rps']:.0f} | {unc['p50']:.1f} | {unc['p99']:.1f} | "
              f"{cac['rps']:.0f} | {cac['p50']:.1f} | {cac['p99']:.1f} | {hostile} |")


if __name__ == "__main__":
    main()
