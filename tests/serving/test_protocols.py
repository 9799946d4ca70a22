"""The HTTP contract callers rely on: v2 routes, /invocations formats, errors, request ids."""

from __future__ import annotations

import json
from typing import Any

import pytest
from serving_helpers import IRIS_COLUMNS, cancer_arrays, iris_estimator, iris_frame, v2_table_body

COLUMNS_JSON = json.dumps(IRIS_COLUMNS).encode()


@pytest.fixture
def iris_app(iris: Any, serve_app: Any) -> Any:
    return serve_app("iris@production", log_predictions=False)


def test_health_and_server_metadata_answer(iris_app: Any) -> None:
    _, client = iris_app
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    meta = client.get("/v2").json()
    assert meta["name"] == "cairn" and "version" in meta


def test_model_metadata_lists_one_input_per_column_and_the_version(iris_app: Any) -> None:
    _, client = iris_app
    meta = client.get("/v2/models/iris").json()
    assert [i["name"] for i in meta["inputs"]] == IRIS_COLUMNS
    assert {i["datatype"] for i in meta["inputs"]} == {"FP64"}
    assert meta["outputs"][0]["datatype"] == "INT64"
    assert meta["versions"] == ["1"]
    assert client.get("/v2/models/iris/versions/1/ready").status_code == 200


def test_v2_infer_with_a_table_model_matches_the_estimator(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[40:60]
    resp = client.post("/v2/models/iris/infer", json={"id": "abc", **v2_table_body(rows)})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model_version"] == "1" and body["id"] == "abc"
    assert body["outputs"][0]["data"] == iris_estimator().predict(rows).tolist()
    assert body["outputs"][0]["shape"] == [20]


def test_v2_infer_with_a_tensor_model_takes_one_tensor(cancer: Any, serve_app: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    _, client = serve_app("cancer@production", log_predictions=False)
    X, y = cancer_arrays()
    meta = client.get("/v2/models/cancer").json()
    assert meta["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 30]}]
    body = {
        "inputs": [
            {"name": "input", "shape": [3, 30], "datatype": "FP64", "data": X[:3].ravel().tolist()}
        ]
    }
    resp = client.post("/v2/models/cancer/infer", json=body)
    assert resp.status_code == 200, resp.text
    expected = DecisionTreeClassifier(max_depth=3).fit(X, y).predict(X[:3]).tolist()
    assert resp.json()["outputs"][0]["data"] == expected
    wrong = {
        "inputs": [{"name": "input", "shape": [1, 29], "datatype": "FP64", "data": [0.0] * 29}]
    }
    bad = client.post("/v2/models/cancer/infer", json=wrong)
    assert bad.status_code == 422 and bad.json()["column"] == "input"
    assert "29" in bad.json()["error"]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(
            lambda X: {"dataframe_split": {"columns": list(X.columns), "data": X.values.tolist()}},
            id="split",
        ),
        pytest.param(lambda X: {"dataframe_records": X.to_dict(orient="records")}, id="records"),
        pytest.param(lambda X: {"instances": X.to_dict(orient="records")}, id="instances-rows"),
        pytest.param(lambda X: {"instances": X.values.tolist()}, id="instances-lists"),
        pytest.param(lambda X: {"inputs": X.to_dict(orient="list")}, id="inputs-columns"),
    ],
)
def test_invocations_accepts_mlflow_json_formats(iris_app: Any, payload: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[45:55]
    resp = client.post("/invocations", json=payload(rows))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"predictions": iris_estimator().predict(rows).tolist()}


def test_extreme_inputs_are_answered_and_overflowing_predictions_are_null(
    models: Any, serve_app: Any
) -> None:
    # Values near the float64 limit overflow inside the model: the caller still gets an
    # answer (never a 500, even with warnings turned into errors as in this suite), and a
    # prediction that overflowed is JSON null rather than invalid `Infinity`.
    from sklearn.linear_model import LinearRegression

    X, y = iris_frame()
    target = y * 1000.0  # coefficients in the hundreds: 1e308 inputs overflow
    models.register("petals", LinearRegression().fit(X, target), X.iloc[:5])
    _, client = serve_app("petals@production")
    rows = X.iloc[:3].copy()
    rows.iloc[0] = 1e308

    resp = client.post("/invocations", json={"dataframe_records": rows.to_dict("records")})

    assert resp.status_code == 200, resp.text

    def not_json(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    predictions = json.loads(resp.text, parse_constant=not_json)["predictions"]
    assert predictions[0] is None
    expected = LinearRegression().fit(X, target).predict(rows[1:])
    assert predictions[1:] == pytest.approx(expected.tolist())


def test_invocations_accepts_csv_with_a_header(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[95:105]
    text = rows[list(reversed(IRIS_COLUMNS))].to_csv(index=False)
    resp = client.post("/invocations", content=text, headers={"content-type": "text/csv"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["predictions"] == iris_estimator().predict(rows).tolist()


@pytest.mark.parametrize(
    ("route", "body", "column"),
    [
        (
            "/invocations",
            {"dataframe_records": [{"sepal_length": 1.0, "sepal_width": 1.0, "petal_length": 1.0}]},
            "petal_width",
        ),
        (
            "/invocations",
            {"dataframe_split": {"columns": IRIS_COLUMNS, "data": [["x", 1, 1, 1]]}},
            "sepal_length",
        ),
        (
            "/v2/models/iris/infer",
            {"inputs": [{"name": "sepal_length", "shape": [1], "datatype": "FP64", "data": [1.0]}]},
            "sepal_width",
        ),
        (
            "/v2/models/iris/infer",
            {
                "inputs": [
                    {"name": c, "shape": [1], "datatype": "BYTES", "data": ["a"]}
                    for c in IRIS_COLUMNS
                ]
            },
            "sepal_length",
        ),
    ],
    ids=["missing-column", "text-in-number", "v2-missing-column", "v2-wrong-dtype"],
)
def test_bad_input_gets_4xx_naming_the_column(
    iris_app: Any, route: str, body: Any, column: str
) -> None:
    _, client = iris_app
    resp = client.post(route, json=body)
    # /invocations answers as MLflow does (400 with error_code and message); v2 says 422.
    assert resp.status_code == (400 if route == "/invocations" else 422), resp.text
    assert resp.json()["column"] == column
    assert column in resp.json()["error"]
    if route == "/invocations":
        assert resp.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert resp.json()["message"] == resp.json()["error"]


def test_every_response_carries_a_request_id(iris_app: Any) -> None:
    _, client = iris_app
    given = client.get("/v2/health/ready", headers={"X-Request-ID": "req-42"})
    assert given.headers["x-request-id"] == "req-42"
    generated = {client.get("/v2/models/iris").headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3 and all(len(g) == 32 for g in generated)
    assert client.get("/nope").headers["x-request-id"]
    assert client.post("/invocations", content=b"{").headers["x-request-id"]


def test_unknown_model_or_version_is_404_and_wrong_method_405(iris_app: Any) -> None:
    _, client = iris_app
    assert client.get("/v2/models/other").status_code == 404
    assert client.post("/v2/models/iris/versions/9/infer", json={}).status_code == 404
    assert client.get("/v2/models/iris/infer").status_code == 405
    assert client.get("/invocations").status_code == 405


def test_empty_batch_returns_no_predictions(iris_app: Any) -> None:
    _, client = iris_app
    resp = client.post(
        "/invocations", json={"dataframe_split": {"columns": IRIS_COLUMNS, "data": []}}
    )
    assert resp.status_code == 200 and resp.json() == {"predictions": []}


def test_body_over_the_limit_gets_413(iris: Any, serve_app: Any) -> None:
    _, client = serve_app("iris@production", log_predictions=False, max_body_bytes=1000)
    X, _ = iris_frame()
    big = {"dataframe_split": {"columns": IRIS_COLUMNS, "data": X.values.tolist()}}
    resp = client.post("/invocations", json=big)
    assert resp.status_code == 413
    assert "1000-byte limit" in resp.json()["error"]


def test_metrics_report_requests_latency_batches_version_and_predictions(iris_app: Any) -> None:
    _, client = iris_app
    X, _ = iris_frame()
    for _ in range(3):
        client.post(
            "/invocations",
            json={
                "dataframe_split": {"columns": IRIS_COLUMNS, "data": X.iloc[:10].values.tolist()}
            },
        )
    client.post("/invocations", json={"dataframe_records": [{}]})
    text = client.get("/metrics").text
    assert 'cairn_requests_total{code="200",route="/invocations"} 3.0' in text
    assert 'cairn_request_errors_total{code="400",route="/invocations"} 1.0' in text
    assert 'cairn_request_latency_seconds_count{route="/invocations"} 4.0' in text
    assert 'cairn_batch_rows_sum{route="/invocations"} 30.0' in text
    assert 'cairn_model_version_info{model="iris",role="primary",version="1"} 1.0' in text
    assert 'cairn_predictions_total{model="iris",role="primary",version="1"} 30.0' in text
    assert 'cairn_prediction_class_total{class="0",model="iris"} 30.0' in text
    assert "cairn_predlog_dropped_total 0.0" in text


def test_metrics_pass_promtool_check(iris_app: Any) -> None:
    """Prometheus's own linter accepts the exposition: names, suffixes, help and types."""
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed: apt-get install prometheus")
    _, client = iris_app
    X, _ = iris_frame()
    rows = X.iloc[45:105].values.tolist()  # two classes
    body = {"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows}}
    assert client.post("/invocations", json=body).status_code == 200
    client.post("/invocations", json={"dataframe_records": [{}]})
    text = client.get("/metrics").text
    assert 'cairn_prediction_class_total{class="1",model="iris"}' in text
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr


def test_nan_input_is_refused_with_400_not_500(iris_app: Any) -> None:
    _, client = iris_app
    resp = client.post(
        "/invocations",
        content=b'{"dataframe_split": {"columns": '
        + COLUMNS_JSON
        + b', "data": [[NaN, 1, 1, 1]]}}',
        headers={"content-type": "application/json"},
    )
    assert resp.status_code == 400, resp.text
    assert "NaN" in resp.json()["error"] and resp.json()["error_code"] == "BAD_REQUEST"


def test_a_model_with_text_columns_takes_bytes_tensors_and_records(
    models: Any, serve_app: Any
) -> None:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame(
        {"tenure": [1.0, 30.0, 2.0, 40.0, 3.0, 50.0], "plan": ["a", "b", "a", "b", "a", "c"]}
    )
    target = [1, 0, 1, 0, 1, 0]
    pre = ColumnTransformer(
        [
            ("num", "passthrough", ["tenure"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
        ]
    )
    pipe = Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(frame, target)
    models.register("churn", pipe, frame.iloc[:3])
    app, client = serve_app("churn@production", log_predictions=False)
    assert app.router.primary.current.frame  # text columns go to the model as a DataFrame
    meta = client.get("/v2/models/churn").json()
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"tenure": "FP64", "plan": "BYTES"}
    body = {
        "inputs": [
            {"name": "tenure", "shape": [2], "datatype": "FP64", "data": [1.0, 45.0]},
            {"name": "plan", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]},
        ]
    }
    resp = client.post("/v2/models/churn/infer", json=body)
    assert resp.status_code == 200, resp.text
    expected = pipe.predict(pd.DataFrame({"tenure": [1.0, 45.0], "plan": ["a", "b"]})).tolist()
    assert resp.json()["outputs"][0]["data"] == expected
    records = client.post(
        "/invocations", json={"dataframe_records": [{"tenure": "x", "plan": "a"}]}
    )
    assert records.status_code == 400 and records.json()["column"] == "tenure"


def test_numeric_models_skip_per_request_dataframes_with_identical_predictions(
    iris_app: Any,
) -> None:
    app, client = iris_app
    predictor = app.router.primary.current
    assert predictor.direct is not None  # verified against the model's own predict at load
    X, _ = iris_frame()
    resp = client.post(
        "/invocations",
        json={"dataframe_split": {"columns": IRIS_COLUMNS, "data": X.values.tolist()}},
    )
    assert resp.json()["predictions"] == predictor.model.predict(X).tolist()


class _ByName:
    """A table model whose own predict picks its columns by name, as a user's wrapper may."""

    flavor = "custom"

    def __init__(self, estimator: Any, order: list[str], example: Any) -> None:
        from cairn.models.signature import Signature, TensorSpec

        self.raw = estimator
        self.signature = Signature(tuple(TensorSpec(c, "float64") for c in order), (), "table")
        self._example = example

    def predict(self, data: Any) -> Any:
        return self.raw.predict(data[list(self.raw.feature_names_in_)])

    def input_example(self) -> Any:
        return self._example


def test_fast_path_never_feeds_columns_in_another_order_than_the_fitted_one() -> None:
    """The signature lists columns in another order than fit saw; a 5-row example agrees."""
    import numpy as np
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

    from cairn.serving.codec import table_batch
    from cairn.serving.predictor import make_predictor

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    tree = DecisionTreeClassifier(max_depth=1).fit(X, (X["a"] > 0).astype(int))
    # Both columns positive on every example row: swapped or not, the tree says 1.
    example = pd.DataFrame({"b": [1.0, 2.0, 3.0, 1.5, 2.5], "a": [2.0, 1.0, 3.0, 2.5, 1.5]})
    predictor = make_predictor(_ByName(tree, ["b", "a"], example))
    assert predictor.direct is None
    row = {"b": np.array([5.0]), "a": np.array([-5.0])}
    predictions, _ = predictor.predict(table_batch(predictor.spec, row))
    assert predictions.tolist() == [0]  # a = -5: class 0, whatever b says


def test_headerless_csv_loses_no_row(cancer: Any, iris_app: Any, serve_app: Any) -> None:
    """A tensor model reads every line of a headerless body; a table model asks for a header."""
    from sklearn.tree import DecisionTreeClassifier

    _, tensor_client = serve_app("cancer@production", log_predictions=False)
    X, y = cancer_arrays()
    expected = DecisionTreeClassifier(max_depth=3).fit(X, y).predict(X[:4]).tolist()
    lines = "\n".join(",".join(repr(float(v)) for v in row) for row in X[:4]) + "\n"
    headers = {"content-type": "text/csv"}
    bare = tensor_client.post("/invocations", content=lines, headers=headers)
    assert bare.status_code == 200, bare.text
    assert bare.json()["predictions"] == expected
    named = ",".join(f"f{i}" for i in range(30)) + "\n" + lines
    assert tensor_client.post("/invocations", content=named, headers=headers).json() == bare.json()

    _, table_client = iris_app
    X_iris, _ = iris_frame()
    no_header = X_iris.iloc[:3].to_csv(index=False, header=False)
    refused = table_client.post("/invocations", content=no_header, headers=headers)
    assert refused.status_code == 400
    assert "no header row" in refused.json()["error"] and "sepal_length" in refused.json()["error"]
