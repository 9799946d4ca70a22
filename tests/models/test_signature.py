from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cairn.errors import InvalidInput
from cairn.models.signature import (
    InputSchemaError,
    Signature,
    TensorSpec,
    compatibility_problems,
    infer_signature,
)


def frame() -> pd.DataFrame:
    return pd.DataFrame({"age": [31, 40], "income": [1.5, 2.5], "plan": ["a", "b"]})


def test_infer_table_signature_from_dataframe_keeps_columns_and_dtypes() -> None:
    sig = infer_signature(frame(), np.array([0, 1]))
    assert sig.is_table and not sig.is_tensor
    assert [(s.name, s.dtype, s.shape) for s in sig.inputs] == [
        ("age", "int64", None),
        ("income", "float64", None),
        ("plan", "str", None),
    ]
    assert sig.outputs == (TensorSpec("prediction", "int64", (-1,)),)


def test_infer_tensor_signature_from_array_has_batch_axis() -> None:
    sig = infer_signature(np.zeros((4, 3, 2), dtype=np.float32))
    assert sig.is_tensor
    assert sig.inputs == (TensorSpec("input", "float32", (-1, 3, 2)),)


def test_signature_round_trips_through_dict() -> None:
    sig = infer_signature(frame())
    assert Signature.from_dict(sig.to_dict()) == sig


def test_matching_frame_is_returned_unchanged() -> None:
    data = frame()
    assert infer_signature(data).validate(data) is data


def test_missing_column_error_names_the_column() -> None:
    sig = infer_signature(frame())
    with pytest.raises(InputSchemaError, match="missing column 'income'") as info:
        sig.validate(frame().drop(columns=["income"]))
    assert info.value.column == "income"
    assert isinstance(info.value, InvalidInput)


def test_extra_columns_are_dropped_and_order_restored() -> None:
    sig = infer_signature(frame())
    shuffled = frame()[["plan", "income", "age"]].assign(extra=1)
    out = sig.validate(shuffled)
    assert list(out.columns) == ["age", "income", "plan"]


def test_safe_casts_are_applied() -> None:
    sig = infer_signature(frame())
    data = pd.DataFrame({"age": [31.0, 40.0], "income": [1, 2], "plan": ["a", "b"]})
    out = sig.validate(data)
    assert out["age"].dtype == np.int64 and out["income"].dtype == np.float64


def test_fractional_float_into_int_column_is_refused() -> None:
    sig = infer_signature(frame())
    data = frame().assign(age=[31.5, 40.0])
    with pytest.raises(InputSchemaError, match=r"'age'.*not whole numbers") as info:
        sig.validate(data)
    assert info.value.column == "age"


def test_text_into_number_column_is_refused_naming_the_value() -> None:
    sig = infer_signature(frame())
    with pytest.raises(InputSchemaError, match="'income' expects float64, got text such as 'lots'"):
        sig.validate(frame().assign(income=["1.0", "lots"]))


def test_numeric_text_is_parsed_into_number_column() -> None:
    out = infer_signature(frame()).validate(frame().assign(income=["1.0", "3"]))
    assert out["income"].tolist() == [1.0, 3.0]


def test_numbers_into_text_column_are_refused() -> None:
    with pytest.raises(InputSchemaError, match="'plan' expects text"):
        infer_signature(frame()).validate(frame().assign(plan=[1, 2]))


def test_tensor_wrong_shape_is_refused_with_hint() -> None:
    sig = infer_signature(np.zeros((2, 3)))
    with pytest.raises(InputSchemaError, match=r"expects shape \(n, 3\), got \(3\).*reshape"):
        sig.validate(np.zeros(3))
    with pytest.raises(InputSchemaError, match=r"got \(2, 4\)"):
        sig.validate(np.zeros((2, 4)))


def test_tensor_accepts_lists_and_casts_ints_to_float() -> None:
    out = infer_signature(np.zeros((2, 2), dtype=np.float32)).validate([[1, 2], [3, 4]])
    assert out.dtype == np.float32 and out.shape == (2, 2)


def test_table_accepts_records_and_2d_arrays() -> None:
    sig = infer_signature(frame())
    records = [{"age": 1, "income": 2.0, "plan": "a"}]
    assert sig.validate(records).shape == (1, 3)
    numbers = infer_signature(pd.DataFrame({"a": [1.0], "b": [2.0]}))
    assert list(numbers.validate(np.ones((3, 2))).columns) == ["a", "b"]


def test_compatibility_reports_removed_retyped_and_added_inputs() -> None:
    old = infer_signature(frame())
    new = infer_signature(frame().drop(columns=["plan"]).assign(age=[1.0, 2.0], extra=[1, 2]))
    problems = compatibility_problems(old, new)
    assert "input 'plan' removed" in problems
    assert "input 'age' changed type: int64 -> float64" in problems
    assert "input 'extra' added" in problems
    assert compatibility_problems(old, old) == []


@given(st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=1, max_size=20))
def test_whole_floats_round_trip_into_int_columns(values: list[int]) -> None:
    sig = Signature((TensorSpec("n", "int64"),))
    out = sig.validate(pd.DataFrame({"n": [float(v) for v in values]}))
    assert out["n"].tolist() == values


@pytest.mark.parametrize(
    ("dtype", "numpy_name"),
    [("double", "float64"), ("string", "str"), ("timestamp[us]", "datetime64[us]")],
)
def test_signature_with_a_data_schema_dtype_names_the_numpy_spelling(
    dtype: str, numpy_name: str
) -> None:
    from cairn.errors import InvalidInput
    from cairn.models.signature import Signature

    with pytest.raises(
        InvalidInput, match=f"data-schema .Arrow. spelling.*write '{re.escape(numpy_name)}'"
    ):
        Signature.from_dict({"kind": "table", "inputs": [{"name": "x", "dtype": dtype}]})
