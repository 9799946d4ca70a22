"""The monitoring loop's commands, run as a user runs them: a bad rules file is one line
and exit 1 before anything runs; files written are valid; alerts are listed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from loop_reports import report

import cairn.workspace
from cairn.cli.main import app
from cairn.monitoring.rules import load_config
from cairn.monitoring.runner import Runner
from cairn.serving.codec import Batch
from cairn.serving.predlog import LogRecord, PredictionLog, default_root


def _cairn(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ},
        timeout=120,
    )


def test_a_bad_rules_file_is_one_line_and_exit_1(workspace: cairn.workspace.Workspace) -> None:
    assert workspace.root is not None
    (workspace.root / "monitor.yaml").write_text(
        "model: churn@production\nrules:\n"
        "  - name: auc\n    when: {metric: {name: roc_auc, below: low}}\n"
    )
    done = _cairn("monitor", "run", "--once", cwd=workspace.root)
    assert done.returncode == 1
    assert done.stderr == (
        "error: monitor.yaml: rules[0].when.metric.below: expected a number, got 'low'\n"
    )
    assert workspace.metadata.alerts.list_alerts() == []


def test_grafana_writes_a_dashboard_and_rules_promtool_accepts(
    workspace: cairn.workspace.Workspace,
) -> None:
    assert workspace.root is not None
    (workspace.root / "monitor.yaml").write_text(
        "model: churn@production\nrules:\n"
        "  - {name: drift, when: {drift_share: {above: 0.3}}}\n"
        "  - {name: errors, when: {error_rate: {above: 0.05}}}\n"
    )
    result = CliRunner().invoke(
        app, ["monitor", "grafana", "-o", "dashboard.json", "--alert-rules", "rules.yml"]
    )
    assert result.exit_code == 0, result.output
    board = json.loads((workspace.root / "dashboard.json").read_text())
    assert board["uid"] == "cairn-serving-monitoring"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed: apt-get install prometheus")
    done = subprocess.run(
        [promtool, "check", "rules", str(workspace.root / "rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_without_an_output_says_what_to_pass(workspace: cairn.workspace.Workspace) -> None:
    result = CliRunner().invoke(app, ["monitor", "grafana"])
    assert result.exit_code == 1
    assert (
        "nothing to write: pass -o dashboard.json and/or --alert-rules rules.yml" in result.stderr
    )


def test_prune_deletes_old_hours_of_the_workspace_log(
    workspace: cairn.workspace.Workspace,
) -> None:
    plog = PredictionLog(default_root(workspace))
    old_ms = 1_500_000_000_000  # 2017: far past any retention
    batch = Batch(rows=1, columns={"a": np.array([1.0])})
    plog.append(LogRecord(old_ms, "r", "churn", "1", "primary", True, batch, np.array([0])))
    plog.close()
    assert workspace.root is not None
    dry = _cairn("monitor", "prune", "--older-than", "30d", "--dry-run", cwd=workspace.root)
    assert dry.stdout.strip() == "Would delete 1 hour partition(s) older than 30d", dry.stderr
    done = _cairn("monitor", "prune", "--older-than", "30d", cwd=workspace.root)
    assert done.stdout.strip() == "Deleted 1 hour partition(s) older than 30d", done.stderr
    assert not list(Path(default_root(workspace)).rglob("*.parquet"))
    bad = _cairn("monitor", "prune", "--older-than", "10m", cwd=workspace.root)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: --older-than must be at least 1h")


def test_alerts_lists_what_fired_and_what_it_did(workspace: cairn.workspace.Workspace) -> None:
    config = load_config(
        {
            "model": "churn@production",
            "rules": [
                {"name": "drift", "when": {"drift_share": {"above": 0.3}}, "actions": ["log"]}
            ],
            "actions": {"log": {"log": {}}},
        }
    )
    Runner(config, check=lambda model, **_: report(drifted=3), workspace=workspace).run_once()
    assert workspace.root is not None
    done = _cairn("monitor", "alerts", "--json", cwd=workspace.root)
    (alert,) = json.loads(done.stdout)
    assert alert["rule"] == "drift" and alert["evidence"]["drifted"] == ["f0", "f1", "f2"]
    assert [(a["name"], a["state"]) for a in alert["actions"]] == [("log", "done")]
