"""Top-level workspace commands: ``cairn init``, ``cairn verify``, ``cairn gc``."""

from __future__ import annotations

from pathlib import Path

import click

from cairn.cli import _output
from cairn.cli._run_purge import purge_for_gc, purge_options


@click.command("init")
@click.argument(
    "path",
    type=click.Path(path_type=Path),
    default=Path("."),
    help="Directory to make a workspace (created if missing).",
)
@click.option(
    "--tracking-uri",
    help="Metadata store URI, e.g. postgresql://user@host/db. Default: SQLite in .cairn/. "
    "A password in it goes to the user's credentials file, never to cairn.toml.",
)
@click.option(
    "--artifact-uri",
    help="Artifact store: a folder or fsspec URL (s3://bucket/prefix). Default: .cairn/artifacts.",
)
def init(path: Path, tracking_uri: str | None, artifact_uri: str | None) -> None:
    """Create a workspace: cairn.toml plus .cairn/ with the database and artifact store.

    Refuses a directory that already holds a workspace.
    """
    from cairn.config import CONFIG_FILE
    from cairn.credentials import credentials_path, mask_uri, split_password
    from cairn.errors import AlreadyExists
    from cairn.workspace import Workspace

    config = path / CONFIG_FILE
    if config.exists():
        raise AlreadyExists(f"{config.resolve()} already exists: {path} is already a workspace")
    ws = Workspace.init(path, tracking_uri=tracking_uri, artifact_uri=artifact_uri)
    try:
        click.echo(f"Initialized Cairn workspace in {ws.root}")
        fields = {
            "tracking": mask_uri(ws.settings.tracking_uri),
            "artifacts": mask_uri(ws.settings.artifact_uri),
        }
        if tracking_uri and split_password(tracking_uri)[1] is not None:
            fields["password"] = f"saved in {credentials_path()} (mode 0600), not in {CONFIG_FILE}"
        _output.print_fields(fields)
    finally:
        ws.close()


@click.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as a JSON object.")
def verify(as_json: bool) -> None:
    """Check every object in the artifact store against its digest.

    Re-hashes all stored objects and looks up every digest a record references. Prints a
    summary and each corrupt or missing digest; exits 1 if any is found.
    """
    from cairn.workspace import current

    ws = current()
    report = ws.artifacts.verify(ws.referenced_digests())
    if as_json:
        _output.print_json(report.to_dict())
    else:
        for digest in report.corrupt:
            click.echo(f"corrupt  {digest}")
        for digest in report.missing:
            click.echo(f"missing  {digest}")
        click.echo(
            f"checked {report.checked} objects ({_output.format_bytes(report.bytes)}): "
            + (
                "ok"
                if report.ok
                else f"{len(report.corrupt)} corrupt, {len(report.missing)} missing"
            )
        )
    if not report.ok:
        raise click.exceptions.Exit(1)


#: ``cairn gc`` spares unreferenced objects younger than this (seconds), as ``git gc``
#: spares recent loose objects: a running job may have stored one it has not recorded.
DEFAULT_MIN_AGE = 3600.0


@click.command("gc")
@click.option(
    "--delete",
    "--yes",
    "-y",
    is_flag=True,
    help="Really delete (default: only show what would go).",
)
@click.option(
    "--min-age",
    type=click.FloatRange(min=0.0),
    default=DEFAULT_MIN_AGE,
    help="Keep unreferenced objects written less than this many seconds ago: a job may "
    "be storing one whose record is not committed yet. 0 removes them all.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Delete even when no record references any object (an empty or wrong "
    "database looks like that).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as a JSON object.")
@purge_options
def gc(
    delete: bool,
    min_age: float,
    force: bool,
    as_json: bool,
    runs_retention: float,
    force_runs: bool,
) -> None:
    """Remove artifact objects that no record references.

    A dry run by default: lists the unreferenced objects and the bytes they hold; pass
    --delete to remove them. Stale temporary files of interrupted writes go too. Safe
    to run while jobs store and record artifacts.
    """
    from cairn.workspace import current

    ws = current()
    # Deleted runs past their retention go first: only then are their artifacts garbage.
    released, runs = purge_for_gc(
        ws, delete=delete, retention_days=runs_retention, force=force_runs, as_json=as_json
    )
    report = ws.artifacts.gc(
        lambda: ws.referenced_digests() - released,
        dry_run=not delete,
        min_age=min_age,
        force=force,
    )
    if as_json:
        _output.print_json({**report.to_dict(), "runs": runs})
        return
    for digest in report.removed:
        click.echo(digest)
    verb = "removed" if delete else "would remove"
    temps = f" and {len(report.temps)} stale temp files" if report.temps else ""
    if report.young:
        _output.echo_err(
            f"note: {report.young} unreferenced objects are newer than --min-age "
            f"({min_age:g} s) and were kept; pass --min-age 0 to include them"
        )
    rescued = f"; put back {report.rescued} stored again meanwhile" if report.rescued else ""
    click.echo(
        f"{verb} {len(report.removed)} unreferenced objects ({_output.format_bytes(report.bytes)})"
        f"{temps}; kept {report.kept}{rescued}"
    )
    if not delete and (report.removed or report.temps):
        click.echo("run `cairn gc --delete` to delete them")
