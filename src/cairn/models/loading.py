"""Loading models by URI, and the :class:`LoadedModel` that validates and predicts.

URIs:

- ``models:/churn@production``: the version an alias points at now;
- ``models:/churn/3`` (and ``models:/churn/latest``): a registered version;
- ``runs:/<run id>/model``: the model a run logged under that name;
- a local model directory written by :func:`~cairn.models.save_model`.

``churn@production`` and ``churn/3`` without the scheme work too when no such local
path exists. Models from the store are checked out with verification into a temporary
directory and their files re-hashed against the manifest; a local directory is
re-hashed too. A mismatch raises :class:`~cairn.errors.IntegrityError` and nothing is
loaded.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput, NotFound
from cairn.models import flavors
from cairn.models.manifest import Manifest, model_file, read_manifest, verify_files
from cairn.models.signature import Signature

if TYPE_CHECKING:
    from cairn.workspace import Workspace

_MODEL_REF = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:@(?P<alias>[A-Za-z][\w-]*)|/(?P<version>\d+|latest))$"
)
_RUN_REF = re.compile(r"^runs:/(?P<run>[^/]+)/(?P<name>.+)$")


@dataclass(frozen=True)
class ModelRef:
    """A parsed model URI. Exactly one of the three shapes is filled in."""

    uri: str
    name: str | None = None  # registered model name
    alias: str | None = None
    version: int | None = None  # None with name set and no alias: "latest"
    run_id: str | None = None
    artifact: str | None = None
    path: Path | None = None


def parse_uri(uri: str) -> ModelRef:
    """Parse a model URI (see the module docstring); ``InvalidInput`` for anything else.

    Example:
        >>> parse_uri("models:/churn@production").alias
        'production'
        >>> parse_uri("models:/churn/3").version
        3
    """
    text = str(uri).strip()
    if text.startswith("models:/"):
        match = _MODEL_REF.match(text[len("models:/") :])
        if match is None:
            raise InvalidInput(
                f"invalid model URI {uri!r}: use models:/NAME@ALIAS or models:/NAME/VERSION"
            )
        return _model_ref(text, match)
    if text.startswith("runs:/"):
        match = _RUN_REF.match(text)
        if match is None:
            raise InvalidInput(f"invalid run model URI {uri!r}: use runs:/RUN_ID/NAME")
        return ModelRef(text, run_id=match["run"], artifact=match["name"].strip("/"))
    if "://" in text:
        raise InvalidInput(
            f"unsupported model URI {uri!r}: use models:/..., runs:/... or a local folder"
        )
    path = Path(text).expanduser()
    if path.exists():
        return ModelRef(text, path=path)
    match = _MODEL_REF.match(text)
    if match is not None:
        return _model_ref(f"models:/{text}", match)
    raise NotFound(
        f"{uri!r} is neither a local model folder nor a model reference such as "
        "churn@production, churn/3, models:/churn/3 or runs:/RUN_ID/model"
    )


def _model_ref(uri: str, match: re.Match[str]) -> ModelRef:
    version = match["version"]
    return ModelRef(
        uri,
        name=match["name"],
        alias=match["alias"],
        version=int(version) if version and version != "latest" else None,
    )


@dataclass(frozen=True)
class Resolved:
    """Where a model URI points: the tree digest in the store, or a local folder."""

    ref: ModelRef
    digest: str | None
    name: str
    version: int | None
    run_id: str | None
    path: Path | None = None


def resolve(uri: str, workspace: Workspace | None = None) -> Resolved:
    """Resolve a model URI against the registry and tracking stores (no files read)."""
    ref = parse_uri(uri)
    if ref.path is not None:
        return Resolved(ref, None, ref.path.resolve().name, None, None, ref.path)
    ws = workspace or _workspace()
    if ref.run_id is not None:
        assert ref.artifact is not None
        run = ws.tracking.get_run(ref.run_id)
        for item in run.outputs:
            if item.kind == "model" and item.name == ref.artifact:
                return Resolved(ref, item.digest, ref.artifact, None, run.id)
        logged = sorted(i.name for i in run.outputs if i.kind == "model")
        hint = f"; it logged: {', '.join(logged)}" if logged else "; it logged no model"
        raise NotFound(f"run {ref.run_id} has no model named {ref.artifact!r}{hint}")
    assert ref.name is not None
    registry = ws.registry
    if ref.alias is not None:
        number = registry.get_alias(ref.name, ref.alias)
        if number is None:
            registry.get_model(ref.name)  # NotFound for an unknown model, first
            raise NotFound(
                f"model {ref.name!r} has no alias {ref.alias!r}; set it with "
                f"`cairn models promote {ref.name} VERSION --to {ref.alias}`"
            )
    elif ref.version is not None:
        number = ref.version
    else:
        latest = registry.get_model(ref.name).latest_version
        if latest is None:
            raise NotFound(f"model {ref.name!r} has no versions yet")
        number = latest
    version = registry.get_version(ref.name, number)
    return Resolved(ref, version.digest, ref.name, version.version, version.run_id)


def _workspace() -> Workspace:
    from cairn.tracking.fluent import current_client

    return current_client().workspace


class LoadedModel:
    """A model ready to predict, with the metadata serving and gates need.

    Attributes:
        name: the registered model name (or the run's model name, or the folder name).
        version: the registered version, or None for ``runs:/`` URIs and folders.
        uri: the URI it was loaded from.
        flavor: ``sklearn``, ``xgboost``, ``lightgbm``, ``onnx`` or ``function``.
        signature: inputs and outputs (:class:`~cairn.models.signature.Signature`).
        manifest: the full manifest (environment, files, run id).
        digest: the tree digest of the model directory (None for a local folder).
    """

    def __init__(
        self,
        predictor: Any,
        manifest: Manifest,
        resolved: Resolved,
        example: tuple[bytes, str] | None,
    ) -> None:
        self._predictor = predictor
        self.manifest = manifest
        self.signature: Signature = manifest.signature
        self.flavor = manifest.flavor
        self.name = resolved.name
        self.version = resolved.version
        self.uri = resolved.ref.uri
        self.digest = resolved.digest
        self.run_id = resolved.run_id or manifest.run_id
        self._example = example
        # Bound once: predict() is on the serving hot path.
        self._validate = self.signature.validate if self.signature.inputs else _identity
        self._predict = predictor.predict

    def __repr__(self) -> str:
        return f"<LoadedModel {self.uri} flavor={self.flavor}>"

    @property
    def raw(self) -> Any:
        """The underlying estimator or predictor object."""
        return self._predictor

    def predict(self, data: Any) -> Any:
        """Validate ``data`` against the signature, then predict.

        Raises:
            InputSchemaError: a missing column, a dtype that cannot be cast safely, or
                a wrong shape; the message and ``.column`` name the culprit.
        """
        return self._predict(self._validate(data))

    def predict_proba(self, data: Any) -> Any:
        """Class probabilities, for classifiers whose flavor provides them."""
        proba = getattr(self._predictor, "predict_proba", None)
        if proba is None:
            raise InvalidInput(f"{self.uri} ({self.flavor}) does not give class probabilities")
        return proba(self._validate(data))

    @property
    def has_proba(self) -> bool:
        return callable(getattr(self._predictor, "predict_proba", None))

    def input_example(self) -> Any:
        """The input example saved with the model, or None."""
        if self._example is None:
            return None
        from cairn.models.packaging import read_example

        data, file_name = self._example
        return read_example(data, file_name, self.signature)


def _identity(data: Any) -> Any:
    return data


def load(uri: str, *, trust: bool = False, workspace: Workspace | None = None) -> LoadedModel:
    """Load a model by URI (see the module docstring) and return a :class:`LoadedModel`.

    Args:
        uri: ``models:/churn@production``, ``models:/churn/3``, ``runs:/<id>/model`` or
            a local model directory.
        trust: allow formats whose loading can run code (the ``function`` flavor,
            skops files holding types not known to be safe). Only for trusted sources.
        workspace: the workspace to resolve against (default: the current one).

    Example:
        >>> model = cairn.models.load("models:/churn@production")  # doctest: +SKIP
        >>> model.version, model.signature.column_names  # doctest: +SKIP
        (3, ['tenure', 'plan', 'monthly_charges'])
        >>> model.predict(frame)  # doctest: +SKIP
    """
    resolved = resolve(uri, workspace)
    if resolved.path is not None:
        return _load_directory(resolved.path, resolved, trust)
    ws = workspace or _workspace()
    assert resolved.digest is not None
    with tempfile.TemporaryDirectory(prefix="cairn-load-") as tmp:
        directory = Path(tmp) / "model"
        ws.artifacts.checkout(resolved.digest, directory, verify=True)
        return _load_directory(directory, resolved, trust)


def _load_directory(directory: Path, resolved: Resolved, trust: bool) -> LoadedModel:
    if not directory.is_dir():
        raise NotFound(f"{directory} is not a model directory")
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    module = flavors.get(manifest.flavor)
    try:
        predictor = module.load(directory, manifest.options, trust)
    except InvalidInput as exc:
        raise InvalidInput(f"cannot load {resolved.ref.uri}: {exc}") from None
    example = None
    if manifest.input_example:
        path = model_file(directory, manifest.input_example, "input_example")
        example = (path.read_bytes(), manifest.input_example)
    return LoadedModel(predictor, manifest, resolved, example)


def read_model_manifest(uri: str, workspace: Workspace | None = None) -> Manifest:
    """The manifest of a model without loading the model itself (for show and cards)."""
    resolved = resolve(uri, workspace)
    if resolved.path is not None:
        return read_manifest(resolved.path)
    ws = workspace or _workspace()
    assert resolved.digest is not None
    return manifest_for_digest(ws, resolved.digest)


def manifest_for_digest(ws: Workspace, digest: str) -> Manifest:
    """Read ``cairn-model.json`` out of a stored model tree (verified)."""
    import json

    from cairn.models.manifest import MANIFEST_FILE

    for entry in ws.artifacts.read_tree(digest):
        if entry.path == MANIFEST_FILE:
            data = ws.artifacts.read_bytes(entry, verify=True)
            try:
                return Manifest.from_dict(json.loads(data))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise InvalidInput(
                    f"stored model {digest[:12]} has no valid model manifest: {exc}"
                ) from None
    raise NotFound(f"stored object {digest[:12]} is not a model (no {MANIFEST_FILE})")
