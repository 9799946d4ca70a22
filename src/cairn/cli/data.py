"""``cairn data``: version, inspect, compare, restore, mirror and validate datasets.

Each command parses its options, calls one function of :mod:`cairn.data` and prints the
result; the domain logic lives there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from cairn.cli import _output

app = typer.Typer(no_args_is_help=True, add_completion=False)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


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
def add(
    path: Path = typer.Argument(..., help="File or folder to version."),
    name: str = typer.Option(..., "--name", "-n", help="Dataset name (letters, digits, . _ -)."),
    message: str = typer.Option("", "--message", "-m", help="What changed in this version."),
    as_json: bool = JSON,
) -> None:
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
        typer.echo(f"Added {ds.ref} ({_output.format_bytes(ds.size)}{rows}) {ds.digest[:12]}")
    else:
        typer.echo(f"Unchanged: {path} matches {ds.ref}; no new version")


@app.command("status")
def status(
    names: list[str] = typer.Argument(None, help="Dataset names (default: all)."),
    as_json: bool = JSON,
) -> None:
    """Show whether the files each dataset was added from still match its latest version.

    Files whose size, times and inode are unchanged are not read (like `dvc status`).
    """
    import cairn.data

    found = cairn.data.status(names or None)
    if as_json:
        _output.print_json([s.to_dict() for s in found])
        return
    if not found:
        typer.echo("No datasets; add one with `cairn data add PATH --name NAME`")
        return
    _output.print_table(
        ["DATASET", "STATE", "DETAILS", "PATH"],
        [[s.version.ref, s.state, s.describe(), s.path or "-"] for s in found],
    )


@app.command("ls")
def ls(as_json: bool = JSON) -> None:
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
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@vN or NAME@latest."),
    as_json: bool = JSON,
) -> None:
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
        typer.echo("")
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
def diff(
    old: str = typer.Argument(..., help="The earlier version, e.g. churn@v1."),
    new: str = typer.Argument(..., help="The later version, e.g. churn@v2."),
    as_json: bool = JSON,
) -> None:
    """Compare two versions: schema changes, row counts, per-column shift (PSI)."""
    import cairn.data

    result = cairn.data.diff(old, new)
    if as_json:
        _output.print_json(result.to_dict())
        return
    a, b = result.old, result.new
    if result.same_content:
        typer.echo(f"{a.ref} and {b.ref} have identical content ({a.digest[:12]})")
    typer.echo(
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
def checkout(
    ref: str = typer.Argument(..., help="NAME@vN (NAME alone: the latest)."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Where to write (default: the original name)."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing file or folder."),
) -> None:
    """Restore the exact bytes of a version, verified against its digest."""
    import cairn.data

    path = cairn.data.checkout(ref, output, overwrite=force)
    typer.echo(f"Restored {ref} to {path}")


@app.command("log")
def log(
    name: str = typer.Argument(..., help="Dataset name."),
    as_json: bool = JSON,
) -> None:
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


def _transfer(verb: str, refs: list[str] | None, remote: str | None, as_json: bool) -> None:
    import cairn.data

    report = (cairn.data.push if verb == "push" else cairn.data.pull)(refs or None, remote)
    if as_json:
        _output.print_json(report.to_dict())
    else:
        typer.echo(report.summary())
    if report.missing:
        _output.echo_err(
            f"error: {len(report.missing)} objects are missing at the source; run `cairn verify`"
        )
        raise typer.Exit(1)


@app.command("push")
def push(
    refs: list[str] = typer.Argument(None, help="Datasets or versions (default: all)."),
    remote: str = typer.Option(
        None, "--remote", "-r", help="Remote artifact store URI (s3://..., a folder)."
    ),
    as_json: bool = JSON,
) -> None:
    """Copy dataset versions to a remote artifact store (only missing objects)."""
    _transfer("push", refs, remote, as_json)


@app.command("pull")
def pull(
    refs: list[str] = typer.Argument(None, help="Datasets or versions (default: all)."),
    remote: str = typer.Option(
        None, "--remote", "-r", help="Remote artifact store URI (s3://..., a folder)."
    ),
    as_json: bool = JSON,
) -> None:
    """Fetch dataset versions from a remote artifact store (only missing objects)."""
    _transfer("pull", refs, remote, as_json)


@app.command("validate")
def validate(
    ref: str = typer.Argument(..., help="NAME, NAME@vN or NAME@latest."),
    schema: Path = typer.Option(..., "--schema", "-s", help="The YAML schema file."),
    as_json: bool = JSON,
) -> None:
    """Check a version against a schema file; exit 1 if any check fails."""
    import cairn.data

    report = cairn.data.validate(ref, schema)
    if as_json:
        _output.print_json(report.to_dict())
    else:
        for failure in report.failures:
            typer.echo(f"FAIL {failure.describe()}")
        state = (
            "passed" if report.ok else f"failed {len(report.failures)} of {report.checks} checks"
        )
        typer.echo(f"{report.ref}: {state} ({report.rows} rows)")
    if not report.ok:
        raise typer.Exit(1)


@app.command("infer-schema")
def infer_schema(
    ref: str = typer.Argument(..., help="NAME, NAME@vN or NAME@latest."),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write to this file instead of stdout."
    ),
) -> None:
    """Write a starting schema file for a version (edit it, then validate against it)."""
    import cairn.data

    text = cairn.data.infer_schema(ref)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        _output.echo_err(f"wrote {output}")
