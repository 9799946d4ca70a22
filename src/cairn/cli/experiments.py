"""``cairn experiments``: list and create experiments."""

from __future__ import annotations

import typer

from cairn.cli import _output

app = typer.Typer(no_args_is_help=True, help="List and create experiments.")


@app.command("ls")
def list_experiments(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array of experiments."),
) -> None:
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
def create_experiment(
    name: str = typer.Argument(..., help="Experiment name (unique in the workspace)."),
    description: str = typer.Option("", "--description", "-d", help="What it is about."),
) -> None:
    """Create an experiment; fails if the name is taken."""
    from cairn.workspace import current

    experiment = current().tracking.create_experiment(name, description)
    typer.echo(f"Created experiment {experiment.name!r} ({experiment.id})")
