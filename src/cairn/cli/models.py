"""``cairn models``: register, list, show, promote, roll back, archive, card, export.

Each command parses its arguments and calls one function of :mod:`cairn.registry` or
:mod:`cairn.models`. ``--json`` output is the same data the Python API returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cairn.cli import _output

if TYPE_CHECKING:
    from cairn.store.registry import AliasEvent, ModelVersion

app = typer.Typer(no_args_is_help=True, help="Register, promote, roll back and export models.")


def _split_ref(ref: str) -> tuple[str, str | None]:
    """``churn/3`` -> (churn, "3"); ``churn@production`` -> (churn, "production")."""
    for sep in ("/", "@"):
        if sep in ref:
            name, _, rest = ref.partition(sep)
            return name, rest
    return ref, None


def _tags(pairs: list[str] | None) -> dict[str, str]:
    from cairn.errors import InvalidInput

    tags = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"tag {pair!r} must look like KEY=VALUE")
        tags[key] = value
    return tags


def version_json(v: ModelVersion) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "status": v.status,
        "aliases": list(v.aliases),
        "flavor": v.flavor,
        "digest": v.digest,
        "size": v.size,
        "source": v.source,
        "run_id": v.run_id,
        "description": v.description,
        "tags": dict(v.tags),
        "created_by": v.created_by,
        "created_at": _output.iso_time(v.created_at),
    }


def event_json(e: AliasEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "alias": e.alias,
        "from": e.from_version,
        "to": e.to_version,
        "action": e.action,
        "actor": e.actor,
        "reason": e.reason,
        "at": _output.iso_time(e.created_at),
    }


@app.command("register")
def register_cmd(
    source: str = typer.Argument(..., help="runs:/RUN_ID/model, models:/NAME/N or a model folder."),
    name: str = typer.Option(..., "--name", help="Registered model name (created if new)."),
    description: str = typer.Option("", "--description", "-d", help="What this version is."),
    tag: list[str] = typer.Option(None, "--tag", help="KEY=VALUE tag on the version (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print the new version as JSON."),
) -> None:
    """Register a logged model as the next version of NAME."""
    from cairn import registry

    v = registry.register(source, name, description=description, tags=_tags(tag))
    if as_json:
        _output.print_json(version_json(v))
    else:
        typer.echo(f"registered {v.name}/{v.version} ({v.flavor}) from {v.source}")


@app.command("ls")
def list_cmd(
    name: str = typer.Argument(None, help="List the versions of this model instead."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List registered models, or the versions of one model."""
    from cairn import registry

    if name is not None:
        versions = registry.list_versions(name)
        if as_json:
            _output.print_json([version_json(v) for v in versions])
            return
        _output.print_table(
            ["VERSION", "STATUS", "ALIASES", "FLAVOR", "RUN", "CREATED (UTC)", "BY"],
            [
                [
                    v.version,
                    v.status,
                    ", ".join(v.aliases),
                    v.flavor,
                    (v.run_id or "-")[:12],
                    _output.short_time(v.created_at),
                    v.created_by,
                ]
                for v in versions
            ],
        )
        return
    models = registry.list_models()
    if as_json:
        _output.print_json(
            [
                {
                    "name": m.name,
                    "description": m.description,
                    "tags": dict(m.tags),
                    "aliases": dict(m.aliases),
                    "latest_version": m.latest_version,
                    "updated_at": _output.iso_time(m.updated_at),
                }
                for m in models
            ]
        )
        return
    _output.print_table(
        ["NAME", "LATEST", "ALIASES", "UPDATED (UTC)", "DESCRIPTION"],
        [
            [
                m.name,
                m.latest_version,
                ", ".join(f"{a}={v}" for a, v in m.aliases.items()),
                _output.short_time(m.updated_at),
                m.description[:60],
            ]
            for m in models
        ],
    )


@app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help="NAME, NAME/VERSION or NAME@ALIAS."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Show a model (its versions) or one version: metrics, signature, lineage, gates."""
    from cairn import registry

    name, version = _split_ref(ref)
    if version is None:
        model = registry.get_model(name)
        versions = registry.list_versions(name)
        if as_json:
            _output.print_json(
                {
                    "name": model.name,
                    "description": model.description,
                    "tags": dict(model.tags),
                    "aliases": dict(model.aliases),
                    "versions": [version_json(v) for v in versions],
                }
            )
            return
        _output.print_fields(
            {
                "name": model.name,
                "description": model.description or "-",
                "aliases": ", ".join(f"{a} -> {v}" for a, v in model.aliases.items()) or "-",
                "versions": len(versions),
            }
        )
        typer.echo("")
        list_cmd(name, as_json=False)
        return
    info = registry.describe(name, version)
    if as_json:
        info["created_at"] = _output.iso_time(info["created_at"])
        _output.print_json(info)
        return
    _output.print_fields(
        {
            "model": f"{info['name']}/{info['version']}",
            "status": info["status"],
            "aliases": ", ".join(info["aliases"]) or "-",
            "flavor": info["flavor"],
            "run": info["run_id"],
            "git commit": info["git_commit"],
            "datasets": ", ".join(d["name"] for d in info["datasets"]) or "-",
            "digest": info["digest"],
            "registered": f"{_output.short_time(info['created_at'])} by {info['created_by']}",
        }
    )
    if info["metrics"]:
        typer.echo("")
        _output.print_table(["METRIC", "VALUE"], list(info["metrics"].items()))
    sig = info["signature"]
    typer.echo("")
    _output.print_table(
        ["INPUT", "DTYPE", "SHAPE"],
        [[s["name"], s["dtype"], s["shape"]] for s in sig["inputs"]],
        title=f"signature ({sig['kind']})",
    )
    if info["gates"]:
        last = info["gates"][-1]
        typer.echo(f"\nlast gate check: {'passed' if last['passed'] else 'FAILED'}")


@app.command("promote")
def promote_cmd(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version number, 'latest', or an alias."),
    to: str = typer.Option(..., "--to", help="Alias to move, e.g. production."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the history)."),
    gates: Path = typer.Option(None, "--gates", help="Refuse unless these gates pass."),
    data: str = typer.Option(None, "--data", help="Evaluation data overriding the gates file."),
) -> None:
    """Point an alias at a version (optionally only if quality gates pass)."""
    from cairn import registry

    event = registry.promote(name, version, to, reason=reason, gates=gates, data=data)
    before = "nothing" if event.from_version is None else f"version {event.from_version}"
    typer.echo(f"{name}@{to} -> version {event.to_version} (was {before})")


@app.command("rollback")
def rollback_cmd(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str = typer.Option("production", "--alias", "-a", help="Alias to move back."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the history)."),
) -> None:
    """Move an alias back to the version it held before."""
    from cairn import registry

    event = registry.rollback(name, alias, reason=reason)
    typer.echo(f"{name}@{alias} -> version {event.to_version} (was {event.from_version})")


@app.command("history")
def history_cmd(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str = typer.Option(None, "--alias", "-a", help="Only this alias."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Every alias move: from, to, who, when, why."""
    from cairn import registry

    events = registry.history(name, alias)
    if as_json:
        _output.print_json([event_json(e) for e in events])
        return
    _output.print_table(
        ["WHEN (UTC)", "ALIAS", "FROM", "TO", "ACTION", "WHO", "WHY"],
        [
            [
                _output.short_time(e.created_at),
                e.alias,
                e.from_version,
                e.to_version,
                e.action,
                e.actor,
                e.reason,
            ]
            for e in events
        ],
    )


@app.command("archive")
def archive_cmd(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version number."),
    restore: bool = typer.Option(False, "--restore", help="Make an archived version usable again."),
) -> None:
    """Archive a version (refused while an alias points at it)."""
    from cairn import registry

    v = registry.archive(name, version, restore=restore)
    typer.echo(f"{v.name}/{v.version} is {v.status}")


@app.command("update")
def update_cmd(
    ref: str = typer.Argument(..., help="NAME or NAME/VERSION."),
    description: str = typer.Option(None, "--description", "-d", help="New description."),
    tag: list[str] = typer.Option(None, "--tag", help="KEY=VALUE (KEY= removes it; repeatable)."),
) -> None:
    """Set the description or tags of a model or a version."""
    from cairn.registry.catalog import parse_version, workspace_or_current

    ws = workspace_or_current()
    name, version = _split_ref(ref)
    tags = _tags(tag) if tag else None
    if version is None:
        ws.registry.update_model(name, description=description, tags=tags)
        typer.echo(f"updated {name}")
    else:
        number = parse_version(name, version, ws)
        ws.registry.update_version(name, number, description=description, tags=tags)
        typer.echo(f"updated {name}/{number}")


@app.command("alias-rm")
def alias_rm_cmd(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str = typer.Argument(..., help="Alias to delete."),
    reason: str = typer.Option("", "--reason", "-r", help="Why (kept in the history)."),
) -> None:
    """Delete an alias (recorded in the history)."""
    from cairn import registry

    event = registry.remove_alias(name, alias, reason=reason)
    typer.echo(f"removed {name}@{alias} (was version {event.from_version})")


@app.command("card")
def card_cmd(
    ref: str = typer.Argument(..., help="NAME/VERSION or NAME@ALIAS."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file."),
) -> None:
    """Render the model card (Markdown) of a version."""
    from cairn import registry
    from cairn.errors import InvalidInput
    from cairn.models.card import render_card

    name, version = _split_ref(ref)
    if version is None:
        raise InvalidInput(f"give a version: {name}/3 or {name}@production")
    text = render_card(registry.describe(name, version))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")


@app.command("export")
def export_cmd(
    uri: str = typer.Argument(..., help="NAME@ALIAS, NAME/VERSION, models:/..., runs:/..."),
    format_: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
    data: str = typer.Option(
        None, "--data", help="CSV/Parquet rows to check on (default: the input example)."
    ),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Largest allowed difference."),
    force: bool = typer.Option(False, "--force", help="Replace an existing file."),
    trust: bool = typer.Option(
        False, "--trust", help="Load types not known to be safe (trusted sources only)."
    ),
) -> None:
    """Export a scikit-learn model to ONNX, checked against the original."""
    from cairn.errors import InvalidInput
    from cairn.models import load
    from cairn.models.export import export_onnx

    if format_ != "onnx":
        raise InvalidInput(f"unknown export format {format_!r}; supported: onnx")
    model = load(uri, trust=trust)
    frame = None
    if data is not None:
        from cairn.registry.catalog import workspace_or_current
        from cairn.registry.evaluate import load_frame

        frame, _ = load_frame(data, workspace_or_current())
    report = export_onnx(model, output, data=frame, tolerance=tolerance, force=force)
    typer.echo(
        f"wrote {report.path} ({_output.format_bytes(report.size)}); checked on "
        f"{report.rows_checked} rows, max difference {report.max_abs_diff:.2g}"
    )
