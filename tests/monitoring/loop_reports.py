"""CheckReport values for the monitoring-loop tests: plain data, built directly."""

from __future__ import annotations

from cairn.monitoring.types import (
    CheckReport,
    FeatureDrift,
    Performance,
    QualityIssue,
    ServiceHealth,
    Window,
)

HOUR = 3_600_000


def report(
    *,
    drifted: int = 0,
    features: int = 4,
    since_ms: int = 0,
    auc: float | None = 0.9,
    p99: float = 20.0,
    error_rate: float = 0.0,
    version: str = "3",
    model: str = "churn@production",
) -> CheckReport:
    """A report with ``drifted`` of ``features`` numeric features drifted, plus one
    categorical feature ``plan`` compared as categories."""
    feats = []
    for i in range(features):
        hit = i < drifted
        feats.append(
            FeatureDrift(
                feature=f"f{i}",
                kind="numeric",
                test="psi",
                score=0.4 if hit else 0.02,
                threshold=0.2,
                drifted=hit,
                reference_rows=1000,
                current_rows=500,
                edges=(0.0, 1.0, 2.0, 3.0),
                reference_counts=(300, 400, 300),
                current_counts=(100, 100, 300) if hit else (150, 200, 150),
            )
        )
    feats.append(
        FeatureDrift(
            feature="plan",
            kind="categorical",
            test="chi2",
            score=0.01,
            threshold=0.1,
            drifted=False,
            categories=("basic", "pro", "(other)"),
            reference_counts=(600, 300, 100),
            current_counts=(290, 160, 50),
        )
    )
    perf = ()
    if auc is not None:
        perf = (
            Performance(
                since_ms=since_ms,
                until_ms=since_ms + HOUR,
                version=version,
                rows=500,
                labelled=400,
                realized={"roc_auc": auc},
                estimated={"roc_auc": auc + 0.01},
            ),
        )
    return CheckReport(
        model=model,
        version=version,
        reference="churn@v2",
        window=Window(since_ms, since_ms + HOUR, 500),
        features=tuple(feats),
        prediction=None,
        quality=(QualityIssue("f1", "nulls", 0.02),),
        health=ServiceHealth(500, error_rate, 5.0, p99),
        performance=perf,
        checked_ms=since_ms + HOUR,
    )
