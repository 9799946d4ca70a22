"""cairn.tune: trials as child runs, pruning, parallel trials, the best trial on the
parent, and what a careless objective or space gets back."""

from __future__ import annotations

from typing import Any

import optuna
import pytest
import tuning_objectives
from click.testing import CliRunner

import cairn
from cairn.errors import CairnError, InvalidInput
from cairn.tuning import Float, Int
from cairn.types import RunStatus
from cairn.workspace import Workspace

SPACE = {"x": Float(-5.0, 5.0)}


def _children(parent_id: str) -> list[cairn.Run]:
    runs = cairn.search_runs(filter="tags.cairn.tuning.trial != ''", max_results=10_000)
    return [r for r in runs if r.parent_id == parent_id]


def test_every_trial_is_a_child_run_with_its_params_intermediate_values_and_metric(
    workspace: Workspace,
) -> None:
    result = cairn.tune(
        tuning_objectives.quadratic,
        SPACE,
        n_trials=12,
        metric="score",
        direction="maximize",
        seed=3,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )
    children = {r.id: r for r in _children(result.run_id)}
    assert sorted(children) == sorted(t.run_id for t in result.trials)
    assert len(children) == 12
    pruned = [t for t in result.trials if t.state == "pruned"]
    complete = [t for t in result.trials if t.state == "complete"]
    assert pruned and complete and len(pruned) + len(complete) == 12
    for trial in result.trials:
        run = children[trial.run_id]
        assert run.params == {"x": str(trial.params["x"])}
        history = cairn.get_metric_history(trial.run_id, "score")
        if trial.state == "pruned":
            assert run.status is RunStatus.KILLED
            assert run.tags["cairn.tuning.state"] == "pruned"
            assert "score" in run.metrics  # its last intermediate value
        else:
            assert run.status is RunStatus.FINISHED
            assert [p.step for p in history] == [0, 1, 2, 3]  # 3 reports, then the final
            assert history[-1].value == trial.value
    parent = cairn.get_run(result.run_id)
    assert parent.status is RunStatus.FINISHED
    assert parent.params == {"x": str(result.best.params["x"])}
    assert parent.metrics["score"].value == max(t.value for t in complete)
    assert parent.tags["cairn.tuning.best_run"] == result.best.run_id
    assert parent.tags["cairn.tuning.pruned"] == str(len(pruned))


def test_a_search_inside_an_active_run_nests_under_it(workspace: Workspace) -> None:
    with cairn.start_run(experiment="churn") as outer:
        result = cairn.tune(tuning_objectives.quadratic, SPACE, n_trials=2, metric="score")
        assert cairn.active_run() is outer  # the search ended its own run, not this one
    parent = cairn.get_run(result.run_id)
    assert (parent.parent_id, parent.experiment_id) == (outer.id, outer.experiment_id)
    assert all(r.experiment_id == outer.experiment_id for r in _children(result.run_id))


def test_runs_compare_shows_trials_side_by_side(workspace: Workspace) -> None:
    from cairn.cli.main import app

    result = cairn.tune(tuning_objectives.quadratic, SPACE, n_trials=2, metric="score", seed=1)
    ids = [t.run_id for t in result.trials]
    out = CliRunner().invoke(app, ["runs", "compare", *ids], prog_name="cairn")
    assert out.exit_code == 0, out.stderr
    assert "* x" in out.stdout  # the params differ, marked
    assert "score" in out.stdout


def test_trials_run_in_parallel_processes_and_each_is_recorded_once(
    workspace: Workspace,
) -> None:
    result = cairn.tune(
        tuning_objectives.quadratic,
        SPACE,
        n_trials=6,
        metric="score",
        executor="process",
        n_jobs=2,
        seed=2,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    children = _children(result.run_id)
    assert len(children) == 6
    assert {r.status for r in children} <= {RunStatus.FINISHED, RunStatus.KILLED}
    for trial in result.trials:
        points = cairn.get_metric_history(trial.run_id, "score")
        # The worker wrote the intermediate values; nothing doubled on the way back.
        steps = [p.step for p in points]
        if trial.state == "complete":
            assert steps == [0, 1, 2, 3] and points[-1].value == trial.value
        else:  # pruned after its first, second or third report
            assert steps in ([0], [0, 1], [0, 1, 2])


def test_the_best_trials_model_is_logged_on_the_parent_run(workspace: Workspace) -> None:
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(n_samples=80, n_features=4, random_state=0)

    def objective(trial: Any) -> tuple[float, Any]:
        model = LogisticRegression(C=trial.params["C"]).fit(X, y)
        return float(model.score(X, y)), model

    result = cairn.tune(objective, {"C": Float(1e-3, 10, log=True)}, n_trials=4, metric="acc")
    loaded = cairn.models.load(f"runs:/{result.run_id}/model")
    assert loaded.predict(X).shape == (80,)
    assert result.best.params["C"] == result.model.C


def test_an_objective_that_raises_stops_the_search_and_leaves_no_run_running(
    workspace: Workspace,
) -> None:
    with pytest.raises(ValueError, match="x must be positive"):
        cairn.tune(
            tuning_objectives.fails_on_negative,
            {"x": Float(-3.0, -1.0)},
            n_trials=10,
        )
    runs = cairn.search_runs(max_results=100)
    assert runs and all(r.status is not RunStatus.RUNNING for r in runs)
    failed = [r for r in runs if r.tags.get("cairn.tuning.state") == "failed"]
    assert len(runs) == 2  # the parent and the first trial: the search stopped there
    (trial,) = failed
    assert trial.status is RunStatus.FAILED
    assert trial.tags["cairn.error.message"].startswith("ValueError: x must be positive, got -")


def test_catch_lets_a_failing_trial_fail_alone(workspace: Workspace) -> None:
    result = cairn.tune(
        tuning_objectives.fails_on_negative,
        {"x": Float(-2.0, 2.0)},
        n_trials=12,
        metric="score",
        sampler=optuna.samplers.RandomSampler(seed=0),
        catch=(ValueError,),
    )
    assert len(result.trials) == 12
    failed = [t.params["x"] for t in result.trials if t.state == "failed"]
    complete = [t.params["x"] for t in result.trials if t.state == "complete"]
    assert failed and complete
    assert all(x < 0 for x in failed) and all(x >= 0 for x in complete)
    assert result.best.value == max(complete)


def test_ctrl_c_in_a_trial_ends_the_trial_and_the_search_killed(workspace: Workspace) -> None:
    def objective(trial: Any) -> float:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cairn.tune(objective, SPACE, n_trials=5)
    statuses = sorted(r.status for r in cairn.search_runs(max_results=100))
    assert statuses == [RunStatus.KILLED, RunStatus.KILLED]  # the parent and its one trial


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"space": {}}, "search space must be a non-empty dict"),
        ({"space": {"x": 3}}, r"'x' has int 3: use cairn\.tuning\.Float"),
        ({"space": {"x": Float(5, 1)}}, "bad distribution for 'x'"),
        ({"space": {"x": Int(1, 3)}, "direction": "up"}, "direction must be 'maximize'"),
        ({"space": {"x": Int(1, 3)}, "n_trials": 0}, "n_trials must be a positive integer"),
        ({"space": {"x": Int(1, 3)}, "executor": "gpu"}, "unknown executor 'gpu'"),
    ],
    ids=["empty", "not-a-distribution", "low-above-high", "direction", "n-trials", "executor"],
)
def test_bad_arguments_are_refused_before_any_run_is_created(
    workspace: Workspace, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        cairn.tune(tuning_objectives.quadratic, **{"n_trials": 2, **kwargs})
    assert cairn.search_runs() == []


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("0.9", r"gave str '0\.9' for 'score'"),
        ({"auc": 0.9}, r"returned metrics \['auc'\] without 'score'"),
    ],
)
def test_an_objective_returning_the_wrong_thing_gets_a_clear_error(
    workspace: Workspace, returned: Any, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        cairn.tune(lambda trial: returned, SPACE, n_trials=3, metric="score")
    assert all(r.status is not RunStatus.RUNNING for r in cairn.search_runs())


def test_a_search_where_every_trial_returns_nan_says_so(workspace: Workspace) -> None:
    with pytest.raises(
        CairnError, match="none of the 3 trials completed; first error: objective returned NaN"
    ):
        cairn.tune(lambda trial: float("nan"), SPACE, n_trials=3)


@pytest.mark.slow  # starts a local Ray: about 15 s on two cores
def test_trials_run_as_ray_tasks(workspace: Workspace, tmp_path: Any, monkeypatch: Any) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[default]')")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    result = cairn.tune(
        tuning_objectives.quadratic, SPACE, n_trials=4, metric="score", executor="ray", n_jobs=2
    )
    assert len(_children(result.run_id)) == 4
