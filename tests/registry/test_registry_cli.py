"""The `cairn models`, `cairn gate` and `cairn ci` commands, in process and as processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

import cairn.workspace
from cairn.cli.main import app

Trained = Any  # the `trained` fixture of conftest.py


def cli(*args: str) -> Any:
    cairn.workspace.reset()
    return CliRunner().invoke(app, list(args), prog_name="cairn")


def cairn_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_gate_check_exit_code_follows_the_outcome(trained: Trained) -> None:
    ok = cairn_process("gate", "check", "churn", "1", "--gates", "gates.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "RULE" in ok.stdout and "roc_auc" in ok.stdout and "all gates passed" in ok.stderr
    assert cairn_process("models", "promote", "churn", "1", "--to", "production").returncode == 0
    bad = cairn_process(
        "gate", "check", "churn", "2", "--gates", "gates.yaml", "--against", "production"
    )
    assert bad.returncode == 1
    assert "NO" in bad.stdout and "gate rule(s) failed" in bad.stderr
    assert "Traceback" not in bad.stderr


TYPO_GATES = """\
data: holdout.csv
target: churned
rules:
  - {metric: roc_auc, min: 0.90}
  - {run_metric: roc_acu, min: 0.9}   # misspelt: the run logged no such metric
"""


def test_gate_check_with_typo_in_gates_file_leaves_production_card_alone(
    trained: Trained,
) -> None:
    promoted = cli("models", "promote", "churn", "1", "--to", "production", "--gates", "gates.yaml")
    assert promoted.exit_code == 0, promoted.output
    card_before = cli("models", "card", "churn@production").stdout
    shown_before = json.loads(cli("models", "show", "churn/1", "--json").stdout)["gates"]
    assert "passed" in card_before and [g["passed"] for g in shown_before] == [True]
    (trained.root / "typo.yaml").write_text(TYPO_GATES, encoding="utf-8")

    proc = cairn_process("gate", "check", "churn", "1", "--gates", "typo.yaml")

    assert proc.returncode == 1
    assert "roc_acu" in proc.stdout and "1 gate rule(s) failed" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert cli("models", "card", "churn@production").stdout == card_before
    assert json.loads(cli("models", "show", "churn/1", "--json").stdout)["gates"] == shown_before


def test_gate_check_records_only_with_record_flag(trained: Trained) -> None:
    (trained.root / "typo.yaml").write_text(TYPO_GATES, encoding="utf-8")
    proc = cairn_process("gate", "check", "churn", "1", "--gates", "typo.yaml", "--record")
    assert proc.returncode == 1 and "1 gate rule(s) failed" in proc.stderr
    assert "Traceback" not in proc.stderr
    gates = json.loads(cli("models", "show", "churn/1", "--json").stdout)["gates"]
    assert [g["passed"] for g in gates] == [False]
    assert "FAILED" in cli("models", "card", "churn/1").stdout


def test_promote_with_failing_gates_prints_one_line_and_keeps_alias(trained: Trained) -> None:
    assert cli("models", "promote", "churn", "1", "--to", "production").exit_code == 0
    proc = cairn_process(
        "models", "promote", "churn", "2", "--to", "production", "--gates", "gates.yaml"
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: not promoting churn/2 to production")
    assert proc.stderr.count("\n") == 1
    history = json.loads(cli("models", "history", "churn", "--json").stdout)
    assert [(e["from"], e["to"]) for e in history] == [(None, 1)]


def test_register_ls_show_history_rollback_json(trained: Trained) -> None:
    out = cli("models", "register", f"runs:/{trained.runs[0]}/model", "--name", "churn", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["version"] == 3
    models = json.loads(cli("models", "ls", "--json").stdout)
    assert [(m["name"], m["latest_version"]) for m in models] == [("churn", 3)]
    for v in ("1", "3"):
        assert (
            cli("models", "promote", "churn", v, "--to", "production", "-r", "why").exit_code == 0
        )
    assert "was 3" in cli("models", "rollback", "churn", "--alias", "production").stdout
    shown = json.loads(cli("models", "show", "churn/1", "--json").stdout)
    assert shown["aliases"] == ["production"] and shown["run_id"] == trained.runs[0]
    events = json.loads(cli("models", "history", "churn", "--json").stdout)
    assert [(e["from"], e["to"], e["action"]) for e in events] == [
        (None, 1, "promote"),
        (1, 3, "promote"),
        (3, 1, "rollback"),
    ]
    versions = json.loads(cli("models", "ls", "churn", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2, 3]


def test_descriptions_show_in_models_show(trained: Trained) -> None:
    text = "Gradient boosting on the March snapshot\nsecond line kept out of tables"
    registered = cli(
        "models", "register", f"runs:/{trained.runs[0]}/model", "--name", "churn", "-d", text
    )
    assert registered.exit_code == 0, registered.output
    assert cli("models", "update", "churn", "-d", "Predicts who leaves").exit_code == 0

    version = cli("models", "show", "churn/3")
    assert version.exit_code == 0, version.output
    assert "description: Gradient boosting on the March snapshot" in version.stdout
    model = cli("models", "show", "churn")
    assert "description: Predicts who leaves" in model.stdout
    row = next(line for line in model.stdout.splitlines() if line.startswith("3 "))
    assert row.rstrip().endswith("Gradient boosting on the March snapshot")
    assert "second line" not in model.stdout
    # A version without its own description shows the model's.
    assert "description: Predicts who leaves" in cli("models", "show", "churn/1").stdout


def test_card_and_export_commands(trained: Trained) -> None:
    card = cli("models", "card", "churn/1")
    assert card.exit_code == 0 and card.stdout.startswith("# churn, version 1")
    out = cli("models", "export", "churn/1", "--format", "onnx", "-o", "model.onnx")
    assert out.exit_code == 0, out.output
    assert (trained.root / "model.onnx").stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "nope/1"], "no registered model named 'nope'"),
        (["models", "promote", "churn", "7", "--to", "production"], "has no version 7"),
        (["models", "archive", "churn", "x"], "neither a version number"),
        (["gate", "validate", "missing.yaml"], "gates file missing.yaml not found"),
    ],
    ids=["unknown-model", "unknown-version", "bad-version", "no-gates-file"],
)
def test_mistakes_print_one_line(trained: Trained, args: list[str], message: str) -> None:
    proc = cairn_process(*args)
    assert proc.returncode == 1
    assert message in proc.stderr and proc.stderr.count("\n") == 1
