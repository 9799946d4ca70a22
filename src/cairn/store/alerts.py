"""The alert store protocol: what ``cairn monitor run`` remembers between cycles.

Per (rule, model) a :class:`RuleState` says whether the rule is firing, in which episode,
and when it last raised an alert. :meth:`AlertStore.open_alert` is the one place an alert
begins: in one transaction it checks that the rule's state is still the one the caller
saw (compare-and-set on the episode), inserts the :class:`Alert` with the evidence, one
``pending`` :class:`ActionRecord` per action, and marks the rule firing. So:

* an alert is recorded before any of its actions runs: a monitor killed mid-action
  finds the pending actions on restart and runs them (same alert id, so a webhook
  receiver can drop a repeat delivery);
* two monitors on one database, or one restarted, never raise the same episode twice:
  ``(rule, model, episode)`` is unique.

Action states: ``pending -> done | failed``.

``tests/monitoring/test_alert_store.py`` holds every backend to this contract.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

ActionState = Literal["pending", "done", "failed"]


@dataclass(frozen=True, slots=True)
class RuleState:
    """Where one rule stands for one model: ``firing`` since the alert of ``episode``."""

    rule: str
    model: str
    firing: bool
    episode: int
    last_fired_ms: int | None
    updated_ms: int


@dataclass(frozen=True, slots=True)
class NewAlert:
    """What :meth:`AlertStore.open_alert` records. ``episode`` is the rule state's episode
    plus one; ``actions`` are (action name, kind) pairs, run in that order."""

    id: str
    rule: str
    model: str
    episode: int
    version: str
    message: str
    evidence: Mapping[str, Any]
    fired_ms: int
    actions: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    rule: str
    model: str
    episode: int
    version: str
    message: str
    evidence: dict[str, Any]
    fired_ms: int
    resolved_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "model": self.model,
            "episode": self.episode,
            "version": self.version,
            "message": self.message,
            "evidence": dict(self.evidence),
            "fired_ms": self.fired_ms,
            "resolved_ms": self.resolved_ms,
        }


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One action of an alert: what it did (``detail``, ``result``) and how it ended."""

    alert_id: str
    position: int
    name: str
    kind: str
    state: ActionState
    attempts: int = 0
    detail: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    updated_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "position": self.position,
            "name": self.name,
            "kind": self.kind,
            "state": self.state,
            "attempts": self.attempts,
            "detail": self.detail,
            "result": dict(self.result),
            "updated_ms": self.updated_ms,
        }


@runtime_checkable
class AlertStore(Protocol):
    def rule_state(self, rule: str, model: str) -> RuleState | None:
        """The state of ``rule`` for ``model``; ``None`` before its first alert."""
        ...

    def open_alert(self, new: NewAlert) -> Alert | None:
        """Record the alert, its pending actions and the rule's new state (firing, episode
        ``new.episode``, last fired ``new.fired_ms``) in one transaction. ``None``, with
        nothing written, when the rule's stored episode is not ``new.episode - 1`` (another
        monitor raised it first)."""
        ...

    def resolve(self, rule: str, model: str, now: int) -> bool:
        """Mark a firing rule no longer firing and its open alert resolved at ``now``;
        ``False`` when it was not firing."""
        ...

    def pending_actions(self, limit: int = 100) -> list[ActionRecord]:
        """Actions not yet done or failed, oldest alert first."""
        ...

    def finish_action(
        self,
        alert_id: str,
        position: int,
        *,
        state: ActionState,
        attempts: int,
        detail: str,
        result: Mapping[str, Any],
        now: int,
    ) -> None:
        """Record how an action ended (or, with ``pending``, an attempt so far)."""
        ...

    def list_alerts(
        self, model: str | None = None, rule: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Alerts, newest first."""
        ...

    def get_alert(self, alert_id: str) -> Alert:
        """One alert; ``NotFound`` naming the id otherwise."""
        ...

    def list_actions(self, alert_id: str) -> list[ActionRecord]:
        """The actions of one alert, in order."""
        ...

    def secret(self, name: str, make: bytes) -> bytes:
        """The workspace secret ``name``; the first caller stores ``make``, every later
        one (any process) gets that first value back."""
        ...
