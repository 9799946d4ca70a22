"""One workspace per process: ``cairn.init(x)``/``cairn.use(x)`` holds for every domain.

The attack: a script runs from inside ANOTHER workspace (its cwd) and calls
``cairn.init("/x")`` first. Every record and object must land in /x; the workspace of
the current directory must not change by one file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import cairn
import cairn.workspace
from cairn.tracking import fluent
from cairn.workspace import Workspace


@pytest.fixture(autouse=True)
def _fresh_tracking_state() -> Iterator[None]:
    fluent.reset()
    yield
    fluent.reset()


def _tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size: what "nothing changed" compares."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal"))
    }


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The cwd: another workspace (where records used to land by mistake)."""
    other = tmp_path / "elsewhere"
    Workspace.init(other).close()
    cairn.workspace.reset()
    monkeypatch.chdir(other)
    before = _tree(other)
    yield other
    fluent.reset()
    cairn.workspace.reset()
    assert _tree(other) == before, "the current directory's workspace was written to"
    untouched = Workspace(cairn.config.load_settings(other))
    try:
        assert not untouched.tracking.search_runs(view="all").items
        assert not untouched.datasets.list_datasets()
        assert not untouched.registry.list_models()
    finally:
        untouched.close()


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "x"


def _frame() -> tuple[pd.DataFrame, pd.Series]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sl", "sw", "pl", "pw"]
    return X, y


def _fit() -> object:
    from sklearn.linear_model import LogisticRegression

    X, y = _frame()
    return LogisticRegression(max_iter=500).fit(X, y)


def _opened(root: Path) -> Workspace:
    return Workspace(cairn.config.load_settings(root))


def test_tracking_lands_in_the_init_workspace(elsewhere: Path, target: Path) -> None:
    cairn.init(target)
    report = elsewhere.parent / "report.txt"
    report.write_text("auc 0.9\n", encoding="utf-8")
    with cairn.start_run(experiment="churn") as run:
        cairn.log_metric("auc", 0.9)
        cairn.log_artifact(report)
    assert [r.id for r in cairn.search_runs("churn")] == [run.id]
    ws = _opened(target)
    try:
        assert ws.tracking.get_run(run.id).metrics["auc"].value == 0.9
    finally:
        ws.close()


def test_data_lands_in_the_init_workspace(elsewhere: Path, target: Path) -> None:
    cairn.init(target)
    csv = elsewhere.parent / "churn.csv"
    _frame()[0].to_csv(csv, index=False)
    ds = cairn.data.add(csv, name="churn")
    assert ds.ref == "churn@v1"
    assert cairn.data.load("churn").shape == (150, 4)
    ws = _opened(target)
    try:
        assert [d.name for d in ws.datasets.list_datasets()] == ["churn"]
        assert ws.artifacts.exists(ds.digest)
    finally:
        ws.close()


def test_models_and_registry_land_in_the_init_workspace(elsewhere: Path, target: Path) -> None:
    cairn.init(target)
    X, _ = _frame()
    with cairn.start_run(experiment="train") as run:
        info = cairn.log_model(_fit(), input_example=X.head(3), registered_name="iris")
    assert info.version == 1
    # A unique prefix of the run id works in runs:/ references, as in `cairn runs show`.
    v2 = cairn.registry.register(f"runs:/{run.id[:8]}/model", "iris")
    assert (v2.version, v2.run_id) == (2, run.id)
    cairn.registry.promote("iris", 1, "production")
    loaded = cairn.models.load("iris@production")
    assert loaded.version == 1
    assert list(loaded.predict(X.head(2))) == list(cairn.models.load("iris").predict(X.head(2)))
    ws = _opened(target)
    try:
        assert ws.registry.get_model("iris").aliases == {"production": 1}
        assert ws.artifacts.exists(info.digest)
    finally:
        ws.close()


def test_batch_scoring_lands_in_the_init_workspace(elsewhere: Path, target: Path) -> None:
    from cairn.serving.batch import predict_file
    from cairn.serving.predlog import default_root

    cairn.init(target)
    X, _ = _frame()
    with cairn.start_run(experiment="train"):
        cairn.log_model(_fit(), input_example=X.head(3), registered_name="iris")
    src = elsewhere.parent / "rows.csv"
    X.to_csv(src, index=False)
    result = predict_file("iris", src, elsewhere.parent / "preds.parquet")
    assert (result.version, result.rows) == ("1", 150)
    assert default_root().startswith(str(target.resolve()))
    ws = _opened(target)
    try:
        run = ws.tracking.get_run(result.run_id or "")
        assert run.params["model_version"] == "1"
        assert {i.role for i in run.inputs} == {"model", "data"}
    finally:
        ws.close()


def test_use_opens_an_existing_workspace_for_every_domain(elsewhere: Path, target: Path) -> None:
    Workspace.init(target).close()
    ws = cairn.use(target)
    assert ws.root == target.resolve()
    csv = elsewhere.parent / "d.csv"
    _frame()[0].to_csv(csv, index=False)
    cairn.data.add(csv, name="d")
    with cairn.start_run():
        cairn.log_metric("m", 1.0)
    assert [d.name for d in cairn.data.ls()] == ["d"]
    assert len(cairn.search_runs()) == 1


def test_workspace_argument_wins_over_the_process_workspace(
    elsewhere: Path, target: Path, tmp_path: Path
) -> None:
    third = tmp_path / "third"
    Workspace.init(third).close()
    cairn.init(target)
    explicit = cairn.workspace.current(third)
    csv = elsewhere.parent / "d.csv"
    _frame()[0].to_csv(csv, index=False)
    cairn.data.add(csv, name="only-in-third", workspace=explicit)
    with cairn.start_run(workspace=explicit):
        cairn.log_metric("m", 1.0)
    assert [d.name for d in cairn.data.ls(workspace=explicit)] == ["only-in-third"]
    assert cairn.data.ls() == []
    assert cairn.search_runs() == []
    assert len(cairn.search_runs(workspace=explicit)) == 1


def test_use_of_a_folder_without_a_workspace_is_one_clear_error(
    elsewhere: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(cairn.CairnError, match=r"no Cairn workspace in .*empty.*cairn init"):
        cairn.use(empty)
    # Nothing changed: the process still finds the cwd's workspace.
    assert cairn.workspace.current().root == Path(os.getcwd()).resolve()


def test_use_wins_over_the_workspace_variable(
    elsewhere: Path, target: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CAIRN_WORKSPACE stands in for the current directory; a path named in code wins."""
    Workspace.init(target).close()
    monkeypatch.setenv("CAIRN_WORKSPACE", str(elsewhere))
    cairn.workspace.reset()
    assert cairn.use(target).root == target.resolve()
    with cairn.start_run():
        cairn.log_metric("m", 1.0)
    opened = _opened(target)
    try:
        assert len(opened.tracking.search_runs().items) == 1
    finally:
        opened.close()
    monkeypatch.delenv("CAIRN_WORKSPACE")
