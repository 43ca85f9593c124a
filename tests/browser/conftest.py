"""Fixtures of the page's tests: a real uvicorn server and a headless Chromium page.

The browser is Debian's Chromium (``apt-get install chromium``) driven by Playwright for Python
(no browser download: ``executable_path`` names the system binary, or ``CNNCALC_CHROMIUM``).
Where Playwright or Chromium is missing, the tests that need them skip and say which.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.liveserver import Server, running, start
from tests.liveserver import stop as stop_server

__all__ = ["CHROMIUM", "chromium_missing", "start_server", "stop_server"]

CHROMIUM = os.environ.get("CNNCALC_CHROMIUM", "/usr/bin/chromium")


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[browser]')"
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CNNCALC_CHROMIUM)"
    return None


def start_server(env: dict[str, str] | None = None) -> tuple[Server, subprocess.Popen[bytes]]:
    """``uvicorn api.main:app`` with one analysis worker, once ``/health`` answers."""
    return start({"CNNCALC_WORKERS": "1", **(env or {})})


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The service, shared by the page's tests; its log must hold no traceback."""
    with running({"CNNCALC_WORKERS": "1"}) as srv:
        yield srv


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
