"""The data behind the monitoring pages: drift per feature over time, performance over
time and alerts, for one model reference.

The periods come from :func:`cairn.monitoring.report.collect`, the same checks as
``cairn monitor report`` (one :func:`cairn.monitoring.check` per window, from the
prediction log's aggregates), so the page and the HTML report agree. A window the check
refuses (nothing logged) is a gap with its reason. Alerts come from the alert store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.monitoring.report import Period
    from cairn.workspace import Workspace

#: Windows one page may check (each is a check over that window's log).
MAX_PERIODS = 168
WINDOWS = ("15m", "1h", "6h", "1d")
MAX_ALERTS = 200


def overview(ws: Workspace) -> dict[str, Any]:
    """Registered models with their aliases (what can be monitored) and recent alerts."""
    models = [{"name": m.name, "aliases": dict(m.aliases)} for m in ws.registry.list_models()]
    alerts = [a.to_dict() for a in ws.metadata.alerts.list_alerts(limit=50)]
    return {"models": models, "alerts": alerts}


def model_monitoring(
    ws: Workspace, model: str, window: str, periods_text: str, now_ms: int | None = None
) -> dict[str, Any]:
    """Drift and performance of ``model`` (``name@alias`` or ``name/3``) over ``periods``
    consecutive windows of ``window`` ending now, and the model's alerts."""
    from cairn.monitoring.check import model_version
    from cairn.monitoring.report import collect

    model_version(model, ws)  # an unknown model or alias: its 404, not 24 empty windows
    window = window or "1h"
    if window not in WINDOWS:
        raise InvalidInput(
            f"window {window[:20]!r} is not offered; use one of {', '.join(WINDOWS)}"
        )
    periods_text = periods_text or "24"
    if not periods_text.isdigit() or not 1 <= int(periods_text) <= MAX_PERIODS:
        raise InvalidInput(f"periods {periods_text[:20]!r} is out of range; use 1 to {MAX_PERIODS}")
    periods = collect(model, window=window, periods=int(periods_text), workspace=ws, now_ms=now_ms)
    name = model.split("@")[0].split("/")[0]
    alerts = [a.to_dict() for a in ws.metadata.alerts.list_alerts(model=name, limit=MAX_ALERTS)]
    alerts += [
        a.to_dict()
        for a in ws.metadata.alerts.list_alerts(model=model, limit=MAX_ALERTS)
        if model != name
    ]
    alerts.sort(key=lambda a: -int(a["fired_ms"]))
    return {
        "model": model,
        "window": window,
        "periods": len(periods),
        **series(periods),
        "alerts": alerts,
    }


def series(periods: list[Period]) -> dict[str, Any]:
    """Chart data, one x per period (its end, in seconds): per-feature drift scores with
    their thresholds, the share of drifted features, and performance realized and
    estimated; plus the gaps (windows without a check) and the newest check's table."""
    times = [p.until_ms // 1000 for p in periods]
    features: list[str] = []
    for p in periods:
        for f in p.report.features if p.report else ():
            if f.feature not in features:
                features.append(f.feature)
    drift = []
    for name in features:
        scores: list[float | None] = []
        threshold = None
        for p in periods:
            found = (
                next((f for f in p.report.features if f.feature == name), None)
                if p.report
                else None
            )
            scores.append(None if found is None else found.score)
            threshold = found.threshold if found is not None else threshold
        drift.append({"feature": name, "scores": scores, "threshold": threshold})
    share = [None if p.report is None else p.report.drift_share for p in periods]
    perf: dict[str, list[float | None]] = {}
    for i, p in enumerate(periods):
        for item in p.report.performance if p.report else ():
            for kind, values in (("realized", item.realized), ("estimated", item.estimated)):
                for metric, value in values.items():
                    perf.setdefault(f"{metric} ({kind})", [None] * len(periods))[i] = value
    latest = next((p.report for p in reversed(periods) if p.report is not None), None)
    return {
        "times": times,
        "drift": drift,
        "drift_share": share,
        "performance": [{"name": k, "values": v} for k, v in sorted(perf.items())],
        "gaps": [{"until": p.until_ms, "note": p.note} for p in periods if p.report is None],
        "latest": None
        if latest is None
        else {
            "version": latest.version,
            "reference": latest.reference,
            "features": [
                {
                    "feature": f.feature,
                    "test": f.test,
                    "score": f.score,
                    "threshold": f.threshold,
                    "drifted": f.drifted,
                }
                for f in latest.features
            ],
        },
    }
