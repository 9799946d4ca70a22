"""``cairn server``: share a workspace's stores over HTTP (thin: see cairn.server.run)."""

from __future__ import annotations

import click

from cairn.cli._group import Group
from cairn.cli.server_admin import admin


@click.group("server", cls=Group, invoke_without_command=True)
@click.option(
    "--store",
    help="Metadata database: sqlite:///path/cairn.db or postgresql://... "
    "(default: the current workspace's).",
)
@click.option(
    "--artifacts",
    help="Artifact store: a folder or s3://bucket/prefix (default: the current workspace's).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=int, default=5050, show_default=True, help="Port to bind.")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="Server processes.")
@click.option("--ssl-certfile", help="PEM certificate (chain): serve HTTPS.")
@click.option("--ssl-keyfile", help="PEM private key of --ssl-certfile.")
@click.option(
    "--max-body",
    type=click.IntRange(min=1024),
    default=16 * 1024 * 1024,
    show_default=True,
    help="Largest JSON request body in bytes (413 above); artifact uploads are not limited.",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve without API tokens: anyone reaching the server may read and change "
    "everything, unaudited (logged as a warning).",
)
@click.option(
    "--token-cache-seconds",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Remember a token that authenticated for this long (0: look it up on every "
    "request). A token revoked through another server process still opens this one "
    "for at most this long.",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn log level.")
@click.pass_context
def server(
    ctx: click.Context,
    store: str | None,
    artifacts: str | None,
    host: str,
    port: int,
    workers: int,
    ssl_certfile: str | None,
    ssl_keyfile: str | None,
    max_body: int,
    insecure_no_auth: bool,
    token_cache_seconds: float,
    log_level: str,
) -> None:
    """Share the workspace's stores over HTTP for a team (REST API, /openapi.json).

    Serves the tracking, dataset, registry and pipeline stores and the artifact store;
    clients set CAIRN_TRACKING_URI=http://HOST:PORT.

    Every request needs an API token: `cairn server admin create NAME` sets up the
    first admin on the store. Access settings come from the [access] table of the
    workspace's cairn.toml."""
    if ctx.invoked_subcommand is not None:
        return
    from cairn.config import find_root
    from cairn.server.run import ServerOptions, serve

    options = {}
    if store is None or artifacts is None:
        import cairn.workspace

        settings = cairn.workspace.current().settings
        store = store or settings.tracking_uri
        if artifacts is None:
            artifacts, options = settings.artifact_uri, settings.storage_options
    root = find_root()
    policy = str(root / "cairn.toml") if root is not None else None
    serve(
        ServerOptions(
            store, artifacts, options, max_body, insecure_no_auth, policy, token_cache_seconds
        ),
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        log_level=log_level,
    )


server.add_command(admin)
