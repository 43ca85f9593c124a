"""A one-line progress bar on stderr for long runs; silent when the stream is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    """``with Progress(total, "timing") as p: ... p.advance()``.

    Draws ``label [#####.....] 12/40`` in place, at most ten times a second, and erases itself
    when done. ``enabled=None`` means: only when ``stream`` is a terminal.
    """

    WIDTH = 30

    def __init__(self, total: int, label: str = "", stream: IO[str] | None = None,
                 enabled: bool | None = None) -> None:
        self.total = max(int(total), 1)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.done = 0
        self._last = 0.0
        self._drawn = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def advance(self, n: int = 1, label: str | None = None) -> None:
        """Count ``n`` more steps done (and change the label)."""
        self.done = min(self.done + n, self.total)
        if label is not None:
            self.label = label
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label[:40]:40s} [{bar}] {self.done}/{self.total}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Erase the bar."""
        if self.enabled and self._drawn:
            self.stream.write("\r" + " " * (self.WIDTH + 56) + "\r")
            self.stream.flush()
            self._drawn = False
