"""The ASGI edge in front of every route: body size, values no field accepts, metrics labels, security headers.

A pure ASGI middleware (no `BaseHTTPMiddleware`: that one buffers streams and hides client
disconnects from the SSE route). For a request with a body it reads at most the route's limit
(413 otherwise, also when `Content-Length` announces more), and for JSON refuses NaN, Infinity,
lone surrogates, NUL characters and deep nesting with a 422 naming the field: Python's JSON parser
accepts all of them, and each used to end in a 500 somewhere downstream (rendering, the store).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders

from .errors import problem, validation_problem
from .limits import MAX_BODY_BYTES, bad_json_values
from .metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Metric labels come from these sets only, so random methods and paths cannot create series.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: The dashboard loads only its own bundle and talks only to this origin; nobody may frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc pages load their scripts from a CDN; they only get the framing rule.
_DOCS_PATHS = ("/docs", "/redoc")
SECURITY_HEADERS = (
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)


def method_label(method: str) -> str:
    """The method as a metric label: one of KNOWN_METHODS or 'other'."""
    return method if method in KNOWN_METHODS else "other"


def _is_json(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return True  # FastAPI reads a body without a content type as JSON too


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class Edge:
    """Wraps the app: `Edge(app, metrics=..., body_limits={"/v1/orders:batch": 8 MiB})`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        max_body_bytes: int = MAX_BODY_BYTES,
        body_limits: dict[str, int] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.body_limits = dict(body_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]
        path = str(scope.get("path", ""))
        csp = "frame-ancestors 'none'" if path.startswith(_DOCS_PATHS) else CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", csp)
            await send(message)

        try:
            if scope["method"] in _BODY_METHODS:
                refusal, receive = await self._guard_body(scope, receive)
                if refusal is not None:
                    await refusal(scope, receive, send_with_headers)
                    return
            await self.app(scope, receive, send_with_headers)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = method_label(str(scope["method"]))
            self.metrics.http_requests.labels(method=method, route=route, status=str(status[0])).inc()
            self.metrics.http_latency_s.labels(route=route).observe(time.perf_counter() - started)

    async def _guard_body(self, scope: Scope, receive: Receive) -> tuple[Any, Receive]:
        """(a problem response or None, the receive channel that replays the body already read)."""
        path = str(scope.get("path", ""))
        limit = self.body_limits.get(path, self.max_body_bytes)
        headers = list(scope.get("headers", ()))
        too_big = problem(
            413,
            f"request body larger than {limit} bytes; send less (split a batch into several requests)",
            kind="body-too-large",
            instance=path,
            max_bytes=limit,
        )
        announced = _content_length(headers)
        if announced is not None and announced > limit:
            return too_big, receive
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, receive
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return too_big, receive
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and _is_json(headers):
            try:
                document = json.loads(body)
                bad = list(bad_json_values(document))
            except ValueError:
                bad = []  # malformed JSON: FastAPI answers it itself (a 422 naming the position)
            except RecursionError:
                bad = [((), "nested too deeply to parse")]
            if bad:
                errors = [
                    {"loc": ("body", *where), "msg": what, "type": "value_error"} for where, what in bad[:20]
                ]
                return validation_problem(errors, instance=path), receive
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return None, replay
