"""``cairn models``: register, list, show, promote, roll back, archive, card, export.

Each command parses its arguments and calls one function of :mod:`cairn.registry` or
:mod:`cairn.models`. ``--json`` output is the same data the Python API returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cairn.cli import _output
from cairn.cli._group import Group

if TYPE_CHECKING:
    from cairn.store.registry import AliasEvent, ModelVersion

app = Group("models", help="Register, promote, roll back and export models.")


def _model_or_version(text: str) -> tuple[str, str | None]:
    """(name, None) for a bare NAME (the model itself), else (name, version number as text)
    of the version the reference names, parsed and resolved by :mod:`cairn.refs`."""
    from cairn.refs import parse

    ref = parse(text)
    if ref.kind == "latest" and ref.text == ref.name:
        return ref.name, None
    from cairn import registry

    v = registry.get_by_ref(text)
    return v.name, str(v.version)


def _tags(pairs: tuple[str, ...]) -> dict[str, str]:
    from cairn.errors import InvalidInput

    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"tag {pair!r} must look like KEY=VALUE")
        tags[key] = value
    return tags


def version_json(v: ModelVersion) -> dict[str, Any]:
    """:meth:`ModelVersion.to_dict` with an ISO 8601 UTC time."""
    data = v.to_dict()
    data["created_at"] = _output.iso_time(v.created_at)
    return data


def event_json(e: AliasEvent) -> dict[str, Any]:
    """:meth:`AliasEvent.to_dict` with an ISO 8601 UTC time."""
    data = e.to_dict()
    data["at"] = _output.iso_time(e.created_at)
    return data


@app.command("register")
@click.argument(
    "source",
    help="runs:/RUN_ID/model (a unique id prefix works), NAME/N, NAME@ALIAS or a model folder.",
)
@click.option("--name", required=True, help="Registered model name (created if new).")
@click.option("--description", "-d", default="", help="What this version is.")
@click.option("--tag", multiple=True, help="KEY=VALUE tag on the version (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the new version as JSON.")
def register_cmd(
    source: str, name: str, description: str, tag: tuple[str, ...], as_json: bool
) -> None:
    """Register a logged model as the next version of NAME.

    When the model's run logged its data, the monitoring reference is built too (or
    marked pending when that data is large).
    """
    from cairn.api import register_model

    v, note = register_model(source, name, description=description, tags=_tags(tag))
    if as_json:
        _output.print_json(version_json(v))
    else:
        click.echo(f"registered {v.name}/{v.version} ({v.flavor}) from {v.source}")
        if note:
            click.echo(note)


@app.command("ls")
@click.argument("name", required=False, help="List the versions of this model instead.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def list_cmd(name: str | None, as_json: bool) -> None:
    """List registered models, or the versions of one model."""
    from cairn import registry

    if name is not None:
        _print_versions(name, as_json)
        return
    models = registry.list_models()
    if as_json:
        _output.print_json(
            [
                {
                    **m.to_dict(),
                    "created_at": _output.iso_time(m.created_at),
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


def _print_versions(name: str, as_json: bool) -> None:
    """The versions of one model, as `cairn models ls NAME` prints them."""
    from cairn import registry

    versions = registry.list_versions(name)
    if as_json:
        _output.print_json([version_json(v) for v in versions])
        return
    _output.print_table(
        ["VERSION", "STATUS", "ALIASES", "FLAVOR", "RUN", "CREATED (UTC)", "BY", "DESCRIPTION"],
        [
            [
                v.version,
                v.status,
                ", ".join(v.aliases),
                v.flavor,
                (v.run_id or "-")[:12],
                _output.short_time(v.created_at),
                v.created_by,
                _first_line(v.description),
            ]
            for v in versions
        ],
    )


def _first_line(text: str, limit: int = 60) -> str | None:
    """A description for a table cell: its first line, cut to ``limit`` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return None if not line else line if len(line) <= limit else line[: limit - 3] + "..."


@app.command("show")
@click.argument("ref", help="NAME (the model), NAME/VERSION, NAME/latest or NAME@ALIAS.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
def show_cmd(ref: str, as_json: bool) -> None:
    """Show a model (its versions) or one version: metrics, signature, lineage, gates."""
    from cairn import registry

    name, version = _model_or_version(ref)
    if version is None:
        model = registry.get_model(name)
        versions = registry.list_versions(name)
        if as_json:
            _output.print_json(
                {
                    **model.to_dict(),
                    "created_at": _output.iso_time(model.created_at),
                    "updated_at": _output.iso_time(model.updated_at),
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
        click.echo("")
        _print_versions(name, as_json=False)
        return
    info = registry.describe(name, version)
    if as_json:
        info["created_at"] = _output.iso_time(info["created_at"])
        _output.print_json(info)
        return
    _output.print_fields(
        {
            "model": f"{info['name']}/{info['version']}",
            "description": info["description"] or "-",
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
        click.echo("")
        _output.print_table(["METRIC", "VALUE"], list(info["metrics"].items()))
    sig = info["signature"]
    click.echo("")
    _output.print_table(
        ["INPUT", "DTYPE", "SHAPE"],
        [[s["name"], s["dtype"], s["shape"]] for s in sig["inputs"]],
        title=f"signature ({sig['kind']})",
    )
    if info["gates"]:
        last = info["gates"][-1]
        click.echo(f"\nlast gate check: {'passed' if last['passed'] else 'FAILED'}")


@app.command("promote")
@click.argument("name", help="Registered model name.")
@click.argument("version", help="Version number, 'latest', or an alias.")
@click.option("--to", required=True, help="Alias to move, e.g. production.")
@click.option("--reason", "-r", default="", help="Why (kept in the history).")
@click.option("--gates", type=click.Path(path_type=Path), help="Refuse unless these gates pass.")
@click.option("--data", help="Evaluation data overriding the gates file.")
def promote_cmd(
    name: str, version: str, to: str, reason: str, gates: Path | None, data: str | None
) -> None:
    """Point an alias at a version (optionally only if quality gates pass)."""
    from cairn import registry

    event = registry.promote(name, version, to, reason=reason, gates=gates, data=data)
    before = "nothing" if event.from_version is None else f"version {event.from_version}"
    click.echo(f"{name}@{to} -> version {event.to_version} (was {before})")


@app.command("rollback")
@click.argument("name", help="Registered model name.")
@click.option("--alias", "-a", default="production", help="Alias to move back.")
@click.option("--reason", "-r", default="", help="Why (kept in the history).")
def rollback_cmd(name: str, alias: str, reason: str) -> None:
    """Move an alias back to the version it held before."""
    from cairn import registry

    event = registry.rollback(name, alias, reason=reason)
    click.echo(f"{name}@{alias} -> version {event.to_version} (was {event.from_version})")


@app.command("history")
@click.argument("name", help="Registered model name.")
@click.option("--alias", "-a", help="Only this alias.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def history_cmd(name: str, alias: str | None, as_json: bool) -> None:
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
@click.argument("name", help="Registered model name.")
@click.argument("version", help="Version number.")
@click.option("--restore", is_flag=True, help="Make an archived version usable again.")
def archive_cmd(name: str, version: str, restore: bool) -> None:
    """Archive a version (refused while an alias points at it)."""
    from cairn import registry

    v = registry.archive(name, version, restore=restore)
    click.echo(f"{v.name}/{v.version} is {v.status}")


@app.command("update")
@click.argument("ref", help="NAME (the model), NAME/VERSION or NAME@ALIAS (that version).")
@click.option("--description", "-d", help="New description.")
@click.option("--tag", multiple=True, help="KEY=VALUE (KEY= removes it; repeatable).")
def update_cmd(ref: str, description: str | None, tag: tuple[str, ...]) -> None:
    """Set the description or tags of a model or a version."""
    from cairn import registry

    name, version = _model_or_version(ref)
    tags = _tags(tag) if tag else None
    if version is None:
        registry.update_model(name, description=description, tags=tags)
        click.echo(f"updated {name}")
    else:
        v = registry.update_version(name, version, description=description, tags=tags)
        click.echo(f"updated {v.name}/{v.version}")


@app.command("alias-rm")
@click.argument("name", help="Registered model name.")
@click.argument("alias", help="Alias to delete.")
@click.option("--reason", "-r", default="", help="Why (kept in the history).")
def alias_rm_cmd(name: str, alias: str, reason: str) -> None:
    """Delete an alias (recorded in the history)."""
    from cairn import registry

    event = registry.remove_alias(name, alias, reason=reason)
    click.echo(f"removed {name}@{alias} (was version {event.from_version})")


@app.command("card")
@click.argument("ref", help="NAME (its latest version), NAME/VERSION or NAME@ALIAS.")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to this file.")
def card_cmd(ref: str, output: Path | None) -> None:
    """Render the model card (Markdown) of a version."""
    from cairn import registry
    from cairn.models.card import render_card

    v = registry.get_by_ref(ref)
    text = render_card(registry.describe(v.name, v.version))
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")


@app.command("export")
@click.argument("uri", help="NAME (latest), NAME@ALIAS, NAME/VERSION, models:/..., runs:/...")
@click.option("--format", "format_", default="onnx", help="Export format (onnx).")
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), required=True, help="File to write."
)
@click.option("--data", help="CSV/Parquet rows to check on (default: the input example).")
@click.option("--tolerance", type=float, default=1e-4, help="Largest allowed difference.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.option(
    "--trust", is_flag=True, help="Load types not known to be safe (trusted sources only)."
)
def export_cmd(
    uri: str,
    format_: str,
    output: Path,
    data: str | None,
    tolerance: float,
    force: bool,
    trust: bool,
) -> None:
    """Export a scikit-learn, XGBoost or LightGBM model to ONNX, checked against the original."""
    from cairn.errors import InvalidInput
    from cairn.models import load
    from cairn.models.export import export_onnx

    if format_ != "onnx":
        raise InvalidInput(f"unknown export format {format_!r}; supported: onnx")
    model = load(uri, trust=trust)
    frame = None
    if data is not None:
        from cairn.registry.evaluate import load_frame
        from cairn.workspace import resolve

        frame, _ = load_frame(data, resolve())
    report = export_onnx(model, output, data=frame, tolerance=tolerance, force=force)
    click.echo(
        f"wrote {report.path} ({_output.format_bytes(report.size)}); checked on "
        f"{report.rows_checked} rows, max difference {report.max_abs_diff:.2g}"
    )
