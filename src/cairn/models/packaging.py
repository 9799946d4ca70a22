"""Saving models: a directory with the model files, an input example and the manifest.

``save_model`` writes the directory; ``log_model`` saves into a temporary directory,
stores it as one content-addressed tree in the workspace's ArtifactStore, and records
it as an output of the active run (role ``model``, kind ``model``), which is what
``runs:/<id>/model`` and ``cairn models register`` resolve.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, InvalidInput
from cairn.models import flavors
from cairn.models.manifest import (
    Manifest,
    list_files,
    pinned_packages,
    python_version,
)
from cairn.models.signature import Signature, infer_signature
from cairn.types import now_ms

EXAMPLE_TABLE = "input_example.json"
EXAMPLE_TENSOR = "input_example.npy"
MAX_EXAMPLE_ROWS = 100


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` stored: the ``runs:/`` URI, the tree digest and the manifest."""

    uri: str
    run_id: str
    name: str
    digest: str
    size: int
    manifest: Manifest
    version: int | None = None  # set when ``cairn.log_model(registered_name=...)`` registered it


def save_model(
    model: Any,
    path: str | Path,
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    run_id: str | None = None,
    description: str = "",
) -> Manifest:
    """Write ``model`` to the new directory ``path`` and return its manifest.

    Args:
        model: a scikit-learn estimator or Pipeline, an XGBoost or LightGBM model, an
            ONNX ``ModelProto``, or a callable (the ``function`` flavor).
        path: a directory that must not exist yet (or be empty).
        input_example: a few rows of input (DataFrame or array). The signature is
            inferred from it and it is kept for latency gates and documentation.
        signature: overrides the inferred signature.
        flavor: force a flavor instead of detecting it.
        run_id: the run that produced the model, recorded in the manifest.
        description: free text kept in the manifest.

    Example:
        >>> from sklearn.linear_model import LinearRegression  # doctest: +SKIP
        >>> save_model(LinearRegression().fit([[0], [1]], [0, 1]), "lr", input_example=[[0.5]])
    """
    directory = Path(path)
    if directory.exists() and any(directory.iterdir()):
        raise InvalidInput(f"{directory} already exists and is not empty; choose a new path")
    name = flavor or flavors.detect(model)
    module = flavors.get(name)
    example = _example_frame(input_example)
    if signature is None and example is not None:
        signature = infer_signature(example, _try_predict(model, module, example))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        options = module.save(model, directory)
        example_file = _write_example(example, directory)
        files = list_files(directory)
        manifest = Manifest(
            flavor=name,
            signature=signature or Signature((), (), "table"),
            options=options,
            python_version=python_version(),
            packages=pinned_packages(module.PACKAGES),
            run_id=run_id,
            created_at=now_ms(),
            files=files,
            input_example=example_file,
            description=description,
        )
        manifest.write(directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return manifest


def _example_frame(example: Any) -> Any:
    """The example limited to MAX_EXAMPLE_ROWS rows, as a DataFrame or an array."""
    if example is None:
        return None
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        return example.head(MAX_EXAMPLE_ROWS)
    if isinstance(example, pd.Series):
        raise InvalidInput("input_example is a Series; pass a DataFrame or an array")
    array = np.asarray(example)
    if array.ndim == 0:
        raise InvalidInput("input_example is a scalar; pass at least one row")
    return array[:MAX_EXAMPLE_ROWS]


def _try_predict(model: Any, module: Any, example: Any) -> Any:
    """The model's output on the example, for the output signature; None if it fails."""
    if module.NAME == "onnx":
        return None
    predict = getattr(model, "predict", None) or (model if callable(model) else None)
    if predict is None:
        return None
    try:
        return predict(example)
    except Exception:  # the output spec is optional; a model may need other input
        return None


def _write_example(example: Any, directory: Path) -> str | None:
    import numpy as np
    import pandas as pd

    if example is None:
        return None
    if isinstance(example, pd.DataFrame):
        text = example.to_json(orient="split", index=False, date_format="iso")
        (directory / EXAMPLE_TABLE).write_text(text, encoding="utf-8")
        return EXAMPLE_TABLE
    if example.dtype.kind == "O":
        return None  # .npy would need pickle for objects; the example is optional
    np.save(directory / EXAMPLE_TENSOR, example, allow_pickle=False)
    return EXAMPLE_TENSOR


def read_example(data: bytes, file_name: str, signature: Signature) -> Any:
    """Decode an input example saved by :func:`save_model`, cast to the signature."""
    import numpy as np
    import pandas as pd

    if file_name == EXAMPLE_TENSOR:
        return np.load(io.BytesIO(data), allow_pickle=False)
    parsed = json.loads(data)
    frame = pd.DataFrame(parsed["data"], columns=parsed["columns"])
    return signature.validate(frame) if signature.inputs else frame


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    flavor: str | None = None,
    description: str = "",
) -> ModelInfo:
    """Save ``model`` as an output of the active run; return where it went.

    The model directory becomes one tree in the artifact store of the run's workspace,
    recorded on the run as ``runs:/<run id>/<name>``. To register it in the same call use
    :func:`cairn.log_model` with ``registered_name`` (models know nothing of the
    registry).

    Example:
        >>> with cairn.start_run(experiment="churn"):  # doctest: +SKIP
        ...     info = cairn.log_model(pipeline, input_example=X_train[:5])
        >>> info.uri  # doctest: +SKIP
        'runs:/6f1c.../model'
    """
    from cairn.tracking.client import artifact_name
    from cairn.tracking.fluent import active_run

    run = active_run()
    if run is None:
        raise CairnError("no active run: call cairn.log_model inside `with cairn.start_run():`")
    name = artifact_name(name)
    client = run.client
    with tempfile.TemporaryDirectory(prefix="cairn-model-") as tmp:
        directory = Path(tmp) / "model"
        manifest = save_model(
            model,
            directory,
            input_example=input_example,
            signature=signature,
            flavor=flavor,
            run_id=run.id,
            description=description,
        )
        stored = client.workspace.artifacts.put_tree(directory)
    client.log_output(run.id, stored, role="model", name=name, kind="model")
    uri = f"runs:/{run.id}/{name}"
    return ModelInfo(uri, run.id, name, stored.digest, stored.size, manifest)
