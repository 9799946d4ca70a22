"""``cairn experiments``: list, create, delete and restore experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from cairn.cli import _output
from cairn.cli._group import Group

if TYPE_CHECKING:
    from cairn.store.base import RunView
    from cairn.types import Experiment

app = Group("experiments", help="List, create, delete and restore experiments.")


def _as_json(e: Experiment) -> dict[str, Any]:
    return {
        "id": e.id,
        "name": e.name,
        "description": e.description,
        "created_at": _output.iso_time(e.created_at),
        "tags": dict(e.tags),
        "deleted_at": _output.iso_time(e.deleted_at),
        "deleted_by": e.deleted_by,
    }


@app.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of experiments.")
@click.option("--deleted", is_flag=True, help="Only deleted experiments.")
@click.option("--all", "all_", is_flag=True, help="Deleted experiments as well as live ones.")
def list_experiments(as_json: bool, deleted: bool, all_: bool) -> None:
    """List experiments, oldest first; deleted ones only with --deleted or --all."""
    from cairn.workspace import current

    view: RunView = "all" if all_ else "deleted" if deleted else "active"
    experiments = current().tracking.list_experiments(view=view)
    if as_json:
        _output.print_json([_as_json(e) for e in experiments])
        return
    headers = ["ID", "NAME", "CREATED (UTC)", "DESCRIPTION"]
    rows = [[e.id, e.name, _output.short_time(e.created_at), e.description] for e in experiments]
    if view != "active":
        headers.append("DELETED (UTC)")
        for row, e in zip(rows, experiments, strict=True):
            row.append(_output.short_time(e.deleted_at))
    _output.print_table(headers, rows)


@app.command("create")
@click.argument("name", help="Experiment name (unique in the workspace).")
@click.option("--description", "-d", default="", help="What it is about.")
def create_experiment(name: str, description: str) -> None:
    """Create an experiment; fails if the name is taken."""
    from cairn.workspace import current

    experiment = current().tracking.create_experiment(name, description)
    click.echo(f"Created experiment {experiment.name!r} ({experiment.id})")


@app.command("delete")
@click.argument("experiment", help="Experiment name or id.")
def delete_experiment(experiment: str) -> None:
    """Delete an experiment: it and its runs are hidden from ls and search, and it takes
    no new runs, until `cairn experiments restore`. Nothing is purged: the runs keep
    their records and artifacts. Records who and when."""
    from cairn.tracking import lifecycle

    gone = lifecycle.delete_experiment(experiment)
    click.echo(
        f"Deleted experiment {gone.name!r} ({gone.id}); "
        f"`cairn experiments restore {gone.name}` undoes it"
    )


@app.command("restore")
@click.argument("experiment", help="Name or id of a deleted experiment.")
def restore_experiment(experiment: str) -> None:
    """Bring back a deleted experiment and its runs (runs deleted on their own stay
    deleted)."""
    from cairn.tracking import lifecycle

    back = lifecycle.restore_experiment(experiment)
    click.echo(f"Restored experiment {back.name!r} ({back.id})")
