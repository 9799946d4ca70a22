"""The model server: a plain ASGI application, run by uvicorn.

Plain ASGI rather than a framework router, because the request path is the product
here: a dict lookup picks the handler, the body is read once with a size limit, and
nothing else is built per request (no request/response objects, no pandas for numeric
tables). Routes:

    GET  /v2/health/live  /v2/health/ready  /v2          (a trailing slash is ignored)
    GET  /v2/models/{name}[/versions/{v}]            model metadata (the version served)
    GET  /v2/models/{name}[/versions/{v}]/ready
    POST /v2/models/{name}[/versions/{v}]/infer      Open Inference Protocol v2
    POST /invocations                                MLflow scoring protocol
    GET  /ping  /health  /version                    MLflow-style health
    GET  /metrics                                    Prometheus

Every response carries ``X-Request-ID`` (the caller's, or a new one). Request bodies may
be gzip or deflate compressed (``Content-Encoding``); the size limit applies before and
after decompression (see :mod:`cairn.serving.body`). Bad input is a 4xx JSON body
``{"error": ..., "column": ...}`` (on ``/invocations`` also MLflow's ``error_code`` and
``message``, with status 400 where MLflow answers 400); an unexpected failure is a 500
JSON body, logged with its traceback. Small batches are scored on the event loop (a thread
hop costs more than the prediction); large ones — and bodies over 1 MiB, whose JSON
parsing alone takes a while — on a worker thread, so health checks stay answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cairn.serving import invocations, v2
from cairn.serving.body import decode_content, read_body
from cairn.serving.codec import Batch
from cairn.serving.metrics import CONTENT_TYPE, ServingMetrics
from cairn.serving.predictor import Predictor
from cairn.serving.predlog import LogRecord, PredictionLog
from cairn.serving.routing import SHADOW, Router
from cairn.serving.spec import ServingError

log = logging.getLogger("cairn.serving")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_MAX_BODY = 16 * 1024 * 1024
INLINE_ROWS = 2000
LARGE_BODY = 1 << 20  # bodies above this are parsed on a worker thread, like large batches
#: Compressed bodies above this are inflated on a worker thread (they may grow 1000-fold).
LARGE_COMPRESSED = 64 * 1024
_MODEL_PATH = re.compile(
    r"^/v2/models/(?P<name>[^/]+)(?:/versions/(?P<version>[^/]+))?(?P<tail>/ready|/infer)?$"
)
_REQUEST_ID_OK = re.compile(r"^[\x21-\x7e]{1,200}$")
_JSON = [(b"content-type", b"application/json")]


@dataclass
class ServeOptions:
    """Knobs of one app; ``cairn serve`` flags map onto these."""

    max_body_bytes: int = DEFAULT_MAX_BODY
    inline_rows: int = INLINE_ROWS


class ServingApp:
    """The ASGI callable serving one model name (and its canary/shadow).

    Example:
        >>> router = Router(ModelSlot.open(ModelRef.parse("churn@production")))
        >>> app = ServingApp(router, PredictionLog(default_root()))
        >>> uvicorn.run(app, host="127.0.0.1", port=8080)
    """

    def __init__(
        self,
        router: Router,
        predlog: PredictionLog | None = None,
        options: ServeOptions | None = None,
        server_version: str = "",
    ) -> None:
        self.router = router
        self.predlog = predlog
        self.options = options or ServeOptions()
        self.server_version = server_version or _cairn_version()
        self.metrics = ServingMetrics(self._state)
        self.started = False
        self._get: dict[str, Callable[[], tuple[int, Any]]] = {
            "/v2/health/live": lambda: (200, {"live": True}),
            "/v2/health/ready": self._ready,
            "/v2": lambda: (200, v2.server_metadata(self.server_version)),
            "/ping": lambda: (200, {"status": "ok"}),
            "/health": self._ready,
            "/version": lambda: (
                200,
                {"cairn": self.server_version, "model": self.router.versions()},
            ),
        }

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Start the alias followers, the shadow and the prediction log writer."""
        if self.started:
            return
        self.router.start(self._log_shadow)
        if self.predlog is not None:
            self.predlog.start()
        self.started = True

    def close(self) -> None:
        """Stop background work and flush the prediction log."""
        self.router.stop()
        if self.predlog is not None:
            self.predlog.close()
        self.started = False

    def _state(self) -> dict[str, Any]:
        plog = self.predlog
        served = [
            (slot.current.spec.name, slot.current.version, role)
            for role, slot in self.router.slots()
        ]
        return {
            "served": served,
            "swaps": sum(slot.swaps for _, slot in self.router.slots()),
            "reload_errors": sum(slot.reload_errors for _, slot in self.router.slots()),
            "dropped": plog.dropped if plog else 0,
            "written_rows": plog.written_rows if plog else 0,
            "write_errors": plog.write_errors if plog else 0,
            "pending": plog.pending if plog else 0,
            "shadow_dropped": self.router.shadow_dropped,
        }

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.to_thread(self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = ""
        content_type = ""
        content_length = -1
        header_length: int | None = None
        encoding = ""
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                text = value.decode("latin-1")
                if _REQUEST_ID_OK.match(text):
                    request_id = text
            elif key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"content-length":
                content_length = int(value) if value.isdigit() else -1
            elif key == b"inference-header-content-length":
                header_length = int(value) if value.isdigit() else -1
            elif key == b"content-encoding":
                encoding = value.decode("latin-1")
        if not request_id:
            request_id = os.urandom(16).hex()
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):  # GET /v2/ answers like GET /v2
            path = path.rstrip("/") or "/"
        method: str = scope["method"]
        route = path
        served = ""
        try:
            if method in ("GET", "HEAD") and path in self._get:
                code, payload = self._get[path]()
                body = json.dumps(payload).encode()
            elif path == "/metrics" and method in ("GET", "HEAD"):
                await self._send(
                    send, 200, self.metrics.render(), request_id, CONTENT_TYPE.encode()
                )
                self.metrics.observe(route, 200, time.perf_counter() - started)
                return
            elif path == "/invocations":
                _need(method, "POST")
                data = await self._body(receive, content_length, encoding)
                code, payload, served = await self._invocations(data, content_type, request_id)
                body = json.dumps(payload).encode()
            elif (m := _MODEL_PATH.match(path)) is not None:
                route = "/v2/models/infer" if m["tail"] == "/infer" else "/v2/models"
                code, payload, served = await self._model_route(
                    m, method, receive, content_length, header_length, request_id, encoding
                )
                if isinstance(payload, v2.BinaryResponse):
                    await self._send(
                        send,
                        code,
                        payload.body,
                        request_id,
                        b"application/octet-stream",
                        served,
                        [(b"inference-header-content-length", b"%d" % payload.header_length)],
                    )
                    self.metrics.observe(route, code, time.perf_counter() - started)
                    return
                body = json.dumps(payload).encode()
            else:
                route = "(unknown)"
                code, body = 404, _error(f"no route {method} {path}")
        except ServingError as exc:
            if path == "/invocations":
                code, body = invocations.error_body(str(exc), exc.status, exc.column)
            else:
                code, body = exc.status, _error(str(exc), exc.column)
        except Exception:  # a bug, not the caller's fault: say so without a traceback
            log.exception("request %s %s (%s) failed", method, path, request_id)
            message = f"internal error; see the server log for request {request_id}"
            if path == "/invocations":
                code, body = invocations.error_body(message, 500)
            else:
                code, body = 500, _error(message)
        await self._send(send, code, body, request_id, version=served)
        self.metrics.observe(route, code, time.perf_counter() - started)

    @staticmethod
    async def _send(
        send: Send,
        code: int,
        body: bytes,
        request_id: str,
        ctype: bytes = b"application/json",
        version: str = "",
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [
            (b"content-type", ctype),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()),
            *(extra or ()),
        ]
        if version:  # which model version answered (the body of /invocations does not say)
            headers.append((b"x-model-version", version.encode()))
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _ready(self) -> tuple[int, Any]:
        ok = self.router.primary.current is not None
        return (200 if ok else 503), {"ready": ok}

    # -- inference -------------------------------------------------------------------------

    async def _model_route(
        self,
        m: re.Match[str],
        method: str,
        receive: Receive,
        content_length: int,
        header_length: int | None,
        request_id: str,
        encoding: str,
    ) -> tuple[int, Any, str]:
        name, version, tail = m["name"], m["version"], m["tail"]
        if name != self.router.name:
            raise ServingError(
                f"model {name!r} is not served here; this server serves {self.router.name!r}",
                status=404,
            )
        pinned: tuple[Predictor, str] | None = None
        if version is not None:
            pinned = self.router.by_version(version)
            if pinned is None:
                served = ", ".join(self.router.versions())
                raise ServingError(
                    f"version {version} of {name} is not served; serving {served}", status=404
                )
        if tail is None:
            _need(method, "GET")
            predictor = pinned[0] if pinned else self.router.primary.current
            meta = predictor.spec.metadata()
            meta["outputs"] = v2.output_metadata(predictor)
            meta["versions"] = self.router.versions()
            meta["version"] = predictor.version
            refused = [
                {"role": role, **slot.refused.to_dict()}
                for role, slot in self.router.slots()
                if slot.refused is not None
            ]
            if refused:  # versions the alias points at that failed their trial load
                meta["refused"] = refused
            return 200, meta, ""
        if tail == "/ready":
            _need(method, "GET")
            return 200, {"name": name, "ready": True}, ""
        _need(method, "POST")
        data = await self._body(receive, content_length, encoding)
        predictor, role = pinned if pinned else self.router.pick(request_id)
        if len(data) > LARGE_BODY:
            doc, batch = await asyncio.to_thread(_decode_v2, predictor, data, header_length)
        else:
            doc, batch = _decode_v2(predictor, data, header_length)
        wanted = v2.requested_outputs(predictor, doc)  # a 400 before any work is done
        preds, out = await self._predict(predictor, batch, role, request_id, "/v2/models/infer")
        results = {"predict": (preds, out)}
        if any(w.name == v2.PROBA for w in wanted):
            results["predict_proba"] = await self._call(predictor.predict_proba, batch)
        response = v2.encode_response(
            predictor.spec, predictor.version, wanted, results, doc.get("id")
        )
        return 200, response, predictor.version

    async def _body(self, receive: Receive, content_length: int, encoding: str) -> bytes:
        """The request body, decompressed; 413 past the limit before or after inflating."""
        limit = self.options.max_body_bytes
        data = await read_body(receive, content_length, limit)
        if not encoding:
            return data
        if len(data) > LARGE_COMPRESSED:
            return await asyncio.to_thread(decode_content, data, encoding, limit)
        return decode_content(data, encoding, limit)

    async def _call(self, fn: Callable[[Batch], Any], batch: Batch) -> Any:
        if batch.rows > self.options.inline_rows:
            return await asyncio.to_thread(fn, batch)
        return fn(batch)

    async def _invocations(
        self, data: bytes, content_type: str, request_id: str
    ) -> tuple[int, Any, str]:
        predictor, role = self.router.pick(request_id)
        limit = self.options.max_body_bytes
        if len(data) > LARGE_BODY or invocations.is_parquet(content_type):
            request = await asyncio.to_thread(
                invocations.decode, predictor.spec, data, content_type, limit
            )
        else:
            request = invocations.decode(predictor.spec, data, content_type, limit)
        batch = request.batch
        if request.method == "predict_proba" and predictor.proba is None:
            raise ServingError(invocations.no_proba(predictor.spec.name), status=400)
        _, out = await self._predict(predictor, batch, role, request_id, "/invocations")
        if request.method == "predict_proba":
            _, out = await self._call(predictor.predict_proba, batch)
        return 200, invocations.encode(out), predictor.version

    async def _predict(
        self, predictor: Predictor, batch: Batch, role: str, request_id: str, route: str
    ) -> tuple[Any, list[Any]]:
        started = time.perf_counter()
        spec = predictor.spec
        try:
            if batch.rows > self.options.inline_rows:
                preds, out = await asyncio.to_thread(predictor.predict, batch)
            else:
                preds, out = predictor.predict(batch)
        except Exception as exc:  # logged with its status, so monitoring sees the errors
            if self.predlog is not None:
                status = exc.status if isinstance(exc, ServingError) else 500
                elapsed = (time.perf_counter() - started) * 1000
                self.predlog.append(
                    LogRecord(
                        time.time_ns() // 1_000_000, request_id, spec.name, predictor.version,
                        role, True, batch, None, status, elapsed,
                    )
                )  # fmt: skip
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        now_ms = time.time_ns() // 1_000_000
        self.metrics.observe_predictions(route, spec.name, predictor.version, role, preds, out)
        if self.predlog is not None:
            self.predlog.append(
                LogRecord(
                    now_ms, request_id, spec.name, predictor.version, role, True, batch, preds,
                    200, latency_ms, predictor.predict_proba if predictor.proba else None,
                )
            )  # fmt: skip
        self.router.submit_shadow(batch, request_id, now_ms)
        return preds, out

    def _log_shadow(
        self, predictor: Predictor, batch: Batch, preds: Any, request_id: str, when_ms: int
    ) -> None:
        if self.predlog is not None:
            self.predlog.append(
                LogRecord(
                    when_ms,
                    request_id,
                    predictor.spec.name,
                    predictor.version,
                    SHADOW,
                    False,
                    batch,
                    preds,
                )
            )


def _decode_v2(
    predictor: Predictor, data: bytes, header_length: int | None
) -> tuple[dict[str, Any], Batch]:
    doc, inputs = v2.decode_request(data, header_length)
    return doc, v2.to_batch(predictor.spec, inputs)


def _need(method: str, allowed: str) -> None:
    if method != allowed:
        raise ServingError(f"method {method} is not allowed here; use {allowed}", status=405)


def _error(message: str, column: str | None = None) -> bytes:
    doc: dict[str, Any] = {"error": message}
    if column is not None:
        doc["column"] = column
    return json.dumps(doc).encode()


def _cairn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cairn-mlops")
    except PackageNotFoundError:
        return "0"
