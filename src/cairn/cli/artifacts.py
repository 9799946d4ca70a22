"""``cairn artifacts``: list a run's artifacts and fetch them to disk."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import click

from cairn.cli import _output
from cairn.cli._group import Group

app = Group("artifacts", help="List and fetch run artifacts.")


@app.command("ls")
@click.argument("run_id", help="Run id, or a unique prefix of one.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of artifacts.")
def list_artifacts(run_id: str, as_json: bool) -> None:
    """List the artifacts a run wrote: name, role, kind (file or tree), size and digest.

    What a run read (its inputs) shows in `cairn runs show`.
    """
    from cairn.tracking.lookup import resolve_run
    from cairn.workspace import current

    run = resolve_run(run_id, workspace=current())
    items = sorted(run.outputs, key=lambda i: i.name)
    if as_json:
        _output.print_json(
            [
                {
                    "name": i.name,
                    "role": i.role,
                    "kind": i.kind,
                    "size": i.size,
                    "digest": i.digest,
                }
                for i in items
            ]
        )
        return
    _output.print_table(
        ["NAME", "ROLE", "KIND", "SIZE", "DIGEST"],
        [[i.name, i.role, i.kind, _output.format_bytes(i.size), i.digest[:16]] for i in items],
    )


@app.command("get")
@click.argument("run_id", help="Run id, or a unique prefix of one.")
@click.argument(
    "name", help="Artifact name as `cairn artifacts ls` shows it, or a file inside a directory."
)
@click.option(
    "--output",
    "-o",
    help="File or directory to write to; a directory (existing, or ending in /) gets the "
    "artifact under its own name. Default: the current directory.",
)
@click.option("--force", "-f", is_flag=True, help="Replace an existing file.")
def get_artifact(run_id: str, name: str, output: str | None, force: bool) -> None:
    """Write one artifact (a file, or a directory tree) of a run to disk.

    The bytes are checked against their digest as they are copied.
    """
    from cairn.errors import AlreadyExists
    from cairn.tracking.client import TrackingClient
    from cairn.tracking.lookup import resolve_run
    from cairn.workspace import current

    dest = Path(output) if output else Path.cwd()
    if output and output.endswith(("/", os.sep)):
        dest.mkdir(parents=True, exist_ok=True)
    target = dest / PurePosixPath(name).name if dest.is_dir() else dest
    if target.exists() and not force:
        raise AlreadyExists(f"{target} already exists; pass --force to replace it")
    ws = current()
    run = resolve_run(run_id, workspace=ws)
    client = TrackingClient(ws)
    try:
        written = client.download_artifact(run.id, name, target, overwrite=force)
    finally:
        client.close()
    click.echo(f"Wrote {name} to {written}")
