"""Gate files are validated up front; gates decide on real trained models."""

from __future__ import annotations

from typing import Any

import pytest

from cairn import registry
from cairn.registry import GateFailed, GateFileError, check_gates, parse_gates

Trained = Any  # the `trained` fixture of conftest.py


def test_issue_gates_file_form_parses() -> None:
    text = """\
data: churn@v2            # dataset version to evaluate on (or a path)
target: churned           # label column
rules:
  - {metric: roc_auc, min: 0.90}
  - {metric: roc_auc, no_worse_than: production, tolerance: 0.005}
  - {latency_p95_ms: 20}
  - {fairness: {metric: accuracy, by: gender, max_gap: 0.05}}
  - {signature_compatible_with: production}
"""
    spec = parse_gates(text)
    assert (spec.data, spec.target) == ("churn@v2", "churned")
    assert [r.kind for r in spec.rules] == [
        "metric",
        "metric",
        "latency_p95_ms",
        "fairness",
        "signature_compatible_with",
    ]
    assert [r.line for r in spec.rules] == [4, 5, 6, 7, 8]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{metric: auc2, min: 0.9}", r"gates:4: rules\[0\].metric: unknown metric 'auc2'"),
        ("{metric: roc_auc}", r"rules\[0\]: give min, max or no_worse_than"),
        ("{metric: roc_auc, min: high}", r"rules\[0\].min: expected a number, got 'high'"),
        ("{latency_p95_ms: -1}", r"latency_p95_ms: must be greater than 0"),
        ("{fairness: {metric: accuracy, by: g}}", r"fairness.max_gap: required"),
        ("{speed: 3}", r"unknown rule 'speed'"),
        ("{metric: roc_auc, min: 0.9, colour: red}", r"rules\[0\].colour: not a field"),
    ],
    ids=["unknown-metric", "no-bound", "not-a-number", "negative", "missing", "kind", "field"],
)
def test_bad_gate_rules_point_at_line_and_field(rule: str, message: str) -> None:
    with pytest.raises(GateFileError, match=message):
        parse_gates(f"data: d.csv\ntarget: y\nrules:\n  - {rule}\n")


def test_gates_file_without_target_is_refused() -> None:
    with pytest.raises(GateFileError, match="need 'target'"):
        parse_gates({"data": "d.csv", "rules": [{"metric": "accuracy", "min": 0.5}]})


def test_first_version_passes_all_gates_and_result_is_recorded(trained: Trained) -> None:
    result = check_gates("churn", 1, trained.gates, record=True)
    assert result.passed, result.rules
    by_kind = {r["kind"]: r for r in result.rules}
    assert by_kind["metric"]["value"] > 0.9
    assert "nothing to compare" in result.rules[1]["detail"]
    assert trained.ws.registry.gate_results("churn", 1)[-1].passed


def test_regression_against_production_fails_the_gate(trained: Trained) -> None:
    registry.promote("churn", 1, "production", gates=trained.gates)
    result = check_gates("churn", 2, trained.gates, against="production")
    assert not result.passed
    failed = {r["rule"] for r in result.rules if not r["passed"]}
    assert failed == {"roc_auc", "roc_auc vs production"}
    assert trained.ws.registry.gate_results("churn", 2) == []
    check_gates("churn", 2, trained.gates, against="production", record=True)
    recorded = trained.ws.registry.gate_results("churn", 2)
    assert [g.passed for g in recorded] == [False]


def test_promote_with_gates_records_the_result_it_decided_on(trained: Trained) -> None:
    registry.promote("churn", 1, "production", gates=trained.gates)
    with pytest.raises(GateFailed):
        registry.promote("churn", 2, "production", gates=trained.gates)
    assert [g.passed for g in trained.ws.registry.gate_results("churn", 1)] == [True]
    assert [g.passed for g in trained.ws.registry.gate_results("churn", 2)] == [False]


def test_promote_refuses_when_gate_fails(trained: Trained) -> None:
    registry.promote("churn", 1, "production")
    with pytest.raises(GateFailed, match=r"not promoting churn/2 to production: 2 gate rule\(s\)"):
        registry.promote("churn", 2, "production", gates=trained.gates)
    assert registry.resolve_alias("churn", "production") == 1
    assert len(registry.history("churn")) == 1


def test_fairness_gap_above_limit_fails(trained: Trained) -> None:
    import cairn

    holdout = trained.holdout.copy()
    # Put most of the model's mistakes in one group, so its accuracy there is low.
    model = cairn.models.load("models:/churn/1")
    right = model.predict(holdout) == holdout["churned"].to_numpy()
    holdout["gender"] = [
        "good" if ok or i % 5 == 0 else "bad" for i, ok in enumerate(right.tolist())
    ]
    holdout.loc[holdout.index[:30], "gender"] = "bad"  # and some right answers too
    path = trained.root / "skewed.csv"
    holdout.to_csv(path, index=False)
    spec = {
        "data": str(path),
        "target": "churned",
        "rules": [{"fairness": {"metric": "accuracy", "by": "gender", "max_gap": 0.1}}],
    }
    [rule] = check_gates("churn", 1, spec).rules
    assert not rule["passed"] and rule["value"] > 0.1
    assert "bad=" in rule["detail"] and "good=" in rule["detail"]


def test_signature_change_against_alias_holder_fails(trained: Trained) -> None:
    from sklearn.linear_model import LogisticRegression

    import cairn

    registry.promote("churn", 1, "production")
    X = trained.holdout[["f0", "f1"]]
    with cairn.start_run():
        model = LogisticRegression().fit(X, trained.holdout["churned"])
        info = cairn.log_model(model, input_example=X.head(3), registered_name="churn")
    spec = {"rules": [{"signature_compatible_with": "production"}]}
    [rule] = check_gates("churn", info.version or 0, spec).rules
    assert not rule["passed"]
    assert "input 'f7' removed" in rule["detail"]


def test_latency_and_run_metric_rules(trained: Trained) -> None:
    import cairn

    with cairn.start_run(experiment="churn") as run:
        cairn.log_metric("cv_auc", 0.8)
        model = cairn.models.load("models:/churn/1").raw
        info = cairn.log_model(
            model, input_example=trained.holdout.iloc[:1, :8], registered_name="churn"
        )
    assert run.id
    spec = {
        "rules": [
            {"latency_p95_ms": 0.000001, "repeats": 5},
            {"latency_p95_ms": 5000, "repeats": 5},
            {"run_metric": "cv_auc", "min": 0.85},
            {"run_metric": "cv_auc", "max": 0.9},
        ]
    }
    result = check_gates("churn", info.version or 0, spec, record=False)
    assert [r["passed"] for r in result.rules] == [False, True, False, True]
    assert trained.ws.registry.gate_results("churn", info.version or 0) == []


def test_data_validation_rule_fails_without_dataset_inputs(trained: Trained) -> None:
    [rule] = check_gates("churn", 1, {"rules": [{"data_validation": "passed"}]}).rules
    assert not rule["passed"] and "recorded no dataset inputs" in rule["detail"]


def test_data_validation_rule_validates_the_training_dataset(trained: Trained) -> None:
    import cairn
    import cairn.data

    train_csv = trained.root / "train.csv"
    trained.holdout.to_csv(train_csv, index=False)
    dataset = cairn.data.add(str(train_csv), name="churn-train")
    (trained.root / "ok.yaml").write_text(cairn.data.infer_schema(dataset.ref))
    (trained.root / "strict.yaml").write_text("rows: {min: 100000}\n")
    with cairn.start_run() as run:
        run.log_input(cairn.data.get(dataset.ref))
        model = cairn.models.load("models:/churn/1").raw
        info = cairn.log_model(
            model, input_example=trained.holdout.iloc[:2, :8], registered_name="churn"
        )
    version = info.version or 0
    ok = check_gates("churn", version, {"rules": [{"data_validation": {"schema": "ok.yaml"}}]})
    assert ok.passed, ok.rules
    bad = check_gates("churn", version, {"rules": [{"data_validation": {"schema": "strict.yaml"}}]})
    [rule] = bad.rules
    assert not rule["passed"] and rule["detail"].startswith(f"{dataset.ref}: 1 check(s) failed")
