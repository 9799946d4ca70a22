"""Close the loop: rules in monitor.yaml, one monitoring cycle, the alerts it recorded,
the HTML report, the Grafana dashboard with Prometheus alerting rules, and retention.

Runs after the serving step, which sent traffic to ``breast-cancer@production`` (so the
prediction log has rows to check).
"""

from __future__ import annotations

import importlib.util

from steps import Context, heading

MODEL = "breast-cancer"
MONITOR = f"""\
model: {MODEL}@production
window: 1h
interval: 5m
retention: 30d
rules:
  - name: drift
    when: {{drift_share: {{above: 0.3}}}}
    cooldown: 6h
    actions: [log]
  - name: errors
    when: {{error_rate: {{above: 0.05}}}}
    actions: [log]
actions:
  log: {{log: {{level: warning}}}}
"""


def run(ctx: Context) -> None:
    (ctx.workspace / "monitor.yaml").write_text(MONITOR, encoding="utf-8")
    print(f"monitor.yaml:\n{MONITOR}")
    heading("Grafana dashboard and Prometheus alerting rules")
    ctx.cairn("monitor", "grafana", "-o", "dashboard.json", "--alert-rules", "rules.yml")
    if importlib.util.find_spec("cairn.monitoring.check") is not None:
        heading("one monitoring cycle: check, rules, alerts, actions")
        ctx.cairn("monitor", "run", "--once")
        ctx.cairn("monitor", "alerts")
        heading("the HTML report of the last hours")
        ctx.cairn("monitor", "report", f"{MODEL}@production", "-o", "report.html", "--periods", "6")
    heading("retention: prediction-log hours older than 30 days")
    ctx.cairn("monitor", "prune", "--older-than", "30d", "--dry-run")
