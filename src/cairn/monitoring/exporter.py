"""``cairn monitor export``: the latest check of each watched model as Prometheus gauges.

The checks run on a background thread every ``interval`` (a scrape never waits for one,
and many scrapers cost nothing extra); each scrape renders the newest results. Series
(all ``cairn_monitor_``)::

    feature_drift_score{model,version,feature,test}   the drift statistic of a feature
    feature_drifted{model,version,feature}            1 when above its threshold
    drift_share{model,version}                        share of compared features drifted
    prediction_drift_score{model,version,test}
    quality_issue_ratio{model,version,feature,kind}   share of the window's rows affected
    window_rows{model,version}                        rows in the checked window
    performance{model,version,metric,source}          source: realized | estimated
    log_error_ratio{model,version} / log_latency_p99_seconds{model,version}
    check_success{model}                              1 when the last check worked
    check_timestamp_seconds{model}                    when it ran

``model`` is the reference as written in the configuration (``churn@production``),
``version`` the version it pointed at. The names pass ``promtool check metrics``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily, Metric

from cairn.errors import CairnError

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from cairn.monitoring.types import CheckReport
    from cairn.workspace import Workspace

log = logging.getLogger("cairn.monitoring")
PREFIX = "cairn_monitor_"


@dataclass(frozen=True, slots=True)
class _Result:
    report: CheckReport | None
    at: float
    error: str = ""


class MonitorCollector:
    """A prometheus_client collector over the newest check of each model."""

    def __init__(
        self,
        models: Sequence[str],
        *,
        window: str = "1h",
        check: Callable[..., CheckReport] | None = None,
        workspace: Workspace | None = None,
    ) -> None:
        self.models = tuple(models)
        self.window = window
        self._check = check
        self._workspace = workspace
        self._results: dict[str, _Result] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Check every model now and keep the results for the next scrapes."""
        check = self._check
        if check is None:
            from cairn.monitoring.runner import default_check

            check = self._check = default_check()
        for model in self.models:
            try:
                result = _Result(
                    check(model, window=self.window, workspace=self._workspace), time.time()
                )
            except CairnError as exc:
                log.warning("monitor export: cannot check %s: %s", model, exc)
                old = self._results.get(model)
                # Keep the last good figures; check_success says they are stale.
                result = _Result(old.report if old else None, time.time(), str(exc))
            with self._lock:
                self._results[model] = result

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            results = dict(self._results)
        g = {
            name: GaugeMetricFamily(PREFIX + name, doc, labels=labels)
            for name, doc, labels in _FAMILIES
        }
        for model, result in results.items():
            g["check_success"].add_metric([model], 0.0 if result.error else 1.0)
            g["check_timestamp_seconds"].add_metric([model], result.at)
            r = result.report
            if r is None:
                continue
            mv = [model, r.version]
            g["window_rows"].add_metric(mv, float(r.window.rows))
            g["drift_share"].add_metric(mv, r.drift_share)
            for f in r.features:
                if f.score is not None:
                    g["feature_drift_score"].add_metric([*mv, f.feature, f.test], f.score)
                    g["feature_drifted"].add_metric([*mv, f.feature], float(f.drifted))
            if r.prediction is not None and r.prediction.score is not None:
                g["prediction_drift_score"].add_metric([*mv, r.prediction.test], r.prediction.score)
            for q in r.quality:
                g["quality_issue_ratio"].add_metric([*mv, q.feature, q.kind], q.share)
            newest = max(r.performance, key=lambda p: p.until_ms or 0, default=None)
            if newest is not None:
                for source, values in (
                    ("realized", newest.realized),
                    ("estimated", newest.estimated),
                ):
                    for metric, value in values.items():
                        g["performance"].add_metric([*mv, metric, source], value)
            h = r.health
            if h is not None and h.error_rate is not None:
                g["log_error_ratio"].add_metric(mv, h.error_rate)
            if h is not None and h.latency_p99_ms is not None:
                g["log_latency_p99_seconds"].add_metric(mv, h.latency_p99_ms / 1000)
        yield from g.values()


_MV = ["model", "version"]
_FAMILIES: list[tuple[str, str, list[str]]] = [
    (
        "feature_drift_score",
        "Drift statistic of a feature vs its reference.",
        [*_MV, "feature", "test"],
    ),
    ("feature_drifted", "1 when the feature's drift is above its threshold.", [*_MV, "feature"]),
    ("drift_share", "Share of compared features that drifted.", _MV),
    ("prediction_drift_score", "Drift statistic of the predictions.", [*_MV, "test"]),
    (
        "quality_issue_ratio",
        "Share of the window's rows with a data-quality issue.",
        [*_MV, "feature", "kind"],
    ),
    ("window_rows", "Rows logged in the checked window.", _MV),
    (
        "performance",
        "Model performance in the newest window, realized or estimated.",
        [*_MV, "metric", "source"],
    ),
    ("log_error_ratio", "Share of logged requests that failed.", _MV),
    ("log_latency_p99_seconds", "p99 request latency in the prediction log.", _MV),
    ("check_success", "1 when the newest check of the model worked.", ["model"]),
    ("check_timestamp_seconds", "When the newest check ran (Unix time).", ["model"]),
]


def registry_for(collector: MonitorCollector) -> CollectorRegistry:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def serve(
    collector: MonitorCollector,
    *,
    port: int,
    host: str = "127.0.0.1",
    interval: float = 60.0,
    stop: threading.Event | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve ``/metrics`` on ``host:port`` and refresh every ``interval`` s until ``stop``."""
    from prometheus_client import start_http_server

    stop = stop or threading.Event()
    collector.refresh()
    server, thread = start_http_server(port, host, registry=registry_for(collector))
    try:
        if ready is not None:
            ready(int(server.server_address[1]))
        while not stop.wait(interval):
            collector.refresh()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
