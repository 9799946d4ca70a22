"""``cairn ci``: write CI workflow templates that train, gate and promote."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Write CI workflow templates.")


@app.command("init")
def init_cmd(
    provider: str = typer.Option(..., "--provider", "-p", help="github or gitlab."),
    model: str = typer.Option("model", "--model", "-m", help="Registered model name."),
    experiment: str = typer.Option(
        "Default", "--experiment", "-e", help="Experiment the training logs to."
    ),
    train: str = typer.Option("python train.py", "--train", help="Training command."),
    metric: str = typer.Option(
        "metrics.roc_auc", "--metric", help="Sort key picking the best run."
    ),
    gates: str = typer.Option("gates.yaml", "--gates", help="Gates file in the repository."),
    alias: str = typer.Option("production", "--alias", help="Alias to gate against and promote."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Where to write (default per provider)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
) -> None:
    """Write a workflow: train, register the best run's model, gate, promote."""
    from cairn.registry.ci import CiOptions, write

    options = CiOptions(
        model=model, experiment=experiment, train=train, metric=metric, gates=gates, alias=alias
    )
    path = write(provider, output, options, force=force)
    typer.echo(f"wrote {path}")
