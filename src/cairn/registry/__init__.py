"""The model registry: versions, aliases with history, rollback, and quality gates.

    import cairn.registry as registry

    v = registry.register("runs:/6f1c.../model", "churn")          # churn/4
    registry.check_gates("churn", v.version, "gates.yaml")          # GateResult
    registry.promote("churn", v.version, "production", gates="gates.yaml")
    registry.rollback("churn", "production", reason="latency regression")
    registry.resolve_alias("churn", "production")                   # -> 3

Loading a registered model is :func:`cairn.models.load` (``models:/churn@production``).
"""

from __future__ import annotations

from cairn.registry.catalog import (
    alias_version,
    archive,
    describe,
    get_by_ref,
    get_model,
    get_version,
    history,
    list_models,
    list_versions,
    promote,
    register,
    remove_alias,
    resolve_alias,
    rollback,
    update_model,
    update_version,
)
from cairn.registry.gates import GateFailed, GateFileError, GateSpec, check_gates, parse_gates

__all__ = [
    "GateFailed",
    "GateFileError",
    "GateSpec",
    "alias_version",
    "archive",
    "check_gates",
    "describe",
    "get_by_ref",
    "get_model",
    "get_version",
    "history",
    "list_models",
    "list_versions",
    "parse_gates",
    "promote",
    "register",
    "remove_alias",
    "resolve_alias",
    "rollback",
    "update_model",
    "update_version",
]
