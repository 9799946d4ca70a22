"""``cairn experiments``: list and create experiments."""

from __future__ import annotations

import click

from cairn.cli import _output
from cairn.cli._group import Group

app = Group("experiments", help="List and create experiments.")


@app.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of experiments.")
def list_experiments(as_json: bool) -> None:
    """List experiments, oldest first."""
    from cairn.workspace import current

    experiments = current().tracking.list_experiments()
    if as_json:
        _output.print_json(
            [
                {
                    "id": e.id,
                    "name": e.name,
                    "description": e.description,
                    "created_at": _output.iso_time(e.created_at),
                }
                for e in experiments
            ]
        )
        return
    _output.print_table(
        ["ID", "NAME", "CREATED (UTC)", "DESCRIPTION"],
        [[e.id, e.name, _output.short_time(e.created_at), e.description] for e in experiments],
    )


@app.command("create")
@click.argument("name", help="Experiment name (unique in the workspace).")
@click.option("--description", "-d", default="", help="What it is about.")
def create_experiment(name: str, description: str) -> None:
    """Create an experiment; fails if the name is taken."""
    from cairn.workspace import current

    experiment = current().tracking.create_experiment(name, description)
    click.echo(f"Created experiment {experiment.name!r} ({experiment.id})")
