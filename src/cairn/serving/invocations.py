"""MLflow-compatible ``POST /invocations``: the request bodies ``mlflow models serve``
accepts, answered the same way.

JSON bodies carry exactly one of these keys:

- ``dataframe_split``: ``{"columns": [...], "data": [[...], ...]}`` (``columns`` may be
  left out, meaning the signature's order, and may be integers for a model whose
  columns are named ``0``, ``1``, ...; an ``index`` is ignored)
- ``dataframe_records``: ``[{"col": value, ...}, ...]``
- ``instances``: rows (a list of objects, or of arrays for a tensor model) or columns
  (an object of lists)
- ``inputs``: the same forms as ``instances``

and optionally ``params``: ``{"method": "predict_proba"}`` answers class probabilities
(one list per row, in the order of the model's classes) instead of predictions; other
params are ignored, as MLflow ignores them for scikit-learn models. Numbers sent as
strings (``"5.1"``) are read as numbers for number columns, as MLflow reads them.

``text/csv`` bodies for a table model must start with a header row naming the columns
(a body whose first line names none of them is refused with a 400 that says so, rather
than read as a header and its row lost). For a tensor model a first line that is all
numbers is data (every line is a row); any other first line is a header and skipped.
``application/vnd.apache.parquet`` bodies (``DataFrame.to_parquet()``) are read by
column name, or by position for a tensor model. A ``charset`` other than UTF-8 is a 415.

The answer is ``{"predictions": [...]}``; an error is MLflow's body
``{"error_code": ..., "message": ...}`` plus Cairn's ``error`` and ``column``, with
status 400 for any input the model cannot take.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from cairn.serving.codec import Batch, matrix_batch, table_batch, tensor_batch
from cairn.serving.spec import ModelSpec, ServingError, numpy_dtype

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
PARQUET = "application/vnd.apache.parquet"
METHODS = ("predict", "predict_proba")


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded ``/invocations`` request: the validated rows and the method to call."""

    batch: Batch
    method: str = "predict"


def is_parquet(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == PARQUET


def decode(spec: ModelSpec, body: bytes, content_type: str, limit: int = 1 << 62) -> Request:
    """A validated request from an ``/invocations`` body of any accepted content type.

    ``limit`` bounds the decoded size of a Parquet body (its pages are compressed).
    """
    ctype, _, rest = content_type.partition(";")
    ctype = ctype.strip().lower()
    _check_charset(rest)
    if ctype == "text/csv":
        return Request(_csv(spec, body))
    if ctype == PARQUET:
        return Request(_parquet(spec, body, limit))
    if ctype not in ("application/json", ""):
        raise ServingError(
            f"content type {ctype!r} is not supported; send application/json, text/csv "
            f"or {PARQUET}",
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
    method = _method(doc.get("params"))
    key = keys[0]
    value = doc[key]
    if key == "dataframe_split":
        return Request(_split(spec, value), method)
    if key == "dataframe_records":
        return Request(_records(spec, value), method)
    return Request(_instances(spec, value), method)


def _check_charset(params: str) -> None:
    """MLflow refuses a charset other than UTF-8 and any other content-type parameter."""
    for pair in params.split(";"):
        key, _, value = pair.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if not key:
            continue
        if key != "charset":
            raise ServingError(
                f"content type parameter {key!r} is not supported; send only charset=utf-8",
                status=415,
            )
        if value not in ("utf-8", "utf8"):
            raise ServingError(
                f"charset {value!r} is not supported; send the body as UTF-8", status=415
            )


def _method(params: Any) -> str:
    if params is None:
        return "predict"
    if not isinstance(params, dict):
        raise ServingError('params must be an object, e.g. {"method": "predict_proba"}', status=400)
    method = params.get("method", "predict")
    if method not in METHODS:
        raise ServingError(
            f"params.method {method!r} is not supported; use one of: {', '.join(METHODS)}",
            status=400,
        )
    return str(method)


def no_proba(name: str) -> str:
    return (
        f"model {name} gives no class probabilities (it has no predict_proba); "
        'leave out params.method or send "predict"'
    )


def error_body(message: str, status: int, column: str | None = None) -> tuple[int, bytes]:
    """MLflow's error body (``error_code``, ``message``) with Cairn's ``error``/``column``.

    Input the model cannot take is a 400, as MLflow answers it (Cairn's own 422 for a
    well-formed request that does not fit the signature folds into it here).
    """
    code = 400 if status == 422 else status
    if code == 400:
        error_code = "INVALID_PARAMETER_VALUE" if column is not None else "BAD_REQUEST"
    else:
        error_code = _ERROR_CODES.get(code, "BAD_REQUEST" if code < 500 else "INTERNAL_ERROR")
    doc: dict[str, Any] = {"error_code": error_code, "message": message, "error": message}
    if column is not None:
        doc["column"] = column
    return code, json.dumps(doc).encode()


_ERROR_CODES = {404: "ENDPOINT_NOT_FOUND", 413: "RESOURCE_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR"}


def _split(spec: ModelSpec, value: Any) -> Batch:
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise ServingError(
            'dataframe_split needs {"columns": [...], "data": [[...], ...]}', status=400
        )
    data = value["data"]
    columns = value.get("columns")
    if columns is None:
        columns = list(spec.columns)
    if not isinstance(columns, list) or not all(_is_name(c) for c in columns):
        raise ServingError("dataframe_split columns must be a list of names", status=400)
    if spec.kind == "tensor":  # a tensor's columns are positions: names do not matter
        return tensor_batch(spec, _tensor_numbers(spec, data))
    columns = [str(c) for c in columns]  # 0 names the column "0", as pandas writes it
    width = len(columns)
    if data:
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
    if not data:
        return table_batch(spec, {c: [] for c in columns})
    cols = list(zip(*data, strict=True))
    return _table(spec, {c: cols[j] for j, c in enumerate(columns)})


def _is_name(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _table(spec: ModelSpec, columns: dict[str, Any]) -> Batch:
    """``table_batch`` after reading numbers sent as text in number columns."""
    for col in spec.inputs:
        values = columns.get(col.name)
        if not isinstance(values, (list, tuple)) or numpy_dtype(col.dtype).kind not in "iuf":
            continue
        if any(isinstance(v, str) for v in values):
            columns[col.name] = [
                _number(col.name, col.dtype, v) if isinstance(v, str) else v for v in values
            ]
    return table_batch(spec, columns)


def _number(name: str, dtype: str, text: str) -> float | int:
    try:
        return float(text) if numpy_dtype(dtype).kind == "f" else int(text)
    except ValueError:
        raise ServingError(
            f"column {name!r} has {text[:40]!r}, not a number ({dtype})", column=name
        ) from None


def _tensor_numbers(spec: ModelSpec, value: Any) -> Any:
    """The tensor's values, with numbers sent as text read as numbers."""
    want = numpy_dtype(spec.inputs[0].dtype)
    if want.kind not in "iuf" or not isinstance(value, list):
        return value
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return value  # ragged: tensor_batch names the problem
    if arr.dtype.kind != "U":
        return value
    name = spec.inputs[0].name
    try:
        return arr.astype(np.float64 if want.kind == "f" else np.int64)
    except (ValueError, OverflowError):
        raise ServingError(
            f"input {name!r} has text that is not a number ({spec.inputs[0].dtype})", column=name
        ) from None


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
    if spec.kind == "tensor":  # a tensor has no column names: values in record order
        return tensor_batch(spec, _tensor_numbers(spec, [list(r.values()) for r in value]))
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
    return _table(spec, columns)


def _instances(spec: ModelSpec, value: Any) -> Batch:
    if isinstance(value, dict):
        if spec.kind == "tensor":
            if len(value) != 1:
                raise ServingError(f"model {spec.name} takes one input tensor")
            return tensor_batch(spec, _tensor_numbers(spec, next(iter(value.values()))))
        return _table(spec, dict(value))
    if not isinstance(value, list):
        raise ServingError(
            "instances/inputs must be a list of rows or an object of columns", status=400
        )
    if spec.kind == "tensor":
        return tensor_batch(spec, _tensor_numbers(spec, value))
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
        return _table(spec, {c: cols[j] for j, c in enumerate(spec.columns)})
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


def _parquet(spec: ModelSpec, body: bytes, limit: int) -> Batch:
    """A Parquet body (``DataFrame.to_parquet()``): columns by name, or every column in
    order for a tensor model. Its decoded size counts against the body limit, checked
    from the footer before any page is decompressed and again on what was read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(pa.BufferReader(body))
        meta = pf.metadata
        declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception as exc:  # pyarrow's errors: ArrowInvalid, OSError, ...
        raise ServingError(f"the Parquet body does not parse: {exc}"[:300], status=400) from None
    if declared > limit:
        raise ServingError(_parquet_too_large(declared, limit), status=413)
    index = _index_columns(pf.schema_arrow)
    wanted = [n for n in pf.schema_arrow.names if n not in index]
    if spec.kind == "table":
        wanted = [n for n in wanted if n in set(spec.columns)]
    try:
        table = pf.read(columns=wanted, use_threads=False)
    except Exception as exc:
        raise ServingError(f"the Parquet body does not parse: {exc}"[:300], status=400) from None
    if table.nbytes > limit:
        raise ServingError(_parquet_too_large(table.nbytes, limit), status=413)
    arrays = {n: table.column(n).to_numpy() for n in table.column_names}
    if spec.kind == "tensor":
        cols = list(arrays.values())
        return tensor_batch(spec, np.column_stack(cols) if cols else np.empty((0, 0)))
    return table_batch(spec, arrays)


def _index_columns(schema: Any) -> set[str]:
    """Columns pandas wrote for a DataFrame's index: not model input."""
    meta = schema.pandas_metadata or {}
    return {c for c in meta.get("index_columns", []) if isinstance(c, str)}


def _parquet_too_large(size: int, limit: int) -> str:
    return (
        f"the Parquet body decodes to {size} bytes, over the {limit}-byte limit; "
        "send smaller batches or raise --max-body"
    )


def encode(data: list[Any]) -> dict[str, Any]:
    return {"predictions": data}
