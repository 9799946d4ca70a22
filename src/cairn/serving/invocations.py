"""MLflow-compatible ``POST /invocations``, so existing callers keep working.

JSON bodies carry exactly one of these keys (an optional ``params`` is ignored):

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...]}``
- ``dataframe_records``: ``[{"col": value, ...}, ...]``
- ``instances``: rows (a list of objects, or of arrays for a tensor model) or columns
  (an object of lists)
- ``inputs``: the same forms as ``instances``

``text/csv`` bodies for a table model must start with a header row naming the columns
(a body whose first line names none of them is refused with a 400 that says so, rather
than read as a header and its row lost). For a tensor model a first line that is all
numbers is data (every line is a row); any other first line is a header and skipped.
The answer is ``{"predictions": [...]}``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from cairn.serving.codec import Batch, matrix_batch, table_batch, tensor_batch
from cairn.serving.spec import ModelSpec, ServingError, numpy_dtype

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def decode(spec: ModelSpec, body: bytes, content_type: str) -> Batch:
    """A validated batch from an ``/invocations`` body of either content type."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "text/csv":
        return _csv(spec, body)
    if ctype not in ("application/json", ""):
        raise ServingError(
            f"content type {ctype!r} is not supported; send application/json or text/csv",
            status=415,
        )
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise ServingError("the request body is not valid JSON", status=400) from None
    if not isinstance(doc, dict):
        raise ServingError(
            f"the JSON body must be an object with one of: {', '.join(FORMATS)}", status=400
        )
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        found = ", ".join(keys) if keys else "none"
        raise ServingError(
            f"the JSON body needs exactly one of {', '.join(FORMATS)} (found: {found})", status=400
        )
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        return _split(spec, value)
    if key == "dataframe_records":
        return _records(spec, value)
    return _instances(spec, value)


def _split(spec: ModelSpec, value: Any) -> Batch:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise ServingError(
            'dataframe_split needs {"columns": [...], "data": [[...], ...]}', status=400
        )
    data = value["data"]
    columns = value.get("columns")
    if columns is None:
        columns = list(spec.columns)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise ServingError("dataframe_split columns must be a list of names", status=400)
    width = len(columns)
    if spec.kind == "table" and data:
        fast = _numeric_rows(data, width)
        if fast is not None:
            if spec.float_table:
                return matrix_batch(spec, fast, columns)
            return table_batch(spec, {c: fast[:, j] for j, c in enumerate(columns)})
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise ServingError(
                f"dataframe_split row {i} does not have {width} values, one per column"
            )
    if spec.kind == "tensor":
        return tensor_batch(spec, data)
    if not data:
        return table_batch(spec, {c: [] for c in columns})
    cols = list(zip(*data, strict=True))
    return table_batch(spec, {c: cols[j] for j, c in enumerate(columns)})


def _numeric_rows(data: list[Any], width: int) -> np.ndarray | None:
    """All rows as one 2-D number array in a single C pass, or None to take the slow path.

    The slow path checks row by row and names the bad column; this one only says yes
    when every value is a number (or bool) and every row has ``width`` values.
    """
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        return None
    if arr.ndim != 2 or arr.shape[1] != width or arr.dtype.kind not in "biuf":
        return None
    return arr


def _records(spec: ModelSpec, value: Any) -> Batch:
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ServingError("dataframe_records needs a list of objects, one per row", status=400)
    return _from_records(spec, value)


def _from_records(spec: ModelSpec, records: list[dict[str, Any]]) -> Batch:
    columns: dict[str, list[Any]] = {}
    for name in spec.columns:
        try:
            columns[name] = [r[name] for r in records]
        except KeyError:
            raise ServingError(
                f"missing input column {name!r} in a record; the model expects {spec.column_list}",
                column=name,
            ) from None
    return table_batch(spec, columns)


def _instances(spec: ModelSpec, value: Any) -> Batch:
    if isinstance(value, dict):
        if spec.kind == "tensor":
            if len(value) != 1:
                raise ServingError(f"model {spec.name} takes one input tensor")
            return tensor_batch(spec, next(iter(value.values())))
        return table_batch(spec, value)
    if not isinstance(value, list):
        raise ServingError(
            "instances/inputs must be a list of rows or an object of columns", status=400
        )
    if spec.kind == "tensor":
        return tensor_batch(spec, value)
    if value and all(isinstance(r, dict) for r in value):
        return _from_records(spec, value)
    if value and all(isinstance(r, list) for r in value):  # rows in signature order
        width = len(spec.columns)
        fast = _numeric_rows(value, width) if spec.float_table else None
        if fast is not None:
            return matrix_batch(spec, fast, list(spec.columns))
        if any(len(r) != width for r in value):
            raise ServingError(f"every instance needs {width} values: {spec.column_list}")
        cols = list(zip(*value, strict=True))
        return table_batch(spec, {c: cols[j] for j, c in enumerate(spec.columns)})
    if not value:
        return table_batch(spec, {c: [] for c in spec.columns})
    raise ServingError("instances must all be objects (one per row) or all be lists", status=400)


def _csv(spec: ModelSpec, body: bytes) -> Batch:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ServingError("the CSV body is not UTF-8", status=400) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
        rows = list(reader)
    except StopIteration:
        raise ServingError(
            "the CSV body is empty; send a header row naming the columns", status=400
        ) from None
    except csv.Error as exc:
        raise ServingError(f"the CSV body does not parse: {exc}", status=400) from None
    rows = [r for r in rows if r]
    first = 2  # line number of rows[0]
    if spec.kind == "tensor" and _all_numbers(header):
        rows, first = [header, *rows], 1  # no header: the first line is a row
    elif spec.kind == "table" and not set(header) & set(spec.columns):
        shown = ",".join(header)
        raise ServingError(
            f"the CSV body has no header row: its first line ({shown[:80]!r}) names none of "
            f"the model's columns; send a first line naming them: {','.join(spec.columns)}",
            status=400,
        )
    width = len(header)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ServingError(f"CSV line {i + first} has {len(row)} fields; line 1 has {width}")
    if spec.kind == "tensor":
        try:
            arr = np.array(rows, dtype=numpy_dtype(spec.inputs[0].dtype))
        except ValueError:
            raise ServingError("the CSV values are not all numbers") from None
        return tensor_batch(spec, arr)
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    by_name = {name: cols[j] for j, name in enumerate(header)}
    typed: dict[str, Any] = {}
    for col in spec.inputs:
        if col.name not in by_name:
            raise ServingError(
                f"missing input column {col.name!r} in the CSV header; the model expects "
                f"{spec.column_list}",
                column=col.name,
            )
        typed[col.name] = _parse_text(col.name, col.dtype, by_name[col.name])
    return table_batch(spec, typed)


def _all_numbers(fields: list[str]) -> bool:
    return bool(fields) and all(_parses(f, "f") for f in fields)


def _parse_text(name: str, dtype: str, values: tuple[str, ...]) -> np.ndarray:
    want = numpy_dtype(dtype)
    if want.kind == "O":
        return np.array(values, dtype=object)
    if want.kind == "b":
        table = {"true": True, "1": True, "false": False, "0": False}
        try:
            return np.array([table[v.strip().lower()] for v in values], dtype=bool)
        except KeyError as exc:
            raise ServingError(
                f"column {name!r} has {exc.args[0]!r}, not a boolean", column=name
            ) from None
    try:
        return np.array([float(v) if want.kind == "f" else int(v) for v in values], dtype=want)
    except (ValueError, OverflowError):
        bad = next((v for v in values if not _parses(v, want.kind)), "?")
        raise ServingError(f"column {name!r} has {bad!r}, not a {dtype}", column=name) from None


def _parses(value: str, kind: str) -> bool:
    try:
        float(value) if kind == "f" else int(value)
    except ValueError:
        return False
    return True


def encode(data: list[Any]) -> dict[str, Any]:
    return {"predictions": data}
