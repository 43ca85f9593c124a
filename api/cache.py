"""LRU cache of finished answers, keyed by the canonical JSON of the request, and the raw-body
index in front of it (:class:`BodyIndex`)."""

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

    def put(self, k: bytes, r: Reply) -> bool:
        """Store ``r`` under ``k``; False where it is not stored (disabled, or the body is
        over a quarter of ``max_bytes``)."""
        n = len(r[2])
        if not self.enabled or n > self.max_bytes // 4:
            return False
        with self._lock:
            old = self._d.pop(k, None)
            if old is not None:
                self._bytes -= len(old[2])
            self._d[k] = r
            self._bytes += n
            while len(self._d) > self.size or self._bytes > self.max_bytes:
                _, gone = self._d.popitem(last=False)
                self._bytes -= len(gone[2])
        return True

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"entries": len(self._d), "bytes": self._bytes, "hits": self.hits,
                    "misses": self.misses}


class BodyIndex:
    """Digests of request bodies, byte for byte, and the cache key of each one's answer: a
    body sent again is answered without parsing it or writing its canonical JSON. The same
    bytes always parse to the same request, so the key found is the one the body's canonical
    JSON would give; the answer itself stays in the :class:`ReplyCache` (an evicted one is a
    miss here too). At most ``size`` entries, least recently used go first; used on the event
    loop only."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._d: OrderedDict[bytes, bytes] = OrderedDict()

    @staticmethod
    def digest(body: bytes) -> bytes:
        return hashlib.blake2b(body, digest_size=32).digest()

    def get(self, digest: bytes) -> bytes | None:
        k = self._d.get(digest)
        if k is not None:
            self._d.move_to_end(digest)
        return k

    def put(self, digest: bytes, k: bytes) -> None:
        if self.size <= 0:
            return
        self._d[digest] = k
        self._d.move_to_end(digest)
        while len(self._d) > self.size:
            self._d.popitem(last=False)
