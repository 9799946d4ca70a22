"""Windows of the prediction log, summarized hour by hour with cached sketches.

The log of a model version is hourly partitions (:mod:`cairn.serving.predlog`). A
window is ``since <= time < until`` or "the last N rows". :func:`window_sketches` builds
it from hours:

- an hour wholly inside the window that ended more than ``SETTLE_SECONDS`` ago is
  sketched once and the sketch cached next to the log, under
  ``<predictions>/_sketches/<model>/model_version=V/date=D/hour=H/sketch-<key>.json``.
  The key is a digest of the reference and of the names of the hour's files (files are
  written once and never change), so a file that lands late in an old hour gives a new
  key and the hour is sketched again: a cached sketch never hides rows;
- an hour cut by the window's edges, or still being written, is read and filtered to
  the window's rows (streamed in record batches), not cached.

Merging the hours costs the size of the sketches, not of the rows; reading an hour
holds one record batch at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from cairn.monitoring.sketch import WindowSketch
    from cairn.store.tables import PartitionedFiles

HOUR_MS = 3_600_000
SETTLE_SECONDS = 300  # a file for an hour can land this long after it ends (writer flush)
SKETCH_DIR = "_sketches"
DEFAULT_WINDOW = "24h"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1_000, "m": 60_000, "h": HOUR_MS, "d": 24 * HOUR_MS, "w": 7 * 24 * HOUR_MS}
_BATCH_ROWS = 65_536


@dataclass(frozen=True, slots=True)
class Span:
    """What to read: ``since <= time < until`` (epoch ms), or the ``last`` N rows."""

    since_ms: int | None
    until_ms: int | None
    last: int | None = None


def parse_duration(text: str) -> int:
    """Milliseconds of ``30m``, ``1h``, ``2d``, ``1w``, ``90s``."""
    match = _DURATION.match(text or "")
    if match is None:
        raise InvalidInput(
            f"window {text!r} is not a duration; write a number and a unit, e.g. 30m, 1h, 7d"
        )
    ms = int(float(match[1]) * _UNITS[match[2]])
    if ms <= 0:
        raise InvalidInput(f"window {text!r} is empty; give a positive duration, e.g. 1h")
    return ms


def parse_time(text: str, what: str) -> int:
    """Epoch ms of an ISO date/time (naive means UTC) or of a duration ago (``2h``)."""
    if _DURATION.match(text):
        return int(time.time() * 1000) - parse_duration(text)
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{what} {text!r} is neither an ISO time (2026-11-23T15:00) nor a duration ago (2h)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp() * 1000)


def span(
    window: str | None = None,
    last: int | None = None,
    since: str | None = None,
    until: str | None = None,
    now_ms: int | None = None,
) -> Span:
    """The one window the options describe; ``InvalidInput`` if they contradict."""
    given = [n for n, v in (("--window", window), ("--last", last)) if v is not None]
    if since is not None or until is not None:
        given.append("--since/--until")
    if len(given) > 1:
        raise InvalidInput(f"give one of --window, --last or --since/--until, not {given}")
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if last is not None:
        if last <= 0:
            raise InvalidInput(f"--last {last}: give a positive number of rows, e.g. 10000")
        return Span(None, None, last)
    if since is not None or until is not None:
        lo = parse_time(since, "--since") if since is not None else None
        hi = parse_time(until, "--until") if until is not None else None
        if lo is not None and hi is not None and hi <= lo:
            raise InvalidInput(f"--until ({until}) must be after --since ({since})")
        return Span(lo, hi)
    return Span(now - parse_duration(window or DEFAULT_WINDOW), now)


def partition_safe(version: str) -> str:
    """The folder spelling of a version, as the prediction log writes it."""
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in version) or "_"


def hours(files: PartitionedFiles, model: str, version: str) -> dict[int, list[str]]:
    """The log files of one model version by hour (epoch hours)."""
    found = files.glob(
        f"{model}/model_version={partition_safe(version)}/date=*/hour=*/part-*.parquet"
    )
    out: dict[int, list[str]] = defaultdict(list)
    for path in found:
        hour = _hour_of(path)
        if hour is not None:
            out[hour].append(path)
    return dict(out)


def _hour_of(path: str) -> int | None:
    parts = path.split("/")
    try:
        date = next(p for p in parts if p.startswith("date="))[5:]
        hour = next(p for p in parts if p.startswith("hour="))[5:]
        start = dt.datetime.fromisoformat(f"{date}T{hour}:00:00+00:00")
    except (StopIteration, ValueError):
        return None
    return int(start.timestamp()) // 3600


def window_sketches(
    files: PartitionedFiles,
    model: str,
    version: str,
    digest: str,
    reference: dict[str, Any],
    where: Span,
    now_ms: int | None = None,
) -> tuple[WindowSketch, Span]:
    """The merged sketch of the rows of ``model``/``version`` in ``where``, and the span
    actually covered (for ``last``: from the oldest row taken)."""
    from cairn.monitoring.sketch import WindowSketch

    now = int(time.time() * 1000) if now_ms is None else now_ms
    by_hour = hours(files, model, version)
    total = WindowSketch.empty(digest, reference)
    if where.last is not None:
        return _last_rows(files, model, version, digest, reference, by_hour, where.last, now)
    for hour in sorted(by_hour):
        start, end = hour * HOUR_MS, (hour + 1) * HOUR_MS
        if where.since_ms is not None and end <= where.since_ms:
            continue
        if where.until_ms is not None and start >= where.until_ms:
            continue
        whole = (where.since_ms is None or where.since_ms <= start) and (
            where.until_ms is None or end <= where.until_ms
        )
        if whole:
            total.merge(_hour_sketch(files, model, version, hour, by_hour[hour], digest,
                                     reference, now))  # fmt: skip
        else:
            part = WindowSketch.empty(digest, reference)
            for batch in _batches(files, by_hour[hour], where.since_ms, where.until_ms):
                part.update(reference, batch)
            total.merge(part)
    return total, where


def _last_rows(
    files: PartitionedFiles,
    model: str,
    version: str,
    digest: str,
    reference: dict[str, Any],
    by_hour: dict[int, list[str]],
    last: int,
    now: int,
) -> tuple[WindowSketch, Span]:
    import pyarrow.parquet as pq

    from cairn.monitoring.sketch import WindowSketch

    total = WindowSketch.empty(digest, reference)
    need = last
    since: int | None = None
    for hour in sorted(by_hour, reverse=True):
        paths = by_hour[hour]
        rows = 0
        for path in paths:
            with files.open(path) as fh:
                rows += pq.read_metadata(fh).num_rows
        if rows <= need:
            total.merge(_hour_sketch(files, model, version, hour, paths, digest, reference, now))
            need -= rows
            since = hour * HOUR_MS
        else:
            cutoff = _newest_cutoff(files, paths, need)
            part = WindowSketch.empty(digest, reference)
            for batch in _batches(files, paths, cutoff, None):
                part.update(reference, batch)
            total.merge(part)
            since, need = cutoff, 0
        if need <= 0:
            break
    return total, Span(since, None, last)


def _newest_cutoff(files: PartitionedFiles, paths: list[str], keep: int) -> int:
    """The time of the ``keep``-th newest row of these files (epoch ms)."""
    import numpy as np
    import pyarrow.parquet as pq

    stamps = []
    for path in paths:
        with files.open(path) as fh:
            column = pq.read_table(fh, columns=["time"]).column("time")
        stamps.append(np.asarray(column.cast("int64").to_numpy(), dtype=np.int64))
    joined = np.sort(np.concatenate(stamps))
    return int(joined[-keep]) if keep > 0 else int(joined[-1]) + 1


def _hour_sketch(
    files: PartitionedFiles,
    model: str,
    version: str,
    hour: int,
    paths: list[str],
    digest: str,
    reference: dict[str, Any],
    now: int,
) -> WindowSketch:
    from cairn.hashing import hash_bytes
    from cairn.monitoring.sketch import WindowSketch

    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    key = hash_bytes(json.dumps([digest, names]).encode())[:32]
    start = dt.datetime.fromtimestamp(hour * 3600, tz=dt.UTC)
    partition = (
        f"{SKETCH_DIR}/{model}/model_version={partition_safe(version)}/"
        f"date={start:%Y-%m-%d}/hour={start:%H}"
    )
    name = f"sketch-{key}.json"
    settled = (hour + 1) * HOUR_MS + SETTLE_SECONDS * 1000 <= now
    if settled:
        for path in files.glob(f"{partition}/{name}"):
            try:
                with files.open(path) as fh:
                    cached = WindowSketch.from_dict(json.load(fh))
            except (ValueError, KeyError, TypeError):
                break  # an unreadable cache entry is rebuilt below and replaced
            if cached.reference == digest:
                return cached
    sketch = WindowSketch.empty(digest, reference)
    for batch in _batches(files, paths, None, None):
        sketch.update(reference, batch)
    if settled:
        data = json.dumps(sketch.to_dict()).encode()
        files.write(partition, name, lambda fh: fh.write(data))
    return sketch


def _batches(
    files: PartitionedFiles, paths: list[str], since_ms: int | None, until_ms: int | None
) -> Iterator[pa.RecordBatch]:
    """The rows of ``paths`` with ``since <= time < until``, a record batch at a time."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for path in paths:
        with files.open(path) as fh:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=_BATCH_ROWS):
                if since_ms is None and until_ms is None:
                    yield batch
                    continue
                stamps = batch.column("time").cast(pa.int64())
                keep = pa.array([True] * batch.num_rows)
                if since_ms is not None:
                    keep = pc.and_(keep, pc.greater_equal(stamps, since_ms))
                if until_ms is not None:
                    keep = pc.and_(keep, pc.less(stamps, until_ms))
                yield batch.filter(keep)
