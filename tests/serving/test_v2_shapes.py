"""Open Inference Protocol tensors that contradict themselves get a 400 naming the input.

The attack: a client sends ``shape: [0, 2**62]`` with empty data (zero values, so the
length check passes), or more dimensions than numpy allows, or data that does not match
its shape or datatype. Each used to reach ``reshape`` or the model and come back as a
500; each must be a 400 with a JSON error that names the input, for table models (one
tensor per column) and tensor models alike.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving_helpers import IRIS_COLUMNS, free_port

from cairn.serving.v2 import MAX_DIMS, MAX_ELEMENTS

MODELS = {"iris": IRIS_COLUMNS, "cancer": ["input"]}


@pytest.fixture(params=sorted(MODELS), ids=["cancer-tensor", "iris-table"])
def served(request: Any, serve_app: Any) -> tuple[str, Any]:
    name = request.param
    request.getfixturevalue(name)
    _, client = serve_app(f"{name}@production", log_predictions=False)
    return name, client


def _body(name: str, **tensor: Any) -> dict[str, Any]:
    """One tensor per input of the model, each with the fields given."""
    return {"inputs": [{"name": n, "datatype": "FP64", **tensor} for n in MODELS[name]]}


def _assert_400_naming_the_input(resp: Any, name: str, *words: str) -> None:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    first = MODELS[name][0]
    assert body["column"] == first
    assert repr(first) in body["error"]
    for word in words:
        assert word in body["error"], body["error"]


@pytest.mark.parametrize(
    ("shape", "data", "words"),
    [
        ([0, 2**62], [], ["[0, 4611686018427387904]", str(MAX_ELEMENTS)]),
        ([2**62, 0], [], ["multiply to more than"]),
        ([0, 2**64, 2**64], [], ["multiply to more than"]),
        ([0, 2**31, 2**31], [], ["multiply to more than"]),
        ([0] + [1] * MAX_DIMS, [], [f"{MAX_DIMS + 1} dimensions", f"limit is {MAX_DIMS}"]),
        ([1] * 70, [1.0], ["70 dimensions"]),
        ([-1, 30], [0.0] * 30, ["list of non-negative integers"]),
        ([1.5], [0.0], ["list of non-negative integers"]),
        ([True], [0.0], ["list of non-negative integers"]),
        ("3", [0.0], ["list of non-negative integers"]),
        ([2, 30], [0.0] * 30, ["30 values but its shape holds 60"]),
        ([2, 2], [[1.0, 2.0, 3.0], [4.0]], ["nested unlike its shape [2, 2] at depth 1"]),
        ([2], [[1.0], 2.0], ["nested deeper than its shape"]),
    ],
    ids=[
        "zero-by-2**62",
        "2**62-by-zero",
        "product-over-2**128",
        "product-over-2**62",
        "too-many-dims-empty",
        "too-many-dims",
        "negative",
        "float-dim",
        "bool-dim",
        "string-shape",
        "length-mismatch",
        "ragged-rows",
        "list-for-value",
    ],
)
def test_inconsistent_v2_tensor_is_400_naming_the_input(
    served: tuple[str, Any], shape: Any, data: list[Any], words: list[str]
) -> None:
    name, client = served
    resp = client.post(f"/v2/models/{name}/infer", json=_body(name, shape=shape, data=data))
    _assert_400_naming_the_input(resp, name, *words)


@pytest.mark.parametrize(
    ("datatype", "data", "words"),
    [
        ("INT8", [300], ["outside the INT8 range"]),
        ("FP64", ["a"], ["FP64 but has"]),
        ("BYTES", [1], ["BYTES; send strings"]),
        ("FP32", [1e300], ["outside the FP32 range"]),
        ("INT64", [2**70], ["too large for 64 bits"]),
        ("FP65", [1.0], ["datatype 'FP65'"]),
    ],
    ids=["int8-range", "text-as-fp64", "number-as-bytes", "fp32-range", "int-overflow", "type"],
)
def test_data_contradicting_its_datatype_is_400_naming_the_input(
    served: tuple[str, Any], datatype: str, data: list[Any], words: list[str]
) -> None:
    name, client = served
    body = _body(name, shape=[1], data=data)
    for tensor in body["inputs"]:
        tensor["datatype"] = datatype
    resp = client.post(f"/v2/models/{name}/infer", json=body)
    _assert_400_naming_the_input(resp, name, *words)


def test_input_sent_twice_is_400_naming_it(served: tuple[str, Any]) -> None:
    name, client = served
    body = _body(name, shape=[1], data=[1.0])
    body["inputs"].append(dict(body["inputs"][0]))
    resp = client.post(f"/v2/models/{name}/infer", json=body)
    assert resp.status_code == 400, resp.text
    assert "sent twice" in resp.json()["error"]


def test_binary_tensor_with_impossible_shape_is_400(served: tuple[str, Any]) -> None:
    name, client = served
    header = {
        "inputs": [
            {
                "name": n,
                "shape": [0, 2**62],
                "datatype": "FP64",
                "parameters": {"binary_data_size": 0},
            }
            for n in MODELS[name]
        ]
    }
    raw = json.dumps(header).encode()
    resp = client.post(
        f"/v2/models/{name}/infer",
        content=raw,
        headers={"inference-header-content-length": str(len(raw))},
    )
    _assert_400_naming_the_input(resp, name, "multiply to more than")


def test_binary_tensor_with_wrong_byte_count_is_400(served: tuple[str, Any]) -> None:
    name, client = served
    raw_values = struct.pack("<3d", 1.0, 2.0, 3.0)
    header = {
        "inputs": [
            {
                "name": n,
                "shape": [2],
                "datatype": "FP64",
                "parameters": {"binary_data_size": len(raw_values)},
            }
            for n in MODELS[name]
        ]
    }
    head = json.dumps(header).encode()
    resp = client.post(
        f"/v2/models/{name}/infer",
        content=head + raw_values * len(MODELS[name]),
        headers={"inference-header-content-length": str(len(head))},
    )
    _assert_400_naming_the_input(resp, name, "3 values but its shape holds 2")


def test_empty_tensor_with_huge_dimension_over_real_http_is_400(
    iris: Any, cancer: Any, threaded_server: Any
) -> None:
    from cairn.serving.server import ServeConfig, build_app

    for name in MODELS:
        app = build_app(ServeConfig(f"{name}@production", log_predictions=False))
        with threaded_server(app, free_port()) as server:
            resp = httpx.post(
                f"{server.url}/v2/models/{name}/infer",
                json=_body(name, shape=[0, 2**62], data=[]),
                timeout=30,
            )
            ok = httpx.post(
                f"{server.url}/v2/models/{name}/infer",
                json=_body(name, shape=[0], data=[]),
                timeout=30,
            )
        _assert_400_naming_the_input(resp, name, "multiply to more than")
        assert ok.status_code < 500, ok.text


# -- fuzzing: whatever shape arrives, the answer is never a 5xx ---------------------------

dims = st.one_of(
    st.integers(min_value=-2, max_value=40),
    st.sampled_from([0, 1, 30, 2**31 - 1, 2**31, 2**32, 2**62, 2**63, 2**64, 10**30]),
)
shapes = st.one_of(
    st.lists(dims, max_size=8),
    st.lists(st.sampled_from([0, 1]), min_size=MAX_DIMS - 2, max_size=MAX_DIMS + 40),
)
data = st.one_of(
    st.just([]),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=70),
    st.lists(st.lists(st.integers(min_value=-5, max_value=5), max_size=31), max_size=3),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(shape=shapes, values=data, datatype=st.sampled_from(["FP64", "FP32", "INT64", "BOOL"]))
def test_fuzzed_shapes_never_answer_5xx(
    served: tuple[str, Any], shape: list[int], values: list[Any], datatype: str
) -> None:
    name, client = served
    body = _body(name, shape=shape, data=values)
    for tensor in body["inputs"]:
        tensor["datatype"] = datatype
    resp = client.post(f"/v2/models/{name}/infer", json=body)
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        error = resp.json()
        assert isinstance(error["error"], str) and error["error"]
        assert "\n" not in error["error"]
