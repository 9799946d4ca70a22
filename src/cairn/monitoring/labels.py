"""Ground-truth labels joined to the prediction log, and realized performance.

``cairn monitor labels add FILE`` takes a CSV or Parquet file with ``request_id`` and
``label`` columns, and optionally ``row`` (the row inside the request; without it the
label applies to every row of the request). The labels are stored as append-only
Parquet files partitioned by arrival day, next to the log::

    <predictions>/_labels/arrival=2026-11-23/part-<ms>-<random>.parquet

Nothing is ever rewritten: a label that arrives late simply lands in a later file, and
every performance query joins all of them, the latest arrival winning for a request
(and row). So a correction or a late label changes the figures of the past windows it
belongs to the next time they are asked for.

A file is refused whole, before anything is written, when it lacks the columns, has
empty request ids, or none of its ids is in the prediction log.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from cairn.monitoring.types import Performance
    from cairn.monitoring.window import Span
    from cairn.store.registry import ModelVersion
    from cairn.store.tables import PartitionedFiles
    from cairn.workspace import Workspace

LABELS_DIR = "_labels"
#: Key of a label: (request id, row); row -1 means "every row of the request".
Key = tuple[str, int]


@dataclass(frozen=True, slots=True)
class LabelsAdded:
    """What :func:`add_labels` stored: ``rows`` labels, ``matched`` of them in the log."""

    path: str
    rows: int
    matched: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "rows": self.rows, "matched": self.matched}


@dataclass
class Realized:
    labelled: int = 0
    realized: dict[str, float] = field(default_factory=dict)


def _files(ws: Workspace) -> PartitionedFiles:
    from cairn.serving.predlog import default_root
    from cairn.store.tables import PartitionedFiles

    return PartitionedFiles(default_root(ws), ws.settings.storage_options)


def _read(path: Path) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InvalidInput(f"label file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # Ids stay text whatever they look like: "007" must not become 7.
            options = pv.ConvertOptions(column_types={"request_id": pa.string()})
            return pv.read_csv(path, convert_options=options)
        if suffix in (".parquet", ".pq"):
            return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(f"cannot read label file {path}: {exc}") from None
    raise InvalidInput(f"label file {path} must be .csv or .parquet, not {suffix or 'no suffix'}")


def add_labels(
    path: str | os.PathLike[str], *, model: str | None = None, workspace: Workspace | None = None
) -> LabelsAdded:
    """Store the labels of ``path`` (CSV or Parquet: ``request_id``, ``label``, [``row``]).

    ``model`` (a name) limits the check that ids exist to that model's log.

    Example:
        >>> cairn.monitoring.add_labels("labels-2026-11-23.csv")  # doctest: +SKIP
        LabelsAdded(path='.../_labels/arrival=2026-11-23/part-...parquet', rows=900, matched=900)
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from cairn.monitoring.reference import norm_label
    from cairn.workspace import resolve

    ws = resolve(workspace)
    source = Path(path)
    table = _read(source)
    missing = [c for c in ("request_id", "label") if c not in table.column_names]
    if missing:
        raise InvalidInput(
            f"label file {source} has no {missing[0]!r} column; it needs request_id and label "
            f"(and optionally row); it has {', '.join(table.column_names) or 'no columns'}"
        )
    if table.num_rows == 0:
        raise InvalidInput(f"label file {source} has no rows; nothing was stored")
    ids = table.column("request_id").cast(pa.string())
    if ids.null_count or pc.any(pc.equal(ids, "")).as_py():
        raise InvalidInput(f"label file {source} has rows without a request_id; nothing was stored")
    if table.column("label").null_count:
        raise InvalidInput(f"label file {source} has rows without a label; nothing was stored")
    rows = None
    if "row" in table.column_names:
        try:
            rows = table.column("row").cast(pa.int32())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidInput(
                f"label file {source}: the row column must hold whole numbers"
            ) from None
    files = _files(ws)
    wanted = set(ids.to_pylist())
    matched_ids = _ids_in_log(files, wanted, model)
    if not matched_ids:
        example = next(iter(sorted(wanted)))
        where = f"the log of {model}" if model else "the prediction log"
        raise InvalidInput(
            f"none of the {len(wanted)} request ids in {source} is in {where} (e.g. "
            f"{example!r}); give the X-Request-ID values the model server answered with. "
            "Nothing was stored"
        )
    now = int(time.time() * 1000)
    stored = pa.table(
        {
            "request_id": ids,
            "row": rows if rows is not None else pa.nulls(table.num_rows, pa.int32()),
            "label": pa.array(
                [norm_label(v) for v in table.column("label").to_pylist()], pa.string()
            ),
            "arrival_ms": pa.array([now] * table.num_rows, pa.int64()),
        }
    )
    day = time.strftime("%Y-%m-%d", time.gmtime(now / 1000))
    name = f"part-{now}-{os.urandom(6).hex()}.parquet"
    written = files.write(
        f"{LABELS_DIR}/arrival={day}", name, lambda fh: pq.write_table(stored, fh)
    )
    matched = sum(1 for v in ids.to_pylist() if v in matched_ids)
    return LabelsAdded(written, table.num_rows, matched)


def _ids_in_log(files: PartitionedFiles, wanted: set[str], model: str | None) -> set[str]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pattern = f"{model or '*'}/model_version=*/date=*/hour=*/part-*.parquet"
    lookup = pa.array(sorted(wanted), pa.string())
    found: set[str] = set()
    for path in files.glob(pattern):
        if path.split("/")[-5].startswith("_"):
            continue
        with files.open(path) as fh:
            column = pq.read_table(fh, columns=["request_id"]).column("request_id")
        hits = pc.filter(column, pc.is_in(column, value_set=lookup))
        found.update(hits.to_pylist())
        if len(found) == len(wanted):
            break
    return found


def has_labels(ws: Workspace) -> bool:
    return bool(_files(ws).glob(f"{LABELS_DIR}/arrival=*/part-*.parquet"))


def load_labels(ws: Workspace) -> dict[Key, str]:
    """Every stored label, the latest arrival winning per (request, row)."""
    import pyarrow.parquet as pq

    files = _files(ws)
    out: dict[Key, tuple[int, str]] = {}
    for path in files.glob(f"{LABELS_DIR}/arrival=*/part-*.parquet"):
        with files.open(path) as fh:
            table = pq.read_table(fh)
        for rid, row, label, when in zip(
            table.column("request_id").to_pylist(),
            table.column("row").to_pylist(),
            table.column("label").to_pylist(),
            table.column("arrival_ms").to_pylist(),
            strict=True,
        ):
            key = (rid, -1 if row is None else int(row))
            if key not in out or out[key][0] <= when:
                out[key] = (when, label)
    return {k: v[1] for k, v in out.items()}


def _joined(
    files: PartitionedFiles, model: str, version: str, where: Span, labels: dict[Key, str]
) -> Iterator[tuple[list[str], list[str], np.ndarray | None, int]]:
    """(labels, predictions, probabilities or None, hour) of the labelled logged rows."""
    import numpy as np
    import pyarrow as pa

    from cairn.monitoring.reference import norm_label
    from cairn.monitoring.window import _batches, hours

    for hour, paths in sorted(hours(files, model, version).items()):
        for batch in _batches(files, paths, where.since_ms, where.until_ms):
            if batch.num_rows == 0:
                continue
            ids = batch.column("request_id").to_pylist()
            row_col = (
                batch.column("row").to_pylist() if "row" in batch.schema.names else [0] * len(ids)
            )
            take, truth = [], []
            for i, (rid, row) in enumerate(zip(ids, row_col, strict=True)):
                label = labels.get((rid, row if row is not None else 0), labels.get((rid, -1)))
                if label is not None:
                    take.append(i)
                    truth.append(label)
            if not take:
                continue
            picked = batch.take(pa.array(take))
            preds = [norm_label(v) for v in picked.column("prediction").to_pylist()]
            probs = None
            if "proba" in picked.schema.names and picked.column("proba").null_count == 0:
                col = picked.column("proba")
                flat = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
                probs = flat.reshape(len(take), col.type.list_size)
            yield truth, preds, probs, hour


def metrics(
    truth: list[str], preds: list[str], probs: np.ndarray | None, reference: dict[str, Any]
) -> dict[str, float]:
    """accuracy, f1 (and roc_auc with probabilities) for classifiers; rmse, mae otherwise."""
    import math

    import numpy as np

    from cairn.monitoring.reference import norm_label

    keep = [i for i, p in enumerate(preds) if p != ""]  # failed requests have no prediction
    truth = [truth[i] for i in keep]
    preds = [preds[i] for i in keep]
    if probs is not None:
        probs = probs[keep]
    if not truth:
        return {}
    out: dict[str, float] = {}
    if reference.get("task") == "classification":
        from sklearn.metrics import f1_score, roc_auc_score

        classes = [norm_label(c) for c in reference.get("classes", [])]
        y, p = np.array(truth, dtype=object), np.array(preds, dtype=object)
        out["accuracy"] = float((y == p).mean())
        if len(classes) == 2:
            out["f1"] = float(f1_score(y == classes[1], p == classes[1], zero_division=0))
            if probs is not None and len(set(truth)) == 2 and probs.shape[1] == 2:
                out["roc_auc"] = float(roc_auc_score(y == classes[1], probs[:, 1]))
        else:
            out["f1"] = float(f1_score(y, p, average="macro", zero_division=0))
    else:
        try:
            y_num = np.array([float(v) for v in truth])
            p_num = np.array([float(v) for v in preds])
        except ValueError:
            raise InvalidInput(
                "labels of a regression model must be numbers; a stored label is not"
            ) from None
        err = p_num - y_num
        out["rmse"] = float(np.sqrt(np.mean(err**2)))
        out["mae"] = float(np.mean(np.abs(err)))
    return {k: v for k, v in out.items() if math.isfinite(v)}


def realized_for(
    version: ModelVersion, reference: dict[str, Any], where: Span, ws: Workspace
) -> Realized | None:
    """Realized performance of ``version`` over ``where``; None when no row has a label."""
    import numpy as np

    labels = load_labels(ws)
    if not labels:
        return None
    truth: list[str] = []
    preds: list[str] = []
    probs: list[np.ndarray | None] = []
    for t, p, pr, _ in _joined(_files(ws), version.name, str(version.version), where, labels):
        truth += t
        preds += p
        probs.append(pr)
    if not truth:
        return None
    complete = [p for p in probs if p is not None]
    joined = np.concatenate(complete) if len(complete) == len(probs) else None
    return Realized(len(truth), metrics(truth, preds, joined, reference))


def performance(
    model: str,
    *,
    window: str | None = None,
    since: str | None = None,
    until: str | None = None,
    every: str | None = None,
    workspace: Workspace | None = None,
) -> tuple[Performance, ...]:
    """Realized and estimated performance per window bucket and per model version.

    Every version of the model named by ``model`` that has logged rows in the window is
    reported (``churn@production`` reports every version of ``churn``, so a new version
    can be compared with the one it replaced). ``every`` (``1h``, ``1d``) splits the
    window into buckets; without it the window is one bucket.
    """
    from cairn.monitoring.cbpe import estimate
    from cairn.monitoring.check import model_version
    from cairn.monitoring.reference import get_reference
    from cairn.monitoring.types import Performance
    from cairn.monitoring.window import Span, parse_duration, span, window_sketches
    from cairn.workspace import resolve

    ws = resolve(workspace)
    where = span(window, None, since, until)
    name = model_version(model, ws).name
    files = _files(ws)
    step = parse_duration(every) if every else None
    lo = where.since_ms if where.since_ms is not None else 0
    hi = where.until_ms if where.until_ms is not None else int(time.time() * 1000)
    buckets = [(lo, hi)] if step is None else [(s, min(s + step, hi)) for s in range(lo, hi, step)]
    labels = load_labels(ws)
    out: list[Performance] = []
    for number in _logged_versions(files, name):
        version = ws.registry.get_version(name, number)
        try:
            digest, reference = get_reference(version, ws)
        except InvalidInput:
            continue
        for start, end in buckets:
            part = Span(start, end)
            sketch, _ = window_sketches(files, name, str(number), digest, reference, part)
            if sketch.rows == 0:
                continue
            truth: list[str] = []
            preds: list[str] = []
            for t, p, _, _ in _joined(files, name, str(number), part, labels):
                truth += t
                preds += p
            out.append(
                Performance(
                    since_ms=start,
                    until_ms=end,
                    version=str(number),
                    rows=sketch.rows,
                    labelled=len(truth),
                    realized=metrics(truth, preds, None, reference) if truth else {},
                    estimated=estimate(sketch.cbpe),
                )
            )
    if not out:
        raise InvalidInput(
            f"no logged predictions of {name} in the window; widen it (e.g. --window 7d)"
        )
    return tuple(out)


def _logged_versions(files: PartitionedFiles, name: str) -> list[int]:
    found: dict[int, None] = defaultdict(lambda: None)
    for path in files.glob(f"{name}/model_version=*"):
        text = path.rstrip("/").rsplit("model_version=", 1)[-1]
        if text.isdigit():
            found[int(text)] = None
    return sorted(found)
