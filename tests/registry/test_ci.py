"""`cairn ci init` writes workflows that parse and use only existing, documented commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cairn.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def scripts(provider: str, data: dict[str, Any]) -> list[str]:
    if provider == "github":
        return [s["run"] for s in data["jobs"]["model"]["steps"] if "run" in s]
    return [
        line for job in data.values() if isinstance(job, dict) for line in job.get("script", [])
    ]


def cairn_commands(script: str) -> list[list[str]]:
    """Every `cairn ...` invocation in a shell script, as words."""
    found = []
    for line in script.splitlines():
        for match in re.finditer(r"(?:^|\$\(|&&|;|\|)\s*(cairn\s[^|;&]*)", line.strip()):
            command = re.sub(r"\$\([^()]*\)", "X", match.group(1))
            found.append(shlex.split(command))
    return found


def resolve(words: list[str]) -> tuple[list[str], Any]:
    command: Any = app
    path = ["cairn"]
    for word in words[1:]:
        # get_command, not .commands: the root group loads its commands on demand.
        sub = command.get_command(None, word) if hasattr(command, "get_command") else None
        if sub is None:
            break
        command, path = sub, [*path, word]
    return path, command


@pytest.mark.parametrize("provider", ["github", "gitlab"])
def test_ci_init_writes_parseable_workflow_of_documented_commands(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["ci", "init", "--provider", provider, "--model", "churn", "--experiment", "churn"]
    )
    assert result.exit_code == 0, result.output
    written = Path(result.stdout.split()[-1])
    data = yaml.safe_load(written.read_text())
    commands = [c for s in scripts(provider, data) for c in cairn_commands(s)]
    assert {tuple(resolve(c)[0][:3]) for c in commands} >= {
        ("cairn", "runs", "ls"),
        ("cairn", "models", "register"),
        ("cairn", "gate", "check"),
        ("cairn", "models", "promote"),
    }
    docs = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    for words in commands:
        path, command = resolve(words)
        assert not hasattr(command, "commands"), f"{' '.join(words)} names no command"
        options = {o for p in command.params for o in getattr(p, "opts", [])}
        for word in words:
            if word.startswith("--"):
                assert word in options, f"{' '.join(path)} has no option {word}"
        assert f"### {' '.join(path)}" in docs, f"{' '.join(path)} is not documented"


def test_ci_init_refuses_to_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["ci", "init", "--provider", "gitlab"]).exit_code == 0
    again = CliRunner().invoke(app, ["ci", "init", "--provider", "gitlab"])
    assert again.exit_code == 1
    assert again.stderr == "error: .gitlab-ci.yml already exists; pass --force to replace it\n"
    assert CliRunner().invoke(app, ["ci", "init", "--provider", "gitlab", "--force"]).exit_code == 0
    bad = CliRunner().invoke(app, ["ci", "init", "--provider", "jenkins"])
    assert bad.exit_code == 1
    assert bad.stderr == "error: unknown CI provider 'jenkins'; use one of: github, gitlab\n"
