"""Storage: metadata backends chosen by URI scheme, and the content-addressed ArtifactStore.

The registry of backends is data: ``(scheme, "module:Class")`` pairs imported only when
a URI with that scheme is opened. A backend object implements
:class:`~cairn.store.base.MetadataBackend`: one store per domain (``tracking``,
``datasets``, ``registry``, ``pipelines``, ``schedules``, ``access``), each implementing
that domain's protocol, plus ``ensure_schema`` and ``close``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, cast

from cairn.credentials import mask_uri
from cairn.errors import ConfigError

if TYPE_CHECKING:
    from cairn.store.base import MetadataBackend
    from cairn.store.sql.database import SqlDatabase

    def _sql_is_a_backend(db: SqlDatabase) -> MetadataBackend:
        # mypy checks here that the SQL backend implements the whole protocol.
        return db


METADATA_BACKENDS: list[tuple[str, str]] = [
    ("sqlite", "cairn.store.sql.database:SqlDatabase"),
    ("postgresql", "cairn.store.sql.database:SqlDatabase"),
    ("postgres", "cairn.store.sql.database:SqlDatabase"),
    # The REST client of `cairn server`; artifacts then go through the server too.
    ("http", "cairn.store.rest.client:RestBackend"),
    ("https", "cairn.store.rest.client:RestBackend"),
]


#: The members of :class:`~cairn.store.base.MetadataBackend`, checked on the class (not
#: an instance: reading a store property would open it) before a backend is used.
BACKEND_MEMBERS = (
    "tracking",
    "datasets",
    "registry",
    "pipelines",
    "schedules",
    "access",
    "alerts",
    "ensure_schema",
    "close",
)


def scheme_of(uri: str) -> str:
    head = uri.split("://", 1)[0] if "://" in uri else ""
    return head.split("+", 1)[0].lower()


def open_metadata(uri: str, **kwargs: Any) -> MetadataBackend:
    """Open the metadata backend for ``uri`` (``sqlite:///...``, ``postgresql://...``).

    A database is only created with ``create=True`` (what ``cairn init`` passes); opening
    a SQLite file that does not exist raises :class:`ConfigError` naming it.
    """
    scheme = scheme_of(uri)
    for name, target in METADATA_BACKENDS:
        if name == scheme:
            module_name, _, attr = target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                extra = "server" if scheme in ("http", "https") else "postgres"
                raise ConfigError(
                    f"the {scheme!r} metadata backend needs a module that is not installed "
                    f"({exc.name}); install `cairn-mlops[{extra}]`"
                ) from None
            backend_class = getattr(module, attr)
            missing = [m for m in BACKEND_MEMBERS if not hasattr(backend_class, m)]
            if missing:
                raise ConfigError(
                    f"the {scheme!r} metadata backend {target} does not implement "
                    f"MetadataBackend: it lacks {', '.join(missing)}; fix METADATA_BACKENDS "
                    "or the backend class"
                )
            return cast("MetadataBackend", backend_class(uri, **kwargs))
    known = ", ".join(sorted({n for n, _ in METADATA_BACKENDS}))
    raise ConfigError(
        f"unknown tracking URI scheme {scheme or '(none)'!r} in {mask_uri(uri)!r}; "
        f"use one of: {known}"
    )
