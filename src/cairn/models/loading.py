"""Loading models by reference, and the :class:`LoadedModel` that validates and predicts.

References (parsed and resolved by :mod:`cairn.refs`, the same everywhere):

- ``churn`` or ``models:/churn``: the latest version (``churn/latest`` says it too);
- ``models:/churn@production``: the version an alias points at now;
- ``models:/churn/3``: a registered version;
- ``runs:/<run id or unique prefix>/model``: the model a run logged under that name;
- a local model directory written by :func:`~cairn.models.save_model`.

The scheme is optional for registry references. Models from the store are checked
out with verification into a temporary directory and their files re-hashed against
the manifest; a local directory is re-hashed too. A mismatch raises
:class:`~cairn.errors.IntegrityError` and nothing is loaded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput, NotFound
from cairn.models import flavors
from cairn.models.manifest import Manifest, model_file, read_manifest, verify_files
from cairn.models.signature import Signature
from cairn.refs import ResolvedModel, parse, resolve

if TYPE_CHECKING:
    from cairn.workspace import Workspace

# One parser and resolver for every command and API (see :mod:`cairn.refs`); the names
# below stay importable from here and from :mod:`cairn.models`.
parse_uri = parse
Resolved = ResolvedModel


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
        self.uri = resolved.ref.text
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
    from cairn.workspace import resolve as resolve_workspace

    resolved = resolve(uri, workspace)
    if resolved.path is not None:  # a folder needs no workspace
        return _load_directory(resolved.path, resolved, trust)
    ws = resolve_workspace(workspace)
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
        raise InvalidInput(f"cannot load {resolved.ref.text}: {exc}") from None
    example = None
    if manifest.input_example:
        path = model_file(directory, manifest.input_example, "input_example")
        example = (path.read_bytes(), manifest.input_example)
    return LoadedModel(predictor, manifest, resolved, example)


def read_model_manifest(uri: str, workspace: Workspace | None = None) -> Manifest:
    """The manifest of a model without loading the model itself (for show and cards)."""
    from cairn.workspace import resolve as resolve_workspace

    resolved = resolve(uri, workspace)
    if resolved.path is not None:
        return read_manifest(resolved.path)
    ws = resolve_workspace(workspace)
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
