"""After the loop: the recorded alert, the HTML report, the Grafana dashboard with
Prometheus alerting rules, and retention.

Runs after the monitoring step, which wrote ``monitor.yaml``, drifted the traffic of
version 1 and let the drift rule retrain and promote a new version.
"""

from __future__ import annotations

from steps import Context, StepFailed, heading

MODEL = "breast-cancer"


def run(ctx: Context) -> None:
    if not (ctx.workspace / "monitor.yaml").exists():
        raise StepFailed("no monitor.yaml: the monitoring step must run first")
    heading("the alert, its evidence and what its actions did, as recorded")
    ctx.cairn("monitor", "alerts")
    heading("the HTML report of the drifted version's last hours")
    ctx.cairn("monitor", "report", f"{MODEL}/1", "-o", "report.html", "--periods", "6")
    heading("Grafana dashboard and Prometheus alerting rules")
    ctx.cairn("monitor", "grafana", "-o", "dashboard.json", "--alert-rules", "rules.yml")
    heading("retention: prediction-log hours older than 30 days")
    ctx.cairn("monitor", "prune", "--older-than", "30d", "--dry-run")
