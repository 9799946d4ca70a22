"""Monitoring pages over a real served-model log: drift per feature over time,
performance over time and alerts, the same checks as `cairn monitor report`."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "monitoring"))

from monitor_helpers import HOUR_MS, Monitored, make_frame, train
from test_browser import _canvas_has_ink
from ui_site import screenshot, threaded_server

import cairn
from cairn.access.admin import issue_token
from cairn.access.guard import TokenGuard
from cairn.access.policy import AccessPolicy
from cairn.access.types import OpenGuard
from cairn.server.app import create_app
from cairn.store.alerts import NewAlert
from cairn.tracking import fluent


@pytest.fixture
def served(workspace: Any) -> Iterator[Monitored]:
    """``churn`` v1 in production with 3 logged hours, 4, 3 and 2 hours ago; the last
    with x0 shifted by 3 standard deviations. One drift alert fired."""
    fluent.reset()
    train(workspace, workspace.root)
    cairn.registry.promote("churn", 1, "production", workspace=workspace)
    m = Monitored(workspace, workspace.root)
    hour = (int(time.time() * 1000) // HOUR_MS) * HOUR_MS
    for ago, shift in ((4, 0.0), (3, 0.0), (2, 3.0)):
        m.log(make_frame(400, seed=10 + ago, shift=shift), hour - ago * HOUR_MS + 60_000,
              per_request=50, prefix=f"h{ago}-")  # fmt: skip
    workspace.metadata.alerts.open_alert(
        NewAlert(id="a1", rule="x0-drift", model="churn@production", episode=1, version="1",
                 message="x0 drifted (psi 2.1 > 0.2)", evidence={"x0": 2.1},
                 fired_ms=hour - HOUR_MS)
    )  # fmt: skip
    yield m
    fluent.reset()


def test_drift_performance_and_alerts_of_a_served_model(served: Monitored, page: Any) -> None:
    ws = served.ws
    app = create_app(ws.metadata, ws.artifacts, guard=OpenGuard())
    with threaded_server(app) as base:
        page.goto(f"{base}/ui/monitoring")
        assert "x0 drifted" in page.locator("table#alerts").inner_text()
        screenshot(page, "monitoring")
        page.click("table#monitored >> text=production → 1")
        page.wait_for_url("**/ui/monitoring/churn%40production")
        page.wait_for_function(
            "() => [...document.querySelectorAll('figure.mon-chart')]"
            ".every(f => f.dataset.drawn === '1')"
        )
        figures = page.locator("figure.mon-chart")
        assert figures.count() == 3
        for i in range(3):
            assert _canvas_has_ink(page, f"figure.mon-chart:nth-of-type({i + 1}) canvas")
        latest = page.locator("table#latest tr", has_text="x0").inner_text()
        assert "drifted" in latest
        assert "x0 drifted" in page.locator("table#alerts").inner_text()
        screenshot(page, "monitoring-model")

        data = httpx.get(f"{base}/ui/monitoring/churn@production?periods=6&format=json").json()
    assert data["periods"] == 6 and len(data["times"]) == 6
    x0 = next(d for d in data["drift"] if d["feature"] == "x0")
    scored = [s for s in x0["scores"] if s is not None]
    assert len(scored) == 3  # three logged hours; the others are gaps with a reason
    assert scored[-1] > x0["threshold"] and scored[-1] > 5 * max(scored[:-1])
    assert len(data["gaps"]) == 3 and all(g["note"] for g in data["gaps"])
    assert data["performance"], "a classifier's probabilities give estimated performance"
    assert [a["id"] for a in data["alerts"]] == ["a1"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ui/monitoring/churn@production?window=7y", 400, "window '7y' is not offered"),
        ("/ui/monitoring/churn@production?periods=100000", 400, "out of range"),
        ("/ui/monitoring/churn@production?periods=-1", 400, "out of range"),
        ("/ui/monitoring/nope@production", 404, "nope"),
    ],
)
def test_bad_monitoring_requests_name_the_problem(
    workspace: Any, path: str, status: int, message: str
) -> None:
    from ui_populate import model_versions

    model_versions(workspace, "churn", None, 1)
    workspace.registry.set_alias("churn", "production", 1, actor="t", reason="r")
    app = create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    with threaded_server(app) as base:
        r = httpx.get(f"{base}{path}", headers={"Accept": "application/json"})
        assert r.status_code == status, r.text
        assert message in r.json()["error"]["message"]


def test_alerts_of_a_model_someone_may_not_read_stay_hidden(workspace: Any) -> None:
    from ui_populate import model_versions

    for name in ("open", "secret"):
        model_versions(workspace, name, None, 1)
        workspace.metadata.alerts.open_alert(
            NewAlert(id=f"id-{name}", rule="r", model=f"{name}@production", episode=1,
                     version="1", message=f"{name} alert", evidence={}, fired_ms=1)
        )  # fmt: skip
    access = workspace.metadata.access
    access.create_user("ann")
    access.set_grant("ann", "model", "open", "read", granted_by="admin")
    token = issue_token(access, "ann").secret
    guard = TokenGuard(workspace.metadata, AccessPolicy(default_level=None))
    with threaded_server(create_app(workspace.metadata, workspace.artifacts, guard=guard)) as base:
        client = httpx.Client(base_url=base, cookies={"cairn_session": token})
        data = client.get("/ui/monitoring?format=json").json()
        assert [m["name"] for m in data["models"]] == ["open"]
        assert [a["id"] for a in data["alerts"]] == ["id-open"]
        r = client.get("/ui/monitoring/secret@production?format=json")
        assert r.status_code == 403 and "secret alert" not in r.text
        client.close()
