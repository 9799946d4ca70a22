"""``cairn runs``: search with filters and sorting, show by prefix, compare, delete."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest

Invoke = Callable[..., Any]
RunCairn = Callable[..., subprocess.CompletedProcess[str]]
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _ls_json(invoke: Invoke, *args: str) -> list[dict[str, Any]]:
    result = invoke("runs", "ls", "--json", *args)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    return data


def test_ls_json_has_the_documented_fields(invoke: Invoke, populated: Any) -> None:
    runs = _ls_json(invoke)
    assert len(runs) == 3
    by_name = {r["name"]: r for r in runs}
    rf = by_name["rf-run"]
    assert rf["id"] == populated.ids[1]
    assert rf["experiment"] == "demo"
    assert rf["status"] == "FINISHED"
    assert rf["params"] == {"model": "rf", "C": "1.0"}
    assert rf["metrics"] == {"auc": 0.93, "accuracy": 0.90, "loss": 0.2}  # latest values
    assert rf["tags"]["team"] == "a"
    assert ISO_UTC.fullmatch(rf["start_time"])
    assert ISO_UTC.fullmatch(rf["end_time"])
    assert rf["start_time"] <= rf["end_time"]


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ("metrics.auc > 0.87", {"rf-run", "gb-run"}),
        ("params.model = 'lr'", {"lr-run"}),
        (
            "(metrics.auc > 0.9 or params.model in ('rf', 'gb')) and tags.team != 'x'",
            {"rf-run"},
        ),
        ("metrics.auc > 0.99", set()),
    ],
    ids=["metric", "param", "or-and-readme-example", "none"],
)
def test_ls_filter_selects_runs(
    invoke: Invoke, populated: Any, filter_: str, expected: set[str]
) -> None:
    assert {r["name"] for r in _ls_json(invoke, "--filter", filter_)} == expected


def test_ls_sort_by_metric_descending(invoke: Invoke, populated: Any) -> None:
    runs = _ls_json(invoke, "--sort", "metrics.auc desc")
    assert [r["name"] for r in runs] == ["rf-run", "gb-run", "lr-run"]


def test_ls_limit_and_experiment(invoke: Invoke, populated: Any) -> None:
    assert len(_ls_json(invoke, "--limit", "2", "--sort", "metrics.auc")) == 2
    truncated = invoke("runs", "ls", "--limit", "1")
    assert len(truncated.stdout.splitlines()) == 2  # header and one run
    assert "showing the first 1 runs; raise --limit" in truncated.stderr
    assert invoke("runs", "ls").stderr == ""
    assert len(_ls_json(invoke, "--experiment", "demo")) == 3
    result = invoke("runs", "ls", "--experiment", "nope")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: no experiment with id or name 'nope'; `cairn experiments ls` lists them\n"
    )


def test_ls_table_when_piped_is_plain_columns(invoke: Invoke, populated: Any) -> None:
    result = invoke("runs", "ls", "--sort", "metrics.auc desc")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "EXPERIMENT", "NAME", "STATUS"]
    assert "auc" in lines[0].split()
    assert lines[1].startswith(populated.ids[1][:12])
    assert "0.93" in lines[1]
    assert not any(ch in result.stdout for ch in "│━┃")  # no box drawing when piped


def test_bad_filter_is_one_line_error_exit_1(run_cairn: RunCairn, populated: Any) -> None:
    proc = run_cairn("runs", "ls", "--filter", "metrics.auc >> 0.9", cwd=populated.ws.root)
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: unexpected token '>' (expected a number")
    assert "at position 13: metrics.auc" in lines[0]
    assert "Traceback" not in proc.stderr


def test_show_accepts_a_unique_prefix(invoke: Invoke, populated: Any) -> None:
    run_id = populated.ids[1]
    result = invoke("runs", "show", run_id[:6], "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["id"] == run_id
    assert shown["name"] == "rf-run"
    assert shown["outputs"][0]["name"] == "model.txt"
    text = invoke("runs", "show", run_id).stdout
    assert "id:" in text and run_id in text
    assert re.search(r"auc\s+0\.93 \(step 0\)", text)
    assert re.search(r"model\.txt\s+file ", text)


def test_show_unknown_run_is_one_line_error(invoke: Invoke, populated: Any) -> None:
    result = invoke("runs", "show", "0" * 32)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"error: no run with id '{'0' * 32}'; `cairn runs ls`")

    result = invoke("runs", "show", "not-an-id!")
    assert result.exit_code == 1
    assert "'not-an-id!' is not a run id" in result.stderr


def test_show_ambiguous_prefix_names_candidates(invoke: Invoke, populated: Any) -> None:
    # A one-character prefix shared by two runs, if the random ids allow it.
    first = [i[0] for i in populated.ids]
    shared = next((c for c in first if first.count(c) > 1), None)
    unique_missing = next(c for c in "0123456789abcdef" if c not in first)
    result = invoke("runs", "show", unique_missing)
    assert result.exit_code == 1
    assert f"no run id starts with '{unique_missing}'" in result.stderr
    if shared is not None:
        result = invoke("runs", "show", shared)
        assert result.exit_code == 1
        assert "ambiguous" in result.stderr


def test_compare_json_has_deltas_against_the_first_run(invoke: Invoke, populated: Any) -> None:
    lr, rf, gb = populated.ids
    result = invoke("runs", "compare", lr[:8], rf, gb, "--json")
    assert result.exit_code == 0, result.stderr
    runs = json.loads(result.stdout)
    assert [r["id"] for r in runs] == [lr, rf, gb]
    assert runs[0]["metric_deltas"]["auc"] == 0
    assert runs[1]["metric_deltas"]["auc"] == pytest.approx(0.93 - 0.85)
    assert runs[2]["metric_deltas"]["accuracy"] == pytest.approx(0.86 - 0.80)


def test_compare_marks_differing_params_and_shows_deltas(invoke: Invoke, populated: Any) -> None:
    lr, rf, _ = populated.ids
    result = invoke("runs", "compare", lr, rf)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    model_line = next(line for line in lines if "model" in line and "lr" in line)
    c_line = next(line for line in lines if line.split()[0] in ("C", "*") and " C " in f" {line} ")
    assert model_line.lstrip().startswith("* model")
    assert not c_line.lstrip().startswith("*")  # same C in both runs
    auc_line = next(line for line in lines if line.startswith("auc"))
    assert "0.85" in auc_line and "0.93 (+0.08)" in auc_line


def test_compare_needs_two_runs(invoke: Invoke, populated: Any) -> None:
    result = invoke("runs", "compare", populated.ids[0])
    assert result.exit_code == 1
    assert "at least two runs" in result.stderr


def test_delete_hides_the_run_and_restore_brings_it_back(invoke: Invoke, populated: Any) -> None:
    gone = populated.ids[0]

    result = invoke("runs", "delete", gone[:10])

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Deleted run {gone} (lr-run); `cairn runs restore {gone[:12]}` undoes it\n"
    )
    assert gone not in {r["id"] for r in _ls_json(invoke)}
    deleted = _ls_json(invoke, "--deleted")
    assert [(r["id"], r["deleted_by"]) for r in deleted] == [(gone, "tester")]
    assert ISO_UTC.fullmatch(deleted[0]["deleted_at"])
    assert {r["id"] for r in _ls_json(invoke, "--all")} == set(populated.ids)
    assert "DELETED" in invoke("runs", "ls", "--all").stdout
    shown = invoke("runs", "show", gone[:8])
    assert shown.exit_code == 0
    assert re.search(r"deleted: +\S+Z by tester \(`cairn runs restore", shown.stdout)
    assert re.search(r"history:\n  \S+Z  delete by tester\n", shown.stdout)

    restored = invoke("runs", "restore", gone[:8])

    assert restored.exit_code == 0 and restored.stdout == f"Restored run {gone} (lr-run)\n"
    assert gone in {r["id"] for r in _ls_json(invoke)}
    again = invoke("runs", "restore", gone[:8])
    assert again.exit_code == 1
    assert again.stderr == f"error: run {gone} is not deleted: there is nothing to restore\n"


def test_delete_twice_and_unknown_runs_fail_with_one_line(invoke: Invoke, populated: Any) -> None:
    gone = populated.ids[1]
    assert invoke("runs", "delete", gone).exit_code == 0
    twice = invoke("runs", "delete", gone)
    assert twice.exit_code == 1
    assert twice.stderr.startswith(f"error: run {gone} is already deleted (by tester at ")
    assert len(twice.stderr.splitlines()) == 1
    missing = invoke("runs", "restore", "abc123")
    assert missing.exit_code == 1
    assert missing.stderr == "error: no run id starts with 'abc123'; see `cairn runs ls`\n"


@pytest.fixture
def production(workspace: Any, tmp_path: Any) -> dict[str, str]:
    """A run that logged a report and a model registered as churn/1, now in production."""
    import numpy as np
    from sklearn.dummy import DummyClassifier

    import cairn

    report = tmp_path / "report.txt"
    report.write_text("evaluation report\n", encoding="utf-8")
    with cairn.start_run(experiment="churn", name="trainer") as run:
        model = DummyClassifier().fit(np.zeros((4, 1)), [0, 1, 0, 1])
        cairn.log_metric("auc", 0.93)
        cairn.log_artifact(report)
        cairn.log_model(model, registered_name="churn")
    cairn.registry.promote("churn", 1, "production", workspace=workspace)
    stored = workspace.tracking.get_run(run.id)
    digest = next(io.digest for io in stored.outputs if io.name == "report.txt")
    return {"run": run.id, "report": digest}


def _object(root: Any, digest: str) -> Any:
    return next((root / ".cairn" / "artifacts").rglob(digest[2:]), None)


def test_deleting_the_source_run_of_a_production_model_needs_force(
    invoke: Invoke, production: dict[str, str], workspace: Any
) -> None:
    run_id = production["run"]

    refused = invoke("runs", "delete", run_id[:8])

    assert refused.exit_code == 1
    assert refused.stderr == (
        f"error: run {run_id} (trainer) was not deleted: 1 record depends on it (model "
        "version churn/1 (aliases: production)); pass force=True (`cairn runs delete "
        "--force`) to soft-delete it anyway\n"
    )
    assert refused.stdout == "depends on it: model version churn/1 (aliases: production)\n"
    assert run_id in {r["id"] for r in _ls_json(invoke)}  # nothing changed

    forced = invoke("runs", "delete", "--force", run_id[:8])

    assert forced.exit_code == 0, forced.stderr
    assert forced.stdout.splitlines()[1] == (
        "  still points at it: model version churn/1 (aliases: production)"
    )
    # The model version's lineage still resolves to the run and what it logged.
    shown = json.loads(invoke("models", "show", "churn/1", "--json").stdout)
    assert (shown["run_id"], shown["metrics"]) == (run_id, {"auc": 0.93})
    # gc within the retention period keeps the run and its artifacts.
    swept = invoke("gc", "--delete", "--min-age", "0")
    assert swept.exit_code == 0, swept.stderr
    assert "purge" not in swept.stdout
    assert _object(workspace.root, production["report"]) is not None
    assert invoke("runs", "show", run_id).exit_code == 0

    assert invoke("runs", "restore", run_id[:8]).exit_code == 0
    assert run_id in {r["id"] for r in _ls_json(invoke)}


def test_gc_purges_deleted_runs_past_retention_but_not_a_production_models_run(
    invoke: Invoke, production: dict[str, str], populated: Any, workspace: Any
) -> None:
    model_run, plain = production["run"], populated.ids[1]  # rf-run logged model.txt
    digest = workspace.tracking.get_run(plain).outputs[0].digest
    assert invoke("runs", "delete", plain).exit_code == 0
    assert invoke("runs", "delete", "--force", model_run).exit_code == 0

    dry = invoke("gc", "--min-age", "0", "--runs-retention", "0")

    assert dry.exit_code == 0, dry.stderr
    assert f"would purge run {plain} (rf-run), deleted by tester" in dry.stdout
    assert digest in dry.stdout.splitlines()  # counted as garbage once purged
    assert dry.stderr.startswith(f"note: kept deleted run {model_run} (trainer): 1 depend")
    assert _object(workspace.root, digest) is not None

    report = json.loads(invoke("gc", "--delete", "--min-age", "0", "--runs-retention", "0",
                               "--json").stdout)  # fmt: skip

    assert [(r["id"], r["purged"]) for r in report["runs"]] == [(plain, True), (model_run, False)]
    assert report["runs"][1]["dependents"] == ["model version churn/1 (aliases: production)"]
    assert digest in report["removed"]
    assert _object(workspace.root, digest) is None
    gone = invoke("runs", "show", plain)
    assert gone.exit_code == 1
    assert gone.stderr.startswith(f"error: no run with id '{plain}'"), gone.stderr
    assert _object(workspace.root, production["report"]) is not None
    assert invoke("verify").exit_code == 0

    forced = invoke("gc", "--delete", "--runs-retention", "0", "--force-runs")
    assert f"purged run {model_run} (trainer)" in forced.stdout
    shown = json.loads(invoke("models", "show", "churn/1", "--json").stdout)
    assert shown["run_id"] == f"{model_run} (deleted)"  # the version itself stays
