"""The vocabulary shared by the server's request guard and the access domain.

A request is made by a :class:`Principal` and needs an :class:`Action` on a
:class:`Resource`; ``cairn.access`` decides whether it may (raising
:class:`~cairn.errors.Unauthenticated` or :class:`~cairn.errors.PermissionDenied`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Literal, Protocol

#: Ordered: ``manage`` implies ``edit`` implies ``read``.
Action = Literal["read", "edit", "manage"]
ACTIONS: tuple[Action, ...] = ("read", "edit", "manage")

#: ``server`` is the whole server (users, gc, the audit log): only admins touch it.
#: ``user`` is one user's own records (their tokens, their grants): the user and admins.
#: ``artifact`` is the content-addressed object store, shared by every record: any
#: authenticated caller reads it, any token that may write uploads to it.
ResourceKind = Literal["experiment", "model", "dataset", "pipeline", "server", "user", "artifact"]


@dataclass(frozen=True, slots=True)
class Resource:
    """What a request touches: ``kind`` and its name (an experiment's name, a registered
    model's name, a dataset's name); ``name`` is ``None`` for "all of that kind" (listing,
    or creating a new one)."""

    kind: ResourceKind
    name: str | None = None
    #: The name was read from a stored record (the resource exists), so a change to it
    #: creates nothing: the guard need not look it up again.
    known: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking. ``read_only`` tokens may only read, whatever the user may do."""

    user: str
    is_admin: bool = False
    token_id: str | None = None
    read_only: bool = False


#: The principal of a server started with ``--insecure-no-auth`` and of embedded use.
ANONYMOUS = Principal(user="anonymous", is_admin=True)


class Guard(Protocol):
    """What the server asks on every request. ``cairn server`` holds one guard: an open
    one (``--insecure-no-auth``) or, by default, the token guard of :mod:`cairn.access`.

    The server calls, in order: :meth:`authenticate` with the request's
    ``Authorization`` header (``None`` when absent); :meth:`authorize` with the action
    and resource the route declares; and, for a mutation, runs the store call inside
    :meth:`mutation`, which records the audit entry (in the same database transaction as
    the change when the store is SQL) and records a failed attempt when the block
    raises.
    """

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal behind ``Authorization: Bearer <token>``; raises
        :class:`~cairn.errors.Unauthenticated` (never echoing the token)."""
        ...

    def known(self, authorization: str | None) -> Principal | None:
        """What :meth:`authenticate` would answer, when the guard can tell without I/O
        (a token it checked a moment ago); ``None`` otherwise. Lets the server skip a
        thread hop on the hot path."""
        ...

    def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        """Returns when allowed; raises :class:`~cairn.errors.PermissionDenied`."""
        ...

    def allowed(self, principal: Principal, action: Action, resource: Resource) -> bool:
        """:meth:`authorize` as a yes/no, recording nothing (for filtering listings)."""
        ...

    def action_for_alias(self, alias: str) -> Action:
        """What moving ``alias`` of a model needs (``manage`` for a protected alias)."""
        ...

    def mutation(
        self, principal: Principal, address: str, operation: str, resource: Resource
    ) -> AbstractContextManager[None]:
        """A scope around one mutation (``operation`` names the route, e.g.
        ``tracking.create_run``) for the audit log."""
        ...

    def record(
        self,
        principal: Principal,
        address: str,
        operation: str,
        resource: Resource,
        result: Literal["ok", "error"],
        detail: str = "",
    ) -> None:
        """Audit a change made outside the metadata database (an artifact object
        published), after it was made, in a transaction of its own."""
        ...


class OpenGuard:
    """Everyone is :data:`ANONYMOUS` and may do everything; nothing is audited."""

    def authenticate(self, authorization: str | None) -> Principal:
        return ANONYMOUS

    def known(self, authorization: str | None) -> Principal | None:
        return ANONYMOUS

    def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        return None

    def allowed(self, principal: Principal, action: Action, resource: Resource) -> bool:
        return True

    def action_for_alias(self, alias: str) -> Action:
        return "edit"

    def mutation(
        self, principal: Principal, address: str, operation: str, resource: Resource
    ) -> AbstractContextManager[None]:
        return nullcontext()

    def record(
        self,
        principal: Principal,
        address: str,
        operation: str,
        resource: Resource,
        result: Literal["ok", "error"],
        detail: str = "",
    ) -> None:
        return None
