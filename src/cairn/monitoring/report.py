"""``cairn monitor report``: one self-contained HTML page for a model's recent history.

The page is built from :class:`~cairn.monitoring.types.CheckReport` values, one per
period (``--periods`` windows of ``--window`` each, the newest last), never from logged
rows: its size and the time it takes to open depend on features x bins x periods, not on
how much traffic the model served. It shows

* reference vs current histograms of every feature, from the newest period;
* each feature's drift score, and the share of drifted features, over time;
* performance over time, realized (from labels) and estimated, side by side;
* service health over time (p99 latency, error rate).

Charts are drawn by plotly.js, inlined once in the page, so it opens without a network
(no script or stylesheet is fetched). All text from the data (feature names, notes) is
escaped: a crafted column name shows as text, it does not run.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError, InvalidInput

if TYPE_CHECKING:
    from cairn.monitoring.types import CheckReport, FeatureDrift
    from cairn.workspace import Workspace

MAX_PERIODS = 1000


@dataclass(frozen=True, slots=True)
class Period:
    """One window of the report: its bounds, and the check of it (or why there is none)."""

    since_ms: int
    until_ms: int
    report: CheckReport | None
    note: str = ""


def collect(
    model: str,
    *,
    window: str = "1h",
    periods: int = 24,
    check: Callable[..., CheckReport] | None = None,
    workspace: Workspace | None = None,
    now_ms: int | None = None,
) -> list[Period]:
    """Check ``periods`` consecutive windows of ``window`` ending now, oldest first. A
    window the check refuses (no rows logged, say) is a gap with the reason as its note."""
    from cairn.monitoring.rules import parse_duration

    if not 1 <= periods <= MAX_PERIODS:
        raise InvalidInput(f"--periods {periods}: use 1 to {MAX_PERIODS}")
    step = parse_duration(window, f"--window {window!r}")
    if check is None:
        from cairn.monitoring.runner import default_check

        check = default_check()
    end = now_ms if now_ms is not None else int(time.time() * 1000)
    end -= end % min(step, 3_600_000)  # whole hours (or windows) line up with the log's partitions
    out = []
    for i in range(periods, 0, -1):
        since, until = end - i * step, end - (i - 1) * step
        try:
            found = check(model, since=_iso(since), until=_iso(until), workspace=workspace)
        except CairnError as exc:
            out.append(Period(since, until, None, str(exc)))
        else:
            out.append(Period(since, until, found))
    return out


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat()


def write_report(model: str, output: str | Path, **kwargs: Any) -> Path:
    """Collect the periods of ``model`` and write the page to ``output`` (atomically)."""
    periods = collect(model, **kwargs)
    text = render(model, periods)
    path = Path(output)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


# -- rendering -------------------------------------------------------------------------


def render(model: str, periods: Sequence[Period]) -> str:
    """The HTML page for ``periods`` (oldest first)."""
    from plotly.offline import get_plotlyjs

    checked = [p for p in periods if p.report is not None]
    latest = checked[-1].report if checked else None
    figures: list[tuple[str, dict[str, Any]]] = []
    if latest is not None:
        for feature in [*latest.features, *filter(None, [latest.prediction])]:
            figures.append((f"Distribution: {feature.feature}", _histogram(feature)))
    figures.append(("Drift over time", _drift_over_time(periods)))
    figures.append(("Performance over time", _performance(periods)))
    figures.append(("Service health over time", _health(periods)))

    blocks, scripts = [], []
    for i, (title, spec) in enumerate(figures):
        blocks.append(f'<section><h2>{html.escape(title)}</h2><div id="fig{i}"></div></section>')
        scripts.append(
            f"Plotly.newPlot('fig{i}', {_json(spec['data'])}, {_json(spec['layout'])}, "
            "{displaylogo: false, responsive: true});"
        )
    gaps = [p for p in periods if p.report is None]
    notes = "".join(f"<li>{html.escape(_span(p))}: {html.escape(p.note)}</li>" for p in gaps[:50])
    summary = _summary(model, latest, len(periods), len(gaps))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Cairn monitoring: {html.escape(model)}</title>"
        f"<style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>Monitoring report: {html.escape(model)}</h1>{summary}"
        + "".join(blocks)
        + (f"<section><h2>Periods without a check</h2><ul>{notes}</ul></section>" if gaps else "")
        + "<script>"
        + "\n".join(scripts)
        + "</script></body></html>\n"
    )


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "section{margin-bottom:2em}h2{font-size:1.1em}table{border-collapse:collapse}"
    "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}"
)


def _json(value: Any) -> str:
    """JSON safe inside a <script>: no ``</script>`` or ``<!--`` can close it early."""
    return (
        json.dumps(value, allow_nan=False, default=str)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _span(p: Period) -> str:
    return f"{_iso(p.since_ms)[:16]} to {_iso(p.until_ms)[:16]}"


def _summary(model: str, latest: CheckReport | None, periods: int, gaps: int) -> str:
    if latest is None:
        return f"<p>No period of the last {periods} had a check ({gaps} without rows).</p>"
    drifted = ", ".join(latest.drifted) or "none"
    rows = [
        ("Model version", latest.version),
        ("Reference", latest.reference),
        ("Rows in the newest period", str(latest.window.rows)),
        ("Drifted features (newest period)", drifted),
        ("Share of drifted features", f"{latest.drift_share:.0%}"),
        ("Periods checked", f"{periods - gaps} of {periods}"),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _layout(**extra: Any) -> dict[str, Any]:
    return {"height": 320, "margin": {"t": 20, "b": 40, "l": 50, "r": 20}, **extra}


def _shares(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _histogram(f: FeatureDrift) -> dict[str, Any]:
    if f.categories:
        x: list[Any] = list(f.categories)
    elif f.edges and len(f.edges) == len(f.reference_counts) + 1:
        x = [(a + b) / 2 for a, b in zip(f.edges[:-1], f.edges[1:], strict=True)]
    else:
        x = list(range(len(f.reference_counts)))
    score = "none" if f.score is None else f"{f.score:.3g}"
    return {
        "data": [
            {"type": "bar", "name": "reference", "x": x, "y": _shares(f.reference_counts)},
            {"type": "bar", "name": "current", "x": x, "y": _shares(f.current_counts)},
        ],
        "layout": _layout(
            barmode="group",
            title={"text": f"{f.test} = {score} (threshold {f.threshold:g})", "font": {"size": 12}},
            yaxis={"title": {"text": "share of rows"}},
        ),
    }


def _times(periods: Sequence[Period]) -> list[str]:
    return [_iso(p.until_ms) for p in periods]


def _drift_over_time(periods: Sequence[Period]) -> dict[str, Any]:
    names: list[str] = []
    for p in periods:
        for f in p.report.features if p.report else ():
            if f.feature not in names:
                names.append(f.feature)
    x = _times(periods)
    data: list[dict[str, Any]] = []
    for name in names:
        y = []
        for p in periods:
            found = (
                next((f for f in p.report.features if f.feature == name), None)
                if p.report
                else None
            )
            y.append(None if found is None else found.score)
        data.append({"type": "scatter", "mode": "lines+markers", "name": name, "x": x, "y": y})
    share = [None if p.report is None else p.report.drift_share for p in periods]
    data.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "share drifted",
            "x": x,
            "y": share,
            "yaxis": "y2",
            "line": {"dash": "dot", "color": "black"},
        }
    )
    return {
        "data": data,
        "layout": _layout(
            yaxis={"title": {"text": "drift score"}},
            yaxis2={
                "title": {"text": "share drifted"},
                "overlaying": "y",
                "side": "right",
                "range": [0, 1],
            },
        ),
    }


def _performance(periods: Sequence[Period]) -> dict[str, Any]:
    series: dict[tuple[str, str], dict[str, float | None]] = {}
    x = _times(periods)
    for p, when in zip(periods, x, strict=True):
        for perf in p.report.performance if p.report else ():
            for kind, values in (("realized", perf.realized), ("estimated", perf.estimated)):
                for metric, value in values.items():
                    series.setdefault((metric, kind), {})[when] = value
    data = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"{metric} ({kind})",
            "x": x,
            "y": [points.get(t) for t in x],
            "line": {"dash": "dash" if kind == "estimated" else "solid"},
        }
        for (metric, kind), points in sorted(series.items())
    ]
    return {"data": data, "layout": _layout(yaxis={"title": {"text": "metric"}})}


def _health(periods: Sequence[Period]) -> dict[str, Any]:
    x = _times(periods)
    p99 = [
        p.report.health.latency_p99_ms if p.report and p.report.health else None for p in periods
    ]
    errors = [p.report.health.error_rate if p.report and p.report.health else None for p in periods]
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "p99 latency (ms)",
                "x": x,
                "y": p99,
            },
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": "error rate",
                "x": x,
                "y": errors,
                "yaxis": "y2",
            },
        ],
        "layout": _layout(
            yaxis={"title": {"text": "ms"}},
            yaxis2={"title": {"text": "error rate"}, "overlaying": "y", "side": "right"},
        ),
    }
