"""The vocabulary shared by the server's request guard and the access domain.

A request is made by a :class:`Principal` and needs an :class:`Action` on a
:class:`Resource`; ``cairn.access`` decides whether it may (raising
:class:`~cairn.errors.Unauthenticated` or :class:`~cairn.errors.PermissionDenied`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Ordered: ``manage`` implies ``edit`` implies ``read``.
Action = Literal["read", "edit", "manage"]
ACTIONS: tuple[Action, ...] = ("read", "edit", "manage")

#: ``server`` is the whole server (users, tokens, gc): only admins manage it.
ResourceKind = Literal["experiment", "model", "dataset", "pipeline", "server"]


@dataclass(frozen=True, slots=True)
class Resource:
    """What a request touches: ``kind`` and its name (an experiment's name, a registered
    model's name, a dataset's name); ``name`` is ``None`` for "all of that kind" (listing,
    or creating a new one)."""

    kind: ResourceKind
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. ``read_only`` tokens may only read, whatever the user may do."""

    user: str
    is_admin: bool = False
    token_id: str | None = None
    read_only: bool = False


#: The principal of a server started with ``--insecure-no-auth`` and of embedded use.
ANONYMOUS = Principal(user="anonymous", is_admin=True)
