"""``cairn monitor check``: one model version's logged window against its reference.

Public functions:

- :func:`check` (model reference, window) -> :class:`~cairn.monitoring.types.CheckReport`:
  per-feature drift, prediction drift, production data quality, service health and
  estimated (plus, once labels arrived, realized) performance.
- :func:`window_sketch` (model reference, window) -> the merged
  :class:`~cairn.monitoring.sketch.WindowSketch` of that window, with the reference it
  was built against. It merges the hourly sketches cached next to the log
  (:func:`cairn.monitoring.window.window_sketches`), so a day of traffic costs 24
  small JSON reads once the hours are settled.
- :func:`needs_attention` (report) -> whether a check found drift or issues (the CLI's
  exit code 3).

Every input mistake is an ``InvalidInput``/``NotFound`` naming the fix: a window with no
rows, a model without reference data, a feature the log never had.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput
from cairn.monitoring.types import (
    CheckReport,
    FeatureDrift,
    FeatureKind,
    QualityIssue,
    ServiceHealth,
    Window,
)

if TYPE_CHECKING:
    from cairn.monitoring.sketch import WindowSketch
    from cairn.monitoring.window import Span
    from cairn.store.registry import ModelVersion
    from cairn.workspace import Workspace

#: A feature's null share above the reference's by more than this is an issue.
NULL_MARGIN = 0.01
#: Values beyond the reference's min/max on more than this share of rows are an issue
#: (a fresh sample always has a few values past the extremes of the last one).
OUT_OF_RANGE_SHARE = 0.01


@dataclass(frozen=True)
class Sketched:
    """A window's sketch with what it was measured against."""

    version: ModelVersion
    reference_digest: str
    reference: dict[str, Any]
    sketch: WindowSketch
    span: Span


def model_version(model: str, ws: Workspace) -> ModelVersion:
    """The registered version a model reference points at now."""
    from cairn.refs import resolve

    resolved = resolve(model, ws)
    if resolved.version is None:
        raise InvalidInput(
            f"{model!r} is not a registered model version; monitoring follows registered "
            "models: give churn, churn/3 or churn@production"
        )
    return ws.registry.get_version(resolved.name, resolved.version)


def window_sketch(
    model: str,
    *,
    window: str | None = None,
    last: int | None = None,
    since: str | None = None,
    until: str | None = None,
    workspace: Workspace | None = None,
    now_ms: int | None = None,
) -> Sketched:
    """The merged sketch of a model version's logged rows in one window."""
    from cairn.monitoring.reference import get_reference
    from cairn.monitoring.window import span, window_sketches
    from cairn.serving.predlog import default_root
    from cairn.store.tables import PartitionedFiles
    from cairn.workspace import resolve

    ws = resolve(workspace)
    where = span(window, last, since, until, now_ms)
    version = model_version(model, ws)
    digest, reference = get_reference(version, ws)
    files = PartitionedFiles(default_root(ws), ws.settings.storage_options)
    sketch, covered = window_sketches(
        files, version.name, str(version.version), digest, reference, where, now_ms
    )
    return Sketched(version, digest, reference, sketch, covered)


def check(
    model: str,
    *,
    window: str | None = None,
    last: int | None = None,
    since: str | None = None,
    until: str | None = None,
    workspace: Workspace | None = None,
) -> CheckReport:
    """Compare the logged window of ``model`` with its reference.

    ``model`` is a model reference (``churn@production``, ``churn/3``, ``churn``). The
    window is one of ``window`` (a duration up to now, e.g. ``"1h"``; the default is
    the last 24 hours), ``last`` (the newest N rows) or ``since``/``until`` (ISO times
    or durations ago).

    Example:
        >>> report = cairn.monitoring.check("churn@production", window="1h")  # doctest: +SKIP
        >>> report.drifted, report.health.error_rate  # doctest: +SKIP
        (('tenure',), 0.0)
    """
    from cairn.monitoring.cbpe import estimate
    from cairn.monitoring.drift import compare
    from cairn.monitoring.types import Performance
    from cairn.workspace import resolve

    ws = resolve(workspace)
    got = window_sketch(model, window=window, last=last, since=since, until=until, workspace=ws)
    version, reference, sketch = got.version, got.reference, got.sketch
    label = version.ref
    if sketch.rows == 0:
        raise InvalidInput(
            f"no logged predictions of {label} in the window ({_describe(got.span)}); "
            "widen it (e.g. --window 7d) or check that `cairn serve` runs with the "
            "prediction log for this version"
        )
    absent = [name for name, n in sketch.missing.items() if n >= sketch.rows]
    if absent:
        have = ", ".join(reference["features"])
        raise InvalidInput(
            f"feature {absent[0]!r} of {label} is in none of the {sketch.rows} logged rows "
            f"of the window; the model takes {have}: check what the clients send, or "
            "register the model with the signature it is served with"
        )
    features = tuple(
        _not_compared(name, reference["features"][name], s, sketch.private[name])
        if name in sketch.private
        else compare(name, reference["features"][name], s)
        for name, s in sketch.features.items()
    )
    prediction = None
    if sketch.prediction is not None and reference.get("prediction"):
        prediction = compare("prediction", reference["prediction"], sketch.prediction)
    window_info = Window(got.span.since_ms, got.span.until_ms, sketch.rows)
    performance: tuple[Performance, ...] = ()
    estimated = estimate(sketch.cbpe)
    realized = _realized(version, got, ws)
    if estimated or realized is not None:
        performance = (
            Performance(
                since_ms=window_info.since_ms,
                until_ms=window_info.until_ms,
                version=str(version.version),
                rows=sketch.rows,
                labelled=realized.labelled if realized else 0,
                realized=dict(realized.realized) if realized else {},
                estimated=estimated,
            ),
        )
    return CheckReport(
        model=version.name,
        version=str(version.version),
        reference=f"{reference['dataset']} ({got.reference_digest[:12]})",
        window=window_info,
        features=features,
        prediction=prediction,
        quality=quality(reference, sketch),
        health=health(sketch),
        performance=performance,
        checked_ms=int(time.time() * 1000),
    )


def _not_compared(name: str, info: dict[str, Any], s: Any, why: str) -> FeatureDrift:
    """A feature the prediction log's privacy settings kept out: reported, never drifted."""
    kind: FeatureKind = "numeric" if s.kind == "numeric" else "categorical"
    return FeatureDrift(
        feature=name, kind=kind, test="none", score=None, threshold=0.0, drifted=False,
        reference_rows=int(info.get("count", 0) or 0),
        note=f"{why} in the prediction log (privacy settings): not compared",
    )  # fmt: skip


def _realized(version: ModelVersion, got: Sketched, ws: Workspace) -> Any:
    from cairn.monitoring.labels import has_labels, realized_for

    if not has_labels(ws):
        return None
    return realized_for(version, got.reference, got.span, ws)


def _describe(where: Span) -> str:
    import datetime as dt

    if where.last is not None:
        return f"the last {where.last} rows"

    def show(ms: int | None) -> str:
        if ms is None:
            return "open"
        return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    return f"{show(where.since_ms)} to {show(where.until_ms)}"


def quality(reference: dict[str, Any], sketch: WindowSketch) -> tuple[QualityIssue, ...]:
    """Production data-quality findings of a window (shares of its rows)."""
    rows = sketch.rows
    issues: list[QualityIssue] = []
    for name, n in sorted(sketch.missing.items()):
        issues.append(
            QualityIssue(name, "missing_feature", n / rows, f"absent from {n} of {rows} rows")
        )
    for name, n in sorted(sketch.schema.items()):
        dtype = reference["signature"].get(name, "?")
        issues.append(
            QualityIssue(
                name, "schema", n / rows, f"{n} rows logged with a type other than {dtype}"
            )
        )
    for name, s in sketch.features.items():
        info = reference["features"][name]
        seen = rows - sketch.missing.get(name, 0)
        if seen <= 0:
            continue
        ref_total = int(info.get("count", 0) or 0)
        ref_rate = int(info.get("nulls", 0) or 0) / ref_total if ref_total else 0.0
        null_share = s.nulls / seen
        if null_share > ref_rate + NULL_MARGIN:
            issues.append(
                QualityIssue(name, "nulls", null_share,
                             f"{s.nulls} nulls ({null_share:.1%}); reference {ref_rate:.1%}")
            )  # fmt: skip
        outside = s.below + s.above + s.infinite
        if s.kind == "numeric" and (s.infinite or outside / seen > OUT_OF_RANGE_SHARE):
            issues.append(
                QualityIssue(name, "out_of_range", outside / seen,
                             f"{s.below} below the reference min {info.get('min')}, {s.above} "
                             f"above its max {info.get('max')}, {s.infinite} infinite")
            )  # fmt: skip
        if s.kind == "categorical" and s.unseen:
            values = ", ".join(repr(v) for v in s.unseen_values())
            issues.append(
                QualityIssue(name, "unseen_category", s.unseen / seen,
                             f"{s.unseen} rows with categories the reference never had: {values}")
            )  # fmt: skip
    return tuple(issues)


def health(sketch: WindowSketch) -> ServiceHealth:
    """Requests, error rate and latency percentiles of the window."""
    latency = sketch.latency
    p50 = p99 = None
    if latency is not None and not latency.is_empty():
        p50, p99 = (float(v) for v in latency.get_quantiles([0.5, 0.99]))
    rate = sketch.failed / sketch.requests if sketch.requests else None
    return ServiceHealth(sketch.requests, rate, p50, p99)


def needs_attention(report: CheckReport) -> bool:
    """True when a check found feature or prediction drift or a data-quality issue."""
    predicted = report.prediction is not None and report.prediction.drifted
    return bool(report.drifted or predicted or report.quality)


def drifted_features(report: CheckReport) -> list[FeatureDrift]:
    """The drifted results, the prediction included."""
    found = [f for f in report.features if f.drifted]
    if report.prediction is not None and report.prediction.drifted:
        found.append(report.prediction)
    return found
