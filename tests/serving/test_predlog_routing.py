"""The prediction log (what monitoring reads) and canary/shadow routing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from serving_helpers import IRIS_COLUMNS, iris_estimator, iris_frame

from cairn.serving.codec import Batch
from cairn.serving.predlog import LogRecord, PredictionLog, read_log


def _records(X: Any, request_id: str) -> dict[str, Any]:
    return {"dataframe_records": X.to_dict(orient="records")}


def test_every_request_is_logged_with_inputs_outputs_version_and_id(
    iris: Any, serve_app: Any
) -> None:
    X, _ = iris_frame()
    app, client = serve_app("iris@production")
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    client.post("/invocations", json=_records(X.iloc[:3], "a"), headers={"X-Request-ID": "req-a"})
    client.post(
        "/v2/models/iris/infer",
        json={
            "inputs": [
                {"name": c, "shape": [2], "datatype": "FP64", "data": X[c].iloc[3:5].tolist()}
                for c in IRIS_COLUMNS
            ]
        },
        headers={"X-Request-ID": "req-b"},
    )
    app.close()  # graceful shutdown flushes the queue
    df = read_log("iris", since=before)
    assert list(df["request_id"]) == ["req-a"] * 3 + ["req-b"] * 2
    assert list(df["row"]) == [0, 1, 2, 0, 1]
    assert set(df["version"]) == {"1"} and set(df["role"]) == {"primary"} and df["served"].all()
    np.testing.assert_allclose(df[IRIS_COLUMNS].to_numpy(), X.iloc[:5].to_numpy())
    assert list(df["prediction"]) == iris_estimator().predict(X.iloc[:5]).tolist()
    assert read_log("iris", until=before).empty
    assert len(read_log("iris", since=dt.timedelta(minutes=5))) == 5


def test_log_is_hourly_partitioned_parquet_under_the_artifact_root(
    iris: Any, serve_app: Any
) -> None:
    X, _ = iris_frame()
    app, client = serve_app("iris@production")
    client.post("/invocations", json=_records(X.iloc[:1], "x"))
    app.close()
    root = iris.ws.settings.artifact_uri
    files = list((__import__("pathlib").Path(root) / "predictions" / "iris").rglob("*.parquet"))
    assert len(files) == 1
    now = dt.datetime.now(dt.UTC)
    assert f"date={now:%Y-%m-%d}" in str(files[0]) and "hour=" in str(files[0])


def test_a_full_queue_drops_and_counts_records_instead_of_blocking(tmp_path: Any) -> None:
    plog = PredictionLog(str(tmp_path / "log"), maxsize=2)  # writer not started
    batch = Batch(rows=1, columns={"a": np.array([1.0])})
    for i in range(5):
        plog.append(LogRecord(0, f"r{i}", "m", "1", "primary", True, batch, np.array([0])))
    assert plog.dropped == 3 and plog.pending == 2
    plog.close()
    assert plog.written_rows == 2
    df = read_log("m", root=str(tmp_path / "log"))
    assert list(df["request_id"]) == ["r0", "r1"]


def test_dropped_records_are_exported_in_metrics(iris: Any, serve_app: Any) -> None:
    X, _ = iris_frame()
    _app, client = serve_app("iris@production", log_queue=1, log_flush_interval=60)
    for _ in range(4):
        client.post("/invocations", json=_records(X.iloc[:1], "x"))
    assert "cairn_predlog_dropped_total 3.0" in client.get("/metrics").text


def test_canary_share_is_decided_by_request_id_hash(iris: Any, serve_app: Any) -> None:
    X, _ = iris_frame()
    iris.register("iris", iris_estimator("tree"), X.iloc[:5], alias="staging")
    app, client = serve_app("iris@production", canary="iris@staging:30")
    body = _records(X.iloc[:1], "")
    seen = {}
    for i in range(200):
        resp = client.post("/invocations", json=body, headers={"X-Request-ID": f"user-{i}"})
        seen[f"user-{i}"] = resp.headers["x-model-version"]
    share = sum(v == "2" for v in seen.values()) / len(seen)
    assert 0.2 < share < 0.4
    for rid in list(seen)[:20]:  # retries with the same id land on the same model
        again = client.post("/invocations", json=body, headers={"X-Request-ID": rid})
        assert again.headers["x-model-version"] == seen[rid]
    app.close()
    df = read_log("iris")
    roles = dict(zip(df["request_id"], df["role"], strict=True))
    assert {roles[r] for r, v in seen.items() if v == "2"} == {"canary"}
    assert {roles[r] for r, v in seen.items() if v == "1"} == {"primary"}


def test_shadow_scores_every_request_but_only_production_answers(iris: Any, serve_app: Any) -> None:
    X, _ = iris_frame()
    iris.register("iris", iris_estimator("tree"), X.iloc[:5], alias="staging")
    app, client = serve_app("iris@production", shadow="iris@staging")
    rows = X.iloc[[0, 60, 120]]
    resp = client.post("/invocations", json=_records(rows, ""), headers={"X-Request-ID": "s-1"})
    assert resp.headers["x-model-version"] == "1"
    assert resp.json()["predictions"] == iris_estimator().predict(rows).tolist()
    app.close()
    df = read_log("iris")
    by_role = {role: g for role, g in df.groupby("role")}
    assert set(by_role) == {"primary", "shadow"}
    assert not by_role["shadow"]["served"].any() and by_role["primary"]["served"].all()
    assert list(by_role["shadow"]["version"]) == ["2"] * 3
    assert list(by_role["shadow"]["prediction"]) == iris_estimator("tree").predict(rows).tolist()


@pytest.mark.parametrize("text", ["iris@staging", "iris@staging:abc", "iris@staging:150"])
def test_bad_canary_option_is_one_clear_error(text: str) -> None:
    from cairn.errors import InvalidInput
    from cairn.serving.routing import parse_canary

    with pytest.raises(InvalidInput, match="canary"):
        parse_canary(text)


def test_log_reads_with_pandas_pyarrow_and_duckdb_after_a_version_changes_columns(
    iris: Any, serve_app: Any
) -> None:
    """Version 2 takes other columns: every reader still sees every row and column."""
    import duckdb
    import pandas as pd
    import pyarrow.dataset as ds
    from sklearn.linear_model import LogisticRegression

    X, y = iris_frame()
    fewer = X[IRIS_COLUMNS[:2]].rename(columns={IRIS_COLUMNS[0]: "length"})
    iris.register("iris", LogisticRegression(max_iter=500).fit(fewer, y), fewer.iloc[:5], "next")
    app, client = serve_app("iris@production")
    client.post("/invocations", json=_records(X.iloc[:3], ""))
    app.close()
    app, client = serve_app("iris@next")
    client.post("/invocations", json=_records(fewer.iloc[:2], ""))
    app.close()

    folder = __import__("pathlib").Path(iris.ws.settings.artifact_uri) / "predictions" / "iris"
    for version, rows, columns in [("1", 3, IRIS_COLUMNS), ("2", 2, ["length"])]:
        part = folder / f"model_version={version}"
        frame = pd.read_parquet(part)
        assert len(frame) == rows and set(columns) <= set(frame.columns)
        assert ds.dataset(part, partitioning="hive").to_table().num_rows == rows
        glob = f"{part}/**/*.parquet"
        got = duckdb.sql(f"select * from read_parquet('{glob}', hive_partitioning=true)").df()
        assert len(got) == rows and set(columns) <= set(got.columns)
    everything = duckdb.sql(
        f"select * from read_parquet('{folder}/**/*.parquet', union_by_name=true)"
    ).df()
    assert len(everything) == 5 and {"length", *IRIS_COLUMNS} <= set(everything.columns)
    logged = read_log("iris")
    assert len(logged) == 5 and {"length", *IRIS_COLUMNS} <= set(logged.columns)
    assert list(logged["version"]) == ["1"] * 3 + ["2"] * 2
