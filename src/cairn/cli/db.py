"""``cairn db``: the metadata database schema (Alembic migrations)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from cairn.cli._group import Group

if TYPE_CHECKING:
    from cairn.store.sql.database import SqlDatabase

app = Group("db", help="Manage the metadata database schema.")


def _database() -> SqlDatabase:
    from cairn.credentials import mask_uri
    from cairn.errors import ConfigError
    from cairn.store.sql.database import SqlDatabase
    from cairn.workspace import current

    ws = current()
    if not isinstance(ws.metadata, SqlDatabase):
        raise ConfigError(
            f"{mask_uri(ws.settings.tracking_uri)} is not a SQL database: run `cairn db` commands "
            "where the database is reachable directly (on the server)"
        )
    return ws.metadata


@app.command("upgrade")
@click.argument("revision", default="head", help="Target revision (default: the newest).")
def upgrade(revision: str) -> None:
    """Apply pending migrations to the metadata database (safe to run twice)."""
    before, after = _database().upgrade(revision)
    if before == after:
        click.echo(f"Schema already at {after}")
    else:
        click.echo(f"Upgraded schema from {before or '(empty)'} to {after}")


@app.command("current")
def current_revision() -> None:
    """Print the schema revision of the metadata database and the newest one known."""
    from cairn.store.sql import migrations

    current = _database().current_revision()
    head = migrations.head()
    state = "up to date" if current == head else "run `cairn db upgrade`"
    click.echo(f"{current or '(empty)'} (head: {head}, {state})")
