"""The JSON twins of the pages, and server-side thinning of long metric series."""

from __future__ import annotations

import math
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from ui_site import Site

import cairn
from cairn.ui.downsample import downsample


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=3000),
    st.integers(min_value=1, max_value=200),
)
def test_thinning_keeps_every_peak_and_dip(values: list[float], buckets: int) -> None:
    steps = list(range(len(values)))
    s = downsample(steps, values, buckets)
    assert len(s.steps) <= max(2 * buckets, len(values))
    assert s.steps == sorted(s.steps)
    assert max(v for v in s.values if v is not None) == max(values)
    assert min(v for v in s.values if v is not None) == min(values)
    assert all(values[step] == v for step, v in zip(s.steps, s.values, strict=True))


def test_thinning_keeps_a_nan_as_a_gap() -> None:
    values = [1.0] * 10_000
    values[5000] = math.nan
    s = downsample(list(range(10_000)), values, 100)
    assert None in s.values and len(s.steps) <= 300


def test_a_long_series_arrives_thinned_and_a_zoom_gets_full_detail(site: Site) -> None:
    base = f"{site.url}/ui/runs/{site.long_run}/metric"
    whole = httpx.get(base, params={"key": "m0", "points": 100}).json()
    assert whole["total"] == 5000 and whole["thinned"] and len(whole["steps"]) <= 200
    assert min(whole["values"]) == -5.0  # the one-step dip at 3,500 survives thinning
    zoom = httpx.get(base, params={"key": "m0", "from": 3490, "to": 3510}).json()
    assert zoom["steps"] == list(range(3490, 3511)) and not zoom["thinned"]


def test_bad_metric_requests_are_4xx_naming_the_problem(site: Site) -> None:
    base = f"{site.url}/ui/runs/{site.long_run}/metric"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"key": "nope"}, 400, "has no metric 'nope'"),
        ({"key": "m0", "points": "0"}, 400, "out of range"),
        ({"key": "m0", "from": "9", "to": "1"}, 400, "is empty"),
        ({"key": "m0", "from": "abc"}, 400, "not a number"),
    ]
    for params, status, text in cases:
        r = httpx.get(base, params=params)
        assert r.status_code == status and text in r.json()["error"]["message"], params
    r = httpx.get(f"{site.url}/ui/runs/0123456789abcdef/metric", params={"key": "m0"})
    assert r.status_code == 404


def test_every_page_answers_json_from_the_same_handler(site: Site) -> None:
    table = httpx.get(f"{site.url}/ui/runs", params={"experiment": "churn", "format": "json"})
    data = table.json()
    assert len(data["runs"]) == 50 and data["next_token"]
    html = httpx.get(f"{site.url}/ui/runs", params={"experiment": "churn"}).text
    assert all(r["id"] in html for r in data["runs"])
    accept = {"Accept": "application/json"}
    run = httpx.get(f"{site.url}/ui/runs/{site.long_run}", headers=accept).json()
    assert run["metric_keys"] == ["m0", "m1", "m2"]
    model = httpx.get(f"{site.url}/ui/models/churn", headers=accept).json()
    assert model["model"]["aliases"] == {"production": 1} and len(model["versions"]) == 3
    bad = httpx.get(f"{site.url}/ui/runs", params={"size": "7", "format": "json"})
    assert bad.status_code == 400 and "use one of 25, 50" in bad.json()["error"]["message"]


def test_the_model_card_page_is_the_cards_markdown_with_html_shown_as_text(
    workspace: Any,
) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from ui_site import threaded_server

    from cairn.access.types import OpenGuard
    from cairn.server.app import create_app

    x = np.random.default_rng(0).normal(size=(40, 3))
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    with cairn.start_run():
        cairn.log_model(model, registered_name="carded", input_example=x[:2])
    workspace.registry.update_model("carded", description="<script>alert(1)</script> **bold**")
    app = create_app(workspace.metadata, workspace.artifacts, guard=OpenGuard())
    with threaded_server(app) as url:
        answer = httpx.get(f"{url}/ui/models/carded/card/1", params={"format": "json"})
        assert answer.status_code == 200, answer.text
        card = answer.json()
        assert card["version"] == 1 and "<script>alert(1)</script>" in card["markdown"]
        page = httpx.get(f"{url}/ui/models/carded/card/1").text
        assert 'id="model-card"' in page and "&lt;script&gt;alert(1)" in page
        assert "<script>alert(1)" not in page
        bad = httpx.get(f"{url}/ui/models/carded/card/two", params={"format": "json"})
        assert bad.status_code == 400 and "must be a number" in bad.json()["error"]["message"]
        missing = httpx.get(f"{url}/ui/models/carded/card/99", params={"format": "json"})
        assert missing.status_code == 404
