"""Model references: the one parser and resolver every command and API uses.

The forms, with one meaning everywhere (``cairn models``, ``cairn serve``, ``cairn
predict``, ``cairn gate``, :func:`cairn.models.load`, :func:`cairn.registry.register`):

==========================  ==========================================================
``churn``                   the latest version of ``churn`` (highest number)
``churn/latest``            the same, spelled out
``churn/3``                 version 3
``churn@production``        the version the alias ``production`` points at now
``models:/churn...``        the same three forms with the scheme
``runs:/3f9a0c/model``      the model a run logged as ``model``; the run is an id or a
                            unique id prefix, as ``cairn runs show`` takes
``./path``, ``/path``       a local model folder written by ``save_model``
==========================  ==========================================================

A bare name is never an alias: ``churn@production`` says so. When ``churn`` resolves to
a version that is not where the model's aliases point, :attr:`ResolvedModel.note`
says which aliases exist, so a caller can show the hint. A mistaken form is an
``InvalidInput`` naming the right one (``churn/production`` -> ``churn@production``).

This module sits below models, registry and serving; it reads the registry and
tracking stores through the workspace and imports none of those packages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cairn.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from cairn.store.registry import RegisteredModel
    from cairn.workspace import Workspace

RefKind = Literal["latest", "version", "alias", "run", "path"]

MODELS_SCHEME = "models:/"
RUNS_SCHEME = "runs:/"
LATEST = "latest"

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_MODEL = re.compile(rf"^(?P<name>{_NAME})(?:@(?P<alias>[^/@]*)|/(?P<version>[^/@]*))?$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_FORMS = "churn, churn/3, churn@production, models:/churn/3 or runs:/RUN_ID/model"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed model reference; ``kind`` says which fields are filled in.

    Example:
        >>> parse("churn@production")
        ModelRef(text='churn@production', kind='alias', name='churn', alias='production', version=None, run=None, artifact=None, path=None)
    """  # noqa: E501

    text: str
    kind: RefKind
    name: str | None = None  # registered model name (latest/version/alias)
    alias: str | None = None
    version: int | None = None
    run: str | None = None  # run id or id prefix, as written
    artifact: str | None = None  # the model's name inside the run
    path: Path | None = None

    @property
    def follows_alias(self) -> bool:
        return self.kind == "alias"

    def __str__(self) -> str:
        if self.kind == "alias":
            return f"{self.name}@{self.alias}"
        if self.kind == "version":
            return f"{self.name}/{self.version}"
        if self.kind == "latest":
            return f"{self.name}"
        if self.kind == "run":
            return f"{RUNS_SCHEME}{self.run}/{self.artifact}"
        return str(self.path)


def parse(text: str) -> ModelRef:
    """Parse a model reference (see the module docstring); ``InvalidInput`` if malformed.

    A text that is an existing folder, or starts with ``.``, ``/``, ``~`` or ``file://``,
    is a local path. Nothing is looked up.

    Example:
        >>> parse("models:/churn/3").version
        3
        >>> parse("churn").kind
        'latest'
    """
    raw = str(text).strip()
    if not raw:
        raise InvalidInput(f"empty model reference; use one of: {_FORMS}")
    if raw.startswith(RUNS_SCHEME):
        return _parse_run(raw)
    if raw.startswith(MODELS_SCHEME):
        return _parse_model(raw, raw[len(MODELS_SCHEME) :])
    if raw.startswith("file://"):
        return ModelRef(raw, "path", path=Path(raw[len("file://") :]).expanduser())
    if "://" in raw or raw.startswith(("models:", "runs:")):
        raise InvalidInput(
            f"unsupported model reference {raw!r}: use models:/..., runs:/... or a local folder"
        )
    if raw.startswith((".", "/", "~")) or Path(raw).expanduser().is_dir():
        return ModelRef(raw, "path", path=Path(raw).expanduser())
    return _parse_model(raw, raw)


def _parse_model(raw: str, body: str) -> ModelRef:
    match = _MODEL.match(body)
    if match is None:
        raise InvalidInput(f"{raw!r} is not a model reference; use one of: {_FORMS}")
    name, alias, version = match["name"], match["alias"], match["version"]
    if alias is not None:
        if alias.isdigit():
            raise InvalidInput(
                f"{raw!r}: a version number follows a slash, an alias follows '@'; "
                f"write {name}/{alias} for version {alias}"
            )
        if not _ALIAS.match(alias):
            raise InvalidInput(
                f"{raw!r}: invalid alias {alias!r}; an alias starts with a letter, then "
                "letters, digits, '_' or '-'"
            )
        return ModelRef(raw, "alias", name=name, alias=alias)
    if version is None or version == LATEST:
        return ModelRef(raw, "latest", name=name)
    if version.isdigit() and int(version) > 0:
        return ModelRef(raw, "version", name=name, version=int(version))
    if _ALIAS.match(version):
        raise InvalidInput(
            f"{raw!r}: {version!r} is not a version number; for the alias write {name}@{version}"
        )
    raise InvalidInput(f"{raw!r}: invalid version {version!r}; use a number from 1, or latest")


def _parse_run(raw: str) -> ModelRef:
    run, _, artifact = raw[len(RUNS_SCHEME) :].strip("/").partition("/")
    artifact = artifact.strip("/")
    if not run or not artifact:
        raise InvalidInput(
            f"{raw!r} is not a run model URI; use runs:/RUN_ID/NAME (a unique prefix of the "
            "run id works), e.g. runs:/3f9a0c/model"
        )
    return ModelRef(raw, "run", run=run, artifact=artifact)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a reference points now: a stored tree (digest) or a local folder.

    ``version`` is the registered version for registry references, None for runs and
    folders. ``note`` is a hint worth showing a person (see :func:`resolve`), or "".
    """

    ref: ModelRef
    name: str
    version: int | None
    digest: str | None
    run_id: str | None
    path: Path | None = None
    note: str = ""

    @property
    def pinned(self) -> str:
        """A reference to exactly this model that later alias moves do not change."""
        if self.path is not None:
            return str(self.path)
        if self.ref.kind == "run":
            return f"{RUNS_SCHEME}{self.run_id}/{self.ref.artifact}"
        return f"{MODELS_SCHEME}{self.name}/{self.version}"


def resolve(ref: str | ModelRef, workspace: Workspace | None = None) -> ResolvedModel:
    """Resolve a reference against the registry and tracking stores (no files read).

    Raises:
        InvalidInput: a malformed reference, or an ambiguous run id prefix.
        NotFound: an unknown model, version, alias, run or folder; the message names
            what exists (the model's aliases, the run's models).

    Example:
        >>> resolve("churn@production").version  # doctest: +SKIP
        3
    """
    parsed = ref if isinstance(ref, ModelRef) else parse(ref)
    if parsed.kind == "path":
        assert parsed.path is not None
        if not parsed.path.is_dir():
            raise NotFound(
                f"no model folder at {parsed.path}; give a folder written by save_model, "
                f"or a reference such as {_FORMS}"
            )
        return ResolvedModel(parsed, parsed.path.resolve().name, None, None, None, parsed.path)
    from cairn.workspace import resolve as resolve_workspace

    ws = resolve_workspace(workspace)
    if parsed.kind == "run":
        return _resolve_run(parsed, ws)
    assert parsed.name is not None
    registry = ws.registry
    model = registry.get_model(parsed.name)  # NotFound names the model
    note = ""
    if parsed.kind == "alias":
        assert parsed.alias is not None
        number = _alias_target(model, parsed.alias)
    elif parsed.kind == "version":
        assert parsed.version is not None
        number = parsed.version
    else:
        number = _latest(model)
        note = _latest_note(model, number)
    version = registry.get_version(parsed.name, number)
    return ResolvedModel(
        parsed, parsed.name, version.version, version.digest, version.run_id, None, note
    )


def resolve_version(name: str, spec: int | str, *, workspace: Workspace | None = None) -> int:
    """A version number of ``name`` from a command's VERSION argument.

    ``spec`` is a number (``3``, ``"3"``), ``latest``, or an alias, with or without its
    ``@`` (``production``, ``@production``): the argument names a version of a model
    already given, so an alias name cannot be mistaken for a model name here.

    Example:
        >>> resolve_version("churn", "production")  # doctest: +SKIP
        3
    """
    from cairn.workspace import resolve as resolve_workspace

    if isinstance(spec, int):
        return spec
    text = str(spec).strip().removeprefix("@")
    if text.isdigit():
        return int(text)
    ws = resolve_workspace(workspace)
    model = ws.registry.get_model(name)
    if text == LATEST:
        return _latest(model)
    if not _ALIAS.match(text):
        raise InvalidInput(
            f"{spec!r} is not a version of {name}: give a number, latest, or an alias"
        )
    if text not in model.aliases:
        raise NotFound(
            f"{text!r} is neither a version number of {name} nor one of its aliases"
            f"{_aliases_hint(model)}"
        )
    return model.aliases[text]


def alias_target(name: str, alias: str, *, workspace: Workspace | None = None) -> int:
    """The version ``name@alias`` points at now (one indexed read: cheap to poll)."""
    from cairn.workspace import resolve as resolve_workspace

    registry = resolve_workspace(workspace).registry
    number = registry.get_alias(name, alias)
    if number is None:
        return _alias_target(registry.get_model(name), alias)
    return number


def _alias_target(model: RegisteredModel, alias: str) -> int:
    number = model.aliases.get(alias)
    if number is None:
        raise NotFound(
            f"model {model.name!r} has no alias {alias!r}{_aliases_hint(model)}; set it "
            f"with `cairn models promote {model.name} VERSION --to {alias}`"
        )
    return number


def _aliases_hint(model: RegisteredModel) -> str:
    if not model.aliases:
        return " (it has no aliases)"
    return " (its aliases: " + ", ".join(sorted(model.aliases)) + ")"


def _latest(model: RegisteredModel) -> int:
    if model.latest_version is None:
        raise NotFound(
            f"model {model.name!r} has no versions yet; register one with "
            f"`cairn models register runs:/RUN_ID/model --name {model.name}`"
        )
    return model.latest_version


def _latest_note(model: RegisteredModel, number: int) -> str:
    """The hint for a bare name when aliases point elsewhere: the user may mean one."""
    elsewhere = {a: v for a, v in sorted(model.aliases.items()) if v != number}
    if not elsewhere:
        return ""
    pointers = ", ".join(f"{model.name}@{a} is version {v}" for a, v in elsewhere.items())
    return (
        f"{model.name} means its latest version ({number}); {pointers}: write "
        f"{model.name}@ALIAS to use an alias"
    )


def _resolve_run(ref: ModelRef, ws: Workspace) -> ResolvedModel:
    from cairn.tracking.lookup import resolve_run

    assert ref.run is not None and ref.artifact is not None
    run = resolve_run(ref.run, workspace=ws)
    for item in run.outputs:
        if item.kind == "model" and item.name == ref.artifact:
            return ResolvedModel(ref, ref.artifact, None, item.digest, run.id)
    logged = sorted(i.name for i in run.outputs if i.kind == "model")
    hint = f"; it logged: {', '.join(logged)}" if logged else "; it logged no model"
    raise NotFound(f"run {run.id} has no model named {ref.artifact!r}{hint}")
