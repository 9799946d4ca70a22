"""Bring history from other tools into a Cairn workspace.

:func:`import_mlflow` reads an MLflow store (database, ``mlruns`` folder or server) and
:func:`import_dvc` a DVC repository's tracked data; both are idempotent and return an
:class:`~cairn.imports.common.ImportSummary`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ImportSummary", "import_dvc", "import_mlflow"]


def __getattr__(name: str) -> Any:
    # Lazy: `import cairn.imports` costs nothing until an importer runs.
    if name == "import_mlflow":
        from cairn.imports.mlflow import import_mlflow

        return import_mlflow
    if name == "import_dvc":
        from cairn.imports.dvc import import_dvc

        return import_dvc
    if name == "ImportSummary":
        from cairn.imports.common import ImportSummary

        return ImportSummary
    raise AttributeError(f"module 'cairn.imports' has no attribute {name!r}")
