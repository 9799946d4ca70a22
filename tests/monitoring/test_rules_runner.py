"""The monitoring loop against a real store and a real webhook receiver on 127.0.0.1:
alerts are raised once per episode, cooled down, survive a failing webhook and a
kill -9 of the monitor mid-delivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from loop_hooks import receiver
from loop_reports import report

import cairn.workspace
from cairn.errors import InvalidInput
from cairn.monitoring.rules import load_config
from cairn.monitoring.runner import Runner
from cairn.monitoring.types import CheckReport

HERE = Path(__file__).parent


def _config(url: str, cooldown: str = "0s", retries: int = 2, timeout: float = 5) -> Any:
    return load_config(
        {
            "model": "churn@production",
            "rules": [
                {
                    "name": "drift",
                    "when": {"drift_share": {"above": 0.3}},
                    "cooldown": cooldown,
                    "actions": ["team", "log"],
                }
            ],
            "actions": {
                "team": {"webhook": {"url": url, "retries": retries, "timeout": timeout}},
                "log": {"log": {"level": "warning"}},
            },
        }
    )


class Reports:
    """The check the runner calls: hands out whatever report the test sets."""

    def __init__(self, value: CheckReport) -> None:
        self.value = value
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, model: str, **kwargs: Any) -> CheckReport:
        self.calls.append((model, kwargs))
        return self.value


def test_an_alert_fires_once_per_episode_and_again_after_it_resolved(
    workspace: cairn.workspace.Workspace,
) -> None:
    with receiver() as hook:
        check = Reports(report(drifted=3))
        runner = Runner(_config(hook.url), check=check, workspace=workspace, backoff=0.01)
        first = runner.run_once()
        assert [a.rule for a in first.alerts] == ["drift"]
        assert [(a.kind, a.state) for a in first.actions] == [("webhook", "done"), ("log", "done")]
        assert check.calls == [("churn@production", {"window": "1h", "workspace": workspace})]
        # Still drifting: the same episode, no new alert, no new delivery.
        assert runner.run_once().alerts == []
        assert len(hook.posts) == 1
        # Back to normal: resolved; drifting again: a new episode and a new alert.
        check.value = report(drifted=0)
        assert runner.run_once().resolved == ["drift"]
        check.value = report(drifted=3)
        again = runner.run_once()
        assert [a.episode for a in again.alerts] == [2]
        hook.wait_for(2)
    store = workspace.metadata.alerts
    alerts = store.list_alerts()
    assert [a.episode for a in alerts] == [2, 1] and alerts[1].resolved_ms is not None
    body = hook.posts[0]
    assert body["id"] == alerts[1].id == hook.keys[0]
    assert body["evidence"]["drifted"] == ["f0", "f1", "f2"]
    assert body["evidence"]["value"] == pytest.approx(3 / 5)


def test_cooldown_holds_back_a_new_episode(workspace: cairn.workspace.Workspace) -> None:
    now = [1000.0]
    with receiver() as hook:
        check = Reports(report(drifted=3))
        runner = Runner(
            _config(hook.url, cooldown="1h"),
            check=check,
            workspace=workspace,
            clock=lambda: now[0],
            backoff=0.01,
        )
        assert len(runner.run_once().alerts) == 1
        check.value = report(drifted=0)
        runner.run_once()
        check.value = report(drifted=3)
        now[0] += 1800  # half an hour later: flapping back, still cooling down
        assert runner.run_once().suppressed == ["drift"]
        now[0] += 1801
        assert len(runner.run_once().alerts) == 1
    assert len(workspace.metadata.alerts.list_alerts()) == 2


def test_webhook_retries_until_the_receiver_answers(workspace: cairn.workspace.Workspace) -> None:
    with receiver() as hook:
        hook.answers = [503, 500]
        runner = Runner(
            _config(hook.url, retries=3),
            check=Reports(report(drifted=3)),
            workspace=workspace,
            backoff=0.01,
        )
        cycle = runner.run_once()
    hook_action = cycle.actions[0]
    assert (hook_action.state, hook_action.attempts) == ("done", 3)
    assert len(set(hook.keys)) == 1 and len(hook.posts) == 3


def test_a_webhook_that_never_answers_fails_the_action_not_the_alert(
    workspace: cairn.workspace.Workspace,
) -> None:
    with receiver() as hook:
        hook.answers = ["hang", "hang"]
        runner = Runner(
            _config(hook.url, retries=1, timeout=0.3),
            check=Reports(report(drifted=3)),
            workspace=workspace,
            backoff=0.01,
        )
        cycle = runner.run_once()
    hook_action, log_action = cycle.actions
    assert hook_action.state == "failed" and hook_action.attempts == 2
    assert "failed after 2 attempt(s): ReadTimeout" in hook_action.detail
    assert log_action.state == "done"  # the next action still ran
    (alert,) = workspace.metadata.alerts.list_alerts()
    assert alert.rule == "drift"
    # Not re-raised, not re-sent by later cycles: the failure is recorded.
    assert (
        Runner(_config(hook.url), check=Reports(report(drifted=3)), workspace=workspace)
        .run_once()
        .actions
        == []
    )


def test_a_refusing_webhook_is_not_retried(workspace: cairn.workspace.Workspace) -> None:
    with receiver() as hook:
        hook.answers = [400]
        runner = Runner(
            _config(hook.url, retries=3), check=Reports(report(drifted=3)), workspace=workspace
        )
        cycle = runner.run_once()
    assert (cycle.actions[0].state, cycle.actions[0].attempts) == ("failed", 1)
    assert "HTTP 400" in cycle.actions[0].detail


def test_a_check_that_fails_is_reported_and_the_loop_goes_on(
    workspace: cairn.workspace.Workspace,
) -> None:
    def check(model: str, **_: Any) -> CheckReport:
        raise InvalidInput(f"no rows logged for {model} in the last 1h")

    cycle = Runner(_config("http://127.0.0.1:9/x"), check=check, workspace=workspace).run_once()
    assert cycle.errors == ["churn@production: no rows logged for churn@production in the last 1h"]
    assert cycle.alerts == []


MONITOR = """
import sys
sys.path.insert(0, {tests!r})
from loop_reports import report
from cairn.monitoring.rules import load_config
from cairn.monitoring.runner import Runner

config = load_config({config!r})
cycle = Runner(config, check=lambda model, **kw: report(drifted=3), backoff=0.01).run_once()
print(len(cycle.alerts), [a.state for a in cycle.actions])
"""


def _monitor(root: Path, config: Path) -> subprocess.Popen[str]:
    script = root / "monitor_once.py"
    script.write_text(textwrap.dedent(MONITOR.format(tests=str(HERE), config=str(config))))
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )


def test_kill_9_mid_delivery_then_restart_neither_loses_nor_repeats_the_alert(
    workspace: cairn.workspace.Workspace,
) -> None:
    assert workspace.root is not None
    procs: list[subprocess.Popen[str]] = []

    def kill_the_sender(n: int) -> None:
        # The first delivery reached the receiver; the monitor dies before it can record it.
        if n == 1:
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(30)

    with receiver() as hook:
        hook.on_post = kill_the_sender
        config = workspace.root / "monitor.yaml"
        config.write_text(
            "model: churn@production\n"
            "rules:\n  - {name: drift, when: {drift_share: {above: 0.3}}, actions: [team]}\n"
            f"actions:\n  team: {{webhook: {{url: '{hook.url}', retries: 0, timeout: 5}}}}\n"
        )
        procs.append(_monitor(workspace.root, config))
        procs[0].communicate(timeout=60)
        assert procs[0].returncode == -signal.SIGKILL
        store = workspace.metadata.alerts
        (alert,) = store.list_alerts()
        assert [a.state for a in store.list_actions(alert.id)] == ["pending"]

        restarted = _monitor(workspace.root, config)
        out, err = restarted.communicate(timeout=60)
        assert restarted.returncode == 0, err
        # The pending delivery went out again, the episode was not raised again.
        assert out.split() == ["0", "['done']"]
        and_again = _monitor(workspace.root, config)
        out, err = and_again.communicate(timeout=60)
        assert out.split() == ["0", "[]"], err
    assert [a.id for a in store.list_alerts()] == [alert.id]
    assert len(hook.posts) == 2
    assert {p["id"] for p in hook.posts} == set(hook.keys) == {alert.id}
    (action,) = store.list_actions(alert.id)
    assert (action.state, action.result) == ("done", {"status": 200})
