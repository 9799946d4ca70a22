"""The compare page: 500 tuning trials side by side, charts overlaid, parameters diffed,
parallel coordinates drawn; and the requests a careless or hostile user makes."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from test_browser import _canvas_has_ink
from ui_populate import trials
from ui_site import screenshot, threaded_server

import cairn
from cairn.access.admin import issue_token
from cairn.access.guard import TokenGuard
from cairn.access.policy import AccessPolicy
from cairn.access.types import OpenGuard
from cairn.server.app import create_app
from cairn.types import Metric


@pytest.fixture
def trials_site(workspace: Any) -> Any:
    ids = trials(workspace, 500, 20)
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        yield url, ids


def test_500_trials_compare_with_overlaid_charts_diff_and_parallel_coordinates(
    trials_site: Any, page: Any
) -> None:
    url, _ = trials_site
    page.goto(f"{url}/ui/runs?experiment=trials")
    page.click("text=Compare all matching runs")
    page.wait_for_url(re.compile(r"/ui/compare\?"))
    assert parse_qs(urlsplit(page.url).query)["limit"] == ["500"]
    assert page.locator("table#compare tbody tr").count() == 500
    header = page.locator("table#compare thead").inner_text()
    # Only the params that differ: seed is 42 in every trial.
    assert "params.lr" in header and "params.depth" in header and "params.seed" not in header
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.cmp-chart')]"
        ".every(f => f.dataset.drawn === '1')",
        timeout=60_000,
    )
    charts = page.locator("figure.cmp-chart")
    assert charts.count() == 2
    for i in range(2):
        assert charts.nth(i).get_attribute("data-runs") == "500"
        assert _canvas_has_ink(page, f"figure.cmp-chart:nth-of-type({i + 1}) canvas")
    page.wait_for_function("() => document.querySelector('canvas#parallel').dataset.drawn === '1'")
    assert _canvas_has_ink(page, "canvas#parallel")
    screenshot(page, "compare-500")

    page.click("text=Show all parameters")
    page.wait_for_url(re.compile(r"all_params=1"))
    assert "params.seed" in page.locator("table#compare thead").inner_text()


def test_ticked_runs_of_the_table_are_compared(trials_site: Any, page: Any) -> None:
    url, _ = trials_site
    page.goto(f"{url}/ui/runs?experiment=trials&filter=metrics.acc+>%3D+0.99")
    boxes = page.locator("table#runs tbody input[type=checkbox]")
    assert boxes.count() == 5  # acc = i/500 >= 0.99: trials 495..499
    boxes.nth(0).check()
    boxes.nth(3).check()
    page.click("text=Compare selected")
    page.wait_for_url(re.compile(r"/ui/compare\?run="))
    assert len(parse_qs(urlsplit(page.url).query)["run"]) == 2
    assert page.locator("table#compare tbody tr").count() == 2
    screenshot(page, "compare-2")


def test_runs_of_different_lengths_share_one_step_axis(workspace: Any) -> None:
    tracking = workspace.tracking
    exp = tracking.create_experiment("mixed")
    short = tracking.create_run(exp.id, name="short")
    long = tracking.create_run(exp.id, name="long")
    tracking.log_batch(short.id, [Metric("loss", 1.0 / (s + 1), s, s) for s in range(5)])
    tracking.log_batch(long.id, [Metric("loss", 2.0, s, s) for s in range(0, 10, 2)])
    for r in (short, long):
        tracking.end_run(r.id, cairn.RunStatus.FINISHED)
    app = create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    with threaded_server(app) as url:
        q = {"runs": f"{short.id},{long.id}", "key": "loss"}
        body = httpx.get(f"{url}/ui/compare/series", params=q).json()
    assert body["steps"] == [0, 1, 2, 3, 4, 6, 8]
    short_line, long_line = body["runs"]
    assert short_line["values"] == [1.0, 0.5, 1 / 3, 0.25, 0.2, None, None]
    assert long_line["values"] == [2.0, None, 2.0, None, 2.0, 2.0, 2.0]
    assert not body["thinned"]


def test_many_steps_come_back_on_a_thinned_grid_keeping_each_runs_last_value(
    workspace: Any,
) -> None:
    tracking = workspace.tracking
    exp = tracking.create_experiment("long")
    run = tracking.create_run(exp.id, name="long")
    tracking.log_batch(run.id, [Metric("m", float(s), s, s) for s in range(10_000)])
    tracking.end_run(run.id, cairn.RunStatus.FINISHED)
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        q = {"runs": run.id, "key": "m", "points": "100"}
        body = httpx.get(f"{url}/ui/compare/series", params=q).json()
    assert body["thinned"] and body["total"] == 10_000 and len(body["steps"]) == 100
    assert body["steps"][-1] == 9999
    # Each grid step shows the value logged at that step: nothing is shifted.
    assert body["runs"][0]["values"] == [float(s) for s in body["steps"]]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({}, 400, "pick runs to compare"),
        ({"runs": "../../etc/passwd"}, 400, "is not a run id"),
        ({"runs": "'or'1'='1"}, 400, "is not a run id"),
        ({"runs": "0" * 32}, 400, "no run with id '000"),
        ({"experiment": "trials", "limit": "5000"}, 400, "out of range; use 1 to 1000"),
        ({"experiment": "nope"}, 404, "nope"),
        ({"experiment": "trials", "filter": "metrics.acc >> 1"}, 400, "unexpected token"),
        ({"experiment": "trials", "metrics": "bogus"}, 400, "has metric 'bogus'"),
    ],
    ids=["nothing", "path", "quote", "unknown", "limit", "no-experiment", "filter", "metric"],
)
def test_bad_compare_requests_name_the_problem(
    workspace: Any, query: dict[str, str], status: int, message: str
) -> None:
    trials(workspace, 3, 2)
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        r = httpx.get(f"{url}/ui/compare", params={**query, "format": "json"})
        assert r.status_code == status, r.text
        assert message in r.json()["error"]["message"]
        page = httpx.get(f"{url}/ui/compare", params=query)
        assert page.status_code == status and "Traceback" not in page.text


def test_series_requests_out_of_range_are_refused(workspace: Any) -> None:
    ids = trials(workspace, 2, 3)
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        base = f"{url}/ui/compare/series"
        r = httpx.get(base, params={"runs": ids[0], "key": "acc", "points": "1"})
        assert r.status_code == 400 and "points 1 is out of range" in r.json()["error"]["message"]
        r = httpx.get(base, params={"runs": ids[0], "key": "acc", "points": "x"})
        assert r.status_code == 400 and "not a number" in r.json()["error"]["message"]


def test_a_user_cannot_compare_runs_of_an_experiment_they_cannot_read(workspace: Any) -> None:
    secret = trials(workspace, 2, 3, experiment="secret")
    mine = trials(workspace, 2, 3, experiment="open")
    access = workspace.metadata.access
    access.create_user("ann")
    access.set_grant("ann", "experiment", "open", "read", granted_by="admin")
    token = issue_token(access, "ann").secret
    guard = TokenGuard(workspace.metadata, AccessPolicy(default_level=None))
    app = create_app(workspace.metadata, workspace.artifacts, guard=guard)
    with threaded_server(app) as url:
        client = httpx.Client(base_url=url, cookies={"cairn_session": token})
        ok = client.get("/ui/compare", params={"runs": ",".join(mine), "format": "json"})
        assert ok.status_code == 200 and ok.json()["count"] == 2
        # Slipping one secret run in among readable ones reveals nothing.
        mixed = ",".join([*mine, secret[0]])
        for path in ("/ui/compare", "/ui/compare/series"):
            r = client.get(path, params={"runs": mixed, "key": "acc", "format": "json"})
            assert r.status_code == 403, r.text
            assert "secret" in r.json()["error"]["message"]
            assert "trial-" not in r.text
        r = client.get("/ui/compare", params={"experiment": "secret", "format": "json"})
        assert r.status_code == 403
        client.close()
