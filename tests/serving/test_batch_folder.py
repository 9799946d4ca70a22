"""`cairn predict` over a folder of Parquet files on an executor: the same output and
lineage as scoring each file on the local path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from serving_helpers import Models, iris_frame

import cairn.workspace
from cairn.serving.batch import predict_file


def _parts(folder: Path, count: int = 3) -> list[Path]:
    X, _ = iris_frame()
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"part-{i}.parquet"
        X.iloc[i * 40 : (i + 1) * 40].reset_index(drop=True).assign(row_id=range(40)).to_parquet(
            path
        )
        paths.append(path)
    return paths


def _cairn(workspace: cairn.workspace.Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
        check=False,
    )


def test_a_folder_scored_on_the_process_pool_matches_the_local_path_file_by_file(
    workspace: cairn.workspace.Workspace, iris: Models, tmp_path: Path
) -> None:
    import pandas as pd

    parts = _parts(tmp_path / "parts")
    done = _cairn(
        workspace, "predict", "iris@production", "--input", str(tmp_path / "parts"),
        "--output", str(tmp_path / "scores"), "--executor", "process", "--keep", "row_id",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "scored 120 rows in 3 files with iris/1 on process" in done.stdout
    run_id = done.stdout.strip().rsplit("run ", 1)[1]
    for part in parts:
        local = tmp_path / f"local-{part.name}"
        alone = predict_file("iris@production", part, local, keep_columns=("row_id",),
                             record_run=False)  # fmt: skip
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "scores" / part.name), pd.read_parquet(local)
        )
        assert alone.rows == 40
    run = workspace.tracking.get_run(run_id)
    assert run.params["executor"] == "process" and run.params["model_version"] == "1"
    assert sorted(io.role for io in run.inputs) == ["data", "data", "data", "model"]
    assert len(run.outputs) == 3 and run.metrics["rows"].value == 120


def test_a_bad_file_in_the_folder_is_named_and_no_run_is_recorded(
    workspace: cairn.workspace.Workspace, iris: Models, tmp_path: Path
) -> None:
    _parts(tmp_path / "parts", count=2)
    (tmp_path / "parts" / "part-9.parquet").write_bytes(b"not parquet at all")
    done = _cairn(
        workspace, "predict", "iris@production", "--input", str(tmp_path / "parts"),
        "--output", str(tmp_path / "scores"), "--executor", "process",
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith("error: 1 of 3 files failed (2 scored): part-9.parquet: ")
    assert done.stderr.count("\n") == 1
    assert "batch-scoring" not in {e.name for e in workspace.tracking.list_experiments()}
    assert not (tmp_path / "scores" / "part-9.parquet").exists()


def test_an_empty_folder_is_refused(
    workspace: cairn.workspace.Workspace, iris: Models, tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()
    done = _cairn(workspace, "predict", "iris@production", "--input", str(tmp_path / "empty"),
                  "--output", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"error: input folder {tmp_path / 'empty'} holds no .parquet files\n"


@pytest.mark.slow
def test_a_folder_scored_on_a_real_local_ray_matches_the_local_path(
    workspace: cairn.workspace.Workspace, iris: Models, tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (cairn-mlops[ray])")
    import shutil
    import tempfile

    import pandas as pd

    short = tempfile.mkdtemp(prefix="cr", dir="/tmp")  # Ray's socket paths must be short
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env |= {"HOME": str(tmp_path / "home"), "RAY_TMPDIR": short, "RAY_USAGE_STATS_ENABLED": "0"}
    parts = _parts(tmp_path / "parts", count=2)
    try:
        done = subprocess.run(
            [
                sys.executable, "-m", "cairn", "predict", "iris@production", "--input",
                str(tmp_path / "parts"), "--output", str(tmp_path / "scores"),
                "--executor", "ray",
            ],
            cwd=workspace.root, capture_output=True, text=True, timeout=300, env=env,
            check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(short, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert "scored 80 rows in 2 files with iris/1 on ray" in done.stdout
    for part in parts:
        local = tmp_path / f"local-{part.name}"
        predict_file("iris@production", part, local, record_run=False)
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "scores" / part.name), pd.read_parquet(local)
        )
