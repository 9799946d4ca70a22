"""Prometheus metrics of one serving app, in its own registry.

Counters and histograms are updated on the request path, so label children are
resolved once and cached here (a ``labels()`` call costs a lock and a dict walk).
Figures kept elsewhere — dropped log records, the versions served, reload errors —
are read only when ``/metrics`` is scraped, by a collector, at no cost per request.

Exported series (all prefixed ``cairn_``):

    requests_total{route,code}              every answered request
    request_errors_total{route,code}        4xx/5xx answers
    request_latency_seconds{route}          histogram, request read to response sent
    batch_rows{route}                       histogram of rows per inference request
    predictions_total{model,version,role}   rows scored
    prediction_value_accumulated{model,version}  sum of numeric predictions (mean: divide
                                            by predictions_total)
    prediction_class_total{model,class}     predictions per class label (first 50 labels)
    model_version_info{model,version,role}  1 for each version being served
    model_swaps_total / model_reload_errors_total
    predlog_dropped_total / predlog_written_rows_total / predlog_pending
    shadow_dropped_total

With several server processes (``cairn serve --workers N``) the server sets
``PROMETHEUS_MULTIPROC_DIR`` before starting them: every process writes its counters and
histograms to memory-mapped files there, and any process answering ``/metrics`` sums
them, so a scrape sees the whole server whichever process it reaches. The state series
(versions served, swaps, prediction-log figures) are the answering process's own and
carry its ``pid`` as a label.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ROW_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 10_000, 100_000)
MAX_CLASS_LABELS = 50

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: The folder prometheus_client's multiprocess mode shares between server processes.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServingMetrics:
    """The metrics of one app; ``render()`` is the ``/metrics`` body."""

    def __init__(self, state: Callable[[], dict[str, Any]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        shared = os.environ.get(MULTIPROC_ENV)
        # What /metrics renders: this registry, or with several processes a registry that
        # sums every process's files (this one's included) plus this process's state.
        self._exposed = r
        if shared:
            from prometheus_client import multiprocess

            self._exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(self._exposed, path=shared)  # type: ignore[no-untyped-call]
        self.requests = Counter(
            "cairn_requests", "Requests answered.", ["route", "code"], registry=r
        )
        self.errors = Counter(
            "cairn_request_errors",
            "Requests answered with 4xx or 5xx.",
            ["route", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "cairn_request_latency_seconds",
            "Time from request to response.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows = Histogram(
            "cairn_batch_rows",
            "Rows per inference request.",
            ["route"],
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "cairn_predictions", "Rows scored.", ["model", "version", "role"], registry=r
        )
        self.value_sum = Gauge(
            "cairn_prediction_value_accumulated",
            "Sum of numeric predictions; divide by cairn_predictions_total for the mean.",
            ["model", "version"],
            registry=r,
            multiprocess_mode="sum",
        )
        self.classes = Counter(
            "cairn_prediction_class", "Predictions per class label.", ["model", "class"], registry=r
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._class_labels: set[str] = set()
        if state is not None:
            pid = str(os.getpid()) if shared else None
            self._exposed.register(_StateCollector(state, pid))

    def observe(self, route: str, code: int, seconds: float) -> None:
        key = ("req", route, code)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (
                self.requests.labels(route, str(code)),
                self.errors.labels(route, str(code)) if code >= 400 else None,
                self.latency.labels(route),
            )
        child[0].inc()
        if child[1] is not None:
            child[1].inc()
        child[2].observe(seconds)

    def observe_predictions(
        self, route: str, model: str, version: str, role: str, preds: np.ndarray, data: list[Any]
    ) -> None:
        n = int(preds.shape[0]) if preds.ndim else 1
        key = ("pred", route, model, version, role)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (
                self.rows.labels(route),
                self.predictions.labels(model, version, role),
                self.value_sum.labels(model, version),
            )
        child[0].observe(n)
        child[1].inc(n)
        if n == 0 or preds.ndim != 1:
            return
        kind = preds.dtype.kind
        if kind == "f":
            total = float(preds.sum())
            if np.isfinite(total):
                child[2].inc(total)
            return
        if kind in "iubUSO":
            if n == 1:
                self._count_class(model, str(data[0]), 1)
            elif kind in "iu" and preds.min() >= 0 and preds.max() < 1024:
                counts = np.bincount(preds)  # class ids: far cheaper than np.unique
                for label in np.flatnonzero(counts).tolist():
                    self._count_class(model, str(label), int(counts[label]))
            else:
                values = preds.astype(str) if kind == "O" else preds
                labels, counts = np.unique(values, return_counts=True)
                for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
                    self._count_class(model, str(label), count)

    def _count_class(self, model: str, label: str, count: int) -> None:
        key = ("cls", model, label)
        child = self._children.get(key)
        if child is None:
            if len(self._class_labels) >= MAX_CLASS_LABELS and label not in self._class_labels:
                label = "_other"
                key = ("cls", model, label)
                child = self._children.get(key)
            if child is None:
                self._class_labels.add(label)
                child = self._children[key] = self.classes.labels(model, label)
        child.inc(count)

    def render(self) -> bytes:
        return generate_latest(self._exposed)


class _StateCollector(Collector):
    """Reads the app's state at scrape time: versions served, drops, reloads."""

    def __init__(self, state: Callable[[], dict[str, Any]], pid: str | None = None) -> None:
        self.state = state
        self.pid = pid  # set with several server processes: whose state this is

    def collect(self) -> Iterator[Metric]:
        s = self.state()
        extra = [] if self.pid is None else ["pid"]
        mine = [] if self.pid is None else [self.pid]
        info = GaugeMetricFamily(
            "cairn_model_version_info",
            "The model versions being served.",
            labels=["model", "version", "role", *extra],
        )
        for model, version, role in s.get("served", []):
            info.add_metric([model, version, role, *mine], 1)
        yield info
        for name, doc, key in (
            (
                "cairn_model_swaps",
                "Times a followed alias moved and the new version went live.",
                "swaps",
            ),
            (
                "cairn_model_reload_errors",
                "Failed attempts to load a new alias target.",
                "reload_errors",
            ),
            (
                "cairn_predlog_dropped",
                "Prediction log records dropped because the queue was full.",
                "dropped",
            ),
            (
                "cairn_predlog_written_rows",
                "Prediction log rows written to Parquet.",
                "written_rows",
            ),
            (
                "cairn_predlog_write_errors",
                "Prediction log records lost to write errors.",
                "write_errors",
            ),
            (
                "cairn_shadow_dropped",
                "Requests the shadow model skipped because it fell behind.",
                "shadow_dropped",
            ),
        ):
            c = CounterMetricFamily(name, doc, labels=extra)
            c.add_metric(mine, float(s.get(key, 0)))
            yield c
        g = GaugeMetricFamily(
            "cairn_predlog_pending", "Prediction log records waiting to be written.", labels=extra
        )
        g.add_metric(mine, float(s.get("pending", 0)))
        yield g
