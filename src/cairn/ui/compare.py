"""The data behind the compare page: many runs side by side.

Which runs: listed by id (``runs=ID,ID,...``), or every run of an experiment that a
filter matches (``experiment=churn&filter=...&sort=...&limit=500``), so comparing the
500 trials of a tuning study is one link. What they show:

* a table of the runs with only the parameters whose values differ (``all_params=1``
  shows every one) and their latest metrics;
* the parallel-coordinates view: one axis per differing parameter and per metric, one
  line per run (the same columns as the table, drawn in the browser);
* overlaid metric charts, fetched per metric from :func:`compare_series`.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.errors import InvalidInput
from cairn.store.base import TrackingStore
from cairn.types import Run

MAX_RUNS = 1000
DEFAULT_LIMIT = 100
#: Metric points read for one overlaid chart (all runs together): beyond it, ask for fewer.
MAX_POINTS = 5_000_000
DEFAULT_CHART_POINTS = 400
MAX_CHART_POINTS = 2000
MAX_CHARTS = 12
_RUN_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class CompareQuery:
    """Which runs to compare and what to show: all of it lives in the URL."""

    runs: tuple[str, ...] = ()
    experiment: str = ""
    filter: str = ""
    sort: str = ""
    limit: int = DEFAULT_LIMIT
    metrics: tuple[str, ...] = ()
    all_params: bool = False

    @classmethod
    def parse(cls, q: Mapping[str, str], listed: Sequence[str] = ()) -> CompareQuery:
        """From query parameters; ``listed`` are repeated ``run=`` values (checkboxes)."""
        ids = [r.strip() for r in (q.get("runs") or "").split(",") if r.strip()]
        ids += [r.strip() for r in listed if r.strip()]
        for run_id in ids:
            if not _RUN_ID.fullmatch(run_id):
                raise InvalidInput(
                    f"run id {run_id[:40]!r} is not a run id; copy it from cairn runs ls"
                )
        if not ids and not q.get("experiment"):
            raise InvalidInput(
                "pick runs to compare: tick them in the runs table, or give "
                "runs=ID,ID or experiment=NAME (with an optional filter)"
            )
        limit_text = q.get("limit") or str(DEFAULT_LIMIT)
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_RUNS:
            raise InvalidInput(f"limit {limit_text[:20]!r} is out of range; use 1 to {MAX_RUNS}")
        if len(ids) > MAX_RUNS:
            raise InvalidInput(f"{len(ids)} runs listed; compare at most {MAX_RUNS} at once")
        metrics = tuple(m.strip() for m in (q.get("metrics") or "").split(",") if m.strip())
        if len(metrics) > MAX_CHARTS:
            raise InvalidInput(f"{len(metrics)} metrics chosen; chart at most {MAX_CHARTS}")
        return cls(
            runs=tuple(dict.fromkeys(ids)),
            experiment=q.get("experiment", ""),
            filter=q.get("filter", ""),
            sort=q.get("sort", ""),
            limit=int(limit_text),
            metrics=metrics,
            all_params=q.get("all_params", "") in ("1", "true", "on"),
        )

    def params(self) -> dict[str, str]:
        """The URL query selecting the same runs (for links and chart requests)."""
        values = {
            "runs": ",".join(self.runs),
            "experiment": self.experiment,
            "filter": self.filter,
            "sort": self.sort,
            "limit": "" if self.limit == DEFAULT_LIMIT else str(self.limit),
        }
        return {k: v for k, v in values.items() if v}


def select_runs(tracking: TrackingStore, query: CompareQuery) -> list[Run]:
    """The runs ``query`` names, in its order: listed ids (each must exist), else one
    search of the experiment (filter and sort in the store, ``limit`` rows)."""
    if query.runs:
        quoted = ",".join(f"'{r}'" for r in query.runs)
        found = tracking.search_runs(
            None, filter=f"attributes.run_id in ({quoted})", max_results=len(query.runs)
        ).items
        by_id = {r.id: r for r in found}
        missing = [r for r in query.runs if r not in by_id]
        if missing:
            raise InvalidInput(
                f"no run with id {missing[0]!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; see cairn runs ls"
            )
        return [by_id[r] for r in query.runs]
    experiment = tracking.get_experiment(query.experiment)
    page = tracking.search_runs(
        [experiment.id],
        filter=query.filter,
        order_by=[query.sort] if query.sort else [],
        max_results=query.limit,
    )
    return list(page.items)


def compare_view(
    runs: list[Run], query: CompareQuery, experiments: dict[str, str]
) -> dict[str, Any]:
    """The page's data: runs with their differing params and latest metrics, the metric
    keys charted, and the parallel-coordinates axes."""
    param_keys = sorted({k for r in runs for k in r.params})
    differing = [k for k in param_keys if len({r.params.get(k) for r in runs}) > 1]
    shown = param_keys if query.all_params else differing
    metric_keys = sorted({k for r in runs for k in r.metrics})
    charted = list(query.metrics) or metric_keys[:6]
    unknown = [m for m in charted if m not in metric_keys]
    if unknown:
        raise InvalidInput(
            f"none of these runs has metric {unknown[0]!r}; pick from "
            + ", ".join(metric_keys[:20])
        )
    rows = [
        {
            "id": r.id,
            "name": r.name,
            "experiment": experiments.get(r.experiment_id, ""),
            "status": str(r.status),
            "params": [r.params.get(k) for k in shown],
            "metrics": [
                _finite(r.metrics[k].value) if k in r.metrics else None for k in metric_keys
            ],
        }
        for r in runs
    ]
    axes = [_axis(f"params.{k}", [r.params.get(k) for r in runs]) for k in differing]
    axes += [
        _axis(f"metrics.{k}", [r.metrics[k].value if k in r.metrics else None for r in runs])
        for k in metric_keys
    ]
    return {
        "query": query.params(),
        "count": len(runs),
        "param_keys": shown,
        "same_params": {k: runs[0].params.get(k) for k in param_keys if k not in differing}
        if runs
        else {},
        "all_params": query.all_params,
        "metric_keys": metric_keys,
        "charted": charted,
        "runs": rows,
        "parallel": {"axes": axes, "names": [r.name for r in runs]},
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _axis(name: str, values: list[Any]) -> dict[str, Any]:
    """One parallel-coordinates axis: numeric when every present value is a number,
    else categorical (values placed evenly, in sorted order)."""
    numbers: list[float | None] = []
    for v in values:
        try:
            numbers.append(None if v is None else _finite(float(v)))
        except ValueError:
            break
    else:
        return {"name": name, "kind": "num", "values": numbers}
    labels = sorted({str(v) for v in values if v is not None})
    return {
        "name": name,
        "kind": "cat",
        "labels": labels,
        "values": [None if v is None else labels.index(str(v)) for v in values],
    }


def compare_series(
    tracking: TrackingStore, runs: list[Run], key: str, points: int = DEFAULT_CHART_POINTS
) -> dict[str, Any]:
    """One metric of every run, on one step axis, ready for an overlaid uPlot chart:
    ``steps`` and, per run, ``values`` aligned to them (None where a run logged nothing).

    When the runs together log at most ``points`` distinct steps, every point comes
    back. Otherwise the step range is cut into ``points`` equal buckets and each run
    shows the last value it logged in each bucket (``thinned`` is true)."""
    if not 2 <= points <= MAX_CHART_POINTS:
        raise InvalidInput(f"points {points} is out of range; ask for 2 to {MAX_CHART_POINTS}")
    series = _many(tracking, [r.id for r in runs], key)
    total = sum(len(s) for s, _ in series.values())
    if total > MAX_POINTS:
        raise InvalidInput(
            f"metric {key!r} has {total:,} points over these runs; compare fewer runs "
            f"(the limit is {MAX_POINTS:,} points per chart)"
        )
    distinct = sorted({s for steps, _ in series.values() for s in steps})
    thinned = len(distinct) > points
    if not distinct:
        grid: list[int] = []
    elif thinned:
        lo, hi = distinct[0], distinct[-1]
        grid = sorted({lo + math.ceil((hi - lo) * (b + 1) / points) for b in range(points)})
    else:
        grid = distinct
    lines = []
    for r in runs:
        steps, values = series.get(r.id, (array("q"), array("d")))
        lines.append({"id": r.id, "name": r.name, "values": _align(steps, values, grid, thinned)})
    return {"key": key, "steps": grid, "runs": lines, "thinned": thinned, "total": total}


def _align(
    steps: array[int], values: array[float], grid: list[int], thinned: bool
) -> list[float | None]:
    """``values`` on ``grid``: the value at each grid step (exact), or the last value
    logged at or before each grid step and after the previous one (thinned)."""
    out: list[float | None] = [None] * len(grid)
    if not steps:
        return out
    if not thinned:
        at = {s: v for s, v in zip(steps, values, strict=True)}  # a repeated step: the last
        return [_finite(at[g]) if g in at else None for g in grid]
    i, n = 0, len(steps)
    for b, edge in enumerate(grid):
        last = None
        while i < n and steps[i] <= edge:
            last = values[i]
            i += 1
        out[b] = None if last is None else _finite(last)
    return out


def _many(
    tracking: TrackingStore, run_ids: list[str], key: str
) -> dict[str, tuple[array[int], array[float]]]:
    from cairn.store.sql.tracking import SqlTrackingStore

    if isinstance(tracking, SqlTrackingStore):
        from cairn.store.sql.metric_series import metric_arrays_many

        return metric_arrays_many(tracking.db, run_ids, key)
    out: dict[str, tuple[array[int], array[float]]] = {}
    for run_id in run_ids:
        history = tracking.get_metric_history(run_id, key)
        if history:
            out[run_id] = (
                array("q", (m.step for m in history)),
                array("d", (m.value for m in history)),
            )
    return out
