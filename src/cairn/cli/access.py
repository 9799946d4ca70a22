"""``cairn users``, ``cairn tokens``, ``cairn grant`` and ``cairn audit``: who may use a
shared store, and what they did.

Each command acts on the current workspace's metadata store (run them on the server's
machine, or against a server as an admin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from cairn.cli import _output
from cairn.cli._group import Group

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from cairn.store.access import AccessStore, Token
    from cairn.store.base import MetadataBackend

users = Group("users", help="Create, list, enable and disable users of a shared store.")
tokens = Group("tokens", help="Create, list and revoke API tokens.")
audit = Group("audit", help="Read the audit log of mutations.")


def _backend() -> MetadataBackend:
    from cairn.workspace import current

    return current().metadata


def _store() -> AccessStore:
    return _backend().access


def _audited(operation: str, resource: str | None = None) -> AbstractContextManager[None]:
    """Record this change in the audit log, by the local user, like a server mutation."""
    from cairn.access.admin import local_mutation, parse_resource

    if resource is None:
        return local_mutation(_backend(), _actor(), operation)
    kind, name = parse_resource(resource)
    return local_mutation(_backend(), _actor(), operation, kind, name)


def _actor() -> str:
    from cairn.tracking.environment import current_user
    from cairn.workspace import current

    return current().settings.user or current_user()


# -- users ---------------------------------------------------------------------------


@users.command("create")
@click.argument("name", help="User name: letters, digits, '.', '_', '@' or '-'.")
@click.option("--admin", is_flag=True, help="Make the user a server admin.")
def create_user(name: str, admin: bool) -> None:
    """Create a user (they sign in with a token from `cairn tokens create`)."""
    with _audited("access.create_user"):
        user = _store().create_user(name, is_admin=admin)
    click.echo(f"Created {'admin' if user.is_admin else 'user'} {user.name!r}")


@users.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of users.")
def list_users(as_json: bool) -> None:
    """List users."""
    found = _store().list_users()
    if as_json:
        _output.print_json(
            [
                {
                    "name": u.name,
                    "admin": u.is_admin,
                    "disabled": u.disabled,
                    "created_at": _output.iso_time(u.created_at),
                }
                for u in found
            ]
        )
        return
    _output.print_table(
        ["NAME", "ADMIN", "DISABLED", "CREATED (UTC)"],
        [
            [u.name, _yes(u.is_admin), _yes(u.disabled), _output.short_time(u.created_at)]
            for u in found
        ],
    )


@users.command("set")
@click.argument("name", help="User name.")
@click.option("--admin/--no-admin", default=None, help="Make or stop being a server admin.")
def set_user(name: str, admin: bool | None) -> None:
    """Change a user's admin flag."""
    with _audited("access.update_user"):
        user = _store().update_user(name, is_admin=admin)
    click.echo(f"{user.name}: admin={_yes(user.is_admin)}")


@users.command("disable")
@click.argument("name", help="User name.")
def disable_user(name: str) -> None:
    """Disable a user: every token of theirs is refused until enabled again."""
    with _audited("access.disable_user"):
        _store().update_user(name, disabled=True)
    click.echo(f"Disabled {name!r}: their tokens are refused")


@users.command("enable")
@click.argument("name", help="User name.")
def enable_user(name: str) -> None:
    """Enable a disabled user again."""
    with _audited("access.enable_user"):
        _store().update_user(name, disabled=False)
    click.echo(f"Enabled {name!r}")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# -- tokens --------------------------------------------------------------------------


@tokens.command("create")
@click.option("--user", "user", required=True, help="Whose token it is.")
@click.option("--label", default="", help="What the token is for (shown in listings).")
@click.option("--read-only", is_flag=True, help="The token may only read, whatever the user may.")
@click.option(
    "--expires",
    default="90d",
    show_default=True,
    help="Lifetime: 30m, 12h, 30d, 2w, or never.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the token and its id as JSON.")
def create_token(user: str, label: str, read_only: bool, expires: str, as_json: bool) -> None:
    """Create an API token and print it once: it is stored only as a digest."""
    from cairn.access.admin import issue_token

    with _audited("access.create_token"):
        new = issue_token(_store(), user, label=label, read_only=read_only, expires=expires)
    if as_json:
        _output.print_json({**_token_json(new.token), "token": new.secret})
        return
    click.echo(new.secret)
    click.echo(
        f"Token {new.token.id} for {user!r}"
        f"{' (read-only)' if read_only else ''}, {_expiry(new.token)}. Copy it now: it is "
        "not shown again. Sign in with `cairn login --server URL --token-stdin`.",
        err=True,
    )


@tokens.command("ls")
@click.option("--user", default=None, help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of tokens.")
def list_tokens(user: str | None, as_json: bool) -> None:
    """List tokens (ids, never secrets)."""
    found = _store().list_tokens(user)
    if as_json:
        _output.print_json([_token_json(t) for t in found])
        return
    _output.print_table(
        ["ID", "USER", "LABEL", "READ-ONLY", "CREATED (UTC)", "STATE"],
        [
            [
                t.id,
                t.user,
                t.label,
                _yes(t.read_only),
                _output.short_time(t.created_at),
                _state(t),
            ]
            for t in found
        ],
    )


@tokens.command("revoke")
@click.argument("token_id", help="The token's id (from `cairn tokens ls`).")
def revoke_token(token_id: str) -> None:
    """Revoke a token: the server refuses it from now on."""
    with _audited("access.revoke_token"):
        token = _store().revoke_token(token_id)
    click.echo(f"Revoked token {token.id} of {token.user!r}")


def _state(token: Token) -> str:
    import time

    if token.revoked_at is not None:
        return f"revoked {_output.short_time(token.revoked_at)}"
    if token.expires_at is not None and token.expires_at <= time.time() * 1000:
        return f"expired {_output.short_time(token.expires_at)}"
    return _expiry(token)


def _expiry(token: Token) -> str:
    if token.expires_at is None:
        return "never expires"
    return f"expires {_output.short_time(token.expires_at)}"


def _token_json(token: Token) -> dict[str, Any]:
    iso = _output.iso_time
    return {
        "id": token.id,
        "user": token.user,
        "label": token.label,
        "read_only": token.read_only,
        "created_at": iso(token.created_at),
        "expires_at": iso(token.expires_at),
        "revoked_at": iso(token.revoked_at),
    }


# -- grants --------------------------------------------------------------------------


@click.command("grant")
@click.argument("args", nargs=-1, help="USER LEVEL KIND:NAME (with --revoke: USER KIND:NAME).")
@click.option("--revoke", is_flag=True, help="Take the user's grant on the resource away.")
@click.option("--list", "list_", is_flag=True, help="List grants (filter with --user).")
@click.option("--user", "user_filter", default=None, help="With --list: only this user's.")
@click.option("--json", "as_json", is_flag=True, help="With --list: print a JSON array.")
def grant(
    args: tuple[str, ...], revoke: bool, list_: bool, user_filter: str | None, as_json: bool
) -> None:
    """Give a user read, edit or manage on one experiment, model, dataset or pipeline.

    Example: cairn grant alice edit model:churn
    """
    from cairn.access import admin

    store = _store()
    if list_:
        _list_grants(store, user_filter, args, as_json)
        return
    if revoke and len(args) in (2, 3):
        user, resource = args[0], args[-1]
        with _audited("access.revoke_grant", resource):
            admin.revoke_grant(store, user, resource, revoked_by=_actor())
        click.echo(f"Revoked {user}'s grant on {resource}")
        return
    if not revoke and len(args) == 3:
        with _audited("access.grant", args[2]):
            done = admin.grant(store, args[0], args[1], args[2], granted_by=_actor())
        click.echo(f"Granted {done.level} on {done.kind}:{done.name} to {done.user}")
        return
    raise click.UsageError(
        "give USER LEVEL KIND:NAME (e.g. alice edit model:churn), --revoke USER KIND:NAME, "
        "or --list"
    )


def _list_grants(
    store: AccessStore, user: str | None, args: tuple[str, ...], as_json: bool
) -> None:
    from cairn.access.admin import parse_resource

    kind = name = None
    if args:
        kind, name = parse_resource(args[0])
    found = store.list_grants(user=user, kind=kind, name=name)
    if as_json:
        _output.print_json(
            [
                {
                    "user": g.user,
                    "kind": g.kind,
                    "name": g.name,
                    "level": g.level,
                    "granted_by": g.granted_by,
                    "created_at": _output.iso_time(g.created_at),
                }
                for g in found
            ]
        )
        return
    _output.print_table(
        ["RESOURCE", "USER", "LEVEL", "GRANTED BY", "WHEN (UTC)"],
        [
            [f"{g.kind}:{g.name}", g.user, g.level, g.granted_by, _output.short_time(g.created_at)]
            for g in found
        ],
    )


# -- audit ---------------------------------------------------------------------------


@audit.command("ls")
@click.option("--since", default=None, help="Only entries since: 12h, 7d, or an ISO date/time.")
@click.option("--user", default=None, help="Only this user's entries.")
@click.option("--resource", default=None, help="Only this resource: KIND:NAME or KIND.")
@click.option("--limit", default=1000, show_default=True, help="At most this many entries.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of entries.")
def list_audit(
    since: str | None, user: str | None, resource: str | None, limit: int, as_json: bool
) -> None:
    """List audit entries, newest first: who changed what, when, from where, and how it
    ended (ok, noop, denied, error)."""
    from cairn.access.admin import audit_log

    found = audit_log(_store(), since=since, user=user, resource=resource, limit=limit)
    if as_json:
        _output.print_json(
            [
                {
                    "seq": e.seq,
                    "at": _output.iso_time(e.at),
                    "user": e.user,
                    "token_id": e.token_id,
                    "operation": e.operation,
                    "resource": f"{e.kind}:{e.resource}" if e.resource else e.kind,
                    "address": e.address,
                    "result": e.result,
                    "detail": e.detail,
                }
                for e in found
            ]
        )
        return
    _output.print_table(
        ["WHEN (UTC)", "USER", "OPERATION", "RESOURCE", "ADDRESS", "RESULT"],
        [
            [
                _output.short_time(e.at),
                e.user,
                e.operation,
                f"{e.kind}:{e.resource}" if e.resource else e.kind,
                e.address,
                e.result,
            ]
            for e in found
        ],
    )
