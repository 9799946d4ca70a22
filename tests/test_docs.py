"""The documentation keeps up with the code: every command has help text and a docs entry."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _gen_cli() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN_CLI = _gen_cli()
COMMANDS: list[tuple[tuple[str, ...], Any]] = list(GEN_CLI.walk(GEN_CLI.root_command()))


def _headings() -> set[str]:
    found = set()
    for page in DOCS.rglob("*.md"):
        for line in page.read_text(encoding="utf-8").splitlines():
            match = re.match(r"#{1,6}\s+(cairn(?:\s+[\w-]+)*)\s*$", line.strip())
            if match:
                found.add(" ".join(match.group(1).split()))
    return found


def _name(path: tuple[str, ...]) -> str:
    return " ".join(("cairn", *path))


LEAVES = [(path, cmd) for path, cmd in COMMANDS if not GEN_CLI.is_group(cmd)]


def test_command_tree_is_found() -> None:
    names = {_name(path) for path, _ in LEAVES}
    assert {"cairn init", "cairn runs ls", "cairn db upgrade"} <= names


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[_name(p) for p, _ in LEAVES])
def test_every_command_has_a_docs_section(path: tuple[str, ...], command: Any) -> None:
    assert _name(path) in _headings(), (
        f"no `### {_name(path)}` heading in docs/: document the command "
        "(and run python docs/gen_cli.py)"
    )


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[_name(p) for p, _ in COMMANDS])
def test_every_command_and_option_has_help_text(path: tuple[str, ...], command: Any) -> None:
    assert GEN_CLI.help_text(command), f"{_name(path)} has no help text (add a docstring)"
    for param in command.params:
        if not getattr(param, "hidden", False):
            assert getattr(param, "help", None), f"{_name(path)}: {param.name} has no help="


def test_cli_reference_is_up_to_date() -> None:
    expected = GEN_CLI.render()
    actual = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/cli.md is out of date: run python docs/gen_cli.py"


def test_docs_links_point_at_existing_pages() -> None:
    pages = [*DOCS.rglob("*.md"), ROOT / "README.md"]
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", page.read_text("utf-8")):
            if "://" in target:
                continue
            assert (page.parent / target).resolve().is_file(), f"{page.name} links to {target}"
