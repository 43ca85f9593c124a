"""Fixtures of the service tests: a real uvicorn server on a free loopback port.

``uvicorn(env)`` is a context manager that starts ``uvicorn api.main:app`` with ``env`` added to
the environment, waits for ``/health``, yields a :class:`Server`, and on leaving stops the server
and checks that its log holds no traceback.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
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


Uvicorn = Callable[..., AbstractContextManager[Server]]
"""The type of the ``uvicorn`` fixture."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> str:
    """Stop the server; its log."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.stdout.read().decode(errors="replace") if proc.stdout else ""


@contextmanager
def running_server(env: Mapping[str, str], workers: int = 1) -> Iterator[Server]:
    """uvicorn with ``workers`` processes and ``env`` added to the environment."""
    server = Server("127.0.0.1", _free_port())
    more = ["--workers", str(workers)] if workers != 1 else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", server.host, "--port",
         str(server.port), *more, "--no-access-log"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"uvicorn did not start:\n{_stop(proc)[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        log = _stop(proc)
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="session")
def uvicorn() -> Uvicorn:
    """:func:`running_server`: ``with uvicorn({"CNNCALC_WORKERS": "1"}) as server: ...``."""
    return running_server


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on now."""
    return _free_port()
