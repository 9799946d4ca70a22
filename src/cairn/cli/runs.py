"""``cairn runs``: search, show, compare, delete and restore runs.

JSON output (``--json``) uses the shape of :meth:`cairn.types.Run.to_dict` with the
experiment's name under ``experiment`` and times as ISO 8601 UTC strings.

Deletes are soft (see :mod:`cairn.tracking.lifecycle`); ``cairn gc`` purges deleted runs
after their retention period (:mod:`cairn.cli._run_purge`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from cairn.cli import _output
from cairn.cli._group import Group
from cairn.tracking.lookup import SHORT_ID, metric_deltas, resolve_run

if TYPE_CHECKING:
    from cairn.store.base import RunView, TrackingStore
    from cairn.types import Run

app = Group("runs", help="Search, show, compare and delete runs.")


def run_json(run: Run, experiment_name: str | None) -> dict[str, Any]:
    """The JSON object of a run: ``Run.to_dict`` with ISO 8601 UTC times."""
    data = run.to_dict(experiment_name)
    data["start_time"] = _output.iso_time(run.start_time)
    data["end_time"] = _output.iso_time(run.end_time)
    data["deleted_at"] = _output.iso_time(run.deleted_at)
    return data


def _experiment_names(store: TrackingStore) -> dict[str, str]:
    return {e.id: e.name for e in store.list_experiments(view="all")}


@app.command("ls")
@click.option(
    "--experiment",
    "-e",
    multiple=True,
    help="Only runs of this experiment (name or id).",
)
@click.option(
    "--filter",
    "-f",
    "filter_",
    default="",
    help="Filter, e.g. \"metrics.auc > 0.9 and params.model in ('rf', 'gb')\".",
)
@click.option(
    "--sort",
    "-s",
    multiple=True,
    help="Order by a field, e.g. 'metrics.auc desc' or 'start_time'.",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(min=1),
    default=100,
    help="Show at most this many runs.",
)
@click.option("--deleted", is_flag=True, help="Only deleted runs (not yet purged by gc).")
@click.option("--all", "all_", is_flag=True, help="Deleted runs as well as live ones.")
@click.option(
    "--columns",
    "-c",
    multiple=True,
    help="Columns to show, comma-separated: id, experiment, name, status, start, end, "
    "duration, user, parent, git, metrics.KEY, params.KEY, tags.KEY "
    "(e.g. 'id,name,metrics.auc,params.lr').",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of runs.")
def list_runs(
    experiment: tuple[str, ...],
    filter_: str,
    sort: tuple[str, ...],
    limit: int,
    deleted: bool,
    all_: bool,
    columns: tuple[str, ...],
    as_json: bool,
) -> None:
    """List runs matching a filter, newest first unless --sort says otherwise.

    Deleted runs are left out unless --deleted or --all asks for them. Without
    --columns, metric columns follow the fixed ones (sorted-by metrics first, then the
    most common), as many as fit the terminal's width; piped output gets them all.
    --json always prints every field.
    """
    from cairn.workspace import current

    view: RunView = "all" if all_ else "deleted" if deleted else "active"
    store = current().tracking
    experiment_ids = [store.get_experiment(e).id for e in experiment] if experiment else None
    page = store.search_runs(
        experiment_ids=experiment_ids, filter=filter_, order_by=sort, max_results=limit, view=view
    )
    names = _experiment_names(store)
    if as_json:
        _output.print_json([run_json(r, names.get(r.experiment_id)) for r in page.items])
        return
    from cairn.cli import _run_columns

    hidden = 0
    if columns:
        shown = _run_columns.parse_columns(columns, page.items)
    else:
        width = _terminal_width() if _output.is_terminal() else None
        shown, hidden = _run_columns.default_columns(page.items, names, sort, width)
    _output.print_table(
        [c.header for c in shown], [[c.cell(r, names) for c in shown] for r in page.items]
    )
    if hidden:
        _output.echo_err(
            f"{hidden} more metric(s) do not fit the terminal; pick them with "
            "--columns metrics.KEY,... or use --json"
        )
    if page.next_token is not None:
        _output.echo_err(f"showing the first {limit} runs; raise --limit to see more")


def _terminal_width() -> int:
    """The width Rich draws tables at on this terminal (COLUMNS overrides it)."""
    from rich.console import Console

    return Console().width


@app.command("show")
@click.argument("run_id", help="Run id, or a unique prefix of one.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as a JSON object.")
def show_run(run_id: str, as_json: bool) -> None:
    """Show one run: status, environment, params, latest metrics, tags and lineage."""
    from cairn.workspace import current

    ws = current()
    store = ws.tracking
    run = resolve_run(run_id, workspace=ws)
    experiment_name = store.get_experiment(run.experiment_id).name
    if as_json:
        _output.print_json(run_json(run, experiment_name))
        return
    env = run.environment
    git = env.git_commit and env.git_commit + (" (dirty)" if env.git_dirty else "")
    _output.print_fields(
        {
            "id": run.id,
            "name": run.name,
            "experiment": experiment_name,
            "status": str(run.status),
            "started": _output.iso_time(run.start_time),
            "ended": _output.iso_time(run.end_time),
            "duration": _output.format_duration(run.duration_ms),
            "parent": run.parent_id,
            "deleted": _deleted_note(run),
            "git": git or None,
            "python": env.python_version or None,
            "host": env.host or None,
            "user": env.user or None,
        }
    )
    _section("params", {k: run.params[k] for k in sorted(run.params)})
    _section(
        "metrics",
        {
            k: f"{_output.format_number(m.value)} (step {m.step})"
            for k, m in sorted(run.metrics.items())
        },
    )
    _section("tags", {k: run.tags[k] for k in sorted(run.tags)})
    for title, items in (("inputs", run.inputs), ("outputs", run.outputs)):
        _section(
            title,
            {
                i.name: f"{i.kind} {i.digest[:16]} {_output.format_bytes(i.size)} ({i.role})"
                for i in items
            },
        )
    history = store.run_events(run.id)
    if history:
        click.echo("\nhistory:")
        for event in history:
            note = f" ({event.detail})" if event.detail else ""
            when = _output.iso_time(event.created_at)
            click.echo(f"  {when}  {event.action} by {event.actor or 'unknown'}{note}")


def _deleted_note(run: Run) -> str | None:
    if run.deleted_at is None:
        return None
    return (
        f"{_output.iso_time(run.deleted_at)} by {run.deleted_by or 'unknown'} "
        f"(`cairn runs restore {run.id[:SHORT_ID]}` brings it back)"
    )


def _section(title: str, fields: Mapping[str, Any]) -> None:
    if not fields:
        return
    click.echo(f"\n{title}:")
    width = max(len(k) for k in fields)
    for key, value in fields.items():
        click.echo(f"  {key.ljust(width)}  {value}")


@app.command("compare")
@click.argument(
    "run_ids", nargs=-1, required=True, help="Two or more run ids (or unique prefixes)."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the runs.")
def compare_runs(run_ids: tuple[str, ...], as_json: bool) -> None:
    """Compare runs: params side by side (differences marked with *), metrics with deltas.

    Deltas are against the first run given.
    """
    from cairn.tracking.lookup import compare_runs
    from cairn.workspace import current

    ws = current()
    store = ws.tracking
    runs = compare_runs(run_ids, workspace=ws)
    base = runs[0]
    if as_json:
        names = _experiment_names(store)
        records = []
        for run in runs:
            record = run_json(run, names.get(run.experiment_id))
            record["metric_deltas"] = metric_deltas(base, run)
            records.append(record)
        _output.print_json(records)
        return

    headers = ["", *[f"{r.name} ({r.id[:8]})" for r in runs]]
    param_keys = sorted({k for r in runs for k in r.params})
    rows: list[list[Any]] = []
    styles: list[str | None] = []
    for key in param_keys:
        values = [r.params.get(key) for r in runs]
        differs = len(set(values)) > 1
        rows.append([("* " if differs else "  ") + key, *values])
        styles.append("bold yellow" if differs else None)
    if rows:
        _output.print_table(["PARAM", *headers[1:]], rows, styles=styles)
    metric_keys = sorted({k for r in runs for k in r.metrics})
    metric_rows: list[list[Any]] = []
    for key in metric_keys:
        cells: list[Any] = []
        for i, run in enumerate(runs):
            metric = run.metrics.get(key)
            if metric is None:
                cells.append(None)
                continue
            cell = _output.format_number(metric.value)
            delta = metric_deltas(base, run).get(key)
            if i > 0 and delta is not None:
                cell += f" ({_output.format_delta(delta)})"
            cells.append(cell)
        metric_rows.append([key, *cells])
    if metric_rows:
        if rows:
            click.echo("")
        _output.print_table(["METRIC", *headers[1:]], metric_rows)


@app.command("delete")
@click.argument("run_id", help="Run id, or a unique prefix of one.")
@click.option(
    "--force",
    is_flag=True,
    help="Delete even when model versions, dataset versions or child runs depend on the run.",
)
def delete_run(run_id: str, force: bool) -> None:
    """Delete a run: hidden from ls and search, restorable until gc purges it.

    Refuses, listing them, when model versions registered from the run, dataset versions
    it wrote or child runs depend on it, unless --force. Records who and when. Its
    artifacts stay until `cairn gc --delete` purges the run after the retention period.
    """
    from cairn.errors import InUse
    from cairn.tracking import lifecycle
    from cairn.workspace import current

    ws = current()
    run = resolve_run(run_id, workspace=ws)
    try:
        deletion = lifecycle.delete_run(run.id, force=force, workspace=ws)
    except InUse as refused:  # the full list, before the one-line error
        for name in refused.dependents:
            click.echo(f"depends on it: {name}")
        raise
    click.echo(
        f"Deleted run {run.id} ({run.name}); `cairn runs restore {run.id[:SHORT_ID]}` undoes it"
    )
    for dependent in deletion.dependents:
        click.echo(f"  still points at it: {dependent}")


@app.command("restore")
@click.argument("run_id", help="Id of a deleted run, or a unique prefix of one.")
def restore_run(run_id: str) -> None:
    """Bring back a deleted run that gc has not purged yet."""
    from cairn.tracking import lifecycle
    from cairn.workspace import current

    ws = current()
    run = lifecycle.restore_run(resolve_run(run_id, workspace=ws).id, workspace=ws)
    click.echo(f"Restored run {run.id} ({run.name})")
