"""Entry point of the ``cairn`` command.

Command groups are listed here as data, ``(name, "module:attribute", help)``; each module
builds one Typer app and imports heavy libraries (pandas, sklearn, SQLAlchemy models)
only inside its commands, so ``cairn --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from cairn.errors import CairnError

# Top-level commands: (module, function name). Groups: (name, "module:app", help).
COMMANDS: list[tuple[str, str]] = [
    ("cairn.cli.workspace", "init"),
    ("cairn.cli.workspace", "verify"),
    ("cairn.cli.workspace", "gc"),
]
GROUPS: list[tuple[str, str, str]] = [
    ("experiments", "cairn.cli.experiments:app", "List and create experiments."),
    ("runs", "cairn.cli.runs:app", "Search, show and compare runs."),
    ("artifacts", "cairn.cli.artifacts:app", "List and fetch run artifacts."),
    ("db", "cairn.cli.db:app", "Manage the metadata database schema."),
    ("data", "cairn.cli.data:app", "Version, profile, validate and split datasets."),
    ("models", "cairn.cli.models:app", "Register, promote, roll back and export models."),
    ("gate", "cairn.cli.gate:app", "Quality gates for CI/CD."),
    ("ci", "cairn.cli.ci:app", "Write CI workflow templates."),
]

STATE = {"debug": False}

app = typer.Typer(
    name="cairn",
    help="Cairn: track experiments, version data and models, gate and serve them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
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
    """Run the CLI: user mistakes print one line and exit 1; tracebacks only with --debug."""
    debug = "--debug" in sys.argv[1:]
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except CairnError as exc:
        if debug:
            raise
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("aborted", 1)
    except Exception as exc:  # click usage errors and the rest
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if debug:
            raise
        _fail(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1)


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)
