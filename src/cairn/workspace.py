"""A workspace: resolved settings plus the stores they point at, opened lazily."""

from __future__ import annotations

import os
import shutil
import threading
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from cairn.store.artifacts import ArtifactStore
    from cairn.store.base import TrackingStore

#: The metadata domains whose records reference artifact objects; gc keeps what any
#: of them references, so a domain that records digests must be listed here.
REFERENCING_DOMAINS = ("tracking", "datasets", "registry")

_current: dict[tuple[str, str], Workspace] = {}
_by_location: dict[tuple[str | None, ...], Workspace] = {}
_current_lock = threading.Lock()


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

    @cached_property
    def metadata(self) -> Any:
        from cairn.store import open_metadata

        return open_metadata(self.settings.tracking_uri, create=self._create_database)

    @property
    def tracking(self) -> TrackingStore:
        return self.metadata.tracking  # type: ignore[no-any-return]

    @property
    def datasets(self) -> Any:
        return self.metadata.datasets

    @property
    def registry(self) -> Any:
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
        for domain in REFERENCING_DOMAINS:
            try:
                digests.update(getattr(self.metadata, domain).referenced_digests())
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


def current(start: Path | None = None) -> Workspace:
    """The workspace for the current directory and environment (cached per resolved URIs).

    Settings are read once per (directory, ``CAIRN_*`` variables): the fluent API asks
    for the workspace on every run, and walking up to ``cairn.toml`` and parsing it each
    time would cost more than creating the run. ``reset()`` forgets the cache.
    """
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
    """Forget cached workspaces (tests, or after changing CAIRN_* variables)."""
    with _current_lock:
        for ws in _current.values():
            ws.close()
        _current.clear()
        _by_location.clear()
