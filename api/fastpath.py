"""``POST /analyze`` with no query options, answered before FastAPI's routing (pure ASGI).

The request the service gets most, a JSON body and the default options (``format=json``,
``convention=cnncalc``), is answered here from its raw body: a body sent before is looked up
by its digest (:class:`api.cache.BodyIndex`) without being parsed; any other is parsed once and,
where it is plainly well formed (what :class:`api.models.AnalyzeRequest` accepts without a
doubt), handed to :meth:`api.service.Service.keyed_job` exactly as the route does. Everything
else (a query string, another content type, JSON that does not parse, an unknown field, a
binding that is not an integer, ...) goes on to the route unchanged, so every error answer is
the route's own. What this skips per request is FastAPI's routing, dependency solving and
validation of the query and body models.
"""

from __future__ import annotations

import json
from typing import Any

from .limits import ASGIApp, Message, Receive, Scope, Send
from .routes.options import table_options
from .service import Service, reply_response
from .worker import analyze_job

PATH = "/analyze"
_FIELDS = frozenset(("architecture", "bindings"))
_INT_BOUND = 1 << 63
"""Bindings at or past this magnitude go to the route (the model's integer validation)."""
_OPTIONS = ("json", "cnncalc", table_options(None, None, None))
"""The job's arguments with every query option left out, as the route passes them."""


def _json_media(scope: Scope) -> bool:
    """Whether the request says its body is ``application/json`` (parameters allowed)."""
    for k, v in scope.get("headers", ()):
        if k == b"content-type":
            return v.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


def plain_request(obj: Any) -> tuple[dict[str, Any] | str, dict[str, int]] | None:
    """The architecture and bindings of a parsed body that :class:`api.models.AnalyzeRequest`
    accepts as it is (an object with ``architecture``, a JSON object or a string, and optional
    ``bindings`` of names to integers), else None."""
    if type(obj) is not dict or "architecture" not in obj or not obj.keys() <= _FIELDS:
        return None
    arch = obj["architecture"]
    if type(arch) is not dict and type(arch) is not str:
        return None
    bindings = obj.get("bindings", {})
    if type(bindings) is not dict:
        return None
    for v in bindings.values():
        if type(v) is not int or not -_INT_BOUND < v < _INT_BOUND:
            return None
    return arch, bindings


class AnalyzeFastPath:
    """The plain ``POST /analyze`` (see the module); any other request goes to ``app``.
    Sits inside :class:`api.limits.BodyLimit`, so the body has arrived whole and within its
    limits."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST"
                or scope.get("query_string") or not _json_media(scope)):
            await self.app(scope, receive, send)
            return
        first = await receive()
        if first["type"] != "http.request" or first.get("more_body", False):
            await self.app(scope, _replay(first, receive), send)
            return
        body: bytes = first.get("body", b"")
        svc = self.service
        digest = svc.bodies.digest(body)
        k = svc.bodies.get(digest)
        hit = svc.cache.get(k) if k is not None else None
        if hit is not None:
            await reply_response(hit, cache="hit")(scope, receive, send)
            return
        try:
            plain = plain_request(json.loads(body))
        except (ValueError, RecursionError):  # the route says what is wrong with it
            plain = None
        if plain is None:
            await self.app(scope, _replay(first, receive), send)
            return
        response, k = await svc.keyed_job(plain[0], plain[1], analyze_job, _OPTIONS, ("json",))
        if k is not None:
            svc.bodies.put(digest, k)
        await response(scope, receive, send)


def _replay(first: Message, receive: Receive) -> Receive:
    """``receive`` with ``first`` given back first."""
    replayed = False

    async def again() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return first
        return await receive()

    return again
