"""One meaning for every model reference, in every command and API (``cairn.refs``).

The ``trained`` workspace has ``churn`` versions 1 (logistic regression) and 2 (dummy).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import cairn
import cairn.workspace
from cairn import refs
from cairn.cli.main import app
from cairn.errors import InvalidInput, NotFound

Trained = Any  # the `trained` fixture of conftest.py


def cli(*args: str) -> Any:
    cairn.workspace.reset()
    return CliRunner().invoke(app, list(args), prog_name="cairn")


def cairn_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "kind", "fields"),
    [
        ("churn", "latest", {"name": "churn"}),
        ("churn/latest", "latest", {"name": "churn"}),
        ("models:/churn", "latest", {"name": "churn"}),
        ("churn/3", "version", {"name": "churn", "version": 3}),
        ("models:/churn/3", "version", {"name": "churn", "version": 3}),
        ("churn@production", "alias", {"name": "churn", "alias": "production"}),
        ("models:/churn@staging-2", "alias", {"name": "churn", "alias": "staging-2"}),
        ("runs:/3f9a0c/model", "run", {"run": "3f9a0c", "artifact": "model"}),
        ("runs:/3f9a0c/sub/model/", "run", {"run": "3f9a0c", "artifact": "sub/model"}),
        ("./models/churn", "path", {"path": Path("models/churn")}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_form_parses_to_one_meaning(text: str, kind: str, fields: dict[str, Any]) -> None:
    ref = refs.parse(text)
    assert ref.kind == kind
    for key, value in fields.items():
        assert getattr(ref, key) == value


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("churn/production", "for the alias write churn@production"),
        ("churn@3", "write churn/3 for version 3"),
        ("churn/0", "invalid version '0'"),
        ("churn@", "invalid alias ''"),
        ("runs:/3f9a0c", "use runs:/RUN_ID/NAME"),
        ("s3://bucket/model", "use models:/..., runs:/... or a local folder"),
        ("models:/bad name", "is not a model reference"),
        ("", "empty model reference"),
    ],
)
def test_a_mistaken_reference_names_the_right_form(text: str, hint: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        refs.parse(text)
    assert hint in str(caught.value)


def test_a_bare_name_is_the_latest_version_in_every_api_and_command(trained: Trained) -> None:
    from cairn.serving.batch import predict_file
    from cairn.serving.reload import ModelRef, ModelSlot

    cairn.registry.promote("churn", 1, "production")
    assert refs.resolve("churn").version == 2
    assert cairn.models.load("churn").version == 2
    assert cairn.registry.get_by_ref("churn").version == 2
    slot = ModelSlot.open(ModelRef.parse("churn"))
    assert slot.current.version == "2" and not slot.follows_alias
    src = trained.root / "rows.csv"
    trained.holdout.drop(columns=["churned", "gender"]).to_csv(src, index=False)
    result = predict_file("churn", src, trained.root / "p.parquet", record_run=False)
    assert result.version == "2"
    shown = cli("models", "show", "churn/latest", "--json")
    assert shown.exit_code == 0, shown.output
    assert '"version": 2' in shown.stdout
    card = cli("models", "card", "churn")
    assert card.exit_code == 0 and "churn" in card.stdout
    # ...and the alias form is the alias, everywhere.
    assert cairn.models.load("churn@production").version == 1
    assert ModelSlot.open(ModelRef.parse("churn@production")).current.version == "1"


def test_a_bare_name_warns_when_an_alias_points_elsewhere(trained: Trained) -> None:
    assert refs.resolve("churn").note == ""  # no alias yet: nothing to confuse
    cairn.registry.promote("churn", 1, "production")
    note = refs.resolve("churn").note
    assert "churn means its latest version (2)" in note
    assert "churn@production is version 1" in note
    assert refs.resolve("churn@production").note == ""


def test_an_unknown_alias_lists_the_aliases_that_exist(trained: Trained) -> None:
    cairn.registry.promote("churn", 1, "production")
    with pytest.raises(NotFound) as caught:
        cairn.models.load("churn@prod")
    message = str(caught.value)
    assert "no alias 'prod'" in message and "its aliases: production" in message
    with pytest.raises(NotFound, match="neither a version number of churn"):
        cairn.registry.get_version("churn", "prod")


def test_register_takes_a_run_id_prefix_as_the_readme_shows(trained: Trained) -> None:
    run_id = trained.runs[0]
    done = cairn_process("models", "register", f"runs:/{run_id[:6]}/model", "--name", "copy")
    assert done.returncode == 0, done.stderr
    assert "registered copy/1" in done.stdout
    assert cairn.registry.get_version("copy", 1).run_id == run_id


def test_a_run_prefix_in_a_uri_follows_the_runs_show_rules(trained: Trained) -> None:
    # Runs until two ids share a first character: that prefix is ambiguous.
    seen: dict[str, str] = {trained.runs[0][0]: trained.runs[0]}
    if trained.runs[1][0] in seen:
        prefix = trained.runs[1][0]
    else:
        seen[trained.runs[1][0]] = trained.runs[1]
        prefix = ""
        for _ in range(40):
            with cairn.start_run(experiment="noise") as run:
                pass
            if run.id[0] in seen:
                prefix = run.id[0]
                break
            seen[run.id[0]] = run.id
    assert prefix, "no two of 42 run ids shared a first hex digit"
    ambiguous = cairn_process("models", "register", f"runs:/{prefix}/model", "--name", "x")
    assert ambiguous.returncode == 1
    assert f"run id prefix {prefix!r} is ambiguous" in ambiguous.stderr
    assert "Traceback" not in ambiguous.stderr
    shown = cairn_process("runs", "show", prefix)
    assert shown.returncode == 1 and f"run id prefix {prefix!r} is ambiguous" in shown.stderr
    unknown = cairn_process("models", "register", "runs:/ffffffffffff0/model", "--name", "x")
    assert unknown.returncode == 1
    assert "no run id starts with 'ffffffffffff0'; see `cairn runs ls`" in unknown.stderr
    assert "x" not in {m.name for m in cairn.registry.list_models()}
