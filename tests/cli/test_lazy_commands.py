"""Commands load lazily: a command imports its own module and no other command's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cairn.cli import main

PROBE = """
import json, sys
from cairn.cli.main import main
sys.argv = ["cairn", *{args!r}]
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("cairn.cli."))))
"""


def _loaded_cli_modules(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=list(args))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_help_lists_every_command_without_importing_any() -> None:
    assert _loaded_cli_modules("--help") == ["cairn.cli.main"]


def test_a_command_imports_only_its_own_module() -> None:
    loaded = _loaded_cli_modules("runs", "ls", "--help")
    assert "cairn.cli.runs" in loaded
    assert not {"cairn.cli.data", "cairn.cli.models", "cairn.cli.serve"} & set(loaded)


@pytest.mark.parametrize(("name", "target", "help_text"), main.COMMANDS, ids=lambda v: str(v)[:20])
def test_listed_help_matches_the_command(name: str, target: str, help_text: str) -> None:
    command = main.CairnGroup().get_command(None, name)
    assert command is not None, f"{target} does not load"
    assert command.name == name
    loaded_help = " ".join((command.help or "").strip().split("\n\n")[0].split())
    assert loaded_help == help_text, f"update the help of {name!r} in cairn/cli/main.py"


@pytest.mark.parametrize(("name", "target", "help_text"), main.GROUPS, ids=lambda v: str(v)[:20])
def test_every_group_loads_with_its_subcommands(name: str, target: str, help_text: str) -> None:
    group = main.CairnGroup().get_command(None, name)
    assert group is not None, f"{target} does not load"
    assert group.name == name and group.help == help_text
    assert group.list_commands(None), f"{name} has no subcommands"


def test_an_unknown_command_is_a_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cairn", "nosuch"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "No such command 'nosuch'" in proc.stderr
    assert "Traceback" not in proc.stderr
