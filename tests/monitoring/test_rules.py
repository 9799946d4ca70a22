"""monitor.yaml: every mistake a user makes is one line naming the key; conditions
evaluate on CheckReport values and never fire on a missing measure."""

from __future__ import annotations

from pathlib import Path

import pytest
from loop_reports import report

from cairn.monitoring.rules import MonitorConfigError, evaluate, load_config, parse_duration

GOOD = """
model: churn@production
window: 1h
interval: 5m
retention: 30d
rules:
  - name: drift
    when: {drift_share: {above: 0.3}}
    cooldown: 1h
    actions: [team, log]
  - name: income
    when: {feature_score: {feature: f0, above: 0.25}}
  - name: auc
    when: {metric: {name: roc_auc, below: 0.8}}
  - name: slow
    when: {latency_p99_ms: {above: 250}}
  - name: errors
    when: {error_rate: {above: 0.01}}
actions:
  team: {webhook: {url: "http://127.0.0.1:9/hook", timeout: 2, retries: 1}}
  log: {log: {level: warning}}
"""


def test_a_good_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "monitor.yaml"
    path.write_text(GOOD)
    config = load_config(path)
    assert [r.name for r in config.rules] == ["drift", "income", "auc", "slow", "errors"]
    assert config.rules[0].cooldown_ms == 3_600_000
    assert config.retention_ms == 30 * 86_400_000
    assert config.interval_ms == 300_000
    assert config.base == tmp_path
    assert config.models == ("churn@production",)


ONE = "rules:\n  - name: a\n    when: {error_rate: {above: 1}}\n"
DRIFT = "rules:\n  - name: a\n    when: {drift_share: {above: 0.3}}\n"

BAD = [
    (
        "rules:\n  - name: a\n    when: {drift_shar: {above: 0.3}}\n",
        "rules[0].when.drift_shar: unknown condition",
    ),
    (
        "rules:\n  - name: a\n    when: {metric: {name: auc, below: high}}\n",
        "rules[0].when.metric.below: expected a number, got 'high'",
    ),
    (
        "rules:\n  - name: a\n    when: {drift_share: {above: 0.3, below: 0.1}}\n",
        "rules[0].when.drift_share: give exactly one of above: and below:",
    ),
    (
        "rules:\n  - name: a\n    when: {drift_share: {above: .nan}}\n",
        "rules[0].when.drift_share.above: expected a number",
    ),
    (
        "rules:\n  - name: a\n    when: {drift_share: {above: 0.3}}\n    cooldown: soon\n",
        "rules[0].cooldown: expected a duration",
    ),
    (
        DRIFT + "    actions: [pager]\n",
        "rules[0].actions: unknown action 'pager'",
    ),
    (
        DRIFT + "  - name: a\n    when: {error_rate: {above: 0.3}}\n",
        "rules[1].name: 'a' is used twice",
    ),
    ("rules: []\n", "rules: expected a list of at least one rule"),
    ("rulez: []\n", "rulez: unknown key"),
    (
        ONE + "actions:\n  h: {webhook: {url: ftp://x}}\n",
        "actions.h.webhook.url: expected an http:// or https:// URL",
    ),
    (
        ONE + "actions:\n  h: {webhook: {url: 'http://x', retries: -1}}\n",
        "actions.h.webhook.retries: expected a whole number",
    ),
    (
        ONE + "actions:\n  r: {pipeline: {target: p.py:train, model: churn, auto_promote: yes}}\n",
        "actions.r.pipeline.gates: auto_promote needs a gates file",
    ),
    (
        ONE + "actions:\n  r: {email: {to: x}}\n",
        "actions.r.email: unknown action",
    ),
    ("rules:\n  - name: a\n    when: [1\n", "monitor.yaml:5: expected ',' or ']'"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[e.split(":")[0] for _, e in BAD])
def test_bad_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "monitor.yaml"
    model = "" if "model:" in text else "model: churn@production\n"
    path.write_text(model + text)
    with pytest.raises(MonitorConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert expected in message
    assert message.startswith(str(path)) and "\n" not in message


def test_a_rule_without_a_model_says_where_to_put_one() -> None:
    with pytest.raises(MonitorConfigError, match=r"rules\[0\].model: no model to watch"):
        load_config({"rules": [{"name": "a", "when": {"error_rate": {"above": 0.1}}}]})


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(MonitorConfigError, match=r"no monitor file at .*monitor\.yaml"):
        load_config(tmp_path / "monitor.yaml")


@pytest.mark.parametrize("text", ["1h30m", "90m", "5400s", 5400])
def test_durations(text: str | int) -> None:
    assert parse_duration(text, "x") == 5_400_000


def test_conditions_fire_on_the_evidence(tmp_path: Path) -> None:
    config = load_config(GOOD)
    rules = {r.name: r for r in config.rules}
    bad = report(drifted=2, auc=0.7, p99=400.0, error_rate=0.05)
    fired = {name: evaluate(rule, bad) for name, rule in rules.items()}
    assert all(f.firing for f in fired.values()), {n: f.value for n, f in fired.items()}
    assert fired["drift"].value == pytest.approx(2 / 5)
    assert fired["drift"].evidence["drifted"] == ["f0", "f1"]
    assert fired["auc"].evidence["source"] == "realized"
    good = report()
    assert not any(evaluate(rule, good).firing for rule in rules.values())


def test_a_missing_measure_never_fires() -> None:
    rule = next(r for r in load_config(GOOD).rules if r.name == "auc")
    finding = evaluate(rule, report(auc=None))
    assert (finding.firing, finding.value) == (False, None)
    assert "no either roc_auc" in finding.evidence["note"]
