"""Entry point of the ``cairn`` command.

Commands are listed here as data. ``COMMANDS`` holds top-level commands as
``(module, function)``; ``GROUPS`` holds command groups as ``(name, "module:app", help)``.
Each module builds its commands with Typer and imports heavy libraries (pandas, sklearn,
SQLAlchemy) only inside the command functions, so ``cairn --help`` stays fast. A group
whose module does not exist yet is skipped.

Errors: a :class:`~cairn.errors.CairnError` raised by any command prints one line,
``error: <message>``, on stderr and exits 1; bad usage exits 2 (click's convention); a
traceback appears only with ``cairn --debug``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from cairn.errors import CairnError

COMMANDS: list[tuple[str, str]] = [
    ("cairn.cli.workspace", "init"),
    ("cairn.cli.workspace", "verify"),
    ("cairn.cli.workspace", "gc"),
    ("cairn.cli.serve", "serve"),
    ("cairn.cli.serve", "predict"),
    ("cairn.cli.serve", "build"),
]
GROUPS: list[tuple[str, str, str]] = [
    ("experiments", "cairn.cli.experiments:app", "List and create experiments."),
    ("runs", "cairn.cli.runs:app", "Search, show, compare and delete runs."),
    ("artifacts", "cairn.cli.artifacts:app", "List and fetch run artifacts."),
    ("db", "cairn.cli.db:app", "Manage the metadata database schema."),
    ("data", "cairn.cli.data:app", "Version, profile, validate and split datasets."),
    ("models", "cairn.cli.models:app", "Register, promote, roll back and export models."),
    ("gate", "cairn.cli.gate:app", "Quality gates for CI/CD."),
    ("ci", "cairn.cli.ci:app", "Write CI workflow templates."),
    ("deploy", "cairn.cli.serve:deploy_app", "Write deployment manifests (Kubernetes)."),
]

STATE = {"debug": False}


def _passthrough_types() -> tuple[type[BaseException], ...]:
    """Exceptions click itself turns into exit codes (usage errors, Exit, Abort)."""
    types: list[type[BaseException]] = [typer.Exit, typer.Abort]
    typer_exception = getattr(typer, "TyperException", None)  # typer >= 0.26 vendors click
    if typer_exception is not None:
        types.append(typer_exception)
    else:  # pragma: no cover - older typer on top of the click package
        import click

        types.append(click.ClickException)
    return tuple(types)


class CairnGroup(TyperGroup):
    """The root group: turns errors raised by any command into one line on stderr."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _passthrough_types():
            raise
        except CairnError as exc:
            if STATE["debug"]:
                raise
            _print_error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            if STATE["debug"]:
                raise
            _print_error("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if STATE["debug"]:
                raise
            _print_error(
                f"unexpected {type(exc).__name__}: {exc} (rerun with `cairn --debug` for the "
                "traceback)"
            )
            raise typer.Exit(1) from None


def _print_error(message: str) -> None:
    # One line, whatever the message holds, so scripts can show it as it is.
    text = " ".join(message.split()) or "failed"
    sys.stderr.write(f"error: {text}\n")
    sys.stderr.flush()


app = typer.Typer(
    name="cairn",
    cls=CairnGroup,
    help="Cairn: track experiments, version data and models, gate and serve them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rendering it with Rich costs about 0.15 s of start-up per call.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"cairn {version('cairn')}")
        except PackageNotFoundError:  # running from a source tree that was never installed
            typer.echo("cairn (unknown version)")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of errors."),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Cairn: track experiments, version data and models, gate and serve them."""
    STATE["debug"] = debug


def _build() -> None:
    for module_name, func_name in COMMANDS:
        module = importlib.import_module(module_name)
        app.command(name=func_name.replace("_", "-"))(getattr(module, func_name))
    for name, target, help_text in GROUPS:
        module_name, _, attr = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a command group not built yet
            raise
        app.add_typer(getattr(module, attr), name=name, help=help_text)


_build()


def main() -> None:
    """Run the ``cairn`` command (the console-script entry point)."""
    # Set before parsing so errors raised while options are processed honour it too.
    STATE["debug"] = "--debug" in sys.argv[1:]
    app(prog_name="cairn")
