"""Compressed bodies, requested outputs, class probabilities and the MLflow request forms
``/invocations`` takes, each tried the way a careless or hostile caller sends it."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from serving_helpers import IRIS_COLUMNS, iris_estimator, iris_frame, v2_table_body


@pytest.fixture
def iris_app(iris: Any, serve_app: Any) -> Any:
    return serve_app("iris@production", log_predictions=False)


def _split(rows: Any) -> dict[str, Any]:
    return {"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows.values.tolist()}}


def _zipped(coding: str, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "gzip-members":  # two members back to back: still one valid gzip body
        half = len(data) // 2
        return gzip.compress(data[:half]) + gzip.compress(data[half:])
    if coding == "deflate":
        return zlib.compress(data)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # raw deflate, as some clients send
    return raw.compress(data) + raw.flush()


def _bomb(coding: str, size: int) -> bytes:
    """``size`` zero bytes compressed: a few hundred KiB that inflate without bound."""
    packer = zlib.compressobj(9, wbits=31 if coding == "gzip" else zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [packer.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush()


# -- Content-Encoding ------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "gzip-members", "deflate", "raw-deflate"])
@pytest.mark.parametrize("route", ["/invocations", "/v2/models/iris/infer"])
def test_compressed_request_bodies_are_inflated(iris_app: Any, coding: str, route: str) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[::10]
    doc = _split(rows) if route == "/invocations" else v2_table_body(rows)
    header = "gzip" if coding.startswith("gzip") else "deflate"
    resp = client.post(
        route,
        content=_zipped(coding, json.dumps(doc).encode()),
        headers={"content-type": "application/json", "content-encoding": header},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    got = body["predictions"] if route == "/invocations" else body["outputs"][0]["data"]
    assert got == iris_estimator().predict(rows).tolist()


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_zip_bomb_is_413_without_being_inflated_in_memory(
    iris: Any, serve_app: Any, coding: str
) -> None:
    limit = 1 << 20
    _, client = serve_app("iris@production", log_predictions=False, max_body_bytes=limit)
    bomb = _bomb(coding, 256 << 20)  # 256 MiB of zeros in well under the 1 MiB limit
    assert len(bomb) < limit
    tracemalloc.start()
    try:
        resp = client.post(
            "/v2/models/iris/infer",
            content=bomb,
            headers={"content-type": "application/json", "content-encoding": coding},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert resp.status_code == 413, resp.text
    assert "decompresses to more than the size limit" in resp.json()["error"]
    assert "--max-body" in resp.json()["error"]
    assert peak < 32 * limit  # at most limit + 1 bytes of output were ever made


def test_bad_compression_is_a_4xx_that_names_it(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    data = json.dumps(_split(X.iloc[:3])).encode()
    cases = [
        ("br", data, 415, "Content-Encoding 'br' is not supported"),
        ("gzip", b"\x1f\x8b not really gzip", 400, "gzip body is corrupt"),
        ("gzip", gzip.compress(data)[:-12], 400, "gzip body is truncated"),
        ("deflate", b"plain text", 400, "deflate body is corrupt"),
    ]
    for coding, body, status, message in cases:
        resp = client.post(
            "/invocations",
            content=body,
            headers={"content-type": "application/json", "content-encoding": coding},
        )
        assert resp.status_code == status, (coding, resp.text)
        assert message in resp.json()["message"]


# -- routes and outputs ----------------------------------------------------------------


def test_v2_with_a_trailing_slash_answers_like_v2(iris_app: Any) -> None:
    _, client = iris_app
    plain = client.get("/v2")
    slashed = client.get("/v2/")
    assert slashed.status_code == 200 and slashed.json() == plain.json()
    assert client.get("/v2/models/iris/").json()["name"] == "iris"


@pytest.mark.parametrize("name", ["probability", "predict_probas", ""])
def test_an_output_the_model_does_not_have_is_400_naming_it(iris_app: Any, name: str) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    doc = {**v2_table_body(X.iloc[:2]), "outputs": [{"name": "predict"}, {"name": name}]}
    resp = client.post("/v2/models/iris/infer", json=doc)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert (repr(name) if name else "outputs[1] needs a name") in error
    assert "predict, predict_proba" in error


def test_a_classifier_offers_predict_proba_as_a_v2_output(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[::30]
    meta = client.get("/v2/models/iris").json()
    proba_meta = meta["outputs"][1]
    assert proba_meta["name"] == "predict_proba" and proba_meta["shape"] == [-1, 3]
    assert proba_meta["parameters"]["classes"] == [0, 1, 2]
    doc = {**v2_table_body(rows), "outputs": [{"name": "predict_proba"}, {"name": "predict"}]}
    resp = client.post("/v2/models/iris/infer", json=doc)
    assert resp.status_code == 200, resp.text
    proba, labels = resp.json()["outputs"]
    assert proba["name"] == "predict_proba" and proba["shape"] == [len(rows), 3]
    assert proba["datatype"] == "FP64"
    expected = iris_estimator().predict_proba(rows)
    np.testing.assert_allclose(np.reshape(proba["data"], (-1, 3)), expected, rtol=1e-12)
    assert labels["data"] == iris_estimator().predict(rows).tolist()


def test_a_regressor_refuses_predict_proba_on_both_routes(models: Any, serve_app: Any) -> None:
    from sklearn.linear_model import LinearRegression

    X, y = iris_frame()
    models.register("petal", LinearRegression().fit(X, y), X.iloc[:5])
    _, client = serve_app("petal@production", log_predictions=False)
    meta = client.get("/v2/models/petal").json()
    assert [o["name"] for o in meta["outputs"]] == ["predict"]
    doc = {**v2_table_body(X.iloc[:2]), "outputs": [{"name": "predict_proba"}]}
    v2_resp = client.post("/v2/models/petal/infer", json=doc)
    assert v2_resp.status_code == 400
    assert "no output 'predict_proba' (it is not a classifier" in v2_resp.json()["error"]
    inv = client.post(
        "/invocations", json={**_split(X.iloc[:2]), "params": {"method": "predict_proba"}}
    )
    assert inv.status_code == 400
    assert inv.json()["error_code"] == "BAD_REQUEST"
    assert "gives no class probabilities" in inv.json()["message"]


# -- /invocations: the request forms MLflow accepts ------------------------------------


def test_invocations_answers_predict_proba_when_params_ask(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[::25]
    resp = client.post("/invocations", json={**_split(rows), "params": {"method": "predict_proba"}})
    assert resp.status_code == 200, resp.text
    expected = iris_estimator().predict_proba(rows)
    np.testing.assert_allclose(resp.json()["predictions"], expected, rtol=1e-12)
    other = client.post("/invocations", json={**_split(rows), "params": {"temperature": 0.5}})
    assert other.json()["predictions"] == iris_estimator().predict(rows).tolist()
    bad = client.post("/invocations", json={**_split(rows), "params": {"method": "transform"}})
    assert bad.status_code == 400
    assert "params.method 'transform' is not supported" in bad.json()["message"]


def test_numbers_sent_as_strings_are_read_as_numbers(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[::20]
    text = [[str(v) for v in row] for row in rows.values.tolist()]
    expected = iris_estimator().predict(rows).tolist()
    bodies = [
        {"dataframe_split": {"columns": IRIS_COLUMNS, "data": text}},
        {"dataframe_records": [dict(zip(IRIS_COLUMNS, r, strict=True)) for r in text]},
        {"inputs": {c: [r[j] for r in text] for j, c in enumerate(IRIS_COLUMNS)}},
    ]
    for body in bodies:
        resp = client.post("/invocations", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["predictions"] == expected
    text[1][2] = "1.4cm"
    bad = client.post(
        "/invocations", json={"dataframe_split": {"columns": IRIS_COLUMNS, "data": text}}
    )
    assert bad.status_code == 400
    assert bad.json()["column"] == "petal_length"
    assert "'1.4cm', not a number" in bad.json()["message"]


@pytest.mark.parametrize("saved_as", ["array", "digit-names"])
def test_an_array_model_takes_integer_column_names(
    models: Any, serve_app: Any, saved_as: str
) -> None:
    """A model fitted on an array (saved with an array example: a tensor signature) or on
    a frame whose columns are "0".."3" answers pandas' integer column names."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X, y = iris_frame()
    arrays = X.to_numpy()
    if saved_as == "array":
        est = LogisticRegression(max_iter=1000).fit(arrays, y)
        models.register("bare", est, arrays[:5])
    else:
        frame = pd.DataFrame(arrays, columns=["0", "1", "2", "3"])
        est = LogisticRegression(max_iter=1000).fit(frame, y)
        models.register("bare", est, frame.iloc[:5])
    _, client = serve_app("bare@production", log_predictions=False)
    rows = arrays[::15]
    expected = LogisticRegression(max_iter=1000).fit(arrays, y).predict(rows).tolist()
    for columns in ([0, 1, 2, 3], None):
        split: dict[str, Any] = {"data": rows.tolist()}
        if columns is not None:
            split["columns"] = columns
        resp = client.post("/invocations", json={"dataframe_split": split})
        assert resp.status_code == 200, resp.text
        assert resp.json()["predictions"] == expected
    as_text = [[str(v) for v in r] for r in rows.tolist()]
    text = client.post("/invocations", json={"inputs": as_text})
    assert text.status_code == 200, text.text
    assert text.json()["predictions"] == expected
    flags = client.post(
        "/invocations", json={"dataframe_split": {"columns": [True, 1, 2, 3], "data": []}}
    )
    assert flags.status_code == 400
    assert "columns must be a list of names" in flags.json()["message"]


def _parquet(frame: Any, **kwargs: Any) -> bytes:
    sink = io.BytesIO()
    frame.to_parquet(sink, **kwargs)
    return sink.getvalue()


def test_parquet_bodies_are_scored_by_column_name(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[::7]
    shuffled = rows[list(reversed(IRIS_COLUMNS))]  # order does not matter, names do
    resp = client.post(
        "/invocations",
        content=_parquet(shuffled),  # the index is written too: it is not a column
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["predictions"] == iris_estimator().predict(rows).tolist()
    garbage = client.post(
        "/invocations",
        content=b"PAR1 not parquet PAR1",
        headers={"content-type": "application/vnd.apache.parquet"},
    )
    assert garbage.status_code == 400
    assert "Parquet body does not parse" in garbage.json()["message"]


def test_a_parquet_bomb_is_413(iris: Any, serve_app: Any) -> None:
    limit = 1 << 20
    _, client = serve_app("iris@production", log_predictions=False, max_body_bytes=limit)
    zeros = pa.table({c: pa.array(np.zeros(2_000_000)) for c in IRIS_COLUMNS})
    sink = io.BytesIO()
    pq.write_table(zeros, sink, compression="zstd")
    body = sink.getvalue()
    assert len(body) < limit  # 64 MB of values in a few KiB
    resp = client.post(
        "/invocations", content=body, headers={"content-type": "application/vnd.apache.parquet"}
    )
    assert resp.status_code == 413, resp.text
    assert "Parquet body decodes to" in resp.json()["message"]


def test_a_charset_other_than_utf8_is_415_with_mlflow_fields(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    resp = client.post(
        "/invocations",
        content=json.dumps(_split(X.iloc[:2])).encode(),
        headers={"content-type": "application/json; charset=latin-1"},
    )
    assert resp.status_code == 415
    assert resp.json()["error_code"] == "BAD_REQUEST"
    assert "charset 'latin-1' is not supported" in resp.json()["message"]


# -- cairn predict --method --------------------------------------------------------------


def test_cairn_predict_writes_class_probabilities(models: Any, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    X, y = iris_frame()
    models.register("iris", iris_estimator(), X.iloc[:5])
    models.register("petal", LinearRegression().fit(X, y), X.iloc[:5])
    src = tmp_path / "rows.parquet"
    X.to_parquet(src)
    out = tmp_path / "proba.parquet"

    def predict(model: str, *extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "cairn", "predict", model, "-i", str(src), "-o", str(out)]
        return subprocess.run([*cmd, *extra], capture_output=True, text=True, check=False)

    done = predict("iris@production", "--method", "predict_proba", "--no-run")
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    assert table.column_names == ["proba_0", "proba_1", "proba_2"]
    got = np.column_stack([table.column(c).to_numpy() for c in table.column_names])
    np.testing.assert_allclose(got, iris_estimator().predict_proba(X), rtol=1e-12)
    out.unlink()
    refused = predict("petal@production", "--method", "predict_proba", "--no-run")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: model petal gives no class probabilities (it has no predict_proba); "
        "use --method predict"
    )
    assert not out.exists()
