"""``cairn ui``: the server app over the current embedded workspace, loopback only."""

from __future__ import annotations

from typing import Any

import click

HOST = "127.0.0.1"


def workspace_app() -> Any:
    """The server app (UI and JSON API, no sign-in) over the current workspace's stores."""
    import cairn.workspace
    from cairn.access.types import OpenGuard
    from cairn.server.app import create_app

    ws = cairn.workspace.current()
    ws.metadata.ensure_schema()
    # The workspace's own user on their own files: no sign-in, as for the CLI. The app
    # binds 127.0.0.1 only, and every form post carries the CSRF token.
    return create_app(ws.metadata, ws.artifacts, guard=OpenGuard())


def serve_workspace(*, port: int, log_level: str = "warning") -> None:
    """Run :func:`workspace_app` on 127.0.0.1 until stopped; prints the address first."""
    import uvicorn

    app = workspace_app()
    config = uvicorn.Config(app, host=HOST, port=port, log_level=log_level)
    server = uvicorn.Server(config)
    # Announce the real port (``--port 0`` picks a free one) once the socket is bound.
    original = server.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        for s in server.servers:
            for sock in s.sockets:
                bound = sock.getsockname()[1]
                click.echo(f"Cairn UI on http://{HOST}:{bound}/ui (Ctrl-C stops it)")
                return

    server.startup = startup  # type: ignore[method-assign]
    server.run()
