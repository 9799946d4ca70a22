"""Start ``cairn server``: open the stores, choose the guard, run uvicorn.

Every request needs an API token (the :class:`~cairn.access.guard.TokenGuard`), on any
address, loopback included: on a shared machine every local user reaches 127.0.0.1, so
loopback is not a boundary. ``--insecure-no-auth`` is the one way to serve without
tokens, and it is logged as a warning at start.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

from cairn.errors import ConfigError

log = logging.getLogger("cairn.server")

ENV_OPTIONS = "CAIRN_SERVER_OPTIONS"


@dataclass(frozen=True)
class ServerOptions:
    store: str
    artifacts: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    max_body: int = 16 * 1024 * 1024
    #: Serve without tokens: every caller may do everything (``--insecure-no-auth``).
    insecure_no_auth: bool = False
    #: The ``cairn.toml`` whose ``[access]`` table sets the policy (None: defaults).
    policy_file: str | None = None
    #: How long a token that authenticated is remembered (see TokenGuard).
    token_cache_seconds: float = 2.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def check_bind(host: str, insecure_no_auth: bool, tls: bool = False) -> None:
    """Say loudly what an open or a clear-text server exposes (it refuses nothing: a
    server with tokens may bind any address; one without was asked for by name)."""
    if insecure_no_auth:
        reach = "this machine" if is_loopback(host) else f"{host}"
        log.warning(
            "cairn server on %s WITHOUT AUTHENTICATION (--insecure-no-auth): anyone who can "
            "reach %s may read and change every record, and nothing is audited",
            host,
            reach,
        )
    elif not tls and not is_loopback(host):
        log.warning(
            "cairn server on %s over plain HTTP: API tokens cross the network in clear; "
            "serve HTTPS with --ssl-certfile/--ssl-keyfile or behind a TLS proxy",
            host,
        )


def make_guard(backend: Any, options: ServerOptions) -> Any:
    """The guard the server asks on every request (see the module docstring)."""
    from pathlib import Path

    from cairn.access import TokenGuard, load_policy
    from cairn.access.types import OpenGuard

    if options.insecure_no_auth:
        return OpenGuard()
    policy = load_policy(Path(options.policy_file) if options.policy_file else None)
    if not backend.access.list_users():
        log.warning(
            "the store has no users yet, so every request will be refused (401): create "
            "the first admin with `cairn server admin create NAME` on this machine"
        )
    return TokenGuard(backend, policy, cache_seconds=options.token_cache_seconds)


def build_app(options: ServerOptions) -> Any:
    from cairn.server.app import create_app
    from cairn.store import open_metadata, scheme_of
    from cairn.store.artifacts import ArtifactStore

    if scheme_of(options.store) in ("http", "https"):
        raise ConfigError(
            f"--store {options.store} is itself a Cairn server; give the server a database: "
            "sqlite:///path/cairn.db or postgresql://..."
        )
    backend = open_metadata(options.store)
    backend.ensure_schema()
    artifacts = ArtifactStore(options.artifacts, options.storage_options)
    guard = make_guard(backend, options)
    return create_app(backend, artifacts, guard=guard, max_body=options.max_body)


def app_from_env() -> Any:
    """uvicorn's factory in each worker process (``--workers N``)."""
    return build_app(ServerOptions(**json.loads(os.environ[ENV_OPTIONS])))


def _access_log(log_level: str) -> bool:
    """A line per request at ``info`` and below; above, uvicorn need not even format
    them (it does, then drops them, when the access log is on)."""
    return log_level.lower() in ("trace", "debug", "info")


def serve(
    options: ServerOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 5050,
    workers: int = 1,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    log_level: str = "info",
) -> None:
    import uvicorn

    check_bind(host, options.insecure_no_auth, tls=ssl_certfile is not None)
    if (ssl_certfile is None) != (ssl_keyfile is None):
        raise ConfigError("TLS needs both --ssl-certfile and --ssl-keyfile")
    for path in filter(None, (ssl_certfile, ssl_keyfile)):
        if not os.path.isfile(path):
            raise ConfigError(f"TLS file {path} does not exist")
    if workers > 1:
        build_app(options)  # fail here, once, on a bad store rather than in every worker
        os.environ[ENV_OPTIONS] = json.dumps(asdict(options))
        uvicorn.run(
            "cairn.server.run:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=_access_log(log_level),
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
        return
    uvicorn.run(
        build_app(options),
        host=host,
        port=port,
        log_level=log_level,
        access_log=_access_log(log_level),
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
