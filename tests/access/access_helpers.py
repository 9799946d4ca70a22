"""Helpers shared by the access tests."""

from __future__ import annotations

from collections.abc import Callable

from cairn.access.admin import NewCredential, issue_token
from cairn.errors import NotFound
from cairn.store.sql.database import SqlDatabase


def user_maker(db: SqlDatabase) -> Callable[..., NewCredential]:
    """``make("alice", admin=False, read_only=False, expires="1d")`` -> a new token of
    ``alice`` (created as a user the first time)."""

    def make(
        name: str, *, admin: bool = False, read_only: bool = False, expires: str | None = "1d"
    ) -> NewCredential:
        try:
            db.access.get_user(name)
        except NotFound:
            db.access.create_user(name, is_admin=admin)
        return issue_token(db.access, name, read_only=read_only, expires=expires)

    return make
