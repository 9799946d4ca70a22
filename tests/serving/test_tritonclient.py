"""The real ``tritonclient.http`` client talks to ``cairn serve`` over loopback: the
server speaks the Open Inference Protocol v2, including the binary tensor extension."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from serving_helpers import IRIS_COLUMNS, cancer_arrays, free_port, iris_estimator, iris_frame

httpclient = pytest.importorskip("tritonclient.http")


@pytest.fixture
def iris_server(iris: Any, threaded_server: Any) -> Any:
    from cairn.serving.server import ServeConfig, build_app

    app = build_app(ServeConfig("iris@production", log_predictions=False))
    with threaded_server(app, free_port()) as server:
        yield server


def test_tritonclient_reads_health_and_metadata(iris_server: Any) -> None:
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{iris_server.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.get_server_metadata()["name"] == "cairn"
    meta = client.get_model_metadata("iris")
    assert [i["name"] for i in meta["inputs"]] == IRIS_COLUMNS
    assert meta["versions"] == ["1"]
    client.close()


@pytest.mark.parametrize("binary_out", [False, True], ids=["json-out", "binary-out"])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers_with_one_tensor_per_column(
    iris_server: Any, binary: bool, binary_out: bool
) -> None:
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{iris_server.port}")
    X, _ = iris_frame()
    rows = X.iloc[::15]
    inputs = []
    for col in IRIS_COLUMNS:
        tensor = httpclient.InferInput(col, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[col].to_numpy(), binary_data=binary)
        inputs.append(tensor)
    result = client.infer(
        "iris", inputs, outputs=[httpclient.InferRequestedOutput("predict", binary_data=binary_out)]
    )
    response = result.get_response()
    assert response["model_version"] == "1"
    # A binary output carries its size instead of a `data` list.
    assert ("binary_data_size" in response["outputs"][0].get("parameters", {})) == binary_out
    np.testing.assert_array_equal(result.as_numpy("predict"), iris_estimator().predict(rows))
    client.close()


def test_tritonclient_reads_binary_string_outputs(models: Any, threaded_server: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from cairn.serving.server import ServeConfig, build_app

    X, y = iris_frame()
    names = np.array(["setosa", "versicolor", "virginica"])[y.to_numpy()]
    models.register("flowers", DecisionTreeClassifier(max_depth=3).fit(X, names), X.iloc[:5])
    app = build_app(ServeConfig("flowers@production", log_predictions=False))
    with threaded_server(app, free_port()) as server:
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        rows = X.iloc[::25]
        inputs = []
        for col in IRIS_COLUMNS:
            tensor = httpclient.InferInput(col, [len(rows)], "FP64")
            tensor.set_data_from_numpy(rows[col].to_numpy(), binary_data=True)
            inputs.append(tensor)
        result = client.infer(
            "flowers", inputs, outputs=[httpclient.InferRequestedOutput("predict")]
        )
        got = [v.decode() for v in result.as_numpy("predict").tolist()]
        assert got == names[::25].tolist()
        assert result.get_response()["outputs"][0]["datatype"] == "BYTES"
        client.close()


def test_tritonclient_infers_with_a_tensor_model(cancer: Any, threaded_server: Any) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from cairn.serving.server import ServeConfig, build_app

    app = build_app(ServeConfig("cancer@production", log_predictions=False))
    X, y = cancer_arrays()
    with threaded_server(app, free_port()) as server:
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        tensor = httpclient.InferInput("input", [8, 30], "FP64")
        tensor.set_data_from_numpy(X[:8], binary_data=True)
        result = client.infer("cancer", [tensor], model_version="1")
        expected = DecisionTreeClassifier(max_depth=3).fit(X, y).predict(X[:8])
        np.testing.assert_array_equal(result.as_numpy("predict"), expected)
        with pytest.raises(Exception, match="29"):
            bad = httpclient.InferInput("input", [1, 29], "FP64")
            bad.set_data_from_numpy(np.zeros((1, 29)), binary_data=False)
            client.infer("cancer", [bad])
        client.close()


def _iris_inputs(rows: Any, binary: bool) -> list[Any]:
    inputs = []
    for col in IRIS_COLUMNS:
        tensor = httpclient.InferInput(col, [len(rows)], "FP64")
        tensor.set_data_from_numpy(rows[col].to_numpy(), binary_data=binary)
        inputs.append(tensor)
    return inputs


@pytest.mark.parametrize("compression", [None, "gzip", "deflate"])
def test_tritonclient_reads_predict_proba_beside_predict(
    iris_server: Any, compression: str | None
) -> None:
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{iris_server.port}")
    X, _ = iris_frame()
    rows = X.iloc[::10]
    outputs = [
        httpclient.InferRequestedOutput("predict_proba", binary_data=True),
        httpclient.InferRequestedOutput("predict", binary_data=False),
    ]
    result = client.infer(
        "iris",
        _iris_inputs(rows, binary=True),
        outputs=outputs,
        request_compression_algorithm=compression,
    )
    expected = iris_estimator().predict_proba(rows)
    np.testing.assert_allclose(result.as_numpy("predict_proba"), expected, rtol=1e-12)
    np.testing.assert_array_equal(result.as_numpy("predict"), iris_estimator().predict(rows))
    meta = client.get_model_metadata("iris")
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    client.close()


def test_tritonclient_asking_for_a_missing_output_gets_an_error_naming_it(
    iris_server: Any,
) -> None:
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{iris_server.port}")
    X, _ = iris_frame()
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException) as caught:
        client.infer(
            "iris",
            _iris_inputs(X.iloc[:2], binary=False),
            outputs=[httpclient.InferRequestedOutput("scores")],
        )
    assert caught.value.status() == "400"
    assert "model iris has no output 'scores'" in caught.value.message()
    client.close()
