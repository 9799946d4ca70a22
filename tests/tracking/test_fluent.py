"""The fluent API on a real embedded workspace (SQLite + local artifact store)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import cairn
from cairn.errors import CairnError, InvalidInput, NotFound
from cairn.store.datasets import DatasetVersion
from cairn.tracking import client as client_module
from cairn.tracking.fluent import ERROR_MESSAGE_TAG, ERROR_TYPE_TAG
from cairn.types import RunStatus
from cairn.workspace import Workspace


def test_run_ends_finished_with_params_tags_and_metrics(workspace: Workspace) -> None:
    with cairn.start_run(experiment="churn", name="baseline", params={"C": 1.0}) as run:
        cairn.log_param("penalty", "l2")
        cairn.set_tag("team", "growth")
        cairn.log_metrics({"auc": 0.91, "loss": 0.3})

    stored = cairn.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.end_time is not None and stored.end_time >= stored.start_time
    assert stored.name == "baseline"
    assert stored.params == {"C": "1.0", "penalty": "l2"}
    assert stored.tags["team"] == "growth"
    assert {k: m.value for k, m in stored.metrics.items()} == {"auc": 0.91, "loss": 0.3}
    assert cairn.active_run() is None


def test_run_fails_on_exception_which_propagates_with_error_recorded(workspace: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), cairn.start_run() as run:
        cairn.log_metric("before", 1.0)
        _ = 1 / 0

    stored = cairn.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.tags[ERROR_TYPE_TAG] == "ZeroDivisionError"
    assert "division by zero" in stored.tags[ERROR_MESSAGE_TAG]
    assert stored.metrics["before"].value == 1.0
    assert cairn.active_run() is None


def test_keyboard_interrupt_ends_run_killed(workspace: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), cairn.start_run() as run:
        raise KeyboardInterrupt

    assert cairn.get_run(run.id).status is RunStatus.KILLED


def test_second_run_without_nested_is_refused_with_advice(workspace: Workspace) -> None:
    with cairn.start_run() as outer:
        with pytest.raises(CairnError, match="nested=True") as info:
            cairn.start_run()
        assert outer.id in str(info.value)
        assert cairn.active_run() is outer


def test_nested_run_is_child_of_the_active_run_in_its_experiment(workspace: Workspace) -> None:
    with cairn.start_run(experiment="tuning") as parent:
        with cairn.start_run(nested=True, params={"trial": 1}) as child:
            assert cairn.active_run() is child
            cairn.log_metric("score", 0.5)
        assert cairn.active_run() is parent

    stored = cairn.get_run(child.id)
    assert stored.parent_id == parent.id
    assert stored.experiment_id == parent.experiment_id
    assert stored.metrics["score"].value == 0.5
    assert "score" not in cairn.get_run(parent.id).metrics


def test_explicit_parent_id_without_active_run(workspace: Workspace) -> None:
    with cairn.start_run(experiment="sweep") as parent:
        pass
    with cairn.start_run(parent=parent.id) as child:
        pass
    stored = cairn.get_run(child.id)
    assert stored.parent_id == parent.id
    assert stored.experiment_id == parent.experiment_id


def test_ending_a_parent_ends_its_still_active_children(workspace: Workspace) -> None:
    parent = cairn.start_run()
    child = cairn.start_run(nested=True)
    parent.end()
    assert cairn.get_run(child.id).status is RunStatus.FINISHED
    assert cairn.active_run() is None


def test_end_run_twice_keeps_the_first_status(workspace: Workspace) -> None:
    with cairn.start_run() as run:
        cairn.end_run("FAILED")
        assert cairn.active_run() is None
    assert run.info.status is RunStatus.FAILED


def test_end_run_with_bad_status_names_it(workspace: Workspace) -> None:
    with cairn.start_run(), pytest.raises(InvalidInput, match="'DONE'"):
        cairn.end_run("DONE")


def test_metric_steps_count_per_key_when_not_given(workspace: Workspace) -> None:
    with cairn.start_run() as run:
        for value in (0.9, 0.7, 0.5):
            cairn.log_metric("loss", value)
        cairn.log_metric("acc", 0.1)
        cairn.log_metric("loss", 0.4, step=10)
        cairn.log_metric("loss", 0.3)

    history = cairn.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [
        (0, 0.9), (1, 0.7), (2, 0.5), (10, 0.4), (11, 0.3),
    ]  # fmt: skip
    assert [m.step for m in cairn.get_metric_history(run.id, "acc")] == [0]


def test_metrics_accept_numpy_scalars_and_keep_nan(workspace: Workspace) -> None:
    with cairn.start_run() as run:
        cairn.log_metric("f32", np.float32(0.5), step=np.int64(3))
        cairn.log_metric("i64", np.int64(7))
        cairn.log_metric("plain_int", 2)
        cairn.log_metric("nan", float("nan"))

    metrics = cairn.get_run(run.id).metrics
    assert metrics["f32"].value == 0.5 and metrics["f32"].step == 3
    assert metrics["i64"].value == 7.0
    assert metrics["plain_int"].value == 2.0
    assert np.isnan(metrics["nan"].value)


@pytest.mark.parametrize(
    ("key", "value", "step", "match"),
    [
        ("loss", "high", None, "'loss' must be a number"),
        ("loss", None, None, "'loss' must be a number"),
        ("", 1.0, None, "non-empty string"),
        ("loss", 1.0, 1.5, "step of metric 'loss' must be an integer"),
        ("loss", 1.0, 2**64, "out of the 64-bit range"),
        (" loss", 1.0, None, "leading or trailing spaces"),
        ("x" * 300, 1.0, None, "the limit is 250"),
        ("loss", 10**400, None, "'loss' must be a number"),
    ],
    ids=[
        "string-value",
        "none-value",
        "empty-key",
        "float-step",
        "huge-step",
        "spaced-key",
        "long-key",
        "huge-int",
    ],
)
def test_bad_metric_is_refused_at_the_call(
    workspace: Workspace, key: str, value: object, step: object, match: str
) -> None:
    with cairn.start_run() as run:
        with pytest.raises(InvalidInput, match=match):
            cairn.log_metric(key, value, step=step)  # type: ignore[arg-type]
        cairn.log_metric("ok", 1.0)
    assert set(cairn.get_run(run.id).metrics) == {"ok"}


def test_params_are_stringified_with_json_for_collections(workspace: Workspace) -> None:
    with cairn.start_run() as run:
        cairn.log_params(
            {"layers": [64, 32], "opt": {"lr": 0.1, "name": "adam"}, "n": np.int64(5), "flag": None}
        )
    params = cairn.get_run(run.id).params
    assert json.loads(params["layers"]) == [64, 32]
    assert json.loads(params["opt"]) == {"lr": 0.1, "name": "adam"}
    assert params["n"] == "5"
    assert params["flag"] == "None"


def test_changing_a_param_is_refused_and_keeps_the_first_value(workspace: Workspace) -> None:
    with cairn.start_run() as run:
        cairn.log_param("lr", 0.1)
        with pytest.raises(InvalidInput, match="lr"):
            cairn.log_param("lr", 0.2)
    assert cairn.get_run(run.id).params["lr"] == "0.1"


def test_logging_without_an_active_run_says_to_start_one(workspace: Workspace) -> None:
    with pytest.raises(CairnError, match="start_run"):
        cairn.log_metric("x", 1.0)
    with pytest.raises(CairnError, match="start_run"):
        cairn.log_param("x", 1)


def test_log_artifact_round_trip_of_file_and_directory(
    workspace: Workspace, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    report.write_bytes(b"<h1>auc 0.91</h1>" * 1000)
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "roc.png").write_bytes(bytes(range(256)) * 40)
    (folder / "sub" / "pr.png").write_bytes(b"pr-curve")

    with cairn.start_run() as run:
        file_io = cairn.log_artifact(report)
        tree_io = cairn.log_artifact(folder, name="figures/plots")

    assert (file_io.name, file_io.kind, file_io.size) == ("report.html", "file", 17000)
    assert (tree_io.name, tree_io.kind) == ("figures/plots", "tree")
    outputs = {o.name: o for o in cairn.get_run(run.id).outputs}
    assert set(outputs) == {"report.html", "figures/plots"}
    assert outputs["report.html"].role == "artifact"

    client = cairn.tracking.current_client()
    dest = tmp_path / "out"
    dest.mkdir()
    got = client.download_artifact(run.id, "report.html", dest)
    assert got == dest / "report.html"
    assert got.read_bytes() == report.read_bytes()

    tree = client.download_artifact(run.id, "figures/plots", dest)
    assert (tree / "roc.png").read_bytes() == (folder / "roc.png").read_bytes()
    assert (tree / "sub" / "pr.png").read_bytes() == b"pr-curve"

    inner = client.download_artifact(run.id, "figures/plots/sub/pr.png", tmp_path / "pr.png")
    assert inner.read_bytes() == b"pr-curve"
    sub = client.download_artifact(run.id, "figures/plots/sub", tmp_path / "subdir")
    assert (sub / "pr.png").read_bytes() == b"pr-curve"


def test_log_artifacts_logs_each_entry_of_a_directory(workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "outputs"
    (out / "model").mkdir(parents=True)
    (out / "metrics.json").write_text('{"auc": 0.9}')
    (out / "model" / "weights.bin").write_bytes(b"\x00\x01")
    with cairn.start_run() as run:
        logged = cairn.log_artifacts(out, prefix="eval")
    assert sorted((i.name, i.kind) for i in logged) == [
        ("eval/metrics.json", "file"),
        ("eval/model", "tree"),
    ]
    assert {o.name for o in cairn.get_run(run.id).outputs} == {"eval/metrics.json", "eval/model"}


def test_bad_artifacts_are_refused_before_anything_is_recorded(
    workspace: Workspace, tmp_path: Path
) -> None:
    good = tmp_path / "good.txt"
    good.write_text("x")
    with cairn.start_run() as run:
        with pytest.raises(NotFound, match=r"missing\.txt"):
            cairn.log_artifact(tmp_path / "missing.txt")
        with pytest.raises(InvalidInput, match=r"'\.\./escape'"):
            cairn.log_artifact(good, name="../escape")
    assert cairn.get_run(run.id).outputs == ()


def test_download_of_unknown_artifact_lists_the_known_ones(
    workspace: Workspace, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    with cairn.start_run() as run:
        cairn.log_artifact(tmp_path / "a.txt")
    client = cairn.tracking.current_client()
    with pytest.raises(NotFound, match=r"no artifact 'b.txt' \(artifacts: a.txt\)"):
        client.download_artifact(run.id, "b.txt", tmp_path)


def test_lineage_inputs_and_outputs_are_visible_on_the_run(workspace: Workspace) -> None:
    raw = workspace.artifacts.put_bytes(b"id,churn\n1,0\n")
    features = workspace.artifacts.put_bytes(b"features")
    dataset = DatasetVersion(
        name="churn", version=3, digest=raw.digest, kind="file", size=raw.size,
        file_count=1, created_at=0,
    )  # fmt: skip
    with cairn.start_run() as run:
        run.log_input(dataset)
        run.log_input(features, role="features", name="features.parquet")
        cairn.log_output(raw.digest, role="predictions", name="preds.csv")

    stored = cairn.get_run(run.id)
    inputs = {i.name: i for i in stored.inputs}
    assert inputs["churn@v3"].kind == "dataset"
    assert inputs["churn@v3"].digest == raw.digest
    assert inputs["churn@v3"].size == raw.size
    assert (inputs["features.parquet"].role, inputs["features.parquet"].size) == ("features", 8)
    (output,) = stored.outputs
    assert (output.name, output.role, output.digest) == ("preds.csv", "predictions", raw.digest)
    readers = workspace.tracking.runs_for_digest(raw.digest, "input")
    assert [r.id for r in readers] == [run.id]


def test_lineage_refuses_a_value_that_is_not_a_digest(workspace: Workspace) -> None:
    with cairn.start_run(), pytest.raises(InvalidInput, match=r"'data\.csv' is not a content"):
        cairn.log_input("data.csv")


def test_search_runs_by_experiment_name_filter_and_order(workspace: Workspace) -> None:
    for i, auc in enumerate([0.7, 0.95, 0.92]):
        with cairn.start_run(experiment="churn", params={"i": i}):
            cairn.log_metric("auc", auc)
    with cairn.start_run(experiment="other"):
        cairn.log_metric("auc", 0.99)

    found = cairn.search_runs("churn", "metrics.auc > 0.9", order_by="metrics.auc DESC")
    assert [r.metrics["auc"].value for r in found] == [0.95, 0.92]

    by_id = cairn.search_runs([found[0].experiment_id], order_by=["metrics.auc ASC"])
    assert [r.params["i"] for r in by_id] == ["0", "2", "1"]
    assert len(cairn.search_runs()) == 4
    assert len(cairn.search_runs(max_results=2)) == 2


def test_search_pages_through_the_store_when_asking_for_more_than_a_page(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "SEARCH_PAGE_SIZE", 3)
    ids = set()
    for _ in range(8):
        with cairn.start_run(experiment="many") as run:
            ids.add(run.id)
    found = cairn.search_runs("many", max_results=100)
    assert {r.id for r in found} == ids
    assert len(cairn.search_runs("many", max_results=5)) == 5


def test_search_in_an_unknown_experiment_names_it(workspace: Workspace) -> None:
    with pytest.raises(NotFound, match="nope"):
        cairn.search_runs("nope")


def test_init_creates_a_workspace_that_the_fluent_api_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no workspace here
    ws = cairn.init(tmp_path / "proj")
    assert (tmp_path / "proj" / "cairn.toml").is_file()
    with cairn.start_run(experiment="x") as run:
        cairn.log_metric("m", 1.0)
    assert ws.tracking.get_run(run.id).metrics["m"].value == 1.0
    again = cairn.init(tmp_path / "proj")
    assert again.settings.tracking_uri == ws.settings.tracking_uri


def test_run_info_and_handle_methods(workspace: Workspace) -> None:
    with cairn.start_run(name="handle") as run:
        run.log_metric("a", 1)
        run.log_params({"p": 1})
        run.set_tags({"t": "v"})
        info = run.info
        assert info.status is RunStatus.RUNNING
        assert info.metrics["a"].value == 1.0
    assert run.info.status is RunStatus.FINISHED
    assert "handle" in repr(run) and "ended" in repr(run)
