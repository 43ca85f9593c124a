"""Fixtures of the page's tests: a real uvicorn server and a headless Chromium page.

The browser is Debian's Chromium (``apt-get install chromium``) driven by Playwright for Python
(no browser download: ``executable_path`` names the system binary, or ``CNNCALC_CHROMIUM``).
Where Playwright or Chromium is missing, the tests that need them skip and say which.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CNNCALC_CHROMIUM", "/usr/bin/chromium")
START_TIMEOUT_S = 90.0


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[browser]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CNNCALC_CHROMIUM)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str


def start_server(env: dict[str, str] | None = None) -> tuple[Server, subprocess.Popen[bytes]]:
    """``uvicorn api.main:app`` on a free loopback port, once ``/health`` answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port",
         str(port), "--no-access-log"],
        cwd=ROOT, env={**os.environ, "CNNCALC_WORKERS": "1", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                return server, proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start:\n{stop_server(proc)[-3000:]}")
        time.sleep(0.1)


def stop_server(proc: subprocess.Popen[bytes]) -> str:
    """Stop the server; its log."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return proc.stdout.read().decode(errors="replace") if proc.stdout else ""


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The service, shared by the page's tests; its log must hold no traceback."""
    srv, proc = start_server()
    try:
        yield srv
    finally:
        log = stop_server(proc)
    assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    why = chromium_missing()
    if why:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@dataclass
class Page:
    """A browser tab on the service, with every URL it requested and every script error."""

    tab: Any
    base: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def open(self, path: str) -> Any:
        """Load ``path`` and wait until the page has rendered an analysis."""
        self.tab.goto(self.base + path)
        self.wait_ready()
        return self.tab

    def wait_ready(self, loads: int = 1) -> None:
        self.tab.wait_for_function(
            f"window.cnncalcPage && window.cnncalcPage.loads >= {loads}", timeout=30000)

    def text(self, selector: str) -> str:
        t: str = self.tab.inner_text(selector)
        return t


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Page]:
    """A desktop-sized (1280x800) tab; script errors fail the test."""
    tab = browser.new_page(viewport={"width": 1280, "height": 800})
    p = Page(tab, server.url)
    tab.on("request", lambda r: p.requests.append(r.url))
    tab.on("pageerror", lambda e: p.errors.append(str(e)))
    try:
        yield p
    finally:
        tab.close()
    assert not p.errors, p.errors
