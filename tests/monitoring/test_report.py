"""The HTML report: self-contained (no network to open it), built from aggregates, and a
crafted feature name shows as text instead of running."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from loop_reports import HOUR, report

from cairn.errors import InvalidInput
from cairn.monitoring.report import collect, render, write_report
from cairn.monitoring.types import CheckReport

NOW = 1_800_000_000_000 - (1_800_000_000_000 % HOUR)


class HourlyChecks:
    """Answers each window with a report whose drift grows over the day; the windows
    before ``empty_before`` have no rows."""

    def __init__(self, empty_before: int = 0) -> None:
        self.windows: list[tuple[str, str]] = []
        self.empty_before = empty_before

    def __call__(self, model: str, *, since: str, until: str, **_: Any) -> CheckReport:
        self.windows.append((since, until))
        n = len(self.windows)
        if n <= self.empty_before:
            raise InvalidInput(f"no rows logged for {model} from {since} to {until}")
        return report(drifted=min(4, n // 6), auc=0.95 - n * 0.005, since_ms=NOW - HOUR * (25 - n))


def _scripts(text: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", text, flags=re.S)


def test_report_opens_without_a_network(tmp_path: Path) -> None:
    check = HourlyChecks(empty_before=2)
    out = write_report("churn@production", tmp_path / "r.html", periods=24, check=check, now_ms=NOW)
    text = out.read_text()
    # No script, stylesheet or image is fetched: everything it needs is inline.
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", text, flags=re.I)
    assert "Plotly.newPlot" in text and "plotly.js" in text.lower()
    # 24 consecutive hourly windows, oldest first, ending at the current hour.
    assert len(check.windows) == 24
    assert check.windows[-1][1].startswith("2027-01-15T08:00:00")
    assert "Periods without a check" in text and text.count("no rows logged for") == 2


def test_report_shows_histograms_drift_and_performance(tmp_path: Path) -> None:
    periods = collect("churn@production", periods=24, check=HourlyChecks(), now_ms=NOW)
    text = render("churn@production", periods)
    figures = dict(re.findall(r"Plotly.newPlot\('(fig\d+)', (\[.*?\]), \{", text))
    assert len(figures) == 5 + 3  # f0..f3 and plan histograms, drift, performance, health
    hist = json.loads(figures["fig0"])
    assert [t["name"] for t in hist] == ["reference", "current"]
    assert sum(hist[0]["y"]) == pytest.approx(1.0)
    perf = json.loads(figures["fig6"])
    assert {t["name"] for t in perf} == {"roc_auc (realized)", "roc_auc (estimated)"}
    assert len(perf[0]["y"]) == 24
    categorical = json.loads(figures["fig4"])
    assert categorical[0]["x"] == ["basic", "pro", "(other)"]


def test_a_crafted_feature_name_is_text_not_code() -> None:
    evil = "</script><script>alert(1)</script>"
    base = report(drifted=1)
    feature = dataclasses.replace(base.features[0], feature=evil)
    crafted = dataclasses.replace(base, features=(feature, *base.features[1:]))

    def check(model: str, **_: Any) -> CheckReport:
        return crafted

    text = render("churn", collect("churn", periods=2, check=check, now_ms=NOW))
    assert evil not in text
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in text  # the heading, escaped


def test_the_report_size_does_not_grow_with_rows() -> None:
    def check_rows(rows: int) -> Any:
        def check(model: str, **_: Any) -> CheckReport:
            r = report(drifted=2)
            return dataclasses.replace(r, window=dataclasses.replace(r.window, rows=rows))

        return check

    small = render("churn", collect("churn", periods=3, check=check_rows(10), now_ms=NOW))
    large = render("churn", collect("churn", periods=3, check=check_rows(10**9), now_ms=NOW))
    assert abs(len(large) - len(small)) < 100


@pytest.mark.parametrize("periods", [0, 100_000])
def test_periods_out_of_range_are_refused(periods: int) -> None:
    with pytest.raises(InvalidInput, match=f"--periods {periods}: use 1 to 1000"):
        collect("churn", periods=periods, check=HourlyChecks())
