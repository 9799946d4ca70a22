"""Turn decoded request values into validated model input, and predictions into JSON.

Both wire formats (Open Inference Protocol v2 and MLflow's ``/invocations``) decode to
one of two shapes: a mapping of column name to 1-D array (table signatures) or a single
array (tensor signatures). This module checks those against the :class:`ModelSpec` and
builds what ``predict`` takes, without pandas when every column is a number: a 2-D
array in signature order is what the estimator sees in the end anyway.

Every refusal is a :class:`ServingError` naming the column, answered with 422.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from cairn.serving.spec import InputSpec, ModelSpec, ServingError, numpy_dtype, v2_datatype


@dataclass(frozen=True, slots=True)
class Batch:
    """Validated input: ``columns`` or ``matrix`` for a table, ``tensor`` for a tensor.

    ``matrix`` is a float64 table with one column per signature input, in signature
    order: rows that arrived as rows stay one array instead of being split and
    stacked again.
    """

    rows: int
    columns: Mapping[str, np.ndarray] | None = None
    tensor: np.ndarray | None = None
    matrix: np.ndarray | None = None
    names: tuple[str, ...] = ()

    def column_arrays(self) -> Mapping[str, np.ndarray]:
        """The table as column name -> 1-D array (views of ``matrix`` when set)."""
        if self.matrix is not None:
            return {name: self.matrix[:, j] for j, name in enumerate(self.names)}
        return self.columns or {}


def matrix_batch(spec: ModelSpec, arr: np.ndarray, columns: list[str]) -> Batch:
    """A float table sent as rows of numbers: reorder to the signature, cast once."""
    if spec.columns == tuple(columns):
        matrix = arr
    else:
        where = {c: j for j, c in enumerate(columns)}
        missing = [c for c in spec.columns if c not in where]
        if missing:
            raise ServingError(
                f"missing input column {missing[0]!r}; the model expects {spec.column_list}",
                column=missing[0],
            )
        matrix = arr[:, [where[c] for c in spec.columns]]
    if matrix.dtype != np.float64:
        matrix = matrix.astype(np.float64)
    return Batch(rows=int(matrix.shape[0]), matrix=matrix, names=spec.columns)


def table_batch(spec: ModelSpec, columns: Mapping[str, Any]) -> Batch:
    """Check every signature column is present, 1-D, of one length and a castable type."""
    out: dict[str, np.ndarray] = {}
    rows = -1
    for col in spec.inputs:
        if col.name not in columns:
            raise ServingError(
                f"missing input column {col.name!r}; the model expects {spec.column_list}",
                column=col.name,
            )
        arr = cast_column(col, columns[col.name])
        if rows == -1:
            rows = len(arr)
        elif len(arr) != rows:
            raise ServingError(
                f"column {col.name!r} has {len(arr)} values but earlier columns have {rows}",
                column=col.name,
            )
        out[col.name] = arr
    return Batch(rows=max(rows, 0), columns=out)


def tensor_batch(spec: ModelSpec, value: Any) -> Batch:
    """Check the one input tensor's type and trailing shape against the signature."""
    col = spec.inputs[0]
    arr = _as_array(col.name, value)
    arr = _cast(col, arr)
    if arr.ndim == 0:
        raise ServingError(f"input {col.name!r} must have a batch axis", column=col.name)
    want = col.shape
    if want and arr.size == 0 and arr.ndim == 1:
        arr = arr.reshape((0, *(max(d, 0) for d in want)))
    got = arr.shape[1:]
    if want and (
        len(got) != len(want) or any(w not in (-1, g) for w, g in zip(want, got, strict=True))
    ):
        raise ServingError(
            f"input {col.name!r} has per-row shape {list(got)}, the model expects "
            f"{[d if d >= 0 else -1 for d in want]}",
            column=col.name,
        )
    return Batch(rows=int(arr.shape[0]), tensor=arr)


def cast_column(col: InputSpec, value: Any) -> np.ndarray:
    arr = _as_array(col.name, value)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ServingError(
            f"column {col.name!r} must be a flat list of values, got shape {list(arr.shape)}",
            column=col.name,
        )
    return _cast(col, arr)


def _as_array(name: str, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        raise ServingError(
            f"input {name!r} is not a rectangular array of values", column=name
        ) from None


def _cast(col: InputSpec, arr: np.ndarray) -> np.ndarray:
    want = numpy_dtype(col.dtype)
    have = arr.dtype
    if have == want:
        return arr
    if arr.size == 0:
        return arr.astype(want)
    kind = want.kind
    if kind in "fc":
        ok = have.kind in "biuf"
    elif kind in "iu":
        ok = have.kind in "biu" or (have.kind == "f" and _integral(arr))
    elif kind == "b":
        ok = have.kind == "b"
    else:  # strings and other objects
        ok = have.kind in "OUS"
    if not ok:
        raise ServingError(
            f"column {col.name!r} has {_describe(arr)} values, the model expects "
            f"{col.dtype} ({v2_datatype(col.dtype)})",
            column=col.name,
        )
    if kind in "iu" and have.kind in "iuf":
        info = np.iinfo(want)
        if arr.min() < info.min or arr.max() > info.max:
            raise ServingError(
                f"column {col.name!r} has values outside the {col.dtype} range", column=col.name
            )
    try:
        return arr.astype(want)
    except (ValueError, TypeError, OverflowError):
        raise ServingError(
            f"column {col.name!r} cannot be read as {col.dtype}", column=col.name
        ) from None


def _integral(arr: np.ndarray) -> bool:
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.isfinite(arr)) and np.all(np.mod(arr, 1) == 0))


def _describe(arr: np.ndarray) -> str:
    if arr.dtype.kind == "O":
        kinds = sorted({type(v).__name__ for v in arr.ravel()[:50]})
        if "int" in kinds and len(kinds) == 1:
            return "integer values too large for 64 bits, or mixed"
        return "/".join(kinds) if kinds else "object"
    return {"U": "string", "S": "bytes", "b": "boolean", "f": "float", "i": "integer"}.get(
        arr.dtype.kind, str(arr.dtype)
    )


def model_input(spec: ModelSpec, batch: Batch, frame: bool) -> Any:
    """What ``predict`` takes: a 2-D array in signature order, or a DataFrame.

    ``frame`` forces a DataFrame (mixed column types, or a model that needs names).
    """
    if batch.tensor is not None:
        return batch.tensor
    if batch.matrix is not None:
        if not frame:
            return batch.matrix
        import pandas as pd

        return pd.DataFrame(batch.matrix, columns=list(batch.names))
    assert batch.columns is not None
    if not frame:
        cols = [batch.columns[name] for name in spec.columns]
        if len(cols) == 1:
            return cols[0].reshape(-1, 1)
        return np.column_stack(cols)
    import pandas as pd

    return pd.DataFrame({name: batch.columns[name] for name in spec.columns})


def encode_predictions(result: Any) -> tuple[np.ndarray, list[Any]]:
    """The predictions as an array plus JSON-ready nested lists."""
    if hasattr(result, "to_numpy"):
        result = result.to_numpy()
    arr = np.asarray(result)
    if arr.dtype.kind in "SU":
        arr = arr.astype(object)
    if arr.dtype.kind == "O":
        data = [_plain(v) for v in arr.ravel().tolist()]
        return arr, _nest(data, arr.shape)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        # JSON has no NaN or infinity: such predictions are null (binary v2 keeps them).
        flat = [v if math.isfinite(v) else None for v in arr.ravel().tolist()]
        return arr, _nest(flat, arr.shape)
    return arr, arr.tolist()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def _nest(flat: list[Any], shape: tuple[int, ...]) -> list[Any]:
    if len(shape) <= 1:
        return flat
    step = int(np.prod(shape[1:]))
    return [_nest(flat[i : i + step], shape[1:]) for i in range(0, len(flat), step)]
