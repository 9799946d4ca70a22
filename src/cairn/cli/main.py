"""Entry point of the ``cairn`` command.

Commands are listed here as data. ``COMMANDS`` holds top-level commands (each attribute
a ``click.Command``) and ``GROUPS`` command groups (a ``click.Group``), each
``(name, "module:attribute", help)``. A command's module is imported only when that
command runs (``cairn --help`` imports none of them), and each module imports heavy
libraries (pandas, sklearn, SQLAlchemy) only inside its command functions, so every
command starts fast. An entry whose module does not exist is skipped. The commands are
plain click: Typer cost every command about 0.1 s of start-up (see
docs/architecture.md).

Errors: a :class:`~cairn.errors.CairnError` raised by any command prints one line,
``error: <message>``, on stderr and exits 1; bad usage exits 2 (click's convention); a
traceback appears only with ``cairn --debug``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from typing import Any

import click

from cairn.errors import CairnError

#: Top-level commands: (name, "module:function", one-line help shown by `cairn --help`).
COMMANDS: list[tuple[str, str, str]] = [
    (
        "init",
        "cairn.cli.workspace:init",
        "Create a workspace: cairn.toml plus .cairn/ with the database and artifact store.",
    ),
    (
        "verify",
        "cairn.cli.workspace:verify",
        "Check every object in the artifact store against its digest.",
    ),
    ("gc", "cairn.cli.workspace:gc", "Remove artifact objects that no record references."),
    (
        "serve",
        "cairn.cli.serve:serve",
        "Serve a model over HTTP: Open Inference Protocol v2, /invocations and /metrics.",
    ),
    (
        "predict",
        "cairn.cli.serve:predict",
        "Score a file in batches with constant memory; record a run with input/output digests.",
    ),
    (
        "build",
        "cairn.cli.serve:build",
        "Write a Docker build context that serves one model version.",
    ),
    (
        "server",
        "cairn.cli.server:server",
        "Share the workspace's stores over HTTP for a team (REST API, /openapi.json).",
    ),
    (
        "ui",
        "cairn.cli.ui:ui",
        "Browse this workspace's runs, metrics and models at http://127.0.0.1:PORT/ui.",
    ),
    (
        "scheduler",
        "cairn.cli.schedule:scheduler",
        "Run the schedules of this workspace until stopped (Ctrl-C or SIGTERM).",
    ),
    (
        "grant",
        "cairn.cli.access:grant",
        "Give a user read, edit or manage on one experiment, model, dataset or pipeline.",
    ),
    (
        "login",
        "cairn.cli.login:login",
        "Save an API token for a server in the user-only credentials file.",
    ),
    (
        "logout",
        "cairn.cli.login:logout",
        "Forget the token saved for a server (revoke it too with `cairn tokens revoke`).",
    ),
]
#: Command groups: (name, "module:click.Group attribute", help).
GROUPS: list[tuple[str, str, str]] = [
    ("experiments", "cairn.cli.experiments:app", "List, create, delete and restore experiments."),
    ("runs", "cairn.cli.runs:app", "Search, show, compare and delete runs."),
    ("artifacts", "cairn.cli.artifacts:app", "List and fetch run artifacts."),
    ("db", "cairn.cli.db:app", "Manage the metadata database schema."),
    ("data", "cairn.cli.data:app", "Version, profile, validate and split datasets."),
    ("import", "cairn.cli.imports:app", "Import history from MLflow and DVC."),
    ("models", "cairn.cli.models:app", "Register, promote, roll back and export models."),
    ("gate", "cairn.cli.gate:app", "Quality gates for CI/CD."),
    ("ci", "cairn.cli.ci:app", "Write CI workflow templates."),
    (
        "pipeline",
        "cairn.cli.pipeline:app",
        "Run cached pipelines of typed steps, and inspect their runs.",
    ),
    ("deploy", "cairn.cli.serve:deploy_app", "Write deployment manifests (Kubernetes)."),
    (
        "schedule",
        "cairn.cli.schedule:app",
        "Start pipelines on a cron schedule or on new dataset versions.",
    ),
    (
        "monitor",
        "cairn.cli.monitor:app",
        "Watch served models: drift, quality, performance; alerts that act.",
    ),
    (
        "users",
        "cairn.cli.access:users",
        "Create, list, enable and disable users of a shared store.",
    ),
    ("tokens", "cairn.cli.access:tokens", "Create, list and revoke API tokens."),
    ("audit", "cairn.cli.access:audit", "Read the audit log of mutations."),
]

STATE = {"debug": False}

# Exceptions click turns into exit codes itself: usage errors (2), Exit, Abort.
_PASSTHROUGH = (click.exceptions.Exit, click.Abort, click.ClickException)


@functools.cache
def _entries() -> list[tuple[str, str, str, bool]]:
    """(name, target, help, is_group) for every command whose module exists (looked up
    once per process: listing, help and loading all ask)."""
    found = []
    for is_group, table in ((False, COMMANDS), (True, GROUPS)):
        for name, target, help_text in table:
            if importlib.util.find_spec(target.partition(":")[0]) is not None:
                found.append((name, target, help_text, is_group))
    return found


def _load(name: str) -> click.Command | None:
    """Import one command's module and return its click command (or None if unknown)."""
    for entry, target, help_text, is_group in _entries():
        if entry != name:
            continue
        module_name, _, attr = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        command.name = name
        if is_group:  # the table's line is the group's help, so the two cannot drift
            command.help = help_text
        return command
    return None


class CairnGroup(click.Group):
    """The root group: loads a command's module only when that command runs, and turns
    errors raised by any command into one line on stderr.

    ``cairn --help`` lists the commands from ``COMMANDS`` and ``GROUPS`` without importing
    them, so neither the help nor any one command pays for building all the others.
    """

    def list_commands(self, ctx: click.Context | None) -> list[str]:
        return [name for name, *_ in _entries()]

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None:
            command = _load(cmd_name)
            if command is not None:
                self.commands[cmd_name] = command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        entries = _entries()
        if entries:
            limit = formatter.width - 6 - max(len(name) for name, *_ in entries)
            # A bare Command only shortens the listed help the way click does for loaded
            # commands; building one imports nothing.
            rows = [
                (name, click.Command(name, help=text).get_short_help_str(limit))
                for name, _, text, _ in entries
            ]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASSTHROUGH:
            raise
        except CairnError as exc:
            if STATE["debug"]:
                raise
            _print_error(str(exc))
            raise click.exceptions.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            if STATE["debug"]:
                raise
            _print_error("interrupted")
            raise click.exceptions.Exit(130) from None
        except Exception as exc:
            if STATE["debug"]:
                raise
            _print_error(
                f"unexpected {type(exc).__name__}: {exc} (rerun with `cairn --debug` for the "
                "traceback)"
            )
            raise click.exceptions.Exit(1) from None


def _print_error(message: str) -> None:
    from cairn.credentials import redact

    # One line, whatever the message holds, so scripts can show it as it is; and no
    # password of a URI, whichever library wrote the message.
    text = redact(" ".join(message.split())) or "failed"
    sys.stderr.write(f"error: {text}\n")
    sys.stderr.flush()


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        click.echo(f"cairn {version('cairn-mlops')}")
    except PackageNotFoundError:  # running from a source tree that was never installed
        click.echo("cairn (unknown version)")
    ctx.exit()


@click.group(
    "cairn",
    cls=CairnGroup,
    no_args_is_help=True,
    # Inherited by every subcommand: -h everywhere, and defaults shown in each --help.
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
)
@click.option("--debug", is_flag=True, help="Show the full traceback of errors.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_version,
    help="Print the version and exit.",
)
def app(debug: bool) -> None:
    """Cairn: track experiments, version data and models, gate and serve them."""
    STATE["debug"] = debug


def main() -> None:
    """Run the ``cairn`` command (the console-script entry point)."""
    # Set before parsing so errors raised while options are processed honour it too.
    STATE["debug"] = "--debug" in sys.argv[1:]
    app(prog_name="cairn")
