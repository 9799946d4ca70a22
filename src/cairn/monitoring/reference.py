"""The reference a model version is monitored against, found through its lineage.

A model version's reference is built from a dataset version the version's run read
(``run.log_input(cairn.data.get("churn@v3"))``): a held-out role (``reference``,
``validation``, ``test``, ``eval``) is preferred to the training data, since a model's
probabilities on its own training rows are over-confident. It holds:

- ``features``: the dataset version's stored profile for each signature input (bins,
  top values, min/max, quantiles: see :mod:`cairn.data.profile`), reused as it is;
- ``prediction``: the profile of the model's predictions on that data;
- ``calibration``: for classifiers with probabilities and a known target column, the
  isotonic map from the model's confidence to the chance its answer is right (and, for
  two classes, from the positive class's probability to the chance the label is
  positive), which confidence-based performance estimation uses.

It is stored once as a JSON artifact (``"format": "cairn.monitoring.reference/1"``) and
its digest kept in the version's tag ``cairn.monitoring.reference``, so later checks
read it instead of scoring the data again. Registration builds it
(:func:`prepare_reference`, called by :func:`cairn.log_model` and ``cairn models
register``) when the run logged its data and that data has at most
:data:`REGISTRATION_ROWS` rows; a larger one is left ``pending`` (tag
``cairn.monitoring.reference_status``) for the first check or ``cairn monitor
reference``, so registering never waits long. ``cairn gc`` keeps the reference artifact
while the tag points at it (:data:`cairn.workspace.DIGEST_TAGS`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import numpy as np

    from cairn.store.datasets import DatasetVersion
    from cairn.store.registry import ModelVersion
    from cairn.workspace import Workspace

REFERENCE_FORMAT = "cairn.monitoring.reference/1"
REFERENCE_TAG = "cairn.monitoring.reference"  # in cairn.workspace.DIGEST_TAGS: gc keeps it
TARGET_TAG = "cairn.monitoring.target"
STATUS_TAG = "cairn.monitoring.reference_status"
#: Registration scores reference data up to this many rows; beyond, it marks the
#: reference pending (scoring a large table would hold registration up for minutes).
REGISTRATION_ROWS = 200_000
#: Dataset roles preferred for the reference, best first; any other role comes after.
PREFERRED_ROLES = ("reference", "validation", "test", "eval")


def get_reference(version: ModelVersion, ws: Workspace) -> tuple[str, dict[str, Any]]:
    """The stored reference of ``version`` (building it on first use): (digest, doc)."""
    digest = version.tags.get(REFERENCE_TAG)
    if digest and ws.artifacts.exists(digest):
        doc = json.loads(ws.artifacts.read_bytes(digest, verify=True))
        if doc.get("format") == REFERENCE_FORMAT:
            return digest, doc
    return build_reference(version, ws)


def build_reference(
    version: ModelVersion,
    ws: Workspace,
    dataset: str | None = None,
    target: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Build, store and tag the reference of ``version``; returns (digest, doc).

    ``dataset`` (``name@vN``) overrides the lineage lookup; ``target`` names the label
    column when it cannot be inferred (the one dataset column that is not an input).
    """
    from cairn.registry import update_version

    data = _dataset(version, ws, dataset)
    doc = compute_reference(version, data, ws, target or version.tags.get(TARGET_TAG))
    stored = ws.artifacts.put_bytes(json.dumps(doc, sort_keys=True).encode())
    update_version(
        version.name,
        version.version,
        tags={REFERENCE_TAG: stored.digest, STATUS_TAG: f"built from {doc['dataset']}"},
        workspace=ws,
    )
    return stored.digest, doc


def prepare_reference(version: ModelVersion, ws: Workspace) -> str | None:
    """Build the reference of a version just registered, when that is cheap.

    Returns what happened, for the user (``None`` when the version's run read no
    dataset: nothing to prepare, the first check will say how to give one). A
    reference dataset above :data:`REGISTRATION_ROWS` rows, or one that cannot serve
    (no profile, a column missing, a tensor model), leaves the reference pending with
    the reason in the ``cairn.monitoring.reference_status`` tag; registration itself
    never fails because of monitoring.
    """
    from cairn.errors import CairnError
    from cairn.registry import update_version

    try:
        data = _dataset(version, ws, None)
    except NotFound:
        return None
    later = (
        "built at the first `cairn monitor check`, or now with "
        f"`cairn monitor reference {version.ref}`"
    )
    if data.rows is not None and data.rows > REGISTRATION_ROWS:
        status = (
            f"pending: {data.ref} has {data.rows:,} rows (more than {REGISTRATION_ROWS:,} "
            f"are not scored at registration); {later}"
        )
    else:
        try:
            build_reference(version, ws)
            return f"monitoring reference built from {data.ref}"
        except CairnError as exc:
            status = f"pending: {exc}"
        except Exception as exc:  # a model that fails on its own data must not fail registering
            status = f"pending: scoring {data.ref} failed ({type(exc).__name__}: {exc}); {later}"
    update_version(version.name, version.version, tags={STATUS_TAG: status}, workspace=ws)
    return f"monitoring reference {status}"


def _dataset(version: ModelVersion, ws: Workspace, ref: str | None) -> DatasetVersion:
    from cairn.store.datasets import parse_ref

    if ref is not None:
        name, number = parse_ref(ref)
        return ws.datasets.get_version(name, number)
    how = (
        f"log the data the model was trained or validated on in its run "
        f"(run.log_input(cairn.data.get('NAME@vN'))), or give one: "
        f"`cairn monitor reference {version.ref} --dataset NAME@vN`"
    )
    if version.run_id is None:
        raise NotFound(
            f"model {version.ref} has no run, so no training data to compare with; {how}"
        )
    run = ws.tracking.get_run(version.run_id)
    found: list[tuple[int, DatasetVersion]] = []
    for edge in run.inputs:
        if edge.kind != "dataset":
            continue
        for candidate in ws.datasets.find_digest(edge.digest):
            rank = (
                PREFERRED_ROLES.index(edge.role)
                if edge.role in PREFERRED_ROLES
                else len(PREFERRED_ROLES)
            )
            found.append((rank, candidate))
    if not found:
        raise NotFound(f"the run of model {version.ref} read no dataset version; {how}")
    found.sort(key=lambda item: item[0])
    return found[0][1]


def compute_reference(
    version: ModelVersion, data: DatasetVersion, ws: Workspace, target: str | None
) -> dict[str, Any]:
    """Score ``data`` with the model and put the reference together (not stored)."""
    import pyarrow as pa

    from cairn.data.dataset import Dataset
    from cairn.data.profile import compute_profile
    from cairn.models import load
    from cairn.serving.predictor import make_predictor

    ds = Dataset(data, ws)
    profile = ds.profile
    if profile is None:
        raise InvalidInput(
            f"dataset {data.ref}, the reference of model {version.ref}, has no profile "
            "(it is stored as bytes, not a table); give a tabular version with "
            f"`cairn monitor reference {version.ref} --dataset NAME@vN`"
        )
    predictor = make_predictor(
        load(f"models:/{version.name}/{version.version}", workspace=ws),
        version.name,
        str(version.version),
    )
    spec = predictor.spec
    if spec.kind != "table":
        raise InvalidInput(
            f"model {version.ref} takes a tensor; monitoring compares table columns only"
        )
    columns = profile["columns"]
    absent = [c for c in spec.columns if c not in columns]
    if absent:
        raise InvalidInput(
            f"dataset {data.ref} has no column {absent[0]!r} that model {version.ref} takes; "
            f"give the data it was trained on with `cairn monitor reference {version.ref} "
            "--dataset NAME@vN`"
        )
    extra = [c for c in columns if c not in spec.columns]
    if target is None and len(extra) == 1:
        target = extra[0]
    if target is not None and target not in columns:
        raise InvalidInput(f"target column {target!r} is not in dataset {data.ref}")
    preds, probs, labels = _score(predictor, ds, target)
    classes = [_plain(c) for c in predictor.classes]
    if classes:  # class labels are categories, whatever type the model gives them
        pred_array = pa.array([norm_label(v) for v in preds.tolist()], pa.string())
    else:
        pred_array = pa.array(preds.tolist() if preds.dtype.kind == "O" else preds)
    table = pa.table({"prediction": pred_array})
    pred_profile = compute_profile(table.schema, lambda cols: iter(table.to_batches()))
    doc: dict[str, Any] = {
        "format": REFERENCE_FORMAT,
        "model": version.name,
        "version": str(version.version),
        "dataset": data.ref,
        "dataset_digest": data.digest,
        "rows": int(preds.shape[0]),
        "signature": {i.name: i.dtype for i in spec.inputs},
        "features": {c: columns[c] for c in spec.columns},
        "prediction": pred_profile["columns"]["prediction"],
        "classes": classes,
        "task": "classification" if classes else "regression",
        "target": target,
        "calibration": None,
    }
    if probs is not None and labels is not None and classes:
        from cairn.monitoring.cbpe import fit_calibration

        doc["calibration"] = fit_calibration(probs, labels, classes)
    return doc


def _score(
    predictor: Any, ds: Any, target: str | None
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """The model's predictions (and probabilities, and the labels) on every row."""
    import numpy as np

    from cairn.serving.codec import table_batch

    spec = predictor.spec
    wanted = [*spec.columns, *([target] if target else [])]
    preds: list[np.ndarray] = []
    probs: list[np.ndarray] = []
    labels: list[str] = []
    for rb in ds.batches(wanted):
        batch = table_batch(
            spec, {c: rb.column(c).to_numpy(zero_copy_only=False) for c in spec.columns}
        )
        preds.append(np.asarray(predictor.predict(batch)[0]))
        if predictor.proba is not None:
            probs.append(np.asarray(predictor.predict_proba(batch)[0], dtype=np.float64))
        if target:
            labels.extend(norm_label(v) for v in rb.column(target).to_pylist())
    joined = np.concatenate(preds) if preds else np.empty(0)
    got_probs = np.concatenate(probs) if probs else None
    return joined, got_probs, (labels if target else None)


def norm_label(value: Any) -> str:
    """One spelling for a class label, whichever file or model it came from: ``1``,
    ``1.0``, ``"1"`` and ``np.int64(1)`` are all ``"1"``."""
    if value is None:
        return ""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return text.lower() if text.lower() in ("true", "false") else text
    return str(int(number)) if number.is_integer() else text


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
