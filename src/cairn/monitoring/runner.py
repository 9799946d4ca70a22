"""The monitoring loop: check each watched model, evaluate the rules, raise alerts once,
run their actions, prune old prediction-log partitions.

One cycle (:meth:`Runner.run_once`):

1. deliver actions left ``pending`` by an earlier cycle (a monitor killed mid-action);
2. for each model in ``monitor.yaml``, run the check over ``window`` and evaluate its
   rules. A rule that holds raises an alert unless it is already firing (dedupe) or
   fired less than ``cooldown`` ago; a rule that no longer holds is resolved, so the next
   time it holds is a new episode and a new alert;
3. run the new alerts' actions and record each outcome;
4. with ``retention`` set, delete prediction-log partitions older than it.

State lives in the workspace's metadata store (:class:`~cairn.store.alerts.AlertStore`),
so a restarted monitor neither repeats an alert nor loses one: the alert is recorded
before its actions run, and pending actions are resumed, with the same alert id.

The check is a callable with the signature of :func:`cairn.monitoring.check.check`
(imported only when the first cycle runs), so the loop runs on any source of
:class:`~cairn.monitoring.types.CheckReport` values.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError
from cairn.monitoring.actions import BACKOFF_S, Outcome, run_action
from cairn.monitoring.rules import Finding, MonitorConfig, evaluate

if TYPE_CHECKING:
    from cairn.monitoring.types import CheckReport
    from cairn.store.alerts import ActionRecord, Alert, AlertStore
    from cairn.workspace import Workspace

log = logging.getLogger("cairn.monitoring")

CheckFn = Callable[..., "CheckReport"]


def default_check() -> CheckFn:
    """:func:`cairn.monitoring.check.check`, imported on first use."""
    try:
        from cairn.monitoring.check import check  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        from cairn.errors import ConfigError

        raise ConfigError(
            f"the monitoring check is not available in this installation ({exc}); "
            "install cairn-mlops[monitoring]"
        ) from None
    return check  # type: ignore[no-any-return,unused-ignore]


@dataclass
class Cycle:
    """What one cycle saw and did."""

    findings: list[Finding] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    suppressed: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    actions: list[ActionRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pruned: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": [
                {"rule": f.rule, "model": f.model, "firing": f.firing, "value": f.value}
                for f in self.findings
            ],
            "alerts": [a.to_dict() for a in self.alerts],
            "suppressed": self.suppressed,
            "resolved": self.resolved,
            "actions": [a.to_dict() for a in self.actions],
            "errors": self.errors,
            "pruned": self.pruned,
        }


class Runner:
    """Evaluates ``config`` against the checks of its models; see the module docstring.

    Example:
        >>> runner = Runner(load_config("monitor.yaml"))  # doctest: +SKIP
        >>> cycle = runner.run_once()  # doctest: +SKIP
        >>> [a.message for a in cycle.alerts]  # doctest: +SKIP
        ['drift: drift_share > 0.3 on churn@production (version 3): 0.5']
    """

    def __init__(
        self,
        config: MonitorConfig,
        *,
        check: CheckFn | None = None,
        workspace: Workspace | None = None,
        clock: Callable[[], float] = time.time,
        backoff: float = BACKOFF_S,
    ) -> None:
        self.config = config
        self._check = check
        self._workspace = workspace
        self._clock = clock
        self._backoff = backoff

    @property
    def workspace(self) -> Workspace:
        import cairn.workspace

        return cairn.workspace.resolve(self._workspace)

    @property
    def store(self) -> AlertStore:
        return self.workspace.metadata.alerts

    def _now(self) -> int:
        return int(self._clock() * 1000)

    def run_once(self) -> Cycle:
        cycle = Cycle()
        cycle.actions += self.deliver_pending()
        check = self._check or default_check()
        for model in self.config.models:
            try:
                report = check(model, window=self.config.window, workspace=self.workspace)
            except CairnError as exc:
                cycle.errors.append(f"{model}: {exc}")
                log.warning("monitor: cannot check %s: %s", model, exc)
                continue
            for rule in self.config.rules:
                if rule.model == model:
                    self._apply(rule, evaluate(rule, report), cycle)
        cycle.actions += self.deliver_pending()
        if self.config.retention_ms is not None:
            from cairn.monitoring.retention import prune

            cycle.pruned = len(
                prune(
                    self.config.models,
                    older_than_ms=self.config.retention_ms,
                    workspace=self.workspace,
                    now_ms=self._now(),
                )
            )
        return cycle

    def _apply(self, rule: Any, finding: Finding, cycle: Cycle) -> None:
        cycle.findings.append(finding)
        store, now = self.store, self._now()
        state = store.rule_state(rule.name, rule.model)
        if not finding.firing:
            if finding.value is not None and state is not None and state.firing:
                store.resolve(rule.name, rule.model, now)
                cycle.resolved.append(rule.name)
            return
        if state is not None and state.firing:
            return  # this episode was raised already
        if (
            state is not None
            and state.last_fired_ms is not None
            and now - state.last_fired_ms < rule.cooldown_ms
        ):
            cycle.suppressed.append(rule.name)
            return
        from cairn.store.alerts import NewAlert

        alert = store.open_alert(
            NewAlert(
                id=uuid.uuid4().hex,
                rule=rule.name,
                model=rule.model,
                episode=(state.episode if state is not None else 0) + 1,
                version=str(finding.evidence.get("version", "")),
                message=finding.message,
                evidence=finding.evidence,
                fired_ms=now,
                actions=[(n, self.config.actions[n].kind) for n in rule.actions],
            )
        )
        if alert is not None:  # None: another monitor raised this episode first
            log.warning("monitor: alert %s %s", alert.id, alert.message)
            cycle.alerts.append(alert)

    def deliver_pending(self) -> list[ActionRecord]:
        """Run every pending action and record how it ended; returns the records."""
        store = self.store
        done: list[ActionRecord] = []
        alerts: dict[str, Alert] = {}
        for record in store.pending_actions():
            alert = alerts.get(record.alert_id) or store.get_alert(record.alert_id)
            alerts[alert.id] = alert
            action = self.config.actions.get(record.name)
            if action is None or action.kind != record.kind:
                outcome = Outcome(
                    "failed",
                    record.attempts,
                    f"action {record.name!r} ({record.kind}) is no longer in "
                    f"{self.config.path or 'monitor.yaml'}",
                )
            else:
                outcome = run_action(
                    action,
                    alert,
                    workspace=self.workspace,
                    base=self.config.base,
                    backoff=self._backoff,
                )
            attempts = record.attempts + outcome.attempts
            store.finish_action(
                record.alert_id,
                record.position,
                state="done" if outcome.state == "done" else "failed",
                attempts=attempts,
                detail=outcome.detail,
                result=outcome.result,
                now=self._now(),
            )
            done.append(store.list_actions(record.alert_id)[record.position])
        return done

    def run(self, *, stop: threading.Event | None = None, cycles: int | None = None) -> None:
        """Run a cycle every ``interval`` until ``stop`` is set (or ``cycles`` ran)."""
        stop = stop or threading.Event()
        count = 0
        while not stop.is_set():
            started = self._clock()
            self.run_once()
            count += 1
            if cycles is not None and count >= cycles:
                return
            wait = self.config.interval_ms / 1000 - (self._clock() - started)
            stop.wait(max(wait, 0.0))
