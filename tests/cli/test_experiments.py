"""``cairn experiments delete|restore``: what a user sees, refusals included."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

Invoke = Callable[..., Any]  # the cli folder's `invoke` fixture: exit_code, stdout, stderr


def _ls(invoke: Invoke, *flags: str) -> list[dict[str, Any]]:
    result = invoke("experiments", "ls", "--json", *flags)
    assert result.exit_code == 0, result.stderr
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


def _run_names(invoke: Invoke, *flags: str) -> set[str]:
    result = invoke("runs", "ls", "--json", *flags)
    assert result.exit_code == 0, result.stderr
    return {r["name"] for r in json.loads(result.stdout)}


def test_delete_hides_the_experiment_and_its_runs_and_restore_brings_them_back(
    invoke: Invoke, populated: Any
) -> None:
    deleted = invoke("experiments", "delete", "demo")

    assert deleted.exit_code == 0, deleted.stderr
    assert deleted.stdout.startswith("Deleted experiment 'demo' (")
    assert "`cairn experiments restore demo` undoes it" in deleted.stdout
    assert "demo" not in {e["name"] for e in _ls(invoke)}
    [gone] = _ls(invoke, "--deleted")
    assert (gone["name"], gone["deleted_by"]) == ("demo", "tester")
    assert gone["deleted_at"].endswith("Z")
    assert _run_names(invoke) == set()
    assert _run_names(invoke, "--deleted") == {"lr-run", "rf-run", "gb-run"}
    assert "DELETED (UTC)" in invoke("experiments", "ls", "--all").stdout

    restored = invoke("experiments", "restore", "demo")

    assert restored.exit_code == 0 and restored.stdout.startswith("Restored experiment 'demo'")
    assert [e["deleted_at"] for e in _ls(invoke) if e["name"] == "demo"] == [None]
    assert _run_names(invoke) == {"lr-run", "rf-run", "gb-run"}


def test_refusals_are_one_line_naming_the_fix(invoke: Invoke, populated: Any) -> None:
    not_deleted = invoke("experiments", "restore", "demo")
    assert not_deleted.exit_code == 1
    assert not_deleted.stderr == (
        "error: experiment 'demo' is not deleted; nothing to restore "
        "(`cairn experiments ls --deleted` lists deleted ones)\n"
    )
    missing = invoke("experiments", "delete", "nope")
    assert missing.exit_code == 1
    assert missing.stderr == (
        "error: no experiment with id or name 'nope'; `cairn experiments ls` lists them\n"
    )
    assert invoke("experiments", "delete", "demo").exit_code == 0
    twice = invoke("experiments", "delete", "demo")
    assert twice.exit_code == 1
    assert twice.stderr == (
        "error: experiment 'demo' is already deleted (by tester); "
        "`cairn experiments restore demo` brings it back\n"
    )
    taken = invoke("experiments", "create", "demo")
    assert taken.exit_code == 1
    assert taken.stderr == (
        "error: experiment 'demo' already exists and is deleted; restore it with "
        "`cairn experiments restore demo` or choose another name\n"
    )


def test_a_script_logging_into_a_deleted_experiment_is_refused_and_writes_nothing(
    invoke: Invoke, populated: Any
) -> None:

    import cairn
    from cairn.errors import InvalidInput

    assert invoke("experiments", "delete", "demo").exit_code == 0
    with pytest.raises(InvalidInput, match="'demo' is deleted and takes no new runs"):
        cairn.start_run(experiment="demo", name="late", workspace=populated.ws)
    assert "late" not in _run_names(invoke, "--all")
