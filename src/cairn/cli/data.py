"""``cairn data``: version, inspect, compare, restore, mirror and validate datasets.

Each command parses its options, calls one function of :mod:`cairn.data` and prints the
result; the domain logic lives there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cairn.cli import _output
from cairn.cli._group import Group

app = Group("data")

JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
REMOTE = click.option("--remote", "-r", help="Remote artifact store URI (s3://..., a folder).")


def _version_row(v: Any) -> list[Any]:
    rows = "-" if v.rows is None else v.rows
    return [
        v.ref,
        v.format,
        rows,
        _output.format_bytes(v.size),
        v.file_count,
        v.digest[:12],
        _output.short_time(v.created_at),
        v.message,
    ]


@app.command("add")
@click.argument("path", type=click.Path(path_type=Path), help="File or folder to version.")
@click.option("--name", "-n", required=True, help="Dataset name (letters, digits, . _ -).")
@click.option("--message", "-m", default="", help="What changed in this version.")
@JSON
def add(path: Path, name: str, message: str, as_json: bool) -> None:
    """Version a file or folder: stored by content, profiled if CSV or Parquet.

    Adding content equal to the latest version makes no new version and says so.
    """
    import cairn.data

    ds = cairn.data.add(
        path, name, message, progress=_output.progress if sys.stderr.isatty() else None
    )
    if as_json:
        _output.print_json({**ds.to_dict(), "created": ds.created})
        return
    if ds.note:
        _output.echo_err(f"note: {path} {ds.note}")
    if ds.created:
        rows = "" if ds.rows is None else f", {ds.rows} rows"
        click.echo(f"Added {ds.ref} ({_output.format_bytes(ds.size)}{rows}) {ds.digest[:12]}")
    else:
        click.echo(f"Unchanged: {path} matches {ds.ref}; no new version")


@app.command("status")
@click.argument("names", nargs=-1, help="Dataset names (default: all).")
@JSON
def status(names: tuple[str, ...], as_json: bool) -> None:
    """Show whether the files each dataset was added from still match its latest version.

    Files whose size, times and inode are unchanged are not read (like `dvc status`).
    """
    import cairn.data

    found = cairn.data.status(list(names) or None)
    if as_json:
        _output.print_json([s.to_dict() for s in found])
        return
    if not found:
        click.echo("No datasets; add one with `cairn data add PATH --name NAME`")
        return
    _output.print_table(
        ["DATASET", "STATE", "DETAILS", "PATH"],
        [[s.version.ref, s.state, s.describe(), s.path or "-"] for s in found],
    )


@app.command("ls")
@JSON
def ls(as_json: bool) -> None:
    """List datasets with their latest version."""
    import cairn.data

    found = cairn.data.ls()
    if as_json:
        _output.print_json(
            [{"name": s.name, "versions": s.versions, "latest": s.latest.to_dict()} for s in found]
        )
        return
    _output.print_table(
        ["NAME", "VERSIONS", "LATEST", "FORMAT", "ROWS", "SIZE", "UPDATED"],
        [
            [
                s.name,
                s.versions,
                f"v{s.latest.version}",
                s.latest.format,
                s.latest.rows,
                _output.format_bytes(s.latest.size),
                _output.short_time(s.latest.created_at),
            ]
            for s in found
        ],
    )


@app.command("show")
@click.argument("ref", help="NAME, NAME@vN or NAME@latest.")
@JSON
def show(ref: str, as_json: bool) -> None:
    """Show a version: where it came from, its schema and column statistics."""
    import cairn.data

    ds = cairn.data.get(ref)
    if as_json:
        _output.print_json({**ds.to_dict(), "profile": ds.profile})
        return
    v = ds.version
    _output.print_fields(
        {
            "version": v.ref,
            "digest": v.digest,
            "kind": v.kind,
            "format": v.format,
            "size": _output.format_bytes(v.size),
            "files": v.file_count,
            "rows": v.rows,
            "git commit": (v.git_commit or "-") + (" (dirty)" if v.git_dirty else ""),
            "created": f"{_output.short_time(v.created_at)} by {v.created_by or '-'}",
            "message": v.message or "-",
            "source": v.source,
        }
    )
    profile = ds.profile
    if profile:
        click.echo("")
        _output.print_table(
            ["COLUMN", "DTYPE", "NULLS", "DISTINCT", "MIN", "MEDIAN", "MAX", "MEAN", "STD", "TOP"],
            [_stats_row(col, info) for col, info in profile["columns"].items()],
        )


def _stats_row(column: str, info: dict[str, Any]) -> list[Any]:
    quantiles = info.get("quantiles")
    median = quantiles["values"][50] if quantiles else None
    top = ", ".join(f"{t['value']} ({t['count']})" for t in info.get("top", [])[:3]) or None
    distinct = info["distinct"] if info["distinct_exact"] else f"~{info['distinct']}"
    return [
        column,
        info["dtype"],
        info["nulls"],
        distinct,
        info.get("min"),
        median,
        info.get("max"),
        info.get("mean"),
        info.get("std"),
        top,
    ]


@app.command("diff")
@click.argument("old", help="The earlier version, e.g. churn@v1.")
@click.argument("new", help="The later version, e.g. churn@v2.")
@JSON
def diff(old: str, new: str, as_json: bool) -> None:
    """Compare two versions: schema changes, row counts, per-column shift (PSI)."""
    import cairn.data

    result = cairn.data.diff(old, new)
    if as_json:
        _output.print_json(result.to_dict())
        return
    a, b = result.old, result.new
    if result.same_content:
        click.echo(f"{a.ref} and {b.ref} have identical content ({a.digest[:12]})")
    click.echo(
        f"rows: {a.rows if a.rows is not None else '-'} -> {b.rows if b.rows is not None else '-'}"
        f"   size: {_output.format_bytes(a.size)} -> {_output.format_bytes(b.size)}"
        f"   files: {a.file_count} -> {b.file_count}"
    )
    if result.columns:
        _output.print_table(
            ["COLUMN", "CHANGE", "DTYPE", "NULL RATE", "MEAN", "PSI"],
            [
                [
                    c.name,
                    c.status,
                    _arrow(c.old_dtype, c.new_dtype),
                    _arrow(c.old_null_rate, c.new_null_rate),
                    _arrow(c.old_mean, c.new_mean),
                    c.psi,
                ]
                for c in result.columns
            ],
        )


def _arrow(a: Any, b: Any) -> str:
    def cell(x: Any) -> str:
        return "-" if x is None else _output.format_number(x) if isinstance(x, float) else str(x)

    return cell(a) if a == b else f"{cell(a)} -> {cell(b)}"


@app.command("checkout")
@click.argument("ref", help="NAME@vN (NAME alone: the latest).")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    help="Where to write (default: the original name).",
)
@click.option("--force", "-f", is_flag=True, help="Replace an existing file or folder.")
def checkout(ref: str, output: Path | None, force: bool) -> None:
    """Restore the exact bytes of a version, verified against its digest."""
    import cairn.data

    path = cairn.data.checkout(ref, output, overwrite=force)
    click.echo(f"Restored {ref} to {path}")


@app.command("log")
@click.argument("name", help="Dataset name.")
@JSON
def log(name: str, as_json: bool) -> None:
    """List the versions of a dataset and the runs that used each as input."""
    import cairn.data

    usage = cairn.data.log(name)
    if as_json:
        _output.print_json(
            [
                {
                    **u.version.to_dict(),
                    "runs": [
                        {
                            "id": r.id,
                            "name": r.name,
                            "status": str(r.status),
                            "experiment_id": r.experiment_id,
                        }
                        for r in u.runs
                    ],
                }
                for u in usage
            ]
        )
        return
    _output.print_table(
        ["VERSION", "CREATED", "BY", "ROWS", "DIGEST", "MESSAGE", "USED BY RUNS"],
        [
            [
                u.version.ref,
                _output.short_time(u.version.created_at),
                u.version.created_by,
                u.version.rows,
                u.version.digest[:12],
                u.version.message,
                ", ".join(f"{r.name} ({r.id[:8]})" for r in u.runs) or None,
            ]
            for u in usage
        ],
    )


def _transfer(verb: str, refs: tuple[str, ...], remote: str | None, as_json: bool) -> None:
    import cairn.data

    report = (cairn.data.push if verb == "push" else cairn.data.pull)(list(refs) or None, remote)
    if as_json:
        _output.print_json(report.to_dict())
    else:
        click.echo(report.summary())
    if report.missing:
        _output.echo_err(
            f"error: {len(report.missing)} objects are missing at the source; run `cairn verify`"
        )
        raise click.exceptions.Exit(1)


@app.command("push")
@click.argument("refs", nargs=-1, help="Datasets or versions (default: all).")
@REMOTE
@JSON
def push(refs: tuple[str, ...], remote: str | None, as_json: bool) -> None:
    """Copy dataset versions to a remote artifact store (only missing objects)."""
    _transfer("push", refs, remote, as_json)


@app.command("pull")
@click.argument("refs", nargs=-1, help="Datasets or versions (default: all).")
@REMOTE
@JSON
def pull(refs: tuple[str, ...], remote: str | None, as_json: bool) -> None:
    """Fetch dataset versions from a remote artifact store (only missing objects)."""
    _transfer("pull", refs, remote, as_json)


@app.command("validate")
@click.argument("ref", help="NAME, NAME@vN or NAME@latest.")
@click.option(
    "--schema", "-s", type=click.Path(path_type=Path), required=True, help="The YAML schema file."
)
@JSON
def validate(ref: str, schema: Path, as_json: bool) -> None:
    """Check a version against a schema file; exit 1 if any check fails."""
    import cairn.data

    report = cairn.data.validate(ref, schema)
    if as_json:
        _output.print_json(report.to_dict())
    else:
        for failure in report.failures:
            click.echo(f"FAIL {failure.describe()}")
        state = (
            "passed" if report.ok else f"failed {len(report.failures)} of {report.checks} checks"
        )
        click.echo(f"{report.ref}: {state} ({report.rows} rows)")
    if not report.ok:
        raise click.exceptions.Exit(1)


@app.command("infer-schema")
@click.argument("ref", help="NAME, NAME@vN or NAME@latest.")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write to this file instead of stdout."
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["cairn", "frictionless"]),
    default="cairn",
    show_default=True,
    help="cairn: the YAML `cairn data validate` reads; frictionless: a Table Schema (JSON).",
)
def infer_schema(ref: str, output: Path | None, format_: str) -> None:
    """Write a starting schema file for a version (edit it, then validate against it)."""
    import cairn.data

    text = cairn.data.infer_schema(ref, format=format_)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        _output.echo_err(f"wrote {output}")
