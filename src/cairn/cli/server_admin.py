"""``cairn server admin``: set up a shared server's users from its machine.

``admin`` is a group the ``cairn server`` command group attaches.
"""

from __future__ import annotations

import click

from cairn.cli import _output
from cairn.cli._group import Group

admin = Group("admin", help="Set up the server's users on its store, from the server's machine.")


@admin.command("create")
@click.argument("name", help="The admin's user name.")
@click.option(
    "--store",
    "store_uri",
    default=None,
    help="The server's metadata store URI (default: the current workspace's).",
)
@click.option(
    "--expires", default="90d", show_default=True, help="Token lifetime: 30d, 2w, or never."
)
@click.option("--json", "as_json", is_flag=True, help="Print the user and token as JSON.")
def create(name: str, store_uri: str | None, expires: str, as_json: bool) -> None:
    """Create a server admin and print their API token once."""
    from cairn.access.admin import create_admin, local_mutation
    from cairn.store import open_metadata
    from cairn.tracking.environment import current_user
    from cairn.workspace import current

    if store_uri is None:
        backend = current().metadata
        close = False
    else:
        backend = open_metadata(store_uri)
        close = True
    try:
        with local_mutation(backend, current_user(), "access.create_admin"):
            user, new = create_admin(backend.access, name, expires=expires)
    finally:
        if close:
            backend.close()
    if as_json:
        _output.print_json(
            {
                "user": user.name,
                "admin": True,
                "token_id": new.token.id,
                "token": new.secret,
                "expires_at": _output.iso_time(new.token.expires_at),
            }
        )
        return
    click.echo(new.secret)
    click.echo(
        f"Created admin {user.name!r} with token {new.token.id}. Copy the token now: it is "
        "not shown again. Sign in with `cairn login --server URL --token-stdin`.",
        err=True,
    )
