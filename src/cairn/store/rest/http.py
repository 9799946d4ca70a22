"""The HTTP session of the REST backend: keep-alive, retries, TLS verification.

One :class:`Session` per server URL is shared by the metadata client and the artifact
blobs. Requests that fail to connect, lose the connection, or get 502/503/504 are
retried with exponential backoff until ``CAIRN_HTTP_RETRY_SECONDS`` (default 30) have
passed. Every request carries ``Authorization: Bearer <token>`` when a token is known
(:func:`cairn.credentials.server_token`: the environment, else ``cairn login``'s).
Writes carry an ``Idempotency-Key`` chosen once per call and sent again on each retry,
so the server applies a retried write once.
"""

from __future__ import annotations

import os
import random
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from cairn.credentials import ENV_TOKEN, ENV_TOKEN_ALIAS, mask_uri, server_token
from cairn.errors import ConfigError, StoreError
from cairn.store.rest.errors import raise_for_body

ENV_CA_BUNDLE = "CAIRN_CA_BUNDLE"
ENV_RETRY_SECONDS = "CAIRN_HTTP_RETRY_SECONDS"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRY_STATUSES = frozenset({502, 503, 504})
_RETRY_ERRORS = (httpx.TransportError,)
_sessions: dict[tuple[str, str | None, str | None], Session] = {}
_lock = threading.Lock()


def session_for(uri: str, ca_bundle: str | None = None) -> Session:
    """The shared session for a server (one connection pool per URL and CA bundle)."""
    base = uri.rstrip("/")
    bundle = ca_bundle or os.environ.get(ENV_CA_BUNDLE) or None
    # A process that changes its token variable gets a session that sends the new one.
    env_token = os.environ.get(ENV_TOKEN) or os.environ.get(ENV_TOKEN_ALIAS) or None
    with _lock:
        session = _sessions.get((base, bundle, env_token))
        if session is None or session.closed:
            session = _sessions[(base, bundle, env_token)] = Session(base, bundle)
        return session


def new_key() -> str:
    return uuid.uuid4().hex


class Session:
    def __init__(self, base: str, ca_bundle: str | None) -> None:
        if ca_bundle is not None and not os.path.isfile(ca_bundle):
            raise ConfigError(
                f"the CA bundle {ca_bundle} does not exist; set {ENV_CA_BUNDLE} (or "
                "[tracking] ca_bundle in cairn.toml) to a PEM file of the server's CA"
            )
        self.base = base
        self.where = f"the Cairn server at {mask_uri(base)}"
        self.closed = False
        headers = {"User-Agent": "cairn-rest"}
        token = server_token(base)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._verify: Any = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
        self._client = self._open()
        self.retry_seconds = float(os.environ.get(ENV_RETRY_SECONDS, "30"))

    def _open(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base,
            headers=self._headers,
            verify=self._verify,
            timeout=httpx.Timeout(300.0, connect=10.0),
            limits=httpx.Limits(max_keepalive_connections=8),
        )

    @property
    def client(self) -> httpx.Client:
        """The connection pool; a session closed by one backend of the process (they
        share it) opens a new one for the others' next request."""
        if self.closed:
            with _lock:
                if self.closed:
                    self._client, self.closed = self._open(), False
        return self._client

    def close(self) -> None:
        self.closed = True
        self._client.close()

    def request(
        self, verb: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; raise the server's CairnError for an error answer."""
        with self.stream(verb, path, key=key, **kwargs) as response:
            response.read()
            return response

    @contextmanager
    def stream(
        self, verb: str, path: str, *, key: str | None = None, **kwargs: Any
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request`, the body left unread (for downloads)."""
        headers = dict(kwargs.pop("headers", None) or {})
        if key is not None:
            headers[IDEMPOTENCY_HEADER] = key
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.05
        while True:
            try:
                request = self.client.build_request(verb, path, headers=headers, **kwargs)
                response = self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                if not _retryable(exc) or time.monotonic() >= deadline:
                    raise self._unreachable(exc) from None
                delay = _sleep(delay)
                continue
            if response.status_code in RETRY_STATUSES and time.monotonic() < deadline:
                response.close()
                delay = _sleep(delay)
                continue
            try:
                if response.status_code >= 400:
                    response.read()
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    raise_for_body(response.status_code, body, self.where)
                yield response
            finally:
                response.close()
            return

    def _unreachable(self, exc: httpx.HTTPError) -> StoreError:
        reason = str(exc) or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in reason:
            return StoreError(
                f"cannot verify the TLS certificate of {self.where}: {reason}; if the "
                f"server uses a private CA, set {ENV_CA_BUNDLE} (or [tracking] ca_bundle "
                "in cairn.toml) to its PEM file"
            )
        return StoreError(
            f"cannot reach {self.where} ({type(exc).__name__}: {reason}) after retrying for "
            f"{self.retry_seconds:g} s; check that `cairn server` is running there"
        )


def _retryable(exc: httpx.HTTPError) -> bool:
    # A certificate that does not verify will not verify on the next try either.
    if "CERTIFICATE_VERIFY_FAILED" in str(exc) or isinstance(exc.__context__, ssl.SSLError):
        return False
    return isinstance(exc, _RETRY_ERRORS)


def _sleep(delay: float) -> float:
    time.sleep(delay * (0.5 + random.random()))
    return min(delay * 2, 2.0)
