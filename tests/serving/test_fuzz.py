"""Fuzzing both inference routes: whatever arrives, the answer is never a 5xx, and an
error answer is one JSON object saying what was wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_helpers import IRIS_COLUMNS, AsgiClient, iris_frame

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=30,
)
names = st.sampled_from([*IRIS_COLUMNS, "input", "other", ""])
datatypes = st.sampled_from(
    ["FP64", "FP32", "INT64", "INT8", "UINT8", "BOOL", "BYTES", "FP16", "X"]
)
shapes = st.lists(st.integers(min_value=-2, max_value=5), max_size=3)
tensors = st.fixed_dictionaries(
    {"name": names, "shape": shapes, "datatype": datatypes, "data": json_values},
)
v2_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries({"inputs": st.lists(tensors, max_size=5)}),
    st.fixed_dictionaries(
        {
            "inputs": st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(IRIS_COLUMNS),
                        "shape": st.just([2]),
                        "datatype": datatypes,
                        "data": st.lists(scalars, min_size=0, max_size=3),
                    }
                ),
                min_size=4,
                max_size=4,
            )
        }
    ),
)
rows = st.lists(st.lists(scalars, min_size=4, max_size=4), max_size=5)
invocation_bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"dataframe_split": st.fixed_dictionaries({"columns": st.just(IRIS_COLUMNS), "data": rows})}
    ),
    st.fixed_dictionaries({"dataframe_split": json_values}),
    st.fixed_dictionaries(
        {"dataframe_records": st.lists(st.dictionaries(names, scalars), max_size=4)}
    ),
    st.fixed_dictionaries({"instances": json_values}),
    st.fixed_dictionaries({"inputs": st.dictionaries(names, st.lists(scalars, max_size=3))}),
)


def _check(resp: Any) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        body = resp.json()
        assert isinstance(body["error"], str) and body["error"]


@pytest.fixture
def client(iris: Any, serve_app: Any) -> AsgiClient:
    _, client = serve_app("iris@production", log_predictions=False)
    return client


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # NaN and Infinity go out as such, as some clients send


@FUZZ
@given(body=v2_bodies)
def test_v2_infer_never_answers_5xx(client: AsgiClient, body: Any) -> None:
    _check(client.post("/v2/models/iris/infer", content=_encode(body)))


@FUZZ
@given(body=invocation_bodies)
def test_invocations_never_answers_5xx(client: AsgiClient, body: Any) -> None:
    _check(
        client.post(
            "/invocations", content=_encode(body), headers={"content-type": "application/json"}
        )
    )


@FUZZ
@given(
    raw=st.binary(max_size=200), route=st.sampled_from(["/invocations", "/v2/models/iris/infer"])
)
def test_arbitrary_bytes_never_answer_5xx(client: AsgiClient, raw: bytes, route: str) -> None:
    _check(client.post(route, content=raw, headers={"content-type": "application/json"}))
    _check(client.post(route, content=raw, headers={"content-type": "text/csv"}))
    _check(
        client.post(
            route, content=raw, headers={"inference-header-content-length": str(len(raw) // 2)}
        )
    )


def _ten_megabytes() -> bytes:
    X, _ = iris_frame()
    data = X.values.tolist()
    split = {"columns": IRIS_COLUMNS, "data": data * (10_000_000 // len(_encode(data)) + 1)}
    body = _encode({"dataframe_split": split})
    assert len(body) >= 10_000_000
    return body


def test_ten_megabyte_body_is_scored_under_the_default_limit(client: AsgiClient) -> None:
    body = _ten_megabytes()
    resp = client.post("/invocations", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 200
    assert len(resp.json()["predictions"]) == len(json.loads(body)["dataframe_split"]["data"])


@pytest.mark.parametrize("route", ["/invocations", "/v2/models/iris/infer"])
def test_ten_megabyte_body_over_a_configured_limit_gets_413(
    iris: Any, serve_app: Any, route: str
) -> None:
    _, client = serve_app("iris@production", log_predictions=False, max_body_bytes=1_000_000)
    resp = client.post(
        route, content=_ten_megabytes(), headers={"content-type": "application/json"}
    )
    assert resp.status_code == 413
    assert "1000000-byte limit" in resp.json()["error"]
