"""Metrics of several server processes add up: each process writes its series to the
shared folder, and whichever process renders ``/metrics`` reports the sum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from serving_helpers import metric_series

RECORD = """
import sys
import numpy as np
from cairn.serving.metrics import ServingMetrics
metrics = ServingMetrics(lambda: {"served": [("iris", "1", "primary")]})
for _ in range(int(sys.argv[1])):
    metrics.observe("/invocations", 200, 0.002)
    metrics.observe_predictions("/invocations", "iris", "1", "primary", np.array([0, 1, 1]), [])
metrics.observe("/invocations", 422, 0.001)
print(metrics.render().decode())
"""


def _run(shared: Path | None, count: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    if shared is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    out = subprocess.run(
        [sys.executable, "-c", RECORD, str(count)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return metric_series(out)


def test_each_process_renders_the_sum_of_all_processes(tmp_path: Path) -> None:
    _run(tmp_path, 7)
    _run(tmp_path, 5)
    third = _run(tmp_path, 1)

    assert third['cairn_requests_total{code="200",route="/invocations"}'] == 7 + 5 + 1
    assert third['cairn_request_errors_total{code="422",route="/invocations"}'] == 3
    assert third['cairn_predictions_total{model="iris",role="primary",version="1"}'] == 39
    assert third['cairn_prediction_class_total{class="1",model="iris"}'] == 26
    assert third['cairn_request_latency_seconds_count{route="/invocations"}'] == 16
    assert third['cairn_prediction_value_accumulated{model="iris",version="1"}'] == 0  # classes
    # State series are the rendering process's own, labelled with its pid.
    info = [name for name in third if name.startswith("cairn_model_version_info")]
    assert len(info) == 1 and 'pid="' in info[0]


def test_one_process_alone_keeps_its_own_registry(tmp_path: Path) -> None:
    alone = _run(None, 4)

    assert alone['cairn_requests_total{code="200",route="/invocations"}'] == 4
    assert 'cairn_model_version_info{model="iris",role="primary",version="1"}' in alone
    assert list(tmp_path.iterdir()) == []
