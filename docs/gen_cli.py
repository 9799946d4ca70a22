"""Generate docs/cli.md, the command reference, from the ``cairn`` command itself.

Run ``.venv/bin/python docs/gen_cli.py`` after adding or changing a command;
``tests/test_docs.py`` fails while the page is out of date. ``--check`` exits 1 instead
of writing when the page differs.
"""

from __future__ import annotations

import enum
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PAGE = Path(__file__).parent / "cli.md"

INTRO = """\
# Command reference

Generated from the code by `docs/gen_cli.py`; do not edit by hand. Every command also
answers `-h`/`--help`.

Conventions shared by all commands:

- Commands find the workspace from the current directory upward (the nearest
  `cairn.toml`), or use `CAIRN_WORKSPACE`, `CAIRN_TRACKING_URI` and `CAIRN_ARTIFACT_URI`
  (see [configuration](configuration.md)).
- A mistake (an unknown run, a bad filter) prints one line, `error: ...`, on stderr and
  exits 1. Bad usage (an unknown option, a missing argument) exits 2. `cairn --debug
  COMMAND ...` shows the full traceback instead.
- Every list command takes `--json` and prints a JSON array of objects. Times in JSON are
  ISO 8601 strings in UTC with milliseconds, such as `2024-05-01T12:00:03.120Z`; NaN and
  infinite metric values are `null`.
- Tables are drawn for a terminal and printed as plain aligned columns when the output
  is piped. Progress bars appear only on a terminal.
"""


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group under ``command`` with its path, depth first, in order."""
    yield path, command
    if not is_group(command):
        return
    # list_commands/get_command, not .commands: the root loads its commands lazily.
    for name in command.list_commands(None):
        sub = command.get_command(None, name)
        if sub is not None and not getattr(sub, "hidden", False):
            yield from walk(sub, (*path, name))


def root_command() -> Any:
    from cairn.cli.main import app

    return app


def is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def help_text(command: Any) -> str:
    return inspect.cleandoc(command.help or "").strip()


def render() -> str:
    """The whole page, as it should be on disk."""
    parts = [INTRO]
    for path, command in walk(root_command()):
        title = " ".join(("cairn", *path))
        if is_group(command):
            level = "##"
            if path:  # the root's options are documented under "## cairn"
                parts.append(f"{level} {title}\n\n{help_text(command)}\n")
                continue
            parts.append(f"{level} {title}\n\n{help_text(command)}\n\n{_options(command)}")
            continue
        parts.append(
            f"### {title}\n\n{help_text(command)}\n\n"
            f"```\n{_usage(title, command)}\n```\n\n{_options(command)}"
        )
    return "\n".join(p.rstrip() + "\n" for p in parts)


def _usage(title: str, command: Any) -> str:
    pieces = [title, "[OPTIONS]"] if _visible_options(command) else [title]
    for param in command.params:
        if param.param_type_name != "argument":
            continue
        name = _metavar(param)
        if param.nargs == -1:
            name += "..."
        pieces.append(name if param.required else f"[{name}]")
    return " ".join(pieces)


def _visible_options(command: Any) -> list[Any]:
    return [
        p
        for p in command.params
        if p.param_type_name == "option" and not getattr(p, "hidden", False)
    ]


def _options(command: Any) -> str:
    rows = []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        if param.param_type_name == "argument":
            spelled = f"`{_metavar(param)}`"
        else:
            spelled = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            if not getattr(param, "is_flag", False):
                spelled += f" `{_metavar(param)}`"
        rows.append(f"| {spelled} | {_describe(param)} |")
    rows.append("| `-h`, `--help` | Show the help and exit. |")
    return "| Argument or option | Description |\n|---|---|\n" + "\n".join(rows) + "\n"


def _metavar(param: Any) -> str:
    return str(param.name).strip("_").upper()


def _describe(param: Any) -> str:
    text = " ".join(str(getattr(param, "help", None) or "").split())
    notes = []
    if param.required:
        notes.append("Required.")
    elif param.param_type_name == "argument" or not getattr(param, "is_flag", False):
        default = param.default
        # click marks "no default" with an enum sentinel; no Cairn option defaults to an enum.
        if isinstance(default, enum.Enum):
            default = None
        if default not in (None, "", (), []) and not callable(default):
            notes.append(f"Default: `{default}`.")
    if getattr(param, "multiple", False):
        notes.append("Repeatable.")
    return " ".join([text, *notes]).strip().replace("|", "\\|")


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is out of date: run python docs/gen_cli.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
