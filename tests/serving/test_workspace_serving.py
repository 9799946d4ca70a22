"""A model server built with ``workspace=`` serves from it and logs into it, whatever the cwd."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_helpers import AsgiClient, iris_estimator, iris_frame

import cairn
import cairn.workspace
from cairn.tracking import fluent
from cairn.workspace import Workspace


def _tree(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm", "-journal"))
    }


def test_build_app_with_a_workspace_serves_and_logs_there_not_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.serving.predlog import read_log
    from cairn.serving.server import ServeConfig, build_app

    elsewhere = tmp_path / "elsewhere"
    Workspace.init(elsewhere).close()
    target = Workspace.init(tmp_path / "x")
    X, _ = iris_frame()
    with cairn.start_run(workspace=target):
        cairn.log_model(iris_estimator(), input_example=X.head(3), registered_name="iris")
    cairn.registry.promote("iris", 1, "production", workspace=target)
    fluent.reset()
    cairn.workspace.reset()
    monkeypatch.chdir(elsewhere)
    before = _tree(elsewhere)

    app = build_app(ServeConfig("iris@production", log_flush_interval=0.1), workspace=target)
    app.start()
    try:
        answer = AsgiClient(app).post(
            "/invocations",
            json={"dataframe_split": X.head(2).to_dict(orient="split")},
            headers={"X-Request-ID": "from-elsewhere"},
        )
        assert answer.status_code == 200, answer.text
    finally:
        app.close()  # flushes the prediction log
    logged = read_log("iris", workspace=target)
    assert list(logged["request_id"]) == ["from-elsewhere"] * 2
    assert (tmp_path / "x" / ".cairn" / "artifacts" / "predictions" / "iris").is_dir()
    assert _tree(elsewhere) == before
