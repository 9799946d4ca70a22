"""Dataset pages: versions, schema, column statistics with histograms, and the diff of
two versions, from real CSV files added with cairn.data.add."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from ui_site import screenshot, threaded_server

import cairn.data
from cairn.access.admin import issue_token
from cairn.access.guard import TokenGuard
from cairn.access.policy import AccessPolicy
from cairn.access.types import OpenGuard
from cairn.server.app import create_app


def _csv(path: Path, rows: int, shift: float, extra: bool = False) -> Path:
    head = "age,plan,income" + (",region" if extra else "")
    lines = [head]
    for i in range(rows):
        row = f"{20 + (i % 50) + shift:.1f},{['basic', 'pro', 'team'][i % 3]},{1000 + i * 3}"
        lines.append(row + (f",r{i % 4}" if extra else ""))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def data_site(workspace: Any, tmp_path: Path) -> Any:
    cairn.data.add(_csv(tmp_path / "a.csv", 1000, 0.0), "churn", workspace=workspace)
    cairn.data.add(_csv(tmp_path / "b.csv", 1200, 15.0, extra=True), "churn", workspace=workspace)
    with threaded_server(
        create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    ) as url:
        yield url


def test_dataset_pages_show_versions_schema_histograms_and_a_diff(
    data_site: str, page: Any
) -> None:
    page.goto(f"{data_site}/ui/datasets")
    assert "churn" in page.locator("table#datasets").inner_text()
    screenshot(page, "datasets")
    page.click("table#datasets >> text=churn")
    page.wait_for_url(re.compile(r"/ui/datasets/churn$"))
    assert page.locator("h1").inner_text() == "churn@v2"
    assert page.locator("table#versions tbody tr").count() == 2
    columns = page.locator("table#columns tbody tr")
    assert columns.count() == 4
    age = page.locator("table#columns tbody tr", has_text="age")
    assert "1200" in age.inner_text()  # count
    assert age.locator("svg.hist rect").count() > 1  # a real histogram, not one bar
    assert (
        page.locator("table#columns tbody tr", has_text="plan").locator("svg.hist rect").count()
        == 3
    )
    screenshot(page, "dataset")

    page.select_option("form#diff-form select[name=old]", "1")
    page.select_option("form#diff-form select[name=new]", "2")
    page.click("form#diff-form button")
    page.wait_for_url(re.compile(r"/diff\?old=1&new=2"))
    table = page.locator("table#diff")
    assert "added" in table.locator("tr", has_text="region").inner_text()
    age_psi = float(table.locator("tr", has_text="age").locator("td").nth(4).inner_text())
    assert age_psi > 0.25  # every age moved by 15 years: a large shift
    screenshot(page, "dataset-diff")


def test_the_dataset_json_twins_match_cairn_data(data_site: str, workspace: Any) -> None:
    detail = httpx.get(f"{data_site}/ui/datasets/churn?version=v1&format=json").json()
    assert detail["version"]["ref"] == "churn@v1"
    profile = cairn.data.get("churn@v1", workspace=workspace).profile
    assert profile is not None
    age = next(c for c in detail["columns"] if c["name"] == "age")
    assert age["stats"]["mean"] == profile["columns"]["age"]["mean"]
    assert sum(1 for _ in age["histogram"]["bars"]) == len(
        profile["columns"]["age"]["histogram"]["counts"]
    )
    diff = httpx.get(f"{data_site}/ui/datasets/churn/diff?old=1&new=2&format=json").json()
    expected = cairn.data.diff("churn@v1", "churn@v2", workspace=workspace).to_dict()
    assert diff["columns"] == expected["columns"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/ui/datasets/nope", 404, "nope"),
        ("/ui/datasets/churn?version=9", 400, "is not a version of this dataset"),
        ("/ui/datasets/churn?version=../../x", 400, "is not a version of this dataset"),
        ("/ui/datasets/churn/diff?old=1&new=7", 400, "'7' is not a version"),
        ("/ui/datasets/churn/diff?old=1", 400, "'' is not a version"),
    ],
)
def test_bad_dataset_requests_name_the_problem(
    data_site: str, path: str, status: int, message: str
) -> None:
    r = httpx.get(f"{data_site}{path}", headers={"Accept": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.json()["error"]["message"]
    html = httpx.get(f"{data_site}{path}")
    assert html.status_code == status and "Traceback" not in html.text


def test_a_dataset_someone_may_not_read_is_neither_listed_nor_shown(
    workspace: Any, tmp_path: Path
) -> None:
    cairn.data.add(_csv(tmp_path / "a.csv", 10, 0.0), "public", workspace=workspace)
    cairn.data.add(_csv(tmp_path / "s.csv", 10, 0.0), "salaries", workspace=workspace)
    access = workspace.metadata.access
    access.create_user("ann")
    access.set_grant("ann", "dataset", "public", "read", granted_by="admin")
    token = issue_token(access, "ann").secret
    guard = TokenGuard(workspace.metadata, AccessPolicy(default_level=None))
    with threaded_server(create_app(workspace.metadata, workspace.artifacts, guard=guard)) as url:
        client = httpx.Client(base_url=url, cookies={"cairn_session": token})
        listed = client.get("/ui/datasets?format=json").json()["datasets"]
        assert [d["name"] for d in listed] == ["public"]
        for path in ("/ui/datasets/salaries", "/ui/datasets/salaries/diff?old=1&new=1"):
            r = client.get(path, headers={"Accept": "application/json"})
            assert r.status_code == 403 and "salaries" in r.json()["error"]["message"]
        client.close()


def test_cairn_data_diff_is_still_the_function_after_a_first_call(
    workspace: Any, tmp_path: Path
) -> None:
    # The UI serves many diffs from one process: the second used to find a module.
    cairn.data.add(_csv(tmp_path / "a.csv", 10, 0.0), "t", workspace=workspace)
    cairn.data.add(_csv(tmp_path / "b.csv", 10, 1.0), "t", workspace=workspace)
    first = cairn.data.diff("t@v1", "t@v2", workspace=workspace)
    second = cairn.data.diff("t@v1", "t@v2", workspace=workspace)
    assert first.to_dict() == second.to_dict()
