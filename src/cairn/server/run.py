"""Start ``cairn server``: open the stores, check the bind address, run uvicorn."""

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


def check_bind(host: str, insecure_no_auth: bool) -> None:
    """Refuse a non-loopback address unless the operator accepted an open server."""
    if is_loopback(host):
        return
    if not insecure_no_auth:
        raise ConfigError(
            f"refusing to serve on {host}: the server has no authentication yet, so anyone "
            "who can reach it could read and change every record; bind 127.0.0.1, or pass "
            "--insecure-no-auth to accept that on a trusted network"
        )
    log.warning(
        "cairn server on %s WITHOUT AUTHENTICATION: anyone who can reach it may read and "
        "change every record (--insecure-no-auth)",
        host,
    )


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
    return create_app(backend, artifacts, max_body=options.max_body)


def app_from_env() -> Any:
    """uvicorn's factory in each worker process (``--workers N``)."""
    return build_app(ServerOptions(**json.loads(os.environ[ENV_OPTIONS])))


def serve(
    options: ServerOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 5050,
    workers: int = 1,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    insecure_no_auth: bool = False,
    log_level: str = "info",
) -> None:
    import uvicorn

    check_bind(host, insecure_no_auth)
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
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
        )
        return
    uvicorn.run(
        build_app(options),
        host=host,
        port=port,
        log_level=log_level,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
