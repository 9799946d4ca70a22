"""The Prometheus exporter and the Grafana/Prometheus files: real HTTP on 127.0.0.1,
names and rules checked by promtool, crafted label values escaped."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from loop_reports import report

from cairn.errors import InvalidInput
from cairn.monitoring.exporter import MonitorCollector, serve
from cairn.monitoring.grafana import PANELS, alert_rules, dashboard
from cairn.monitoring.rules import load_config
from cairn.monitoring.types import CheckReport

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed: apt-get install prometheus"
)

EVIL = 'in"come\\\nx'


def _check(model: str, **_: Any) -> CheckReport:
    if model == "broken@production":
        raise InvalidInput("no rows logged for broken@production in the last 1h")
    r = report(drifted=2)
    feature = dataclasses.replace(r.features[0], feature=EVIL)
    return dataclasses.replace(r, model=model, features=(feature, *r.features[1:]))


@pytest.fixture
def scraped() -> str:
    collector = MonitorCollector(["churn@production", "broken@production"], check=_check)
    stop = threading.Event()
    ports: list[int] = []
    ready = threading.Event()

    def on_ready(port: int) -> None:
        ports.append(port)
        ready.set()

    thread = threading.Thread(
        target=serve, kwargs={"collector": collector, "port": 0, "stop": stop, "ready": on_ready}
    )
    thread.start()
    try:
        assert ready.wait(30)
        return httpx.get(f"http://127.0.0.1:{ports[0]}/metrics", timeout=10).text
    finally:
        stop.set()
        thread.join(30)


def test_gauges_per_feature_and_version(scraped: str) -> None:
    assert 'cairn_monitor_drift_share{model="churn@production",version="3"} 0.4' in scraped
    churn = 'model="churn@production"'
    assert (
        f'cairn_monitor_feature_drift_score{{feature="f1",{churn},test="psi",version="3"}} 0.4'
        in scraped
    )
    assert (
        f'cairn_monitor_quality_issue_ratio{{feature="f1",kind="nulls",{churn},version="3"}} 0.02'
        in scraped
    )
    assert (
        f'cairn_monitor_performance{{metric="roc_auc",{churn},source="realized",version="3"}} 0.9'
        in scraped
    )
    # A model whose check fails is reported as failing, not dropped silently.
    assert 'cairn_monitor_check_success{model="broken@production"} 0.0' in scraped
    assert 'cairn_monitor_check_success{model="churn@production"} 1.0' in scraped


def test_a_crafted_feature_name_cannot_forge_series(scraped: str) -> None:
    # The quote, backslash and newline are escaped inside the label value.
    assert 'feature="in\\"come\\\\\\nx"' in scraped
    assert not any(line.startswith("x") for line in scraped.splitlines())


@needs_promtool
def test_exported_names_pass_promtool(scraped: str) -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=scraped, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


CONFIG = """
model: 'churn"@production'
rules:
  - {name: drift, when: {drift_share: {above: 0.3}}}
  - {name: income-score, when: {feature_score: {feature: income, above: 0.25}}}
  - {name: auc, when: {metric: {name: roc_auc, below: 0.8}}}
  - {name: auc-est, when: {metric: {name: roc_auc, below: 0.8, source: estimated}}}
  - {name: slow, when: {latency_p99_ms: {above: 250}}}
  - {name: errors, when: {error_rate: {above: 0.01}}}
"""


@needs_promtool
def test_alert_rules_pass_promtool(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    path = tmp_path / "rules.yml"
    path.write_text(alert_rules(load_config(CONFIG)))
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout
    text = path.read_text()
    assert "CairnIncomeScore" in text and 'model=\\"churn\\\\\\"@production\\"' not in text


def test_dashboard_covers_serving_and_monitoring_series() -> None:
    board = json.loads(json.dumps(dashboard()))
    exprs = " ".join(t["expr"] for p in board["panels"] for t in p["targets"])
    for series in (
        "cairn_requests_total",
        "cairn_request_errors_total",
        "cairn_request_latency_seconds_bucket",
        "cairn_predictions_total",
        "cairn_model_version_info",
        "cairn_monitor_drift_share",
        "cairn_monitor_feature_drift_score",
        "cairn_monitor_quality_issue_ratio",
        "cairn_monitor_performance",
    ):
        assert series in exprs
    assert len(board["panels"]) == len(PANELS)
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)
