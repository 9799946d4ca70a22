"""``cairn ui``: the web UI over the current workspace, on this machine only."""

from __future__ import annotations

import click


@click.command("ui")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=5051,
    show_default=True,
    help="Port on 127.0.0.1.",
)
@click.option("--log-level", default="warning", show_default=True, help="uvicorn log level.")
def ui(port: int, log_level: str) -> None:
    """Browse this workspace's runs, metrics and models at http://127.0.0.1:PORT/ui.

    Binds 127.0.0.1 only and asks for no sign-in; to share a workspace with a team, run
    `cairn server` (the same pages, with its users and tokens)."""
    from cairn.ui.local import serve_workspace

    serve_workspace(port=port, log_level=log_level)
