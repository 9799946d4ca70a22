"""What the server needs to know about a model, independent of how it was loaded.

The serving layer talks to models through :class:`Servable`: anything with
``predict(X)``, ``signature``, ``name`` and ``version`` (``cairn.models.load`` returns
one). :func:`describe` reads the signature once, at load time, into a :class:`ModelSpec`
so the request path never inspects the model again.

A *table* signature has named columns; requests carry one tensor per column. A *tensor*
signature has a single input array of a fixed trailing shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

Kind = Literal["table", "tensor"]

# Open Inference Protocol datatypes <-> numpy dtype names.
V2_TO_NUMPY: dict[str, str] = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
NUMPY_TO_V2: dict[str, str] = {v: k for k, v in V2_TO_NUMPY.items()}


class ServingError(InvalidInput):
    """A request the server refuses; ``status`` is the HTTP code, ``column`` the culprit."""

    def __init__(self, message: str, status: int = 422, column: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.column = column


@runtime_checkable
class Servable(Protocol):
    """The slice of a loaded model the server uses."""

    name: str
    version: Any
    signature: Any

    def predict(self, X: Any) -> Any: ...


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input column (table) or the one input tensor (tensor signature).

    ``dtype`` is a numpy dtype name (``float64``, ``int64``, ``object`` for strings);
    ``shape`` is the per-row shape, ``()`` for a table column.
    """

    name: str
    dtype: str
    shape: tuple[int, ...] = ()

    @property
    def v2_datatype(self) -> str:
        return v2_datatype(self.dtype)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """The served model's identity and interface, read once at load time."""

    name: str
    version: str
    kind: Kind
    inputs: tuple[InputSpec, ...]
    output_dtype: str = "float64"
    flavor: str = ""
    #: Column names in signature order (derived).
    columns: tuple[str, ...] = field(init=False, default=())
    #: True when every column is a float: rows then travel as one float64 matrix.
    float_table: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(i.name for i in self.inputs))
        floats = self.kind == "table" and all(i.dtype.startswith("float") for i in self.inputs)
        object.__setattr__(self, "float_table", floats)

    @property
    def all_numeric(self) -> bool:
        """True when every input is a number, so rows fit one float/int matrix."""
        return all(i.dtype not in ("object", "str", "string", "bool") for i in self.inputs)

    @property
    def column_list(self) -> str:
        """The column names for an error message (the first ten of a wide table)."""
        shown = ", ".join(self.columns[:10])
        return shown if len(self.columns) <= 10 else f"{shown}, ... ({len(self.columns)} in all)"

    def metadata(self) -> dict[str, Any]:
        """The v2 model metadata document (``GET /v2/models/{name}``)."""
        if self.kind == "table":
            inputs = [
                {"name": i.name, "datatype": i.v2_datatype, "shape": [-1]} for i in self.inputs
            ]
        else:
            inputs = [
                {"name": i.name, "datatype": i.v2_datatype, "shape": [-1, *i.shape]}
                for i in self.inputs
            ]
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": f"cairn-{self.flavor}" if self.flavor else "cairn",
            "inputs": inputs,
            "outputs": [
                {"name": "predict", "datatype": v2_datatype(self.output_dtype), "shape": [-1]}
            ],
        }


def v2_datatype(dtype: str) -> str:
    """The v2 datatype for a numpy dtype name; strings and anything else are BYTES."""
    return NUMPY_TO_V2.get(_canonical(dtype), "BYTES")


def _canonical(dtype: str) -> str:
    aliases = {
        "category": "object",
        "float": "float64",
        "double": "float64",
        "int": "int64",
        "long": "int64",
        "integer": "int64",
        "str": "object",
        "string": "object",
        "boolean": "bool",
    }
    return aliases.get(dtype.lower(), dtype.lower())


def describe(model: Servable, name: str | None = None) -> ModelSpec:
    """Read a model's signature into a :class:`ModelSpec`.

    Accepts the signature of ``cairn.models`` (``.inputs`` as objects or
    ``(name, dtype, shape)`` tuples, a ``kind``/``is_tensor`` marker, an ``output``
    dtype) and plain mappings of the same fields.

    Example:
        >>> spec = describe(cairn.models.load("models:/churn@production"))
        >>> spec.kind, spec.columns
        ('table', ('tenure', 'monthly_charges'))
    """
    sig = model.signature
    raw_inputs = _field(sig, "inputs", ())
    inputs = tuple(_input_spec(item) for item in raw_inputs)
    if not inputs:
        raise InvalidInput(
            f"model {getattr(model, 'name', '?')} has no input signature; "
            "log it with an input_example so the server can validate requests"
        )
    kind_value = _field(sig, "kind", None) or _field(sig, "type", None)
    if kind_value is None:
        is_tensor = _field(sig, "is_tensor", None)
        kind_value = "tensor" if is_tensor else "table"
    kind: Kind = "tensor" if str(kind_value).lower() == "tensor" else "table"
    out = _field(sig, "outputs", None) or _field(sig, "output", None)
    output_dtype = _output_dtype(out)
    return ModelSpec(
        name=name or str(getattr(model, "name", "") or "model"),
        version=str(getattr(model, "version", "") or "1"),
        kind=kind,
        inputs=inputs,
        output_dtype=output_dtype,
        flavor=str(getattr(model, "flavor", "") or ""),
    )


def _field(obj: Any, key: str, default: Any) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _input_spec(item: Any) -> InputSpec:
    if isinstance(item, Sequence) and not isinstance(item, str):
        name, dtype, *rest = item
        shape = rest[0] if rest else ()
    else:
        name, dtype, shape = _field(item, "name", ""), _field(item, "dtype", ""), None
        shape = _field(item, "shape", ())
    per_row = tuple(int(d) for d in (shape or ()))
    # Signatures record full shapes with -1 (or None) for the batch axis; keep the rest.
    if per_row and per_row[0] in (-1, 0):
        per_row = per_row[1:]
    return InputSpec(name=str(name), dtype=_canonical(str(dtype)), shape=per_row)


def _output_dtype(out: Any) -> str:
    if out is None:
        return "float64"
    if isinstance(out, str):
        return _canonical(out)
    if isinstance(out, Sequence) and out:
        out = out[0]
    if isinstance(out, Sequence) and not isinstance(out, str) and len(out) >= 2:
        return _canonical(str(out[1]))
    dtype = _field(out, "dtype", None)
    return _canonical(str(dtype)) if dtype else "float64"


@lru_cache(maxsize=256)
def numpy_dtype(dtype: str) -> np.dtype[Any]:
    import numpy as np

    return np.dtype(_canonical(dtype))
