"""``cairn ci``: write CI workflow templates that train, gate and promote."""

from __future__ import annotations

from pathlib import Path

import click

from cairn.cli._group import Group

app = Group("ci", help="Write CI workflow templates.")


@app.command("init")
@click.option("--provider", "-p", required=True, help="github, gitlab or jenkins.")
@click.option("--model", "-m", default="model", help="Registered model name.")
@click.option("--experiment", "-e", default="Default", help="Experiment the training logs to.")
@click.option("--train", default="python train.py", help="Training command.")
@click.option("--metric", default="metrics.roc_auc", help="Sort key picking the best run.")
@click.option("--gates", default="gates.yaml", help="Gates file in the repository.")
@click.option("--alias", default="production", help="Alias to gate against and promote.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Where to write (default per provider).",
)
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init_cmd(
    provider: str,
    model: str,
    experiment: str,
    train: str,
    metric: str,
    gates: str,
    alias: str,
    output: Path | None,
    force: bool,
) -> None:
    """Write a workflow: train, register the best run's model, gate, promote."""
    from cairn.registry.ci import CiOptions, write

    options = CiOptions(
        model=model, experiment=experiment, train=train, metric=metric, gates=gates, alias=alias
    )
    path = write(provider, output, options, force=force)
    click.echo(f"wrote {path}")
