"""The prediction log: every request's inputs and outputs, in hourly Parquet files.

Layout, under the workspace artifact root (local folder or any fsspec URL, so every
replica of a deployment writes to the same shared store)::

    <artifact root>/predictions/<model>/model_version=<v>/date=2026-11-23/hour=15/
        part-<ms>-<host>-<pid>-<n>.parquet

A model version's signature fixes its columns, so every file under one
``model_version=`` folder has the same schema, and that folder reads as one table with
plain pandas (``pd.read_parquet``), pyarrow datasets or duckdb, whatever later versions
changed. Across versions, :func:`read_log` (or duckdb's ``union_by_name``) unites the
columns, filling the absent ones with nulls. The ``key=value`` folder names are Hive
partitions, so those readers also get ``model_version``, ``date`` and ``hour`` columns.

One row per input row: ``time`` (UTC), ``request_id``, ``row`` (position in the
request), ``model``, ``version``, ``role`` (``primary``, ``canary`` or ``shadow``),
``served`` (whether this answer was returned), ``status`` (200, or the HTTP status of a
request the model failed on: its ``prediction`` is null), ``latency_ms`` (the time the
server spent scoring the request), one column per input feature (a tensor input is one
list column, ``input``), ``prediction``, and for classifiers ``proba`` (the class
probabilities, one list per row in the order of the model's classes; computed by the
writer thread, off the request path, with one ``predict_proba`` call per model and
flush). A feature whose name clashes with one of those columns is stored as
``input:<name>``.

Files go through :class:`cairn.store.tables.PartitionedFiles`, the store's one path
for partitioned files (atomic writes, globbing), which monitoring reads through too.

The request path only puts a tuple on a bounded queue; a daemon thread turns batches
into Arrow tables and writes a file per model and hour every ``flush_interval``
seconds. When the queue is full the record is dropped and counted (``dropped``,
exported in ``/metrics``), never waited for. :meth:`PredictionLog.close` flushes.
Files appear whole or not at all, so readers never see half a file.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import queue
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from cairn.serving.codec import Batch
    from cairn.serving.privacy import LogPrivacy
    from cairn.store.tables import PartitionedFiles
    from cairn.workspace import Workspace

log = logging.getLogger("cairn.serving")

LOG_COLUMNS = (
    "time",
    "request_id",
    "row",
    "model",
    "version",
    "role",
    "served",
    "status",
    "latency_ms",
    "prediction",
    "proba",
)
PREDICTIONS_DIR = "predictions"
# Measured on 100-row requests of 30 floats: dictionary encoding and column statistics
# on every float feature cost more CPU than the request itself; zstd at level 1 is as
# cheap as snappy and smaller. Statistics stay on ``time``, which readers filter on.
_WRITE_OPTIONS: dict[str, Any] = {
    "use_dictionary": ["model", "version", "role"],
    "write_statistics": ["time"],
    "compression": "zstd",
    "compression_level": 1,
}


@dataclass(frozen=True, slots=True)
class LogRecord:
    when_ms: int
    request_id: str
    model: str
    version: str
    role: str
    served: bool
    batch: Batch
    predictions: np.ndarray | None  # None: the model failed on this request (``status``)
    status: int = 200
    latency_ms: float | None = None
    #: The classifier's ``predict_proba``, called by the writer thread (not the request).
    proba: Callable[[Batch], tuple[np.ndarray, list[Any]]] | None = None


def default_root(workspace: Workspace | None = None) -> str:
    """``<artifact root>/predictions`` of ``workspace`` (default: the process's)."""
    import cairn.workspace

    base = cairn.workspace.resolve(workspace).settings.artifact_uri
    return f"{base.rstrip('/')}/{PREDICTIONS_DIR}"


class PredictionLog:
    """A bounded queue and a background Parquet writer.

    Example:
        >>> plog = PredictionLog("/srv/ws/.cairn/artifacts/predictions")
        >>> plog.start()
        >>> plog.append(record)     # from the request path: never blocks
        >>> plog.close()            # flush what is queued
    """

    def __init__(
        self,
        root: str,
        *,
        maxsize: int = 10_000,
        flush_interval: float = 2.0,
        storage_options: dict[str, Any] | None = None,
        privacy: Mapping[str, LogPrivacy] | None = None,
    ) -> None:
        self.root = root.rstrip("/")
        #: Per model name (``"*"``: every model): columns dropped or hashed when written.
        self.privacy = dict(privacy or {})
        self.flush_interval = flush_interval
        self.storage_options = storage_options or {}
        self.dropped = 0
        self.written_rows = 0
        self.write_errors = 0
        self._queue: queue.Queue[LogRecord] = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = itertools.count()
        self._tag = f"{socket.gethostname()}-{os.getpid()}"
        self._files: PartitionedFiles | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cairn-predlog", daemon=True)
            self._thread.start()

    def append(self, record: LogRecord) -> None:
        """Queue one request's record; count it as dropped if the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 30.0) -> None:
        """Stop the writer after writing everything queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.flush()

    def flush(self) -> None:
        """Write everything queued now (also called by the writer thread)."""
        records: list[LogRecord] = []
        while True:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if records:
            self._write(records)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception as exc:  # keep the thread alive; the records are counted
                log.warning("prediction log write failed: %s", exc)

    def _write(self, records: list[LogRecord]) -> None:
        groups: dict[tuple[str, str, int], list[LogRecord]] = defaultdict(list)
        for rec in records:
            groups[(rec.model, rec.version, rec.when_ms // 3_600_000)].append(rec)
        for (model, version, hour), recs in groups.items():
            try:
                policy = self.privacy.get(model) or self.privacy.get("*")
                table = _to_table(recs, policy)
                self._put(_partition(model, version, hour), table)
                self.written_rows += table.num_rows
            except Exception as exc:
                self.write_errors += len(recs)
                log.warning(
                    "prediction log: %d records for %s not written: %s", len(recs), model, exc
                )

    def _put(self, partition: str, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self._files is None:  # opened on first write: the request path never waits on it
            from cairn.store.tables import PartitionedFiles

            self._files = PartitionedFiles(self.root, self.storage_options)
        name = f"part-{int(time.time() * 1000)}-{self._tag}-{next(self._seq)}.parquet"
        self._files.write(partition, name, lambda fh: pq.write_table(table, fh, **_WRITE_OPTIONS))


def _partition(model: str, version: str, hour: int) -> str:
    start = dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC)
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in version) or "_"
    return f"{model}/model_version={safe}/date={start:%Y-%m-%d}/hour={start:%H}"


def _to_table(records: list[LogRecord], policy: LogPrivacy | None = None) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    # Failed requests (no predictions) go last, so the prediction column is built from
    # the answered ones and padded with nulls.
    records = [r for r in records if r.predictions is not None] + [
        r for r in records if r.predictions is None
    ]
    sizes = np.fromiter((r.batch.rows for r in records), dtype=np.int64, count=len(records))
    # Per-request values are built once per request and spread to rows with one take().
    owner = pa.array(np.repeat(np.arange(len(records)), sizes))

    def spread(values: list[Any], kind: pa.DataType) -> pa.Array:
        return pa.array(values, kind).take(owner)

    columns: dict[str, Any] = {
        "time": spread([r.when_ms for r in records], pa.timestamp("ms", "UTC")),
        "request_id": spread([r.request_id for r in records], pa.string()),
        "row": pa.array(_row_numbers(sizes), pa.int32()),
        "model": spread([r.model for r in records], pa.string()),
        "version": spread([r.version for r in records], pa.string()),
        "role": spread([r.role for r in records], pa.string()),
        "served": spread([r.served for r in records], pa.bool_()),
        "status": spread([r.status for r in records], pa.int16()),
        "latency_ms": spread([r.latency_ms for r in records], pa.float32()),
    }
    features = _feature_columns(records)
    if policy:
        features = policy.apply(features)
    for name, col in features.items():
        key = f"input:{name}" if name in LOG_COLUMNS else name
        columns[key] = col
    answered = [r.predictions for r in records if r.predictions is not None]
    failed = int(sum(r.batch.rows for r in records if r.predictions is None))
    if answered:
        prediction = _column(answered)
        columns["prediction"] = pa.concat_arrays([prediction, pa.nulls(failed, prediction.type)])
    else:
        columns["prediction"] = pa.nulls(failed, pa.float64())
    proba = _proba_column(records)
    if proba is not None:
        columns["proba"] = proba
    return pa.table(columns, metadata=policy.metadata() if policy else None)


def _proba_column(records: list[LogRecord]) -> pa.Array | None:
    """Class probabilities of every row, or None when the model gives none; a request
    whose probabilities cannot be computed gets nulls (the record is still written).

    The requests of one model go through ``predict_proba`` together, as one batch: a
    call costs the model's fixed overhead (for a scikit-learn pipeline on a frame,
    milliseconds) whatever its rows, so one call per request made the writer thread
    take more CPU than the requests it logged. If the joint call fails (one request
    the model refuses), each request is scored alone so the others keep theirs.
    """
    import numpy as np
    import pyarrow as pa

    if not any(r.proba is not None and r.predictions is not None for r in records):
        return None
    parts: list[np.ndarray | None] = [None] * len(records)
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.proba is not None and r.predictions is not None:
            groups[r.proba].append(i)
    for proba, members in groups.items():
        scored = _joint_proba(proba, [records[i].batch for i in members])
        for i, probs in zip(members, scored, strict=True):
            parts[i] = probs
    width = 0
    for r, probs in zip(records, parts, strict=True):
        if probs is not None and probs.ndim == 2 and probs.shape[0] == r.batch.rows:
            width = width or probs.shape[1]
    if width == 0:
        return None
    flat: list[np.ndarray] = []
    valid: list[np.ndarray] = []
    for r, probs in zip(records, parts, strict=True):
        ok = probs is not None and probs.shape == (r.batch.rows, width)
        flat.append(probs if ok and probs is not None else np.zeros((r.batch.rows, width)))
        valid.append(np.full(r.batch.rows, ok))
    values = pa.array(np.concatenate(flat).ravel())
    mask = pa.array(~np.concatenate(valid))
    return pa.FixedSizeListArray.from_arrays(values, width, mask=mask)


def _joint_proba(
    proba: Callable[[Batch], tuple[np.ndarray, list[Any]]], batches: list[Batch]
) -> list[np.ndarray | None]:
    """``proba`` of each batch, from one call on their concatenation when they join."""
    import numpy as np

    joined = _join(batches) if len(batches) > 1 else None
    if joined is not None:
        try:
            probs = np.asarray(proba(joined)[0], dtype=np.float64)
        except Exception:
            probs = None
        if probs is not None and probs.ndim == 2 and probs.shape[0] == joined.rows:
            bounds = np.cumsum([b.rows for b in batches])[:-1]
            return list(np.split(probs, bounds))
    out: list[np.ndarray | None] = []
    for batch in batches:
        try:
            one = np.asarray(proba(batch)[0], dtype=np.float64)
        except Exception:
            one = None
        out.append(one if one is not None and one.ndim == 2 else None)
    return out


def _join(batches: list[Batch]) -> Batch | None:
    """One batch holding the rows of ``batches`` in order, or None if their shapes differ."""
    import numpy as np

    from cairn.serving.codec import Batch

    first = batches[0]
    rows = sum(b.rows for b in batches)
    if all(b.matrix is not None and b.names == first.names for b in batches):
        matrix = np.concatenate([b.matrix for b in batches if b.matrix is not None])
        return Batch(rows=rows, matrix=matrix, names=first.names)
    if first.columns is not None and all(
        b.columns is not None and b.columns.keys() == first.columns.keys() for b in batches
    ):
        columns = {
            name: _concat([b.columns[name] for b in batches if b.columns is not None])
            for name in first.columns
        }
        return Batch(rows=rows, columns=columns)
    if first.tensor is not None and all(
        b.tensor is not None and b.tensor.shape[1:] == first.tensor.shape[1:] for b in batches
    ):
        return Batch(rows=rows, tensor=np.concatenate([b.tensor for b in batches]))
    return None


def _concat(arrays: list[np.ndarray]) -> np.ndarray:
    import numpy as np

    if len({a.dtype for a in arrays}) > 1:  # e.g. strings of different widths
        arrays = [a.astype(object) for a in arrays]
    out: np.ndarray = np.concatenate(arrays)
    return out


def _row_numbers(sizes: np.ndarray) -> np.ndarray:
    import numpy as np

    total = int(sizes.sum())
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows: np.ndarray = (np.arange(total) - starts).astype(np.int32)
    return rows


def _feature_columns(records: list[LogRecord]) -> dict[str, pa.Array]:
    import numpy as np
    import pyarrow as pa

    first = records[0].batch
    if first.tensor is not None:
        return {"input": _column([r.batch.tensor for r in records if r.batch.tensor is not None])}
    if all(r.batch.matrix is not None and r.batch.names == first.names for r in records):
        # Float tables sent as rows: one concatenation, then one contiguous copy per column.
        big = np.concatenate([r.batch.matrix for r in records if r.batch.matrix is not None])
        by_column = np.ascontiguousarray(big.T)
        return {name: pa.array(by_column[j]) for j, name in enumerate(first.names)}
    names: list[str] = []
    tables = [r.batch.column_arrays() for r in records]
    for cols in tables:
        for name in cols:
            if name not in names:
                names.append(name)
    out = {}
    for name in names:
        parts = []
        for r, cols in zip(records, tables, strict=True):
            parts.append(cols[name] if name in cols else _nulls(r.batch.rows))
        out[name] = _column(parts)
    return out


def _nulls(n: int) -> np.ndarray:
    import numpy as np

    return np.full(n, None, dtype=object)


def _column(parts: Iterable[np.ndarray]) -> pa.Array:
    import numpy as np
    import pyarrow as pa

    arrays = [np.asarray(p) for p in parts]
    arrays = [a for a in arrays if a.shape[0] > 0] or arrays[:1]
    if any(a.dtype.kind == "O" for a in arrays) and len({a.dtype for a in arrays}) > 1:
        arrays = [a.astype(object) for a in arrays]
    joined = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
    if joined.ndim == 1:
        if joined.dtype.kind == "O":
            return pa.array([None if v is None else str(v) for v in joined.tolist()], pa.string())
        return pa.array(joined)
    flat = joined.reshape(joined.shape[0], -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])


# -- reading ---------------------------------------------------------------------------


def _when(value: dt.datetime | dt.timedelta | str | int | float | None) -> int | None:
    """Milliseconds since the epoch for a datetime, ISO string, timedelta ago, or ms."""
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return int((time.time() - value.total_seconds()) * 1000)
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(
                f"{value!r} is not an ISO date or time, e.g. 2026-11-23T15:00"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def read_log(
    model: str,
    since: dt.datetime | dt.timedelta | str | int | None = None,
    until: dt.datetime | dt.timedelta | str | int | None = None,
    *,
    root: str | None = None,
    storage_options: dict[str, Any] | None = None,
    workspace: Workspace | None = None,
) -> pd.DataFrame:
    """The logged predictions of ``model`` with ``since <= time < until``, oldest first.

    ``since``/``until`` take datetimes (naive means UTC), ISO strings, a timedelta
    meaning "that long ago", or epoch milliseconds. Only the hourly partitions in range
    are opened. ``root`` defaults to the prediction log of ``workspace`` (default: the
    process's workspace).

    Example:
        >>> df = cairn.serving.read_log("churn", since=timedelta(hours=1))
        >>> df[["request_id", "version", "prediction"]].head()
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cairn.store.tables import PartitionedFiles

    lo, hi = _when(since), _when(until)
    if root is None:
        import cairn.workspace

        ws = cairn.workspace.resolve(workspace)
        root = default_root(ws)
        if storage_options is None:
            storage_options = ws.settings.storage_options
    files = PartitionedFiles(root, storage_options)
    tables = []
    # Files of the layout before versions were partitions too (``<model>/date=*/...``).
    found = files.glob(f"{model}/model_version=*/date=*/hour=*/part-*.parquet")
    found += files.glob(f"{model}/date=*/hour=*/part-*.parquet")
    for path in sorted(found, key=lambda p: p.rsplit("/", 1)[-1]):
        hour = _hour_of(path)
        if hour is None:
            continue
        if lo is not None and (hour + 1) * 3_600_000 <= lo:
            continue
        if hi is not None and hour * 3_600_000 >= hi:
            continue
        with files.open(path) as fh:
            tables.append(pq.read_table(fh))
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LOG_COLUMNS})
    table = pa.concat_tables(tables, promote_options="permissive")
    df = table.to_pandas()
    mask = pd.Series(True, index=df.index)
    if lo is not None:
        mask &= df["time"] >= pd.Timestamp(lo, unit="ms", tz="UTC")
    if hi is not None:
        mask &= df["time"] < pd.Timestamp(hi, unit="ms", tz="UTC")
    return df[mask].sort_values(["time", "request_id", "row"], kind="stable").reset_index(drop=True)


def _hour_of(path: str) -> int | None:
    parts = path.replace("\\", "/").split("/")
    try:
        date = next(p for p in parts if p.startswith("date="))[5:]
        hour = next(p for p in parts if p.startswith("hour="))[5:]
        start = dt.datetime.fromisoformat(f"{date}T{hour}:00:00+00:00")
    except (StopIteration, ValueError):
        return None
    return int(start.timestamp()) // 3600
