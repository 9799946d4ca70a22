"""The UI in headless Chromium against a real server: what a person clicking sees."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ui_populate import many_runs

import cairn.workspace
from cairn.access.types import OpenGuard
from conftest import Site, screenshot


def _canvas_has_ink(page: Any, selector: str) -> bool:
    """True when the chart's canvas has pixels of more than one colour (not blank)."""
    return bool(
        page.evaluate(
            """(sel) => {
              const c = document.querySelector(sel);
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let first = null;
              for (let i = 0; i < d.length; i += 4) {
                const px = d[i] + ',' + d[i+1] + ',' + d[i+2] + ',' + d[i+3];
                if (first === null) first = px; else if (px !== first) return true;
              }
              return false;
            }""",
            selector,
        )
    )


def test_every_page_loads_with_real_data(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/ui/runs?experiment=churn")
    rows = page.locator("table#runs tbody tr[data-run]")
    assert rows.count() == 50
    assert page.locator("table#runs thead").inner_text().count("metrics.acc") == 1
    screenshot(page, "runs")

    page.goto(f"{site.url}/ui/runs/{site.long_run}")
    charts = page.locator("figure.chart")
    assert charts.count() == 3
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.chart')].every(f => f.dataset.drawn === '1')",
        timeout=30_000,
    )
    for i in range(3):
        assert _canvas_has_ink(page, f"figure.chart:nth-of-type({i + 1}) canvas")
    assert page.locator("table.kv").first.inner_text().startswith("lr")
    screenshot(page, "run")

    page.goto(f"{site.url}/ui/models")
    assert "production → 1" in page.locator("table#models").inner_text()
    screenshot(page, "models")
    page.click("text=churn")
    page.wait_for_url(re.compile(r"/ui/models/churn$"))
    assert page.locator("table#versions tbody tr").count() == 3
    screenshot(page, "model")


def test_the_filter_narrows_the_table_and_the_url_keeps_it(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/ui/runs?experiment=churn")
    page.fill("input[name=filter]", "metrics.acc >= 0.999")  # acc = i/2000: two runs
    page.press("input[name=filter]", "Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('table#runs tbody tr[data-run]').length === 2"
    )
    url = page.url
    assert parse_qs(urlsplit(url).query)["filter"] == ["metrics.acc >= 0.999"]
    page.goto(url)  # a shared link shows the same table
    assert page.locator("table#runs tbody tr[data-run]").count() == 2
    screenshot(page, "runs-filtered")


def test_a_bad_filter_names_the_problem_instead_of_failing(site: Site, page: Any) -> None:
    response = page.goto(f"{site.url}/ui/runs?experiment=churn&filter=metrics.acc%20%3E%3E%201")
    assert response.status == 400
    assert "unexpected token" in page.locator("p.error").inner_text()


def _acc_column(page: Any) -> list[float]:
    header = page.locator("table#runs thead th").all_inner_texts()
    col = next(i for i, h in enumerate(header) if h.startswith("metrics.acc"))
    cells = page.locator(f"table#runs tbody tr td:nth-child({col + 1})").all_inner_texts()
    return [float(c) for c in cells]


def test_sorting_and_paging_work_at_100000_runs(workspace: Any, page: Any) -> None:
    from cairn.server.app import create_app
    from conftest import threaded_server

    many_runs(workspace, 100_000, "big")
    ws = cairn.workspace.Workspace(workspace.settings)
    with threaded_server(create_app(ws.metadata, ws.artifacts, guard=OpenGuard())) as url:
        page.goto(f"{url}/ui/runs?experiment=big&cols=metrics.acc")
        page.click("table#runs thead >> text=metrics.acc")  # sort: descending first
        page.wait_for_url(re.compile(r"sort=metrics.acc"))
        first = _acc_column(page)
        assert first[0] == pytest.approx(99_999 / 100_000)
        assert first == sorted(first, reverse=True) and len(first) == 50
        page.click("nav.pager >> text=Next")
        page.wait_for_url(re.compile(r"token="))
        second = _acc_column(page)
        assert second[0] < first[-1] and second == sorted(second, reverse=True)
        assert "Page 2" in page.locator("p.hint").first.inner_text()
        page.click("nav.pager >> text=Previous")
        page.wait_for_function("() => !location.search.includes('token=')")
        assert _acc_column(page) == first
        page.click("table#runs thead >> text=metrics.acc")  # second click: ascending
        page.wait_for_url(re.compile(r"sort=metrics.acc\+asc"))
        assert _acc_column(page)[0] == 0.0
        screenshot(page, "runs-100k-sorted")
        ws.close()


def test_promote_and_rollback_in_the_browser_move_the_alias(site: Site, page: Any) -> None:
    page.goto(f"{site.url}/ui/models/churn")
    page.select_option("form#promote select[name=version]", "3")
    page.fill("form#promote input[name=reason]", "beats v1 on the holdout")
    page.click("form#promote button")
    page.wait_for_url(re.compile(r"done="))
    assert page.locator("#aliases").inner_text().strip() == "production → 3"
    assert site.ws.registry.get_alias("churn", "production") == 3
    screenshot(page, "model-promoted")

    page.fill("form#rollback input[name=reason]", "latency regression")
    page.click("form#rollback button")
    page.wait_for_url(re.compile(r"done=production"))
    assert page.locator("#aliases").inner_text().strip() == "production → 1"
    history = site.ws.registry.alias_history("churn", "production")
    assert [(e.action, e.to_version, e.reason) for e in history[-2:]] == [
        ("promote", 3, "beats v1 on the holdout"),
        ("rollback", 1, "latency regression"),
    ]
