"""A :class:`~cairn.workspace.Workspace` over stores that are already open.

The server holds one metadata backend and one artifact store; the domain functions the
UI calls (``cairn.registry.promote`` and friends) take a workspace. This one wraps the
server's stores and names the signed-in user as the actor of what it changes.
"""

from __future__ import annotations

from cairn.config import Settings
from cairn.store.artifacts import ArtifactStore
from cairn.store.base import MetadataBackend
from cairn.workspace import Workspace


def workspace_for(
    backend: MetadataBackend, artifacts: ArtifactStore, user: str | None
) -> Workspace:
    """A workspace whose stores are ``backend`` and ``artifacts`` and whose actor is
    ``user`` (None: the local login name, as on the command line). Never close it: the
    stores belong to the server."""
    settings = Settings(root=None, tracking_uri="", artifact_uri=artifacts.uri, user=user)
    ws = Workspace(settings)
    # Both are cached properties: filling them in skips opening new stores.
    ws.__dict__["metadata"] = backend
    ws.__dict__["artifacts"] = artifacts
    return ws
