"""Registry operations: register, describe, promote, roll back, archive.

Thin rules over :class:`~cairn.store.registry.RegistryStore`: the store keeps state
and history consistent (one transaction per move, moves serialized per model); this
module decides *what* to move (gates before a promotion, the previous holder for a
rollback) and gathers what the registry knows about a version for ``show`` and cards.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput, NotFound, StoreError

if TYPE_CHECKING:
    from cairn.registry.gates import GateSpec
    from cairn.store.registry import AliasEvent, ModelVersion, RegisteredModel, RegistryStore
    from cairn.workspace import Workspace

ROLLBACK_RETRIES = 3


def workspace_or_current(workspace: Workspace | None = None) -> Workspace:
    """The workspace a registry call acts on (see :func:`cairn.workspace.resolve`)."""
    from cairn.workspace import resolve

    return resolve(workspace)


def registry_store(ws: Workspace) -> RegistryStore:
    """The workspace's registry store."""
    return ws.registry


def current_actor(ws: Workspace) -> str:
    """Who is acting: ``CAIRN_USER`` (settings), else the login name."""
    if ws.settings.user:
        return ws.settings.user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return ""


def parse_version(name: str, version: int | str, ws: Workspace) -> int:
    """A version number from ``3``, ``"3"``, ``"latest"`` or an alias (``production`` or
    ``@production``): :func:`cairn.refs.resolve_version`."""
    from cairn.refs import resolve_version

    return resolve_version(name, version, workspace=ws)


def get_by_ref(ref: str, workspace: Workspace | None = None) -> ModelVersion:
    """The version a model reference names (``churn``, ``churn/3``, ``churn@production``,
    ``models:/...``), with :mod:`cairn.refs` meanings: a bare name is the latest version.

    Example:
        >>> cairn.registry.get_by_ref("churn@production").version  # doctest: +SKIP
        3
    """
    from cairn.refs import resolve

    ws = workspace_or_current(workspace)
    resolved = resolve(ref, ws)
    if resolved.version is None:
        raise InvalidInput(
            f"{ref!r} is not a registered model version; give NAME, NAME/VERSION or NAME@ALIAS"
        )
    return registry_store(ws).get_version(resolved.name, resolved.version)


def register(
    source: str,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    workspace: Workspace | None = None,
) -> ModelVersion:
    """Register the model at ``source`` as the next version of ``name``.

    ``source`` is any model reference of :mod:`cairn.refs`: ``runs:/<id or unique id
    prefix>/model``, another version (``models:/other/2``, ``other@production``) or a
    local model directory (stored in the artifact store first). The name is created on
    first use.

    Example:
        >>> v = cairn.registry.register("runs:/6f1c.../model", "churn")  # doctest: +SKIP
        >>> v.version  # doctest: +SKIP
        4
    """
    from cairn.models.loading import manifest_for_digest
    from cairn.models.manifest import read_manifest, verify_files
    from cairn.refs import resolve
    from cairn.store.registry import NewModelVersion, check_model_name

    check_model_name(name)
    ws = workspace_or_current(workspace)
    resolved = resolve(source, ws)
    if resolved.path is not None:
        directory = resolved.path
        manifest = read_manifest(directory)
        verify_files(directory, manifest)
        stored = ws.artifacts.put_tree(directory)
        digest, size, origin = stored.digest, stored.size, str(Path(directory).resolve())
    else:
        assert resolved.digest is not None
        manifest = manifest_for_digest(ws, resolved.digest)
        digest, size, origin = resolved.digest, ws.artifacts.info(resolved.digest).size, source
    _refuse_a_deleted_run(ws, resolved.run_id or manifest.run_id)
    return registry_store(ws).create_version(
        NewModelVersion(
            name=name,
            digest=digest,
            flavor=manifest.flavor,
            source=origin,
            run_id=resolved.run_id or manifest.run_id,
            size=size,
            description=description,
            tags=dict(tags or {}),
            created_by=current_actor(ws),
        )
    )


def _refuse_a_deleted_run(ws: Workspace, run_id: str | None) -> None:
    """A version's lineage must not start at a run waiting to be purged.

    A run id this workspace does not know (a model folder saved elsewhere) is fine: the
    version then records where it came from, as before.
    """
    if not run_id:
        return
    try:
        run = ws.tracking.get_run(run_id)
    except NotFound:
        return
    if run.is_deleted:
        short = run.id[:12]
        raise InvalidInput(
            f"run {short} was deleted by {run.deleted_by or 'someone'}; `cairn gc` purges it "
            f"after its retention, so a version registered from it would lose its lineage: "
            f"restore it first (`cairn runs restore {short}`)"
        )


def get_model(name: str, workspace: Workspace | None = None) -> RegisteredModel:
    return registry_store(workspace_or_current(workspace)).get_model(name)


def list_models(workspace: Workspace | None = None) -> list[RegisteredModel]:
    return registry_store(workspace_or_current(workspace)).list_models()


def get_version(name: str, version: int | str, workspace: Workspace | None = None) -> ModelVersion:
    ws = workspace_or_current(workspace)
    return registry_store(ws).get_version(name, parse_version(name, version, ws))


def list_versions(name: str, workspace: Workspace | None = None) -> list[ModelVersion]:
    return registry_store(workspace_or_current(workspace)).list_versions(name)


def resolve_alias(name: str, alias: str, workspace: Workspace | None = None) -> int:
    """The version ``alias`` points at now; ``NotFound`` if it points nowhere.

    One indexed read, cheap enough to poll (the model server does, to follow moves).

    Example:
        >>> cairn.registry.resolve_alias("churn", "production")  # doctest: +SKIP
        3
    """
    from cairn.refs import alias_target

    return alias_target(name, alias, workspace=workspace_or_current(workspace))


def alias_version(name: str, alias: str, workspace: Workspace | None = None) -> int | None:
    """Like :func:`resolve_alias` but None instead of an error: for polling loops."""
    return registry_store(workspace_or_current(workspace)).get_alias(name, alias)


def promote(
    name: str,
    version: int | str,
    alias: str,
    *,
    reason: str = "",
    gates: str | Path | Mapping[str, Any] | GateSpec | None = None,
    data: str | None = None,
    workspace: Workspace | None = None,
) -> AliasEvent:
    """Point ``alias`` at ``version``; with ``gates``, only if every gate passes.

    The gates compare against the alias being moved. A failing gate raises
    :class:`~cairn.registry.gates.GateFailed` and moves nothing (the result is
    recorded on the version either way).

    Example:
        >>> cairn.registry.promote("churn", 4, "production", gates="gates.yaml")  # doctest: +SKIP
    """
    from cairn.registry.gates import GateFailed, check_gates

    ws = workspace_or_current(workspace)
    number = parse_version(name, version, ws)
    target = registry_store(ws).get_version(name, number)
    if target.status == "ARCHIVED":
        raise InvalidInput(
            f"{name}/{number} is archived; an alias cannot point at it "
            f"(restore it with `cairn models archive {name} {number} --restore`)"
        )
    if gates is not None:
        result = check_gates(
            name, number, gates, against=alias, data=data, record=True, workspace=ws
        )
        if not result.passed:
            failed = [r for r in result.rules if not r["passed"]]
            summary = "; ".join(
                f"{r['rule']} = {_short(r['value'])} (limit {r['limit']})"
                + (f": {r['detail']}" if r["detail"] and r["value"] is None else "")
                for r in failed
            )
            raise GateFailed(
                f"not promoting {name}/{number} to {alias}: {len(failed)} gate rule(s) "
                f"failed: {summary}",
                result,
            )
    return registry_store(ws).set_alias(
        name, alias, number, actor=current_actor(ws), reason=reason, action="promote"
    )


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def rollback_target(events: list[AliasEvent], current: int | None) -> int | None:
    """The version an alias held before its current one, reading history as a stack.

    Promotions push, rollbacks pop, removals clear: rolling back twice after three
    promotions lands on the first version, not back on the third.

    Example:
        >>> from cairn.store.registry import AliasEvent as E
        >>> h = [E(1, "m", "p", None, 1, "promote", "", "", 0),
        ...      E(2, "m", "p", 1, 2, "promote", "", "", 0)]
        >>> rollback_target(h, 2)
        1
    """
    stack: list[int] = []
    for event in events:
        if event.to_version is None:
            stack = []
        elif event.action == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != event.to_version:
                stack = [event.to_version]
        elif not stack or stack[-1] != event.to_version:
            stack.append(event.to_version)
    if not stack or stack[-1] != current:
        stack = [*stack, current] if current is not None else stack
    return stack[-2] if len(stack) >= 2 else None


def rollback(
    name: str, alias: str, *, reason: str = "", workspace: Workspace | None = None
) -> AliasEvent:
    """Move ``alias`` back to the version it held before the current one.

    Example:
        >>> cairn.registry.rollback("churn", "production", reason="p99 doubled")  # doctest: +SKIP
    """
    ws = workspace_or_current(workspace)
    for attempt in range(ROLLBACK_RETRIES):
        current = registry_store(ws).get_alias(name, alias)
        if current is None:
            registry_store(ws).get_model(name)
            raise NotFound(f"model {name!r} has no alias {alias!r} to roll back")
        target = rollback_target(registry_store(ws).alias_history(name, alias), current)
        if target is None:
            raise InvalidInput(
                f"alias {alias!r} of {name} has held only version {current}: nothing to roll "
                "back to"
            )
        try:
            return registry_store(ws).set_alias(
                name,
                alias,
                target,
                actor=current_actor(ws),
                reason=reason,
                action="rollback",
                expected=current,
            )
        except StoreError:
            if attempt == ROLLBACK_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def history(
    name: str, alias: str | None = None, workspace: Workspace | None = None
) -> list[AliasEvent]:
    """Every alias move of ``name`` (or of one alias), oldest first."""
    return registry_store(workspace_or_current(workspace)).alias_history(name, alias)


def archive(
    name: str, version: int | str, *, restore: bool = False, workspace: Workspace | None = None
) -> ModelVersion:
    """Archive a version (refused while an alias points at it), or restore it."""
    ws = workspace_or_current(workspace)
    number = parse_version(name, version, ws)
    return registry_store(ws).update_version(
        name, number, status="READY" if restore else "ARCHIVED"
    )


def update_model(
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    workspace: Workspace | None = None,
) -> RegisteredModel:
    """Set a model's description and/or merge tags (an empty value removes a tag)."""
    ws = workspace_or_current(workspace)
    return registry_store(ws).update_model(name, description=description, tags=tags)


def update_version(
    name: str,
    version: int | str,
    *,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    workspace: Workspace | None = None,
) -> ModelVersion:
    """Set a version's description and/or merge tags; ``version`` as in :func:`get_version`."""
    ws = workspace_or_current(workspace)
    number = parse_version(name, version, ws)
    return registry_store(ws).update_version(name, number, description=description, tags=tags)


def remove_alias(
    name: str, alias: str, *, reason: str = "", workspace: Workspace | None = None
) -> AliasEvent:
    """Delete an alias (recorded in the history like any move)."""
    ws = workspace_or_current(workspace)
    return registry_store(ws).set_alias(name, alias, None, actor=current_actor(ws), reason=reason)


def describe(name: str, version: int | str, workspace: Workspace | None = None) -> dict[str, Any]:
    """What the registry knows about a version, JSON-ready: the version, its manifest
    (signature, environment), its run (metrics, params, datasets, git commit) and the
    gate results recorded on it. ``cairn models show`` and model cards use this."""
    from cairn.models.loading import manifest_for_digest

    ws = workspace_or_current(workspace)
    v = registry_store(ws).get_version(name, parse_version(name, version, ws))
    model = registry_store(ws).get_model(name)
    manifest = manifest_for_digest(ws, v.digest)
    info: dict[str, Any] = {
        "name": v.name,
        "version": v.version,
        "status": v.status,
        "aliases": list(v.aliases),
        "flavor": v.flavor,
        "digest": v.digest,
        "size": v.size,
        "source": v.source,
        "run_id": v.run_id,
        "created_at": v.created_at,
        "created_by": v.created_by,
        "description": v.description or model.description,
        "model_description": model.description,
        "tags": {**model.tags, **v.tags},
        "signature": manifest.signature.to_dict(),
        "environment": {"python": manifest.python_version, "packages": dict(manifest.packages)},
        "requirements": manifest.requirements(),
        "metrics": {},
        "params": {},
        "datasets": [],
        "git_commit": None,
        "git_dirty": None,
        "gates": [],
    }
    if v.run_id is not None:
        try:
            run = ws.tracking.get_run(v.run_id)
        except NotFound:
            info["run_id"] = f"{v.run_id} (deleted)"
        else:
            info["metrics"] = {k: m.value for k, m in sorted(run.metrics.items())}
            info["params"] = dict(sorted(run.params.items()))
            info["datasets"] = [
                {"name": io.name, "digest": io.digest, "role": io.role}
                for io in run.inputs
                if io.kind == "dataset"
            ]
            info["git_commit"] = run.environment.git_commit
            info["git_dirty"] = run.environment.git_dirty
            info["run_name"] = run.name
    info["gates"] = [g.to_dict() for g in registry_store(ws).gate_results(v.name, v.version)]
    return info
