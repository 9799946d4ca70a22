"""``cairn db``: the metadata database schema (Alembic migrations)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

app = typer.Typer(no_args_is_help=True, help="Manage the metadata database schema.")


def _database() -> SqlDatabase:
    from cairn.errors import ConfigError
    from cairn.store.sql.database import SqlDatabase
    from cairn.workspace import current

    ws = current()
    if not isinstance(ws.metadata, SqlDatabase):
        raise ConfigError(
            f"{ws.settings.tracking_uri} is not a SQL database: run `cairn db` commands "
            "where the database is reachable directly (on the server)"
        )
    return ws.metadata


@app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
) -> None:
    """Apply pending migrations to the metadata database (safe to run twice)."""
    before, after = _database().upgrade(revision)
    if before == after:
        typer.echo(f"Schema already at {after}")
    else:
        typer.echo(f"Upgraded schema from {before or '(empty)'} to {after}")


@app.command("current")
def current_revision() -> None:
    """Print the schema revision of the metadata database and the newest one known."""
    from cairn.store.sql import migrations

    current = _database().current_revision()
    head = migrations.head()
    state = "up to date" if current == head else "run `cairn db upgrade`"
    typer.echo(f"{current or '(empty)'} (head: {head}, {state})")
