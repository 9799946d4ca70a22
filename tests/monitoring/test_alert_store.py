"""The AlertStore contract, on SQLite and PostgreSQL: an episode is raised once, an
alert and its pending actions are recorded together, secrets are made once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.store import open_metadata
from cairn.store.alerts import AlertStore, NewAlert

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlertStore]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    else:
        import psycopg

        server = request.getfixturevalue("postgres_server")
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        uri = f"{server}/{name}"
    db: Any = open_metadata(uri, create=True)
    try:
        yield db.alerts
    finally:
        db.close()


def _new(episode: int = 1, fired: int = 1000, **kw: Any) -> NewAlert:
    fields: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "rule": "drift",
        "model": "churn@production",
        "episode": episode,
        "version": "3",
        "message": "drift_share 0.5 > 0.3",
        "evidence": {"value": 0.5, "bound": 0.3},
        "fired_ms": fired,
        "actions": [("hook", "webhook"), ("log", "log")],
        **kw,
    }
    return NewAlert(**fields)


def test_an_episode_is_raised_once_even_by_two_monitors(store: AlertStore) -> None:
    first = store.open_alert(_new())
    # A second monitor that read the same (empty) state: refused, nothing written.
    assert store.open_alert(_new()) is None
    assert first is not None
    (only,) = store.list_alerts()
    assert only.id == first.id and only.evidence == {"value": 0.5, "bound": 0.3}
    state = store.rule_state("drift", "churn@production")
    assert state is not None and (state.firing, state.episode, state.last_fired_ms) == (
        True,
        1,
        1000,
    )


def test_alert_and_pending_actions_are_recorded_together(store: AlertStore) -> None:
    alert = store.open_alert(_new())
    assert alert is not None
    pending = store.pending_actions()
    assert [(a.alert_id, a.position, a.kind, a.state) for a in pending] == [
        (alert.id, 0, "webhook", "pending"),
        (alert.id, 1, "log", "pending"),
    ]
    store.finish_action(
        alert.id, 0, state="failed", attempts=3, detail="HTTP 500", result={"status": 500}, now=5
    )
    store.finish_action(alert.id, 1, state="done", attempts=1, detail="logged", result={}, now=6)
    assert store.pending_actions() == []
    hook, _ = store.list_actions(alert.id)
    assert (hook.state, hook.attempts, hook.result) == ("failed", 3, {"status": 500})
    # A failed action does not take its alert with it.
    assert [a.id for a in store.list_alerts()] == [alert.id]


def test_resolve_then_a_new_episode(store: AlertStore) -> None:
    assert store.resolve("drift", "churn@production", 10) is False
    first = store.open_alert(_new())
    assert first is not None
    assert store.resolve("drift", "churn@production", 2000) is True
    assert store.open_alert(_new(episode=1, fired=3000)) is None  # stale view
    second = store.open_alert(_new(episode=2, fired=3000))
    assert second is not None
    alerts = store.list_alerts(rule="drift")
    assert [(a.episode, a.resolved_ms) for a in alerts] == [(2, None), (1, 2000)]


def test_secret_is_made_once(store: AlertStore) -> None:
    assert store.secret("log-hash", b"a" * 32) == b"a" * 32
    assert store.secret("log-hash", b"b" * 32) == b"a" * 32
