"""The registry store protocol and the records it keeps.

A registered model is a name (``churn``) with numbered versions (1, 2, ...). A version
points at a model directory in the :class:`~cairn.store.artifacts.ArtifactStore` by the
digest of its tree, and at the run that produced it. Aliases (``production``,
``staging``, any name) point at versions; every alias move is an :class:`AliasEvent`
written in the same transaction as the move, so history and state never disagree.

Every backend (SQL today, the REST client later) implements :class:`RegistryStore` with
the same behaviour; ``tests/store/test_registry_contract.py`` holds them to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from cairn.errors import InvalidInput

VersionStatus = Literal["READY", "ARCHIVED"]
AliasAction = Literal["promote", "rollback", "remove"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def check_model_name(name: str) -> str:
    """Return ``name`` if it is a valid registered model name, else raise ``InvalidInput``.

    Example:
        >>> check_model_name("churn")
        'churn'
    """
    if not _NAME.match(name) or ".." in name:
        raise InvalidInput(
            f"invalid model name {name!r}: use letters, digits, '.', '_' and '-' "
            "(no '/', '@' or spaces), starting with a letter or digit"
        )
    return name


def check_alias(alias: str) -> str:
    """Return ``alias`` if valid: a letter, then letters, digits, ``_`` or ``-``.

    Aliases cannot look like version numbers, so ``churn@3`` is never ambiguous.

    Example:
        >>> check_alias("production")
        'production'
    """
    if not _ALIAS.match(alias):
        raise InvalidInput(
            f"invalid alias {alias!r}: start with a letter, then letters, digits, '_' or '-'"
        )
    return alias


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A model name, its description and tags, and where its aliases point."""

    name: str
    created_at: int
    updated_at: int
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)  # alias -> version
    latest_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``cairn models ls --json``, the REST API); times in epoch ms."""
        return {
            "name": self.name,
            "description": self.description,
            "tags": dict(self.tags),
            "aliases": dict(self.aliases),
            "latest_version": self.latest_version,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class NewModelVersion:
    """What :meth:`RegistryStore.create_version` needs; the store assigns the number."""

    name: str
    digest: str  # tree digest of the model directory
    flavor: str
    source: str = ""  # what was registered: "runs:/<id>/model", a local path
    run_id: str | None = None
    size: int = 0
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    created_by: str = ""


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable model version; only its status, description and tags change."""

    name: str
    version: int
    digest: str
    flavor: str
    created_at: int
    source: str = ""
    run_id: str | None = None
    size: int = 0
    status: VersionStatus = "READY"
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    created_by: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        """``churn/3``: the form ``cairn models show`` and ``models:/`` URIs use."""
        return f"{self.name}/{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``cairn models ls NAME --json``, the REST API); times in epoch ms."""
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "status": self.status,
            "aliases": list(self.aliases),
            "flavor": self.flavor,
            "digest": self.digest,
            "size": self.size,
            "source": self.source,
            "run_id": self.run_id,
            "description": self.description,
            "tags": dict(self.tags),
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class AliasEvent:
    """One alias move: from which version to which, by whom, when and why.

    ``from_version`` is None when the alias was new; ``to_version`` is None when it was
    removed. ``seq`` orders events across the whole registry.
    """

    seq: int
    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: AliasAction
    actor: str
    reason: str
    created_at: int

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``cairn models history --json``, the REST API); ``at`` in epoch ms."""
        return {
            "seq": self.seq,
            "name": self.name,
            "alias": self.alias,
            "from": self.from_version,
            "to": self.to_version,
            "action": self.action,
            "actor": self.actor,
            "reason": self.reason,
            "at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of a gate check recorded on a model version.

    ``rules`` holds one JSON-ready object per rule: ``rule``, ``value``, ``limit``,
    ``passed`` and ``detail``.
    """

    name: str
    version: int
    passed: bool
    rules: tuple[Mapping[str, Any], ...]
    data: str = ""
    against: str | None = None
    gates_file: str = ""
    actor: str = ""
    created_at: int = 0
    id: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (in ``cairn models show --json`` under ``gates``)."""
        return {
            "passed": self.passed,
            "created_at": self.created_at,
            "data": self.data,
            "against": self.against,
            "gates_file": self.gates_file,
            "actor": self.actor,
            "rules": [dict(r) for r in self.rules],
        }


@runtime_checkable
class RegistryStore(Protocol):
    def create_model(
        self, name: str, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Register a new model name; ``AlreadyExists`` if it is taken."""
        ...

    def get_model(self, name: str) -> RegisteredModel:
        """The model with its aliases and latest version number; ``NotFound`` otherwise."""
        ...

    def list_models(self) -> list[RegisteredModel]:
        """Every registered model, by name."""
        ...

    def update_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> RegisteredModel:
        """Set the description and/or merge tags (an empty value removes a tag)."""
        ...

    def create_version(self, new: NewModelVersion) -> ModelVersion:
        """Add version N+1 of ``new.name``, creating the model name if it is new."""
        ...

    def get_version(self, name: str, version: int) -> ModelVersion:
        """One version with the aliases pointing at it; ``NotFound`` otherwise."""
        ...

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a model, oldest first; ``NotFound`` for an unknown model."""
        ...

    def update_version(
        self,
        name: str,
        version: int,
        *,
        status: VersionStatus | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Change status, description or tags. Archiving a version an alias points at
        raises ``InvalidInput`` naming the alias, and changes nothing."""
        ...

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int | None,
        *,
        actor: str = "",
        reason: str = "",
        action: AliasAction = "promote",
        expected: int | Literal["any"] | None = "any",
    ) -> AliasEvent:
        """Point ``alias`` at ``version`` (None removes it) and record the move.

        Moves of one model's aliases are serialized: two racing calls both succeed, in
        some order, and both appear in the history in that order. ``expected`` makes the
        move conditional on where the alias points now (``StoreError`` otherwise), which
        is how a rollback computed from the history stays correct under races. Pointing
        at an archived version raises ``InvalidInput``.
        """
        ...

    def get_alias(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at now, or None. One indexed lookup: cheap to poll."""
        ...

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every alias move of a model (or of one alias), oldest first."""
        ...

    def record_gate_result(self, result: GateResult) -> GateResult:
        """Store a gate outcome on a model version; returns it with id and time set."""
        ...

    def gate_results(self, name: str, version: int) -> list[GateResult]:
        """Gate outcomes recorded on a version, oldest first."""
        ...

    def referenced_digests(self) -> Iterator[str]:
        """Every model tree digest a version points at (``cairn gc`` keeps them)."""
        ...
