"""``cairn import``: bring history from MLflow and DVC into the workspace.

Each command parses its options, calls one function of :mod:`cairn.imports` and prints
the summary; the import logic lives there.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cairn.cli import _output
from cairn.cli._group import Group

app = Group("import")

JSON = click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")


def _report(summary: object, as_json: bool) -> None:
    from cairn.imports.common import ImportSummary

    assert isinstance(summary, ImportSummary)
    if as_json:
        _output.print_json(summary.to_dict())
        return
    for line in summary.lines():
        click.echo(line)


@app.command("mlflow")
@click.option(
    "--from",
    "location",
    required=True,
    help="The MLflow store: sqlite:///mlflow.db, postgresql://..., ./mlruns or http://host:5000.",
)
@click.option(
    "--experiment",
    "-e",
    "experiments",
    multiple=True,
    help="Import only this experiment (by name); repeat for several.",
)
@JSON
def mlflow_command(location: str, experiments: tuple[str, ...], as_json: bool) -> None:
    """Import MLflow experiments, runs, artifacts, registered models and aliases.

    Running it again imports only what is new, and finishes a run an interrupted import
    left partial. Stages become aliases (Production -> production, Staging -> staging).
    """
    from cairn.imports.mlflow import import_mlflow

    summary = import_mlflow(
        location,
        experiments=experiments,
        progress=_output.progress if sys.stderr.isatty() else None,
    )
    _report(summary, as_json)


@app.command("dvc")
@click.argument(
    "path",
    type=click.Path(path_type=Path),
    default=".",
    required=False,
    help="The DVC repository (default: the current folder).",
)
@JSON
def dvc_command(path: Path, as_json: bool) -> None:
    """Import DVC-tracked data as dataset versions, one per git commit that changed it.

    Outputs of .dvc files and dvc.lock are read from the DVC cache or a local remote.
    Running it again imports only what is new.
    """
    from cairn.imports.dvc import import_dvc

    summary = import_dvc(path, progress=_output.progress if sys.stderr.isatty() else None)
    _report(summary, as_json)
