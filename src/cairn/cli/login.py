"""``cairn login`` and ``cairn logout``: keep an API token for a ``cairn server``.

The token goes into the user-only credentials file (``~/.config/cairn/credentials.toml``,
mode 0600), never into ``cairn.toml``; the REST client sends it as
``Authorization: Bearer``.
"""

from __future__ import annotations

import sys

import click


@click.command("login")
@click.option("--server", "url", required=True, help="The server's URL, as in https://host:5050.")
@click.option(
    "--token-stdin",
    is_flag=True,
    help="Read the token from standard input (for scripts), instead of a hidden prompt.",
)
@click.option(
    "--no-check",
    is_flag=True,
    help="Save the token without asking the server who it belongs to (server offline).",
)
def login(url: str, token_stdin: bool, no_check: bool) -> None:
    """Save an API token for a server in the user-only credentials file.

    The token is checked with the server first (GET /api/whoami); a token the server
    refuses is not saved."""
    from cairn.access.tokens import parse_token
    from cairn.credentials import save_server_token, server_key
    from cairn.errors import InvalidInput

    key = server_key(url)  # a bad URL is refused before the token is asked for
    if token_stdin:
        token = sys.stdin.readline().strip()
    else:
        token = click.prompt("API token", hide_input=True).strip()
    token_id = parse_token(token)
    if token_id is None:
        # Never echo what was typed: it may be a password or another secret.
        raise InvalidInput(
            "that is not a Cairn API token (cairn_<id>_<secret>); create one with "
            "`cairn tokens create --user NAME` and paste it whole"
        )
    who = ""
    if not no_check:
        from cairn.store.rest.client import whoami

        found = whoami(key, token)
        who = f" as {found['user']}{' (admin)' if found['admin'] else ''}"
        who += " (read-only token)" if found["read_only"] else ""
    path = save_server_token(key, token)
    click.echo(f"Logged in to {key}{who} with token {token_id}; saved in {path}")


@click.command("logout")
@click.option("--server", "url", required=True, help="The server's URL, as given to login.")
def logout(url: str) -> None:
    """Forget the token saved for a server (revoke it too with `cairn tokens revoke`)."""
    from cairn.credentials import remove_server_token, server_key

    key = server_key(url)
    if remove_server_token(key):
        click.echo(f"Logged out of {key}")
    else:
        click.echo(f"No token was saved for {key}")
