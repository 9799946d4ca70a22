"""Conveniences of the top-level ``cairn`` API that span several domains.

They live above the domains so that no domain imports another one sideways: models do
not know the registry, so "log a model and register it" is composed here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cairn.models.packaging import ModelInfo
    from cairn.models.signature import Signature
    from cairn.store.registry import ModelVersion
    from cairn.workspace import Workspace


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    description: str = "",
    registered_name: str | None = None,
) -> ModelInfo:
    """Save ``model`` as an output of the active run and, with ``registered_name``,
    register it as the next version of that name in the run's workspace.

    See :func:`cairn.models.log_model` for the arguments.

    Example:
        >>> with cairn.start_run(experiment="churn"):  # doctest: +SKIP
        ...     info = cairn.log_model(pipeline, registered_name="churn")
        >>> info.version  # doctest: +SKIP
        1
    """
    from cairn.models.packaging import log_model as log_run_model
    from cairn.tracking.fluent import active_run

    info = log_run_model(
        model,
        name,
        input_example=input_example,
        signature=signature,
        flavor=flavor,
        description=description,
    )
    if registered_name is None:
        return info
    run = active_run()
    workspace = run.client.workspace if run is not None else None
    version, _ = register_model(info.uri, registered_name, workspace=workspace)
    return dataclasses.replace(info, version=version.version)


def register_model(
    source: str,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    workspace: Workspace | None = None,
) -> tuple[ModelVersion, str | None]:
    """Register ``source`` as the next version of ``name`` (:func:`cairn.registry.register`)
    and prepare its monitoring reference from the data its run logged.

    Returns the version (with the reference tags) and what happened to the reference
    (``None`` when the run logged no dataset): built now when the data is small, else
    pending until the first ``cairn monitor check``
    (:func:`cairn.monitoring.reference.prepare_reference`).
    """
    from cairn.monitoring.reference import prepare_reference
    from cairn.registry import register
    from cairn.workspace import resolve

    ws = resolve(workspace)
    version = register(source, name, description=description, tags=tags, workspace=ws)
    note = prepare_reference(version, ws)
    if note is not None:
        version = ws.registry.get_version(version.name, version.version)
    return version, note
