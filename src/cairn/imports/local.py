"""Artifact locations on this machine: ``file://`` URIs and plain paths."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse


def local_path(uri: str) -> Path | None:
    """The local path ``uri`` names, or None for a remote scheme (s3://, http://...)."""
    if not uri:
        return None
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    if "://" in uri or uri.split(":", 1)[0] in ("mlflow-artifacts", "models", "runs"):
        return None
    return Path(uri)


@contextlib.contextmanager
def local_tree(uri: str) -> Iterator[Path | None]:
    """The local path of ``uri`` (which may not exist: MLflow makes a run's artifact
    folder only when something is logged), or None when ``uri`` is not on this machine."""
    yield local_path(uri)
