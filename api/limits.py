"""Request body limits, enforced before any JSON parsing (pure ASGI middleware).

Size: a declared ``Content-Length`` over the limit is refused without reading the body;
otherwise the body is read in chunks and refused as soon as it passes the limit (chunked
uploads included). Time: the whole body must arrive within ``timeout_s`` of the request's
start, else the answer is 408 and the connection is closed (uvicorn has no such timeout: its
``timeout_keep_alive`` only covers idle connections between requests), so a client that sends
headers and half a body, or trickles a byte a second, holds only a coroutine for that long,
never a thread or a worker. Under the limits the body is replayed to the app unchanged.

Upload endpoints (``uploads``: path -> bytes, ``POST /import/onnx``) have a limit of their own,
``CNNCALC_MAX_UPLOAD_BYTES``; every other path has ``CNNCALC_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from .errors import Kind, error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Answer 413 (JSON) to requests whose body is larger than ``max_bytes``, and 408 to those
    whose body has not fully arrived ``timeout_s`` after the request started."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0,
                 uploads: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.uploads = dict(uploads or {})

    def _limit(self, scope: Scope) -> tuple[int, str]:
        """The byte limit of this request's path and the variable that sets it."""
        upload = self.uploads.get(scope.get("path", ""))
        if upload is not None:
            return upload, "CNNCALC_MAX_UPLOAD_BYTES"
        return self.max_bytes, "CNNCALC_MAX_BODY_BYTES"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, env = self._limit(scope)
        declared = None
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    await _reply(send, 400, "request", "Content-Length is not an integer")
                    return
        if declared is not None and declared > limit:
            await _too_large(send, limit, env)
            return
        chunks: list[bytes] = []
        total = 0
        end = time.monotonic() + self.timeout_s
        while True:
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, end - time.monotonic()))
            except asyncio.TimeoutError:
                await _reply(send, 408, "timeout",
                             f"the request body did not arrive within {self.timeout_s:g} s "
                             "(CNNCALC_BODY_TIMEOUT_S); send the whole body at once",
                             close=True)
                return
            if msg["type"] == "http.disconnect":
                return
            body = msg.get("body", b"")
            total += len(body)
            if total > limit:
                await _too_large(send, limit, env)
                return
            chunks.append(body)
            if not msg.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int, env: str) -> None:
    await _reply(send, 413, "limit", f"request body larger than {limit} bytes ({env})",
                 close=True)


async def _reply(send: Send, status: int, kind: Kind, message: str, close: bool = False) -> None:
    body = json.dumps(error_body(kind, message)).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
