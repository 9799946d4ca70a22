"""``cairn monitor``: drift, data quality, service health and performance of a served model.

Exit codes of ``check``: 0 nothing found, 3 drift or data-quality issues found, 1 an
error (no rows in the window, no reference data, a bad option).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cairn.cli import _output
from cairn.cli._group import Group
from cairn.cli.monitor_loop import add_loop_commands

app = Group("monitor", help="Watch served models: drift, quality, performance; alerts that act.")

#: Exit code of ``cairn monitor check`` when it found drift or issues.
EXIT_FOUND = 3


def _num(value: float | None, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if percent else _output.format_number(value)


def _window_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--window", "-w", help="A duration up to now: 30m, 1h, 7d. Default 24h."),
            click.option(
                "--since", help="Start: an ISO time (2026-11-23T15:00) or a duration ago."
            ),
            click.option("--until", help="End: an ISO time or a duration ago. Default: now."),
        ]
    ):
        func = option(func)
    return func


@app.command("check")
@click.argument("model", help="Model reference: churn@production, churn/3 or churn.")
@_window_options
@click.option("--last", type=int, help="The newest N logged rows instead of a time window.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def check_cmd(
    model: str,
    window: str | None,
    since: str | None,
    until: str | None,
    last: int | None,
    as_json: bool,
) -> None:
    """Compare a window of the prediction log with the model's reference data.

    Exit code 0: no drift and no data-quality issue; 3: drift or issues found; 1: error.
    """
    from cairn.monitoring.check import check, needs_attention

    report = check(model, window=window, last=last, since=since, until=until)
    if as_json:
        _output.print_json(report.to_dict())
    else:
        _print_report(report)
    if needs_attention(report):
        raise click.exceptions.Exit(EXIT_FOUND)


def _print_report(report: Any) -> None:
    rows = []
    for f in [*report.features, *([report.prediction] if report.prediction else [])]:
        rows.append(
            [
                f.feature,
                f.kind,
                f.test,
                _num(f.score),
                _num(f.p_value),
                _num(f.psi),
                "DRIFT" if f.drifted else "ok",
                f.note,
            ]
        )
    w = report.window
    title = (
        f"{report.model}/{report.version} vs {report.reference}: {w.rows} rows, "
        f"{_output.iso_time(w.since_ms) or 'start'} to {_output.iso_time(w.until_ms) or 'now'}"
    )
    _output.print_table(
        ["FEATURE", "KIND", "TEST", "SCORE", "P", "PSI", "DRIFT", "NOTE"], rows, title=title
    )
    if report.quality:
        _output.print_table(
            ["FEATURE", "ISSUE", "SHARE", "DETAIL"],
            [[q.feature, q.kind, _num(q.share, True), q.detail] for q in report.quality],
            title="data quality",
        )
    h = report.health
    if h is not None:
        _output.print_fields(
            {
                "requests": h.requests,
                "error rate": _num(h.error_rate, True),
                "latency p50 ms": _num(h.latency_p50_ms),
                "latency p99 ms": _num(h.latency_p99_ms),
            }
        )
    for p in report.performance:
        _print_performance_line(p)
    drifted = [f.feature for f in report.features if f.drifted]
    _output.echo_err(
        f"{len(drifted)} of {len(report.features)} features drifted"
        + (f" ({', '.join(drifted)})" if drifted else "")
        + (f"; {len(report.quality)} data-quality issue(s)" if report.quality else "")
    )


def _print_performance_line(p: Any) -> None:
    est = ", ".join(f"{k} {_num(v)}" for k, v in sorted(p.estimated.items())) or "-"
    real = ", ".join(f"{k} {_num(v)}" for k, v in sorted(p.realized.items())) or "-"
    _output.print_fields({"estimated": est, "realized": f"{real} ({p.labelled} labelled rows)"})


@app.command("performance")
@click.argument("model", help="Model reference: every logged version of its name is shown.")
@_window_options
@click.option("--every", help="Split the window into buckets of this duration (1h, 1d).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def performance_cmd(
    model: str,
    window: str | None,
    since: str | None,
    until: str | None,
    every: str | None,
    as_json: bool,
) -> None:
    """Realized performance (from labels) and estimated performance (before labels)."""
    from dataclasses import asdict

    from cairn.monitoring.labels import performance

    found = performance(model, window=window, since=since, until=until, every=every)
    if as_json:
        _output.print_json([asdict(p) for p in found])
        return
    names = sorted({k for p in found for k in (*p.realized, *p.estimated)})
    rows = []
    for p in found:
        row = [p.version, _output.iso_time(p.since_ms), p.rows, p.labelled]
        for name in names:
            row.append(_num(p.realized.get(name)))
            row.append(_num(p.estimated.get(name)))
        rows.append(row)
    headers = ["VERSION", "SINCE", "ROWS", "LABELLED"]
    for name in names:
        headers += [name.upper(), f"{name.upper()} (EST.)"]
    _output.print_table(headers, rows, title=f"performance of {model}")


@app.command("reference")
@click.argument("model", help="Model reference: churn/3, churn@production.")
@click.option("--dataset", help="Dataset version to use (name@vN) instead of the run's data.")
@click.option("--target", help="The label column of that dataset (default: the one non-input).")
def reference_cmd(model: str, dataset: str | None, target: str | None) -> None:
    """Build (again) the reference a model version is monitored against."""
    from cairn.monitoring.check import model_version
    from cairn.monitoring.reference import build_reference
    from cairn.workspace import resolve

    ws = resolve()
    version = model_version(model, ws)
    digest, doc = build_reference(version, ws, dataset=dataset, target=target)
    calibrated = "yes" if doc.get("calibration") else "no"
    _output.print_fields(
        {
            "model": version.ref,
            "dataset": doc["dataset"],
            "rows": doc["rows"],
            "features": len(doc["features"]),
            "target": doc.get("target") or "-",
            "calibrated": calibrated,
            "digest": digest,
        }
    )


labels_app = Group("labels", help="Ground-truth labels joined to the prediction log.")
app.add_command(labels_app)


@labels_app.command("add")
@click.argument("file", type=click.Path(path_type=Path), help="CSV or Parquet file.")
@click.option("--model", help="Only match request ids against this model's log.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def labels_add_cmd(file: Path, model: str | None, as_json: bool) -> None:
    """Store labels (request_id, label, optional row); late labels update past windows."""
    from cairn.monitoring.labels import add_labels

    added = add_labels(file, model=model)
    if as_json:
        _output.print_json(added.to_dict())
    else:
        _output.echo_err(
            f"stored {added.rows} labels ({added.matched} match logged requests) in {added.path}"
        )


add_loop_commands(app)
