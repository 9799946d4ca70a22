"""ASGI middleware of ``cairn server``: request metrics and the JSON body size limit."""

from __future__ import annotations

import json
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cairn.server.artifacts import PREFIX as ARTIFACTS

DEFAULT_MAX_BODY = 16 * 1024 * 1024


class BodyLimit:
    """Refuse JSON bodies over ``max_body`` bytes with 413 (artifact uploads excepted):
    by Content-Length up front, or by counting a chunked body before the route runs."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ARTIFACTS):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._refuse(send)
            return
        # JSON bodies are small: read the whole body first (up to the limit), so a
        # chunked body over it is refused before any route sees a byte of it.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                await self._refuse(send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "TOO_LARGE",
                    "type": "InvalidInput",
                    "message": f"request body over {self.max_body} bytes; send smaller "
                    "batches, or start the server with a larger --max-body",
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class Metrics:
    """Request counts and latency per route template (``/api/tracking/run``), never per
    raw path, so a scan of random URLs cannot grow the series without bound."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "cairn_server_requests",
            "Requests answered, by route, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "cairn_server_request_seconds",
            "Time to answer a request, by route.",
            ["route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, capture)
        finally:
            route = _template(scope)
            self.requests.labels(route, scope["method"], str(status[0])).inc()
            self.latency.labels(route).observe(time.perf_counter() - start)


def _template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
