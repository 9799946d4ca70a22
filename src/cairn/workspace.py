"""A workspace: resolved settings plus the stores they point at, opened lazily.

This module is the composition root between ``store/`` and the domains, and the one place
that decides which workspace a call acts on:

1. the ``workspace=`` argument every public domain function takes, if given;
2. else the process's workspace, set by :func:`use` (``cairn.use(path)``) or
   ``cairn.init(path)``;
3. else the workspace found from the current directory (``cairn.toml`` there or in a
   parent, or ``CAIRN_WORKSPACE``).

Domains call :func:`resolve` and nothing else, so the tracking, data, models, registry
and serving APIs all land in the same workspace.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.config import (
    ENV_ARTIFACT_URI,
    ENV_TRACKING_URI,
    ENV_WORKSPACE,
    STATE_DIR,
    Settings,
    load_settings,
    write_default_config,
)
from cairn.credentials import save_tracking_password, split_password

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from cairn.store.artifacts import ArtifactStore
    from cairn.store.base import MetadataBackend, TrackingStore
    from cairn.store.datasets import DatasetStore
    from cairn.store.registry import RegistryStore

#: The metadata domains whose records reference artifact objects; gc keeps what any
#: of them references, so a domain that records digests must be listed here.
REFERENCING_DOMAINS = ("tracking", "datasets", "registry")
#: Model-version tags whose value is the digest of an artifact the version relies on
#: (its monitoring reference, :mod:`cairn.monitoring.reference`): gc keeps those
#: artifacts as it keeps the version's own model tree.
DIGEST_TAGS = ("cairn.monitoring.reference",)

_current: dict[tuple[str, str], Workspace] = {}
_by_location: dict[tuple[str | None, ...], Workspace] = {}
_current_lock = threading.Lock()
_used: Workspace | None = None  # set by use(): wins over the current directory


class Workspace:
    """Settings plus the stores they point at.

    Opening the metadata store never creates a database (a missing SQLite file is an
    error naming it); only :meth:`init` does, through ``create_database``.
    """

    def __init__(self, settings: Settings, *, create_database: bool = False) -> None:
        self.settings = settings
        self._create_database = create_database

    @property
    def root(self) -> Path | None:
        return self.settings.root

    def __repr__(self) -> str:
        return f"<Workspace {self.root or self.settings.tracking_uri}>"

    @cached_property
    def metadata(self) -> MetadataBackend:
        from cairn.config import is_server_uri
        from cairn.store import open_metadata

        uri = self.settings.tracking_uri
        if is_server_uri(uri):
            return open_metadata(
                uri,
                ca_bundle=self.settings.ca_bundle,
                run_start_delay=self.settings.run_start_delay,
            )
        return open_metadata(uri, create=self._create_database)

    @property
    def tracking(self) -> TrackingStore:
        return self.metadata.tracking

    @property
    def datasets(self) -> DatasetStore:
        return self.metadata.datasets

    @property
    def registry(self) -> RegistryStore:
        return self.metadata.registry

    @cached_property
    def artifacts(self) -> ArtifactStore:
        from cairn.store.artifacts import ArtifactStore

        return ArtifactStore(
            self.settings.artifact_uri,
            self.settings.storage_options,
            fsync=self.settings.artifact_fsync,
        )

    def referenced_digests(self) -> set[str]:
        """Every digest any record points at: what ``cairn gc`` keeps.

        Fails closed: if any domain's references cannot be read, this raises rather
        than return a partial set, which gc would take as "the rest is garbage".
        """
        from cairn.errors import CairnError, StoreError

        digests: set[str] = set()
        sources: list[tuple[str, Callable[[], Iterable[str]]]] = [
            (domain, functools.partial(self._domain_digests, domain))
            for domain in REFERENCING_DOMAINS
        ]
        sources.append(("model-version tag", self._tagged_digests))
        for domain, read in sources:
            try:
                digests.update(read())
            except CairnError:
                raise
            except Exception as exc:
                raise StoreError(
                    f"cannot read which objects the {domain} records reference "
                    f"({type(exc).__name__}: {exc}); nothing was deleted: every domain's "
                    "references are needed, so check the Cairn installation and the "
                    "metadata store, then run again"
                ) from exc
        return digests

    def _domain_digests(self, domain: str) -> Iterable[str]:
        store = getattr(self.metadata, domain)
        found: Iterable[str] = store.referenced_digests()
        return found

    def _tagged_digests(self) -> set[str]:
        """The artifacts named by :data:`DIGEST_TAGS` on any model version."""
        found: set[str] = set()
        registry = self.registry
        for model in registry.list_models():
            for version in registry.list_versions(model.name):
                found.update(v for t in DIGEST_TAGS if (v := version.tags.get(t)))
        return found

    def close(self) -> None:
        if "metadata" in self.__dict__:
            self.metadata.close()

    @classmethod
    def init(
        cls,
        path: str | os.PathLike[str],
        tracking_uri: str | None = None,
        artifact_uri: str | None = None,
    ) -> Workspace:
        """Create ``cairn.toml`` and ``.cairn/`` in ``path``; the database starts at head.

        A password in ``tracking_uri`` goes to the user's credentials file, and only once
        the stores opened; cairn.toml gets the URI without it.
        """
        path = Path(path).resolve()
        path.mkdir(parents=True, exist_ok=True)
        plain, password = split_password(tracking_uri) if tracking_uri else (None, None)
        config = write_default_config(path, plain, artifact_uri)
        state = path / STATE_DIR
        state_existed = state.exists()
        try:
            state.mkdir(exist_ok=True)
            (state / ".gitignore").write_text("*\n", encoding="utf-8")
            # The flags win over CAIRN_* variables, as everywhere; the password stays in
            # memory until the stores have opened.
            ws = cls(
                load_settings(path, tracking_uri=tracking_uri, artifact_uri=artifact_uri),
                create_database=True,
            )
            ws.metadata.ensure_schema()
            ws.artifacts  # noqa: B018  (creates the folder for a local store)
            if plain is not None and password is not None:
                save_tracking_password(plain, password)
        except BaseException:
            # Stores that cannot be opened (a bad URI, a server down) leave no half workspace
            # behind that a second `cairn init` would refuse.
            config.unlink(missing_ok=True)
            if not state_existed:
                shutil.rmtree(state, ignore_errors=True)
            raise
        return ws


def use(target: str | os.PathLike[str] | Workspace) -> Workspace:
    """Make ``target`` the workspace of this process, whatever the current directory.

    ``target`` is an existing workspace's folder (``cairn.toml`` there or in a parent)
    or a :class:`Workspace`. Every domain function without ``workspace=`` uses it until
    :func:`stop_using`.

    Example:
        >>> cairn.use("/srv/churn")  # doctest: +SKIP
        <Workspace /srv/churn>
        >>> cairn.data.add("export.csv", name="churn")  # lands in /srv/churn  # doctest: +SKIP
    """
    global _used
    ws = target if isinstance(target, Workspace) else current(Path(target).expanduser())
    with _current_lock:
        _used = ws
    return ws


def stop_using() -> None:
    """Go back to finding the workspace from the current directory (undoes :func:`use`)."""
    global _used
    with _current_lock:
        _used = None


def resolve(workspace: Workspace | None = None) -> Workspace:
    """The workspace a domain call acts on: ``workspace`` if given, else :func:`current`."""
    return workspace if workspace is not None else current()


def current(start: Path | None = None) -> Workspace:
    """The workspace of this process: :func:`use`'s if set (and no ``start`` is given),
    else the one for ``start`` or the current directory and the environment.

    Cached per resolved URIs.

    Settings are read once per (directory, ``CAIRN_*`` variables): the fluent API asks
    for the workspace on every run, and walking up to ``cairn.toml`` and parsing it each
    time would cost more than creating the run. ``reset()`` forgets the cache.
    """
    if start is None:
        used = _used
        if used is not None:
            return used
    location = (
        str(start) if start is not None else os.getcwd(),
        os.environ.get(ENV_WORKSPACE),
        os.environ.get(ENV_TRACKING_URI),
        os.environ.get(ENV_ARTIFACT_URI),
    )
    ws = _by_location.get(location)
    if ws is not None:
        return ws
    settings = load_settings(start)
    key = (settings.tracking_uri, settings.artifact_uri)
    with _current_lock:
        ws = _current.get(key)
        if ws is None:
            ws = _current[key] = Workspace(settings)
        _by_location[location] = ws
        return ws


def reset() -> None:
    """Forget cached workspaces and :func:`use` (tests, or after changing CAIRN_* variables)."""
    global _used
    with _current_lock:
        for ws in {id(w): w for w in [*_current.values(), *filter(None, [_used])]}.values():
            ws.close()
        _current.clear()
        _by_location.clear()
        _used = None
