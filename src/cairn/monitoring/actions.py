"""What an alert does: POST it to a webhook, write a log line, or start a retraining
pipeline whose new version must pass the gates before it takes the alias.

Each action returns an :class:`Outcome` the runner records on the alert: its state
(``done`` or ``failed``), attempts, a one-line ``detail`` and a ``result`` mapping (HTTP
status, pipeline run id, new version, gate verdict, whether it was promoted). An action
never raises for a failure of its own target: a webhook that answers 500 or never
answers is a ``failed`` action on a recorded alert, not a lost alert.

Webhook deliveries carry the alert's id (``Idempotency-Key`` header and ``id`` in the
body); a monitor that was killed before recording a delivery sends it again with the
same id on restart, so a receiver that keeps the ids it saw acts once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError

if TYPE_CHECKING:
    from cairn.monitoring.rules import Action
    from cairn.store.alerts import Alert
    from cairn.workspace import Workspace

log = logging.getLogger("cairn.monitoring")

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
#: First pause between webhook attempts (doubles each time, at most 30 s).
BACKOFF_S = 0.5


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str  # "done" | "failed"
    attempts: int
    detail: str
    result: dict[str, Any] = field(default_factory=dict)


def payload(alert: Alert) -> dict[str, Any]:
    """The JSON body a webhook receives."""
    return {
        "id": alert.id,
        "rule": alert.rule,
        "model": alert.model,
        "version": alert.version,
        "episode": alert.episode,
        "message": alert.message,
        "fired_ms": alert.fired_ms,
        "evidence": alert.evidence,
        "source": "cairn",
    }


def run_action(
    action: Action,
    alert: Alert,
    *,
    workspace: Workspace | None = None,
    base: Path = Path("."),
    backoff: float = BACKOFF_S,
) -> Outcome:
    """Carry out one action for ``alert``; see the module docstring."""
    runners: dict[str, Callable[[], Outcome]] = {
        "webhook": lambda: webhook(action.spec, alert, backoff=backoff),
        "log": lambda: log_line(action.spec, alert),
        "pipeline": lambda: retrain(action.spec, alert, workspace=workspace, base=base),
    }
    try:
        return runners[action.kind]()
    except CairnError as exc:
        return Outcome("failed", 1, f"{action.kind} action {action.name!r} failed: {exc}")


def webhook(spec: Mapping[str, Any], alert: Alert, *, backoff: float = BACKOFF_S) -> Outcome:
    """POST the alert as JSON; retry on connection errors, timeouts and 5xx/429."""
    import httpx

    url = str(spec["url"])
    retries = int(spec.get("retries", DEFAULT_RETRIES))
    timeout = float(spec.get("timeout", DEFAULT_TIMEOUT))
    headers = {**dict(spec.get("headers", {})), "Idempotency-Key": alert.id}
    last = ""
    attempts = 0
    pause = backoff
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for attempts in range(1, retries + 2):
            try:
                response = client.post(url, json=payload(alert), headers=headers)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code < 300:
                    return Outcome(
                        "done",
                        attempts,
                        f"POST {url}: HTTP {response.status_code}",
                        {"status": response.status_code},
                    )
                last = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the receiver refuses this alert: sending it again will not help
            if attempts <= retries:
                time.sleep(pause)
                pause = min(pause * 2, 30.0)
    return Outcome(
        "failed",
        attempts,
        f"POST {url} failed after {attempts} attempt(s): {last}",
        {"error": last},
    )


def log_line(spec: Mapping[str, Any], alert: Alert) -> Outcome:
    level = getattr(logging, str(spec.get("level", "warning")).upper())
    log.log(level, "alert %s [%s] %s", alert.id, alert.rule, alert.message)
    return Outcome("done", 1, f"logged at {spec.get('level', 'warning')}")


def retrain(
    spec: Mapping[str, Any],
    alert: Alert,
    *,
    workspace: Workspace | None = None,
    base: Path = Path("."),
) -> Outcome:
    """Run the pipeline, find the version it registered, gate it against the alias
    holder, and with ``auto_promote`` move the alias when every gate passes."""
    import cairn.workspace
    from cairn.pipelines import run_pipeline
    from cairn.pipelines.loader import load_target
    from cairn.registry.catalog import list_versions, promote
    from cairn.registry.gates import GateFailed, check_gates

    ws = cairn.workspace.resolve(workspace)
    model, alias = str(spec["model"]), str(spec.get("alias", "production"))
    target = _relative(str(spec["target"]), base)
    gates = spec.get("gates")
    gates_path = None if gates is None else str(_relative_path(str(gates), base))
    pipe, canonical = load_target(target)
    before = max((v.version for v in _versions(list_versions, model, ws)), default=0)
    outcome = run_pipeline(
        pipe,
        dict(spec.get("params", {})),
        executor=str(spec.get("executor", "inprocess")),
        target=canonical,
        workspace=ws,
    )
    result: dict[str, Any] = {"run_id": outcome.run_id, "pipeline": canonical}
    new = [v.version for v in _versions(list_versions, model, ws) if v.version > before]
    if not new:
        return Outcome(
            "failed",
            1,
            f"pipeline run {outcome.run_id} registered no new version of {model}: "
            f"register one in the pipeline (cairn.log_model(..., registered_name={model!r}))",
            result,
        )
    version = max(new)
    result["version"] = version
    reason = f"alert {alert.id} ({alert.rule}): {alert.message}"
    if spec.get("auto_promote"):
        try:
            promote(model, version, alias, reason=reason, gates=gates_path, workspace=ws)
        except GateFailed as exc:
            result.update(gates_passed=False, promoted=False)
            return Outcome("done", 1, f"{model}/{version} not promoted: {exc}", result)
        result.update(gates_passed=True, promoted=True)
        return Outcome("done", 1, f"{model}/{version} passed the gates and is {alias} now", result)
    if gates_path is not None:
        verdict = check_gates(model, version, gates_path, against=alias, record=True, workspace=ws)
        result.update(gates_passed=verdict.passed, promoted=False)
        word = "passed" if verdict.passed else "failed"
        return Outcome("done", 1, f"{model}/{version} {word} the gates; not promoted", result)
    result["promoted"] = False
    return Outcome("done", 1, f"{model}/{version} registered; not promoted", result)


def _versions(lister: Callable[..., Any], model: str, ws: Workspace) -> list[Any]:
    from cairn.errors import NotFound

    try:
        return list(lister(model, workspace=ws))
    except NotFound:
        return []


def _relative_path(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


def _relative(target: str, base: Path) -> str:
    """A ``file.py:pipeline`` target read relative to the monitor file's folder."""
    location, _, attr = target.rpartition(":")
    if location.endswith(".py") or "/" in location:
        return f"{_relative_path(location, base)}:{attr}"
    return target
