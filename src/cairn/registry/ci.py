"""CI workflow templates: train, register, gate, promote, using only ``cairn`` commands.

The workflow trains with the project's entry point, registers the best run's model of
the experiment, checks the gates against the alias holder, and (on the main branch)
promotes it. The gate step only answers (it records nothing, so pull-request builds leave
the registry alone); the promote step runs the gates again and records the result it
decided on. Each step is a documented command; ``tests/registry/test_ci.py`` parses the
generated YAML and checks every ``cairn`` command in it exists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from cairn import distribution
from cairn.errors import CairnError, InvalidInput

#: provider -> default output path
PROVIDERS: dict[str, str] = {
    "github": ".github/workflows/cairn-model.yml",
    "gitlab": ".gitlab-ci.yml",
    "jenkins": "Jenkinsfile",
}


@dataclass(frozen=True)
class CiOptions:
    model: str = "model"
    experiment: str = "Default"
    train: str = "python train.py"
    metric: str = "metrics.roc_auc"
    gates: str = "gates.yaml"
    alias: str = "production"
    python: str = "3.11"
    install: str = field(default_factory=lambda: default_install())


def default_install() -> str:
    """``pip install "cairn-mlops[models,data]==<running version>"``.

    Cairn's distribution is ``cairn-mlops``: ``cairn`` on the package index is an
    unrelated project. The pin keeps CI on the version the workflow was written with.
    """
    try:
        pin = f"=={distribution.running_version()}"
    except CairnError:  # neither installed nor a source tree: let pip pick the latest
        pin = ""
    return f'pip install "{distribution.DISTRIBUTION}[models,data]{pin}"'


def steps(o: CiOptions) -> list[tuple[str, str]]:
    """The shell steps of the workflow, as (title, script) pairs, shared by providers."""
    pick = (
        f'cairn runs ls --experiment "{o.experiment}" --sort "{o.metric} DESC" --limit 1 '
        "--json > best-run.json\n"
        "RUN_ID=$(python -c \"import json; print(json.load(open('best-run.json'))[0]['id'])\")\n"
        f'cairn models register "runs:/$RUN_ID/model" --name {o.model} --json > version.json\n'
        "python -c \"import json; print(json.load(open('version.json'))['version'])\" "
        "> version.txt"
    )
    return [
        ("Install", o.install),
        ("Train", o.train),
        ("Register the best run's model", pick),
        (
            "Quality gate",
            f'cairn gate check {o.model} "$(cat version.txt)" --gates {o.gates} '
            f"--against {o.alias}",
        ),
        (
            "Promote",
            f'cairn models promote {o.model} "$(cat version.txt)" --to {o.alias} '
            f'--gates {o.gates} --reason "CI $CI_COMMIT"',
        ),
    ]


def render(provider: str, options: CiOptions | None = None) -> str:
    """The workflow file for ``provider`` (``github``, ``gitlab`` or ``jenkins``).

    Example:
        >>> "cairn gate check" in render("github")
        True
    """
    o = options or CiOptions()
    if provider == "github":
        return _github(o)
    if provider == "gitlab":
        return _gitlab(o)
    if provider == "jenkins":
        return _jenkins(o)
    raise InvalidInput(f"unknown CI provider {provider!r}; use one of: {', '.join(PROVIDERS)}")


def _indent(script: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in script.splitlines())


def _github(o: CiOptions) -> str:
    parts = [
        "# Written by `cairn ci init --provider github`. Train, gate, promote.",
        "name: cairn-model",
        "on:",
        "  push:",
        "    branches: [main]",
        "  pull_request:",
        "jobs:",
        "  model:",
        "    runs-on: ubuntu-latest",
        "    env:",
        "      CAIRN_USER: ci",
        "      CI_COMMIT: ${{ github.sha }}",
        "      # Point these at shared stores so the registry outlives the job:",
        "      # CAIRN_TRACKING_URI: ${{ secrets.CAIRN_TRACKING_URI }}",
        "      # CAIRN_ARTIFACT_URI: ${{ secrets.CAIRN_ARTIFACT_URI }}",
        "    steps:",
        "      - uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5",
        "        with:",
        f'          python-version: "{o.python}"',
    ]
    for title, script in steps(o):
        parts.append(f"      - name: {title}")
        if title == "Promote":
            parts.append("        if: github.ref == 'refs/heads/main'")
        parts.append("        run: |")
        parts.append(_indent(script, 10))
    return "\n".join(parts) + "\n"


def _yaml_item(script: str) -> str:
    """A ``script:`` list item holding ``script`` exactly: a plain ``- cmd`` would turn
    ``a: b`` into a mapping and drop everything after `` #`` as a comment."""
    import yaml

    if "\n" in script:
        return "    - |\n" + _indent(script, 6)
    plain = f"- {script}"
    try:
        if yaml.safe_load(plain) == [script]:
            return "    " + plain
    except yaml.YAMLError:
        pass
    # Single-quoted YAML knows one escape, '' for ', so the text stays as written.
    return "    - '" + script.replace("'", "''") + "'"


def _gitlab(o: CiOptions) -> str:
    body = {title: script for title, script in steps(o)}
    parts = [
        "# Written by `cairn ci init --provider gitlab`. Train, gate, promote.",
        f"image: python:{o.python}",
        "variables:",
        "  CAIRN_USER: ci",
        "  CI_COMMIT: $CI_COMMIT_SHA",
        "stages: [train, gate, promote]",
        "train:",
        "  stage: train",
        "  script:",
        _yaml_item(body["Install"]),
        _yaml_item(body["Train"]),
        "    - |",
        _indent(body["Register the best run's model"], 6),
        "  artifacts:",
        "    paths: [.cairn/, version.txt]",
        "gate:",
        "  stage: gate",
        "  script:",
        _yaml_item(body["Install"]),
        _yaml_item(body["Quality gate"]),
        "promote:",
        "  stage: promote",
        "  rules:",
        "    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH",
        "  script:",
        _yaml_item(body["Install"]),
        _yaml_item(body["Promote"]),
    ]
    return "\n".join(parts) + "\n"


#: first line of every Jenkins ``sh`` step: each step is a new shell, and pip may not
#: write the agent's Python (a Docker agent runs as the Jenkins user), so Cairn lives in
#: a virtual environment in the workspace.
JENKINS_VENV = ". .venv/bin/activate"


def groovy_string(text: str) -> str:
    """``text`` as a Groovy single-quoted string, triple-quoted when it spans lines.

    Single-quoted Groovy strings do not interpolate ``$``. Backslashes are escaped, and
    quotes where they could end the string (every one in a one-line string; in a
    triple-quoted one, each quote followed by a quote or at the end), so the shell
    receives ``text`` byte for byte, whatever a user passed.
    """
    body = text.replace("\\", "\\\\")
    if "\n" not in text:
        return "'" + body.replace("'", "\\'") + "'"
    return "'''" + re.sub(r"'(?='|\Z)", r"\\'", body) + "'''"


def _jenkins(o: CiOptions) -> str:
    parts = [
        "// Written by `cairn ci init --provider jenkins`. Train, gate, promote.",
        "// A declarative pipeline; `sh` runs each script with `sh -xe`, so a failing",
        "// command (a gate that does not pass exits 1) fails the stage and the build.",
        "pipeline {",
        f"    agent {{ docker {{ image {groovy_string(f'python:{o.python}')} }} }}",
        "    options { disableConcurrentBuilds() }",
        "    environment {",
        "        CAIRN_USER = 'ci'",
        "        CI_COMMIT = \"${env.GIT_COMMIT ?: 'unknown'}\"",
        "        PIP_NO_CACHE_DIR = '1'",
        "        // Point these at shared stores so the registry outlives the build:",
        "        // CAIRN_TRACKING_URI = credentials('cairn-tracking-uri')",
        "        // CAIRN_ARTIFACT_URI = credentials('cairn-artifact-uri')",
        "    }",
        "    stages {",
    ]
    for title, script in steps(o):
        if title == "Install":
            script = f"python3 -m venv .venv\n{JENKINS_VENV}\n{script}"
        else:
            script = f"{JENKINS_VENV}\n{script}"
        parts.append(f"        stage({groovy_string(title)}) {{")
        if title == "Promote":
            # `branch` needs a multibranch job; GIT_BRANCH covers a plain pipeline job.
            parts += [
                "            when {",
                "                anyOf {",
                "                    branch 'main'",
                "                    expression { env.GIT_BRANCH in ['main', 'origin/main'] }",
                "                }",
                "            }",
            ]
        parts += [
            "            steps {",
            f"                sh {groovy_string(chr(10) + script + chr(10))}",
            "            }",
            "        }",
        ]
    parts += ["    }", "}"]
    return "\n".join(parts) + "\n"


def write(
    provider: str, path: Path | None = None, options: CiOptions | None = None, force: bool = False
) -> Path:
    """Write the workflow for ``provider``; refuses to replace a file unless ``force``."""
    text = render(provider, options)
    target = path or Path(PROVIDERS[provider])
    if target.exists() and not force:
        raise InvalidInput(f"{target} already exists; pass --force to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target
