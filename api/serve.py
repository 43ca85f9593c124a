"""Run the service in one or several processes: ``python -m api.serve [--workers N]``.

With ``--workers 1`` this is plain uvicorn. With more, every worker process binds its own
listening socket on the same address with ``SO_REUSEPORT`` (the kernel spreads connections
across them) instead of uvicorn's ``--workers``, whose shared socket is made without a protocol
number, so asyncio never sets ``TCP_NODELAY`` on its connections and every small response
waits out the peer's 40 ms delayed ACK (measured: p50 44 ms for a cached answer, against 2 ms).

Each uvicorn process has its own pool of analysis workers. Unless ``CNNCALC_WORKERS`` is set,
the CPUs are shared out among the processes (``cpus // workers``, at least 1 each) rather than
every process starting one analysis worker per CPU: on 2 cores, 2 uvicorn processes with 2
analysis workers each put 4 CPU-bound processes on 2 cores, and each analysis then took more
CPU time (measured: about 14 against 9 ms per resnet50 analysis).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import sys

import uvicorn

from .settings import Settings, SettingsError

APP = "api.main:app"


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _worker(host: str, port: int, log_level: str, access_log: bool) -> None:
    sock = _socket(host, port)
    config = uvicorn.Config(APP, log_level=log_level, access_log=access_log)
    uvicorn.Server(config).run(sockets=[sock])


def analysis_workers(processes: int, cpus: int | None = None) -> int:
    """Analysis workers per uvicorn process when ``CNNCALC_WORKERS`` is not set: the CPUs
    shared out among ``processes`` (at least 1 each)."""
    return max(1, (cpus or os.cpu_count() or 1) // max(1, processes))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m api.serve", description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--no-access-log", action="store_true")
    args = ap.parse_args(argv)
    if args.workers < 1:
        ap.error("--workers must be >= 1")
    try:  # an invalid CNNCALC_* variable: one line naming it, before any process starts
        Settings.from_env()
    except SettingsError as e:
        print(f"cnncalc service cannot start: {e}", file=sys.stderr)
        return 2
    if args.workers == 1 or not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run(APP, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level, access_log=not args.no_access_log)
        return 0
    if not os.environ.get("CNNCALC_WORKERS", "").strip():  # inherited by every process
        os.environ["CNNCALC_WORKERS"] = str(analysis_workers(args.workers))
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(args.host, args.port, args.log_level,
                                               not args.no_access_log))
             for _ in range(args.workers)]
    for p in procs:
        p.start()

    def stop(signum: int, _frame: object) -> None:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
