"""LRU cache of finished answers, keyed by the canonical JSON of the request."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from .worker import Reply


def canonical(obj: Any) -> str:
    """Key-order-independent, whitespace-free JSON (raises ValueError/RecursionError)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def key(*parts: str) -> bytes:
    """A fixed-size key for some canonical strings."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.digest()


class ReplyCache:
    """At most ``size`` entries and ``max_bytes`` of bodies; least recently used go first.
    ``size == 0`` disables it."""

    def __init__(self, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._d: OrderedDict[bytes, Reply] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.size > 0 and self.max_bytes > 0

    def get(self, k: bytes) -> Reply | None:
        if not self.enabled:
            return None
        with self._lock:
            r = self._d.get(k)
            if r is None:
                self.misses += 1
                return None
            self._d.move_to_end(k)
            self.hits += 1
            return r

    def put(self, k: bytes, r: Reply) -> None:
        n = len(r[2])
        if not self.enabled or n > self.max_bytes // 4:
            return
        with self._lock:
            old = self._d.pop(k, None)
            if old is not None:
                self._bytes -= len(old[2])
            self._d[k] = r
            self._bytes += n
            while len(self._d) > self.size or self._bytes > self.max_bytes:
                _, gone = self._d.popitem(last=False)
                self._bytes -= len(gone[2])

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._d), "bytes": self._bytes, "hits": self.hits,
                    "misses": self.misses}
