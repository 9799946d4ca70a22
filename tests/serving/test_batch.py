"""``cairn predict``: streaming batch scoring with lineage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serving_helpers import IRIS_COLUMNS, iris_estimator, iris_frame

from cairn.hashing import hash_file


def _iris_file(tmp_path: Path, copies: int = 20, suffix: str = ".parquet") -> tuple[Path, Any]:
    X, _ = iris_frame()
    frame = X.sample(frac=1.0, random_state=0)
    big = frame.loc[frame.index.repeat(copies)].reset_index(drop=True)
    big.insert(0, "id", range(len(big)))
    path = tmp_path / f"rows{suffix}"
    if suffix == ".csv":
        big.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(big, preserve_index=False), path, row_group_size=500)
    return path, big


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_predict_file_scores_every_row_in_batches(iris: Any, tmp_path: Path, suffix: str) -> None:
    from cairn.serving.batch import predict_file

    src, frame = _iris_file(tmp_path, suffix=suffix)
    seen: list[int] = []
    out = tmp_path / "preds.parquet"
    result = predict_file(
        "iris@production", src, out, batch_size=700, keep_columns=("id",), progress=seen.append
    )
    table = pq.read_table(out).to_pandas()
    assert result.rows == len(frame) == len(table) and sum(seen) == len(frame)
    assert len(seen) > 1 and max(seen) <= 700
    assert list(table["id"]) == list(frame["id"])
    assert list(table["prediction"]) == iris_estimator().predict(frame[IRIS_COLUMNS]).tolist()


def test_predict_file_records_a_run_with_input_and_output_digests(
    iris: Any, tmp_path: Path
) -> None:
    from cairn.serving.batch import predict_file
    from cairn.tracking.fluent import get_run

    src, _ = _iris_file(tmp_path)
    out = tmp_path / "preds.parquet"
    result = predict_file("iris@production", src, out)
    run = get_run(result.run_id)
    assert str(run.status) == "FINISHED" and run.params["model_version"] == "1"
    inputs = {i.role: i for i in run.inputs}
    assert inputs["data"].digest == hash_file(src)[0]
    assert inputs["model"].kind == "model"
    assert inputs["model"].digest == iris.ws.registry.get_version("iris", 1).digest
    (output,) = run.outputs
    assert output.digest == hash_file(out)[0] == result.output_digest
    assert run.metrics["rows"].value == result.rows
    # The files are recorded by digest, not copied: the store's check still passes.
    assert inputs["data"].kind == output.kind == "external"
    assert iris.ws.artifacts.verify(iris.ws.referenced_digests()).ok


def test_predict_file_refuses_bad_input_and_leaves_no_output(iris: Any, tmp_path: Path) -> None:
    from cairn.errors import InvalidInput
    from cairn.serving.batch import predict_file

    X, _ = iris_frame()
    files = tmp_path / "files"
    files.mkdir()
    bad = files / "bad.parquet"
    pq.write_table(pa.Table.from_pandas(X.drop(columns=["petal_width"])), bad)
    with pytest.raises(InvalidInput, match="petal_width"):
        predict_file("iris@production", bad, files / "preds.parquet")
    assert list(files.iterdir()) == [bad]


def test_cairn_predict_command_prints_a_summary(iris: Any, tmp_path: Path) -> None:
    src, frame = _iris_file(tmp_path, copies=2)
    out = tmp_path / "preds.parquet"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn",
            "predict",
            "iris@production",
            "-i",
            str(src),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"scored {len(frame):,} rows with iris/1" in proc.stdout
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn",
            "predict",
            "iris@production",
            "-i",
            "nope.csv",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: input file nope.csv does not exist"


_RSS_SCRIPT = """
import sys
from pathlib import Path
from cairn.serving.batch import predict_file
def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
trace = []
predict_file(
    "cancer@production", sys.argv[1], sys.argv[2], batch_size=2000, record_run=False,
    progress=lambda n: trace.append(rss()),
)
print(" ".join(map(str, trace)))
"""


def test_batch_scoring_memory_stays_flat_while_rows_stream(models: Any, tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.tree import DecisionTreeClassifier

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    models.register("cancer", DecisionTreeClassifier(max_depth=3).fit(X, y), X.head(5))
    rng = np.random.default_rng(0)
    rows = X.to_numpy()[rng.integers(0, len(X), 300_000)] * rng.normal(1, 0.01, (300_000, 30))
    path = tmp_path / "rows.parquet"
    pd.DataFrame(rows, columns=X.columns).to_parquet(path, row_group_size=2000)
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path), str(tmp_path / "out.parquet")],
        capture_output=True,
        text=True,
        check=True,
    )
    trace = [int(v) / 1024 for v in proc.stdout.split()]  # MiB after each batch
    assert len(trace) == 150
    warm = max(trace[5:15])
    file_mib = path.stat().st_size / 2**20
    # 135 more batches (270,000 rows, most of the file) may not add a tenth of the file.
    assert max(trace[15:]) - warm < 0.1 * file_mib, (warm, max(trace[15:]), file_mib)
