"""``cairn monitor grafana``: a Grafana dashboard for the serving and monitoring series,
and a Prometheus alerting-rules file for the rules of ``monitor.yaml``.

The dashboard reads the series of ``cairn serve`` (``/metrics``, see
:mod:`cairn.serving.metrics`) and of ``cairn monitor export`` (see
:mod:`cairn.monitoring.exporter`) from one Prometheus data source, chosen by a dashboard
variable. The rules file turns each rule into a Prometheus alert on the same measure, so
a team that routes alerts through Alertmanager gets the conditions it wrote once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.monitoring.rules import Condition, MonitorConfig

M = "cairn_monitor_"
_ERRORS = (
    "sum(rate(cairn_request_errors_total[5m])) / "
    "clamp_min(sum(rate(cairn_requests_total[5m])), 1e-9)"
)
_LATENCY = "histogram_quantile({q}, sum by (le) (rate(cairn_request_latency_seconds_bucket[5m])))"

#: (panel title, unit, [(PromQL, legend)]), two panels a row.
PANELS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "Requests per second",
        "reqps",
        [("sum by (route) (rate(cairn_requests_total[5m]))", "{{route}}")],
    ),
    (
        "Error ratio",
        "percentunit",
        [
            (
                _ERRORS,
                "errors",
            )
        ],
    ),
    (
        "Latency p50 / p99",
        "s",
        [
            (
                _LATENCY.format(q=0.5),
                "p50",
            ),
            (
                _LATENCY.format(q=0.99),
                "p99",
            ),
        ],
    ),
    (
        "Rows scored per second, by version",
        "short",
        [
            (
                "sum by (model, version, role) (rate(cairn_predictions_total[5m]))",
                "{{model}} {{version}} {{role}}",
            )
        ],
    ),
    ("Versions served", "short", [("cairn_model_version_info", "{{model}} {{version}} {{role}}")]),
    (
        "Prediction log: dropped and pending",
        "short",
        [
            ("sum(rate(cairn_predlog_dropped_total[5m]))", "dropped/s"),
            ("sum(cairn_predlog_pending)", "pending"),
        ],
    ),
    (
        "Share of drifted features",
        "percentunit",
        [(f'{M}drift_share{{model=~"$model"}}', "{{model}} v{{version}}")],
    ),
    (
        "Feature drift score",
        "short",
        [(f'{M}feature_drift_score{{model=~"$model"}}', "{{feature}} ({{test}})")],
    ),
    (
        "Prediction drift score",
        "short",
        [(f'{M}prediction_drift_score{{model=~"$model"}}', "{{model}} ({{test}})")],
    ),
    (
        "Data quality: share of rows affected",
        "percentunit",
        [(f'{M}quality_issue_ratio{{model=~"$model"}}', "{{feature}} {{kind}}")],
    ),
    ("Performance", "short", [(f'{M}performance{{model=~"$model"}}', "{{metric}} {{source}}")]),
    ("Rows in the checked window", "short", [(f'{M}window_rows{{model=~"$model"}}', "{{model}}")]),
]


def dashboard(title: str = "Cairn: serving and monitoring") -> dict[str, Any]:
    """The dashboard JSON (Grafana's import format)."""
    ds = {"type": "prometheus", "uid": "${datasource}"}
    panels = []
    for i, (name, unit, targets) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": name,
                "datasource": ds,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(65 + j), "expr": expr, "legendFormat": legend, "datasource": ds}
                    for j, (expr, legend) in enumerate(targets)
                ],
            }
        )
    return {
        "title": title,
        "uid": "cairn-serving-monitoring",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "tags": ["cairn"],
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Data source",
                },
                {
                    "name": "model",
                    "type": "query",
                    "label": "Model",
                    "datasource": ds,
                    "query": {"query": f"label_values({M}check_success, model)", "refId": "model"},
                    "includeAll": True,
                    "multi": True,
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
            ]
        },
        "panels": panels,
    }


def _label(value: str) -> str:
    """A PromQL string literal (backslashes and quotes escaped)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def expression(cond: Condition, model: str) -> str:
    """The PromQL that holds when ``cond`` does for ``model``."""
    sel = f"model={_label(model)}"
    op, bound = (">", cond.above) if cond.above is not None else ("<", cond.below)
    if cond.kind == "drift_share":
        measure = f"{M}drift_share{{{sel}}}"
    elif cond.kind == "feature_score":
        measure = f"{M}feature_drift_score{{{sel},feature={_label(str(cond.feature))}}}"
    elif cond.kind == "metric":
        base = f"{M}performance{{{sel},metric={_label(str(cond.metric))}"
        if cond.source == "either":  # realized where labels arrived, else the estimate
            measure = (
                f'({base},source="realized"}} or ignoring(source) {base},source="estimated"}})'
            )
        else:
            measure = f"{base},source={_label(cond.source)}}}"
    elif cond.kind == "latency_p99_ms":
        measure = f"{_LATENCY.format(q=0.99)} * 1000"
    else:
        measure = _ERRORS
    return f"{measure} {op} {bound!r}"


def alert_rules(config: MonitorConfig, group: str = "cairn-monitoring") -> str:
    """A Prometheus rules file (YAML) with one alert per rule of ``config``."""
    import yaml

    rules: list[dict[str, Any]] = []
    for rule in config.rules:
        rules.append(
            {
                "alert": _alert_name(rule.name),
                "expr": expression(rule.when, rule.model),
                "for": "5m",
                "labels": {"severity": "warning", "cairn_rule": rule.name},
                "annotations": {
                    "summary": f"{rule.name}: {rule.when.text} on {rule.model}",
                    "description": (
                        f"Cairn monitor rule {rule.name} ({config.path or 'monitor.yaml'})."
                    ),
                },
            }
        )
    text: str = yaml.safe_dump({"groups": [{"name": group, "rules": rules}]}, sort_keys=False)
    return text


def _alert_name(name: str) -> str:
    """``CairnDrift`` for rule ``drift``: alert names are [A-Za-z_][A-Za-z0-9_]*."""
    parts = "".join(c if c.isalnum() else " " for c in name).split()
    return "Cairn" + "".join(p[:1].upper() + p[1:] for p in parts)


def write_dashboard(path: str, title: str | None = None) -> None:
    _write(path, json.dumps(dashboard(title) if title else dashboard(), indent=2) + "\n")


def write_alert_rules(path: str, config: MonitorConfig) -> None:
    _write(path, alert_rules(config))


def _write(path: str, text: str) -> None:
    from pathlib import Path

    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)


__all__: Sequence[str] = (
    "alert_rules",
    "dashboard",
    "expression",
    "write_alert_rules",
    "write_dashboard",
)
