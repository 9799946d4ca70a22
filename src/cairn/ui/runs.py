"""The data behind the runs pages: one page of a run search, a run, one metric's series.

Each function returns a JSON-ready dict; the routes render it as HTML or answer it as
JSON, so the page and its ``?format=json`` twin can never disagree. Everything heavy
happens in the store: the filter, the sort and the page (``max_results`` plus a page
token), so a table over 100,000 runs costs one page of rows.
"""

from __future__ import annotations

import bisect
import re
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cairn.errors import InvalidInput
from cairn.store.base import DEFAULT_EXPERIMENT, TrackingStore
from cairn.types import Experiment, Run
from cairn.ui.downsample import DEFAULT_BUCKETS, MAX_BUCKETS, Series, downsample

PAGE_SIZES = (25, 50, 100, 200, 500)
DEFAULT_PAGE_SIZE = 50
#: How many earlier pages' tokens a URL keeps for "previous" (older ones: "first").
MAX_BACK = 50
MAX_COLUMNS = 50
#: Metric columns shown when the URL picks none: the first keys of the page's runs.
DEFAULT_METRIC_COLUMNS = 4
_COLUMN = re.compile(r"(metrics|params|tags)\.(.+)")


@dataclass(frozen=True, slots=True)
class TableQuery:
    """What the runs table shows: all of it lives in the URL, so a link reproduces it."""

    experiment: str = ""
    filter: str = ""
    sort: str = ""
    columns: tuple[str, ...] = ()
    size: int = DEFAULT_PAGE_SIZE
    token: str = ""
    back: tuple[str, ...] = ()

    @classmethod
    def parse(cls, q: dict[str, str]) -> TableQuery:
        """From query parameters; a bad page size or column names itself and the fix."""
        size_text = q.get("size") or str(DEFAULT_PAGE_SIZE)
        if not size_text.isdigit() or int(size_text) not in PAGE_SIZES:
            raise InvalidInput(
                f"page size {size_text!r} is not offered; use one of "
                + ", ".join(map(str, PAGE_SIZES))
            )
        columns = tuple(c.strip() for c in (q.get("cols") or "").split(",") if c.strip())
        if len(columns) > MAX_COLUMNS:
            raise InvalidInput(f"{len(columns)} columns chosen; the limit is {MAX_COLUMNS}")
        for column in columns:
            if not _COLUMN.fullmatch(column):
                raise InvalidInput(
                    f"column {column[:60]!r} is not metrics.KEY, params.KEY or tags.KEY"
                )
        back = tuple(t for t in (q.get("back") or "").split(",") if t)[-MAX_BACK:]
        return cls(
            experiment=q.get("experiment", ""),
            filter=q.get("filter", ""),
            sort=q.get("sort", ""),
            columns=columns,
            size=int(size_text),
            token=q.get("token", ""),
            back=back,
        )

    def params(self, **changes: Any) -> dict[str, str]:
        """The URL query of this table with ``changes`` applied (empty values left out)."""
        values: dict[str, Any] = {
            "experiment": self.experiment,
            "filter": self.filter,
            "sort": self.sort,
            "cols": ",".join(self.columns),
            "size": "" if self.size == DEFAULT_PAGE_SIZE else str(self.size),
            "token": self.token,
            "back": ",".join(self.back),
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in ("", None)}


def pick_experiment(tracking: TrackingStore, name_or_id: str) -> Experiment | None:
    """The experiment a table shows: the one named, else ``Default``, else the newest;
    None when the workspace has none."""
    if name_or_id:
        return tracking.get_experiment(name_or_id)
    experiments = tracking.list_experiments()
    if not experiments:
        return None
    by_name = {e.name: e for e in experiments}
    return by_name.get(DEFAULT_EXPERIMENT) or max(experiments, key=lambda e: e.created_at)


def runs_table(
    tracking: TrackingStore, query: TableQuery, experiment: Experiment | None
) -> dict[str, Any]:
    """One page of runs of ``experiment`` (see :func:`pick_experiment`), as the table
    shows it."""
    experiments = [{"id": e.id, "name": e.name} for e in tracking.list_experiments()]
    if experiment is None:
        return {"experiment": None, "experiments": experiments, "columns": [], "runs": []}
    page = tracking.search_runs(
        [experiment.id],
        filter=query.filter,
        order_by=[query.sort] if query.sort else [],
        max_results=query.size,
        page_token=query.token or None,
    )
    columns = list(query.columns) or _default_columns(page.items)
    return {
        "experiment": {"id": experiment.id, "name": experiment.name},
        "experiments": experiments,
        "filter": query.filter,
        "sort": query.sort,
        "size": query.size,
        "columns": columns,
        "key_choices": _keys(page.items),
        "runs": [_row(run, columns) for run in page.items],
        "next_token": page.next_token,
        "page": len(query.back) + 1 if query.token else 1,
    }


def _default_columns(runs: tuple[Run, ...]) -> list[str]:
    keys = sorted({k for run in runs for k in run.metrics})
    return [f"metrics.{k}" for k in keys[:DEFAULT_METRIC_COLUMNS]]


def _keys(runs: tuple[Run, ...]) -> list[str]:
    """Every metric, param and tag key on this page: suggestions for the column picker."""
    keys: set[str] = set()
    for run in runs:
        keys.update(f"metrics.{k}" for k in run.metrics)
        keys.update(f"params.{k}" for k in run.params)
        keys.update(f"tags.{k}" for k in run.tags if not k.startswith("cairn."))
    return sorted(keys)


def _cell(run: Run, column: str) -> Any:
    kind, key = column.split(".", 1)
    if kind == "metrics":
        metric = run.metrics.get(key)
        return None if metric is None else metric.value
    return (run.params if kind == "params" else run.tags).get(key)


def _row(run: Run, columns: list[str]) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "status": str(run.status),
        "start_time": run.start_time,
        "duration_ms": run.duration_ms,
        "values": [_cell(run, c) for c in columns],
    }


def run_detail(tracking: TrackingStore, run_id: str) -> dict[str, Any]:
    """A run with its experiment's name and the metric keys its charts draw."""
    run = tracking.get_run(run_id)
    experiment = tracking.get_experiment(run.experiment_id)
    data = run.to_dict(experiment.name)
    data["metric_keys"] = sorted(run.metrics)
    env = run.environment
    data["environment"] = {
        "python_version": env.python_version,
        "host": env.host,
        "user": env.user,
        "packages": dict(env.packages),
    }
    for direction in ("inputs", "outputs"):
        for item in data[direction]:
            item["direction"] = direction[:-1]
    return data


def metric_series(
    tracking: TrackingStore,
    run_id: str,
    key: str,
    *,
    start: int | None = None,
    end: int | None = None,
    buckets: int = DEFAULT_BUCKETS,
) -> dict[str, Any]:
    """One metric of a run between steps ``start`` and ``end`` (inclusive), thinned to
    at most ``2 * buckets`` points (see :mod:`cairn.ui.downsample`)."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise InvalidInput(f"points {buckets} is out of range; ask for 1 to {MAX_BUCKETS}")
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"step range {start}..{end} is empty; give from <= to")
    all_steps, all_values = _history(tracking, run_id, key)
    lo = 0 if start is None else bisect.bisect_left(all_steps, start)
    hi = len(all_steps) if end is None else bisect.bisect_right(all_steps, end)
    series: Series = downsample(all_steps[lo:hi], all_values[lo:hi], buckets)
    return {
        "run_id": run_id,
        "key": key,
        "steps": series.steps,
        "values": series.values,
        "total": series.total,
        "thinned": series.thinned,
    }


#: Points of finished runs' series kept in memory, so zooming does not read them again.
CACHE_POINTS = 4_000_000
_cache: OrderedDict[tuple[str, str], tuple[array[int], array[float]]] = OrderedDict()
_cache_points = 0
_cache_lock = threading.Lock()


def _history(tracking: TrackingStore, run_id: str, key: str) -> tuple[array[int], array[float]]:
    """Steps and values of one metric. A finished run's series cannot change, so it is
    kept (least recently used first out, :data:`CACHE_POINTS` in all); a running run's
    is read afresh each time."""
    global _cache_points
    with _cache_lock:
        hit = _cache.get((run_id, key))
        if hit is not None:
            _cache.move_to_end((run_id, key))
            return hit
    history = tracking.get_metric_history(run_id, key)
    if not history:
        tracking.get_run(run_id)  # NotFound names the run when it is the run that is missing
        raise InvalidInput(f"run {run_id} has no metric {key!r}")
    steps = array("q", (m.step for m in history))
    values = array("d", (m.value for m in history))
    if tracking.get_run(run_id).status.is_terminal and len(steps) <= CACHE_POINTS:
        with _cache_lock:
            if (run_id, key) not in _cache:
                _cache[(run_id, key)] = (steps, values)
                _cache_points += len(steps)
            while _cache_points > CACHE_POINTS:
                _, (old, _) = _cache.popitem(last=False)
                _cache_points -= len(old)
    return steps, values
