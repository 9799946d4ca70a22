"""Mirroring dataset versions between the workspace's artifact store and a remote one.

The remote is any artifact store URI (``s3://bucket/prefix``, another folder). It comes
from ``--remote``, else ``CAIRN_DATA_REMOTE``, else ``[data] remote`` in ``cairn.toml``
(with ``[data.remote_options]`` passed to fsspec). Only objects the other side lacks are
transferred; the version records stay in the metadata store, which teams share.
"""

from __future__ import annotations

import os
import tomllib
from typing import TYPE_CHECKING, Any

from cairn.config import CONFIG_FILE
from cairn.errors import ConfigError
from cairn.store.datasets import DatasetVersion, parse_ref

if TYPE_CHECKING:
    from cairn.store.artifacts import ArtifactStore, TransferReport
    from cairn.workspace import Workspace

ENV_REMOTE = "CAIRN_DATA_REMOTE"


def remote_store(ws: Workspace, uri: str | None = None) -> ArtifactStore:
    """The remote artifact store named by ``uri`` or the configuration."""
    from cairn.config import resolve_artifact_uri
    from cairn.store.artifacts import ArtifactStore

    options: dict[str, Any] = {}
    section: dict[str, Any] = {}
    if ws.root is not None and (ws.root / CONFIG_FILE).is_file():
        data = tomllib.loads((ws.root / CONFIG_FILE).read_text(encoding="utf-8"))
        section = data.get("data", {}) if isinstance(data.get("data", {}), dict) else {}
        options = (
            section.get("remote_options", {})
            if isinstance(section.get("remote_options"), dict)
            else {}
        )
    chosen = uri or os.environ.get(ENV_REMOTE) or section.get("remote")
    if not chosen:
        raise ConfigError(
            f"no data remote: pass --remote URI, set {ENV_REMOTE}, or add "
            f'[data] remote = "s3://bucket/prefix" to {CONFIG_FILE}'
        )
    return ArtifactStore(resolve_artifact_uri(str(chosen), ws.root), options)


def selected_versions(ws: Workspace, refs: list[str] | None) -> list[DatasetVersion]:
    """Versions named by ``refs`` (``churn`` means all its versions); all when empty."""
    store = ws.datasets
    if not refs:
        return [v for s in store.list_datasets() for v in store.list_versions(s.name)]
    out: list[DatasetVersion] = []
    for ref in refs:
        name, number = parse_ref(ref)
        if number is None and "@" not in ref:
            out.extend(store.list_versions(name))
        else:
            out.append(store.get_version(name, number))
    return out


def digests_of(versions: list[DatasetVersion]) -> list[str]:
    found: dict[str, None] = {}
    for v in versions:
        found[v.digest] = None
        if v.profile_digest:
            found[v.profile_digest] = None
    return list(found)


def push(ws: Workspace, refs: list[str] | None = None, remote: str | None = None) -> TransferReport:
    """Copy the objects of the selected versions that the remote lacks to it."""
    return ws.artifacts.copy_to(remote_store(ws, remote), digests_of(selected_versions(ws, refs)))


def pull(ws: Workspace, refs: list[str] | None = None, remote: str | None = None) -> TransferReport:
    """Copy the objects of the selected versions that the workspace lacks from the remote."""
    return remote_store(ws, remote).copy_to(ws.artifacts, digests_of(selected_versions(ws, refs)))
