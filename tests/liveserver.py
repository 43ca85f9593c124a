"""A real uvicorn server on a free loopback port, for the service's and the page's tests.

:func:`start` runs ``uvicorn api.main:app`` with ``env`` added to the environment and returns
once ``/health`` answers; :func:`stop` stops it and returns its log; :func:`running` does both
around a ``with`` block and checks that the log holds no traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def address(self) -> tuple[str, int]:
        """For ``socket.create_connection``."""
        return self.host, self.port


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop(proc: subprocess.Popen[bytes]) -> str:
    """Stop the server; its log."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.stdout.read().decode(errors="replace") if proc.stdout else ""


def start(env: Mapping[str, str] | None = None, workers: int = 1
          ) -> tuple[Server, subprocess.Popen[bytes]]:
    """uvicorn with ``workers`` processes, once ``/health`` answers; RuntimeError with its
    log where it exits or does not answer within :data:`START_TIMEOUT_S`."""
    server = Server("127.0.0.1", free_port())
    more = ["--workers", str(workers)] if workers != 1 else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", server.host, "--port",
         str(server.port), *more, "--no-access-log"],
        cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                return server, proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start:\n{stop(proc)[-3000:]}")
        time.sleep(0.1)


@contextmanager
def running(env: Mapping[str, str] | None = None, workers: int = 1) -> Iterator[Server]:
    """:func:`start`, the block, :func:`stop`; the log must hold no traceback."""
    server, proc = start(env, workers)
    try:
        yield server
    finally:
        log = stop(proc)
    assert "Traceback" not in log, log[-3000:]
