"""The Open Inference Protocol (KServe v2) over REST: request decoding, response encoding.

A table signature takes one input tensor per column, named after the column (the
convention of MLServer's pandas codec); a tensor signature takes one tensor. Requests
may use the binary data extension that ``tritonclient`` sends by default: the JSON
header is the first ``Inference-Header-Content-Length`` bytes of the body and each
binary input says its ``binary_data_size``. Responses are JSON unless the request asks
for binary outputs (``outputs[].parameters.binary_data`` or the request parameter
``binary_data_output``): the output tensor then follows a JSON header in raw
little-endian bytes, with ``Inference-Header-Content-Length`` saying where it starts.

The outputs are ``predict`` and, for classifiers, ``predict_proba`` (one column per
class); a request names the ones it wants in ``outputs`` (``predict`` when it names
none), and naming one the model does not have is a ``400``.

A tensor that contradicts itself (a shape that is not a list of at most
:data:`MAX_DIMS` non-negative integers, dimensions whose product exceeds
:data:`MAX_ELEMENTS` even when another dimension is 0, data whose length or values do
not match the shape and datatype) is a ``400`` naming the input; a well-formed tensor
that does not fit the model's signature is a ``422`` (see :mod:`cairn.serving.codec`).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from cairn.serving.codec import Batch, table_batch, tensor_batch
from cairn.serving.predictor import Predictor
from cairn.serving.spec import V2_TO_NUMPY, ModelSpec, ServingError, v2_datatype

SERVER_NAME = "cairn"
EXTENSIONS = ["binary_tensor_data"]
#: Most dimensions a request tensor may have (numpy itself stops at 32 or 64).
MAX_DIMS = 16
#: Largest product of a tensor's dimensions, zeros left out: ``[0, 2**62]`` holds no
#: values, but no array of that shape can be built, so it is refused up front.
MAX_ELEMENTS = 2**31


def server_metadata(version: str) -> dict[str, Any]:
    return {"name": SERVER_NAME, "version": version, "extensions": EXTENSIONS}


def decode_request(
    body: bytes, header_length: int | None
) -> tuple[dict[str, Any], list[tuple[str, np.ndarray]]]:
    """The request document and its inputs as ``(name, array)`` pairs, shaped as sent."""
    if header_length is not None:
        if not 0 <= header_length <= len(body):
            raise ServingError(
                f"Inference-Header-Content-Length {header_length} is outside the body "
                f"of {len(body)} bytes",
                status=400,
            )
        head, binary = body[:header_length], memoryview(body)[header_length:]
    else:
        head, binary = body, memoryview(b"")
    doc = _json(head)
    if not isinstance(doc, dict):
        raise ServingError(
            "the request body must be a JSON object with an `inputs` list", status=400
        )
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise ServingError("the request needs a non-empty `inputs` list of tensors", status=400)
    offset = 0
    inputs: list[tuple[str, np.ndarray]] = []
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise ServingError(
                f"inputs[{i}] must be an object with name, shape, datatype, data", status=400
            )
        name, arr, used = _decode_tensor(i, item, binary[offset:])
        if any(name == seen for seen, _ in inputs):
            raise ServingError(f"input {name!r} is sent twice", status=400, column=name)
        offset += used
        inputs.append((name, arr))
    return doc, inputs


def _json(data: bytes | memoryview) -> Any:
    try:
        return json.loads(bytes(data))
    except (ValueError, RecursionError):
        raise ServingError("the request body is not valid JSON", status=400) from None


def _decode_tensor(i: int, item: dict[str, Any], binary: memoryview) -> tuple[str, np.ndarray, int]:
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise ServingError(f"inputs[{i}] has no name", status=400)
    shape = _shape(name, item.get("shape"))
    datatype = item.get("datatype")
    if not isinstance(datatype, str) or datatype not in V2_TO_NUMPY:
        raise ServingError(
            f"input {name!r} has datatype {datatype!r}; use one of {', '.join(V2_TO_NUMPY)}",
            status=400,
            column=name,
        )
    count = math.prod(shape)
    params = item.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0 or size > len(binary):
            raise ServingError(
                f"input {name!r} binary_data_size {size!r} exceeds the body",
                status=400,
                column=name,
            )
        arr = _from_binary(name, datatype, bytes(binary[:size]), count)
        used = size
    else:
        if "data" not in item:
            raise ServingError(f"input {name!r} has no data", status=400, column=name)
        arr = _from_json(name, datatype, item["data"], shape, count)
        used = 0
    return name, arr.reshape(shape), used


def _shape(name: str, shape: Any) -> list[int]:
    """``shape`` if it describes an array numpy can build; a 400 naming the input if not."""
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ServingError(
            f"input {name!r} needs a shape: a list of non-negative integers, got {shape!r:.80}",
            status=400,
            column=name,
        )
    if len(shape) > MAX_DIMS:
        raise ServingError(
            f"input {name!r} has {len(shape)} dimensions; the limit is {MAX_DIMS}",
            status=400,
            column=name,
        )
    # Zeros are left out: numpy refuses (0, 2**62) as it would (1, 2**62).
    if math.prod(d for d in shape if d) > MAX_ELEMENTS:
        raise ServingError(
            f"input {name!r} has shape {shape!r:.80}: its non-zero dimensions multiply to "
            f"more than {MAX_ELEMENTS} elements, the limit for one tensor",
            status=400,
            column=name,
        )
    return shape


def _from_json(name: str, datatype: str, data: Any, shape: list[int], count: int) -> np.ndarray:
    if not isinstance(data, list):
        data = [data]
    flat = _flatten(name, data, shape)
    if len(flat) != count:
        raise ServingError(
            f"input {name!r} has {len(flat)} values but its shape holds {count}",
            status=400,
            column=name,
        )
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in flat):
            raise ServingError(f"input {name!r} is BYTES; send strings", status=400, column=name)
        return np.array(flat, dtype=object)
    dtype = np.dtype(V2_TO_NUMPY[datatype])
    try:
        arr = np.asarray(flat)
    except (ValueError, TypeError, OverflowError):
        raise ServingError(
            f"input {name!r} has values that are not {datatype}", status=400, column=name
        ) from None
    have = arr.dtype.kind
    if dtype.kind == "b":
        ok = have == "b" or arr.size == 0
    elif dtype.kind in "iu":
        ok = have in "iu" or arr.size == 0
    else:
        ok = have in "iuf" or arr.size == 0
    if not ok:
        why = "integers too large for 64 bits" if have == "O" else f"{arr.dtype.name} values"
        raise ServingError(f"input {name!r} is {datatype} but has {why}", status=400, column=name)
    if dtype.kind in "iu" and arr.size:
        info = np.iinfo(dtype)
        if arr.min() < info.min or arr.max() > info.max:
            raise ServingError(
                f"input {name!r} has values outside the {datatype} range", status=400, column=name
            )
    with np.errstate(over="ignore"):
        cast = arr.astype(dtype)
    if dtype.kind == "f" and have == "f" and not np.array_equal(np.isinf(cast), np.isinf(arr)):
        raise ServingError(
            f"input {name!r} has values outside the {datatype} range", status=400, column=name
        )
    return cast


def _flatten(name: str, data: list[Any], shape: list[int]) -> list[Any]:
    """The values of ``data``, sent flat (row-major) or nested exactly as ``shape`` says.

    Walked level by level, without recursion: a nesting that differs from the shape
    anywhere (ragged rows, a list where a value belongs) is refused, even when the
    value count happens to match.
    """
    if not any(isinstance(v, list) for v in data):
        return data
    level: list[Any] = [data]
    for depth, dim in enumerate(shape):
        below: list[Any] = []
        for item in level:
            if not isinstance(item, list) or len(item) != dim:
                break
            below.extend(item)
        else:
            level = below
            continue
        raise ServingError(
            f"input {name!r} data is nested unlike its shape {shape} at depth {depth}; "
            "send it flat (row-major) or nested exactly as the shape says",
            status=400,
            column=name,
        )
    if any(isinstance(v, list) for v in level):
        raise ServingError(
            f"input {name!r} data is nested deeper than its shape {shape}",
            status=400,
            column=name,
        )
    return level


def _from_binary(name: str, datatype: str, raw: bytes, count: int) -> np.ndarray:
    if datatype == "BYTES":
        values: list[str] = []
        pos = 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise ServingError(
                    f"input {name!r} has a truncated BYTES element", status=400, column=name
                )
            (n,) = struct.unpack_from("<I", raw, pos)
            pos += 4
            values.append(raw[pos : pos + n].decode("utf-8", "replace"))
            pos += n
        arr = np.array(values, dtype=object)
    else:
        dtype = np.dtype(V2_TO_NUMPY[datatype]).newbyteorder("<")
        if len(raw) % dtype.itemsize:
            raise ServingError(
                f"input {name!r} has {len(raw)} bytes, not whole {datatype}s",
                status=400,
                column=name,
            )
        arr = np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))
    if arr.size != count:
        raise ServingError(
            f"input {name!r} has {arr.size} values but its shape holds {count}",
            status=400,
            column=name,
        )
    return arr


def to_batch(spec: ModelSpec, inputs: list[tuple[str, np.ndarray]]) -> Batch:
    """Match the request's tensors to the signature: one per column, or the one tensor."""
    if spec.kind == "tensor":
        if len(inputs) != 1:
            raise ServingError(
                f"model {spec.name} takes one input tensor {spec.inputs[0].name!r}; "
                f"got {len(inputs)}"
            )
        return tensor_batch(spec, inputs[0][1])
    known = set(spec.columns)
    unknown = [n for n, _ in inputs if n not in known]
    if unknown:
        raise ServingError(
            f"unknown input {unknown[0]!r}; the model's columns are {spec.column_list}",
            column=unknown[0],
        )
    return table_batch(spec, dict(inputs))


@dataclass(frozen=True)
class BinaryResponse:
    """A response with binary tensor data: ``body`` is the JSON header (``header_length``
    bytes) followed by the raw tensor bytes."""

    body: bytes
    header_length: int


PREDICT = "predict"
PROBA = "predict_proba"


def output_metadata(predictor: Predictor) -> list[dict[str, Any]]:
    """The outputs a request may ask for: ``predict``, and ``predict_proba`` for a
    classifier (one FP64 column per class, in the order of its ``classes``)."""
    spec = predictor.spec
    outputs: list[dict[str, Any]] = [
        {"name": PREDICT, "datatype": v2_datatype(spec.output_dtype), "shape": [-1]}
    ]
    if predictor.proba is not None:
        proba: dict[str, Any] = {"name": PROBA, "datatype": "FP64", "shape": [-1, -1]}
        if predictor.classes:
            proba["shape"] = [-1, len(predictor.classes)]
            proba["parameters"] = {"classes": [_plain(c) for c in predictor.classes]}
        outputs.append(proba)
    return outputs


@dataclass(frozen=True)
class Requested:
    """One output the response carries, and whether it goes as binary tensor data."""

    name: str
    binary: bool


def requested_outputs(predictor: Predictor, doc: dict[str, Any]) -> list[Requested]:
    """The outputs ``doc`` asks for, in its order (``predict`` when it names none).

    An output the model does not have is a 400 naming it and the ones it has: leaving
    it out of the answer would look like success to a caller that reads it by name.
    """
    params = doc.get("parameters")
    binary_all = isinstance(params, dict) and params.get("binary_data_output") is True
    raw = doc.get("outputs")
    if raw is None:
        return [Requested(PREDICT, binary_all)]
    if not isinstance(raw, list):
        raise ServingError("`outputs` must be a list of objects with a name", status=400)
    have = [o["name"] for o in output_metadata(predictor)]
    wanted: list[Requested] = []
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name:
            raise ServingError(f"outputs[{i}] needs a name: one of {', '.join(have)}", status=400)
        if name not in have:
            hint = " (it is not a classifier with predict_proba)" if name == PROBA else ""
            raise ServingError(
                f"model {predictor.spec.name} has no output {name!r}{hint}; "
                f"ask for one of: {', '.join(have)}",
                status=400,
            )
        if any(w.name == name for w in wanted):
            raise ServingError(f"output {name!r} is asked for twice", status=400)
        out_params = item.get("parameters")
        flag = out_params.get("binary_data") if isinstance(out_params, dict) else None
        wanted.append(Requested(name, binary_all if flag is None else flag is True))
    if not wanted:
        return [Requested(PREDICT, binary_all)]
    return wanted


def encode_response(
    spec: ModelSpec,
    version: str,
    wanted: list[Requested],
    results: dict[str, tuple[np.ndarray, list[Any]]],
    request_id: Any,
) -> dict[str, Any] | BinaryResponse:
    """The response document with one tensor per requested output; binary outputs'
    bytes follow the JSON header in the order the outputs are listed."""
    tensors: list[dict[str, Any]] = []
    raws: list[bytes] = []
    for want in wanted:
        preds, data = results[want.name]
        datatype = v2_datatype(str(preds.dtype))
        tensor: dict[str, Any] = {
            "name": want.name,
            "shape": list(preds.shape),
            "datatype": datatype,
        }
        if want.binary:
            raw = _to_binary(preds, datatype, data)
            tensor["parameters"] = {"binary_data_size": len(raw)}
            raws.append(raw)
        else:
            tensor["data"] = _flat(data, preds.ndim)
        tensors.append(tensor)
    out: dict[str, Any] = {"model_name": spec.name, "model_version": version, "outputs": tensors}
    if request_id is not None:
        out["id"] = request_id
    if not raws:
        return out
    header = json.dumps(out).encode()
    return BinaryResponse(header + b"".join(raws), len(header))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _to_binary(preds: np.ndarray, datatype: str, data: list[Any]) -> bytes:
    """The tensor's bytes as the binary extension lays them out (row-major, little endian;
    BYTES as a 4-byte length before each UTF-8 element)."""
    if datatype == "BYTES":
        parts = []
        for value in _flat(data, preds.ndim):
            encoded = str(value).encode()
            parts.append(struct.pack("<I", len(encoded)))
            parts.append(encoded)
        return b"".join(parts)
    dtype = np.dtype(V2_TO_NUMPY[datatype]).newbyteorder("<")
    return np.ascontiguousarray(preds, dtype=dtype).tobytes()


def _flat(data: list[Any], ndim: int) -> list[Any]:
    for _ in range(max(ndim - 1, 0)):
        data = [v for row in data for v in row]
    return data
