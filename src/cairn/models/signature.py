"""Model signatures: what a model takes and returns, and input validation against it.

A signature is a *table* (named columns with dtypes, for models fitted on DataFrames)
or a *tensor* (one array with a dtype and a shape whose first axis is the batch,
``-1``). It is inferred from the input example given to ``log_model`` and stored in the
model's manifest. :meth:`Signature.validate` runs before every prediction, so it has a
fast path: when a DataFrame already has the expected columns in order with the expected
dtypes, it is returned as it is after one comparison of the column index and one of the
dtypes.

Dtype names are numpy's (``float64``, ``str``, ``datetime64[ns]``); data schemas use
Arrow's (``double``, ``string``, ``timestamp[ns]``), and a signature given the Arrow
spelling is refused with the numpy one to write (see :mod:`cairn.dtypes`).

Casting rules (value -> expected): any integer or bool to float; a wider float to a
narrower one; floats to integers only when every value is a whole number; numbers held
as Python objects to their numeric dtype when every value parses. Anything else (text
into a number column, numbers into a text column, a wrong number of dimensions) raises
:class:`InputSchemaError` naming the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

SignatureKind = Literal["table", "tensor"]

#: Canonical name of a text column (object or string dtype).
STR = "str"


class InputSchemaError(InvalidInput):
    """Prediction input does not match the model signature; ``column`` names the culprit.

    ``column`` is the input name for tensor signatures, ``""`` when no column is at fault.
    """

    def __init__(self, message: str, column: str = "") -> None:
        super().__init__(message)
        self.column = column


class TensorSpec(NamedTuple):
    """One input or output: a column (``shape`` None) or a tensor (``shape`` with -1 batch)."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": _list(self.shape)}


def _list(shape: tuple[int, ...] | None) -> list[int] | None:
    return None if shape is None else list(shape)


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of a model.

    Example:
        >>> import pandas as pd
        >>> sig = infer_signature(pd.DataFrame({"age": [31, 40], "plan": ["a", "b"]}))
        >>> [(s.name, s.dtype) for s in sig.inputs]
        [('age', 'int64'), ('plan', 'str')]
        >>> sig.validate(pd.DataFrame({"plan": ["c"], "age": [5.0]})).dtypes["age"]
        dtype('int64')
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()
    kind: SignatureKind = "table"

    def __post_init__(self) -> None:
        # A signature typed with data-schema (Arrow) names would refuse every request at
        # predict time; say so when it is built, with the name it should have.
        from cairn.dtypes import numpy_spelling

        for role, specs in (("input", self.inputs), ("output", self.outputs)):
            for spec in specs:
                other = numpy_spelling(spec.dtype)
                if other is not None:
                    raise InvalidInput(
                        f"signature {role} {spec.name!r} has dtype {spec.dtype!r}, the "
                        f"data-schema (Arrow) spelling; model signatures use numpy names: "
                        f"write {other!r}"
                    )

    @property
    def is_table(self) -> bool:
        return self.kind == "table"

    @property
    def is_tensor(self) -> bool:
        return self.kind == "tensor"

    @property
    def column_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": [s.to_dict() for s in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        def specs(items: Sequence[Mapping[str, Any]]) -> tuple[TensorSpec, ...]:
            return tuple(
                TensorSpec(
                    str(i["name"]),
                    str(i["dtype"]),
                    None if i.get("shape") is None else tuple(int(d) for d in i["shape"]),
                )
                for i in items
            )

        kind = data.get("kind", "table")
        if kind not in ("table", "tensor"):
            raise InvalidInput(f"unknown signature kind {kind!r}; use 'table' or 'tensor'")
        return cls(specs(data.get("inputs", ())), specs(data.get("outputs", ())), kind)

    # -- validation --------------------------------------------------------------------

    @cached_property
    def _expected(self) -> tuple[Any, Any]:
        """(column index, dtypes Series) to compare against in the fast path."""
        import numpy as np
        import pandas as pd

        names = pd.Index(self.column_names)
        dtypes = [_numpy_dtype(s.dtype) for s in self.inputs]
        return names, (np.array(dtypes, dtype=object) if all(dtypes) else None)

    def validate(self, data: Any) -> Any:
        """Return ``data`` checked and cast for the model; raise ``InputSchemaError``.

        Tables take a DataFrame (extra columns are dropped, columns reordered), a
        mapping of column to values, a list of row mappings, or a 2-D array with one
        column per input. Tensors take an array (or a DataFrame of numbers).
        """
        if self.is_tensor:
            return self._validate_tensor(data)
        return self._validate_table(data)

    def _validate_table(self, data: Any) -> Any:
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            data = self._to_frame(data)
        names, dtypes = self._expected
        if data.columns.equals(names):
            if dtypes is not None and (data.dtypes.to_numpy() == dtypes).all():
                return data  # the fast path: nothing to check or copy
        else:
            missing = [n for n in self.column_names if n not in data.columns]
            if missing:
                raise InputSchemaError(
                    f"input is missing column {missing[0]!r}"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                    + f"; the model expects: {_names_hint(self.column_names)}",
                    column=missing[0],
                )
            data = data[self.column_names]
        casts = {}
        for spec in self.inputs:
            converted = _cast_column(data[spec.name], spec)
            if converted is not None:
                casts[spec.name] = converted
        if casts:
            data = data.assign(**casts)
        return data

    def _to_frame(self, data: Any) -> Any:
        import numpy as np
        import pandas as pd

        if isinstance(data, Mapping):
            try:
                return pd.DataFrame(dict(data))
            except ValueError as exc:
                raise InputSchemaError(f"cannot build a table from the input: {exc}") from None
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            return pd.DataFrame(data)
        array = np.asarray(data)
        if array.ndim != 2 or array.shape[1] != len(self.inputs):
            raise InputSchemaError(
                f"the model expects a table of {len(self.inputs)} columns "
                f"({_names_hint(self.column_names)}); got an array of shape {array.shape}"
            )
        return pd.DataFrame(array, columns=self.column_names)

    def _validate_tensor(self, data: Any) -> Any:
        import numpy as np
        import pandas as pd

        spec = self.inputs[0]
        if isinstance(data, pd.DataFrame):
            data = data.to_numpy()
        elif not isinstance(data, np.ndarray):
            try:
                data = np.asarray(data)
            except (ValueError, TypeError) as exc:
                raise InputSchemaError(f"input {spec.name!r}: {exc}", spec.name) from None
        shape = spec.shape or ()
        if data.ndim != len(shape) or any(
            want not in (-1, got) for want, got in zip(shape[1:], data.shape[1:], strict=True)
        ):
            hint = " (use reshape(1, -1) for one row)" if data.ndim == len(shape) - 1 else ""
            raise InputSchemaError(
                f"input {spec.name!r} expects shape {_shape_text(shape)}, "
                f"got {_shape_text(data.shape)}{hint}",
                spec.name,
            )
        expected = np.dtype(spec.dtype)
        if data.dtype == expected:
            return data
        return _cast_array(data, expected, spec.name)


def _names_hint(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} columns)" if len(names) > limit else "")


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join("n" if d == -1 else str(d) for d in shape) + ")"


def _numpy_dtype(name: str) -> Any:
    """The numpy dtype for a canonical name, or None for text and categories."""
    import numpy as np

    if name in (STR, "category"):
        return None
    try:
        return np.dtype(name)
    except TypeError:
        return None


def dtype_name(dtype: Any) -> str:
    """Canonical name of a pandas or numpy dtype: ``float64``, ``int64``, ``bool``, ``str``."""
    import numpy as np

    kind = getattr(dtype, "kind", "O")
    if kind in "OSU" or str(dtype) in ("string", "str"):
        return STR
    if str(dtype) == "category":
        return "category"
    if isinstance(dtype, np.dtype):
        return dtype.name
    return str(dtype).lower()  # pandas nullable dtypes: Int64 -> int64


def _cast_column(column: Any, spec: TensorSpec) -> Any:
    """The column converted to ``spec.dtype``, None when it already fits, or raise."""
    import numpy as np
    import pandas as pd

    actual = dtype_name(column.dtype)
    if actual == spec.dtype:
        return None
    if spec.dtype in (STR, "category"):
        if actual in (STR, "category"):
            return None
        raise InputSchemaError(
            f"column {spec.name!r} expects text ({spec.dtype}), got {actual}", spec.name
        )
    expected = _numpy_dtype(spec.dtype)
    if expected is None:
        raise InputSchemaError(
            f"column {spec.name!r} expects {spec.dtype}, got {actual}", spec.name
        )
    values = column.to_numpy()
    if actual == STR:
        try:
            values = pd.to_numeric(column, errors="raise").to_numpy()
        except (ValueError, TypeError):
            bad = _first_unparsable(column)
            raise InputSchemaError(
                f"column {spec.name!r} expects {spec.dtype}, got text such as {bad!r}", spec.name
            ) from None
    if expected.kind == "M":
        try:
            return pd.to_datetime(column).astype(expected)
        except (ValueError, TypeError):
            raise InputSchemaError(
                f"column {spec.name!r} expects {spec.dtype}, got {actual}", spec.name
            ) from None
    return _cast_array(np.asarray(values), expected, spec.name)


def _first_unparsable(column: Any) -> Any:
    import pandas as pd

    for value in column:
        try:
            pd.to_numeric([value])
        except (ValueError, TypeError):
            return value
    return None


def _cast_array(values: np.ndarray, expected: np.dtype, name: str) -> np.ndarray:
    import numpy as np

    got = values.dtype
    what = f"{'column' if values.ndim == 1 else 'input'} {name!r}"
    if got.kind == "O":
        try:
            values = values.astype(np.float64)
            got = values.dtype
        except (ValueError, TypeError):
            raise InputSchemaError(f"{what} expects {expected.name}, got objects", name) from None
    if np.can_cast(got, expected, "safe") or (got.kind in "biuf" and expected.kind == "f"):
        return values.astype(expected, copy=False)
    if got.kind == "f" and expected.kind in "iu":
        if np.isfinite(values).all() and (np.mod(values, 1) == 0).all():
            return values.astype(expected)
        raise InputSchemaError(
            f"{what} expects {expected.name}; got {got.name} values that are not whole numbers",
            name,
        )
    if got.kind in "iu" and expected.kind in "iu":
        info = np.iinfo(expected)
        if values.size == 0 or (values.min() >= info.min and values.max() <= info.max):
            return values.astype(expected)
        raise InputSchemaError(f"{what}: values out of range for {expected.name}", name)
    raise InputSchemaError(
        f"{what} expects {expected.name}, got {got.name}, which cannot be cast safely", name
    )


# -- inference ---------------------------------------------------------------------------


def infer_signature(input_example: Any, output: Any = None) -> Signature:
    """The signature of a model from an example of its input (and optionally its output).

    A DataFrame gives a table (one spec per column); an array gives a tensor whose first
    axis is the batch.

    Example:
        >>> import numpy as np
        >>> infer_signature(np.zeros((5, 3), dtype="float32")).inputs
        (TensorSpec(name='input', dtype='float32', shape=(-1, 3)),)
    """
    import numpy as np
    import pandas as pd

    outputs = () if output is None else _output_specs(output)
    if isinstance(input_example, pd.DataFrame):
        specs = tuple(
            TensorSpec(str(name), dtype_name(dtype)) for name, dtype in input_example.dtypes.items()
        )
        return Signature(specs, outputs, "table")
    if isinstance(input_example, pd.Series):
        raise InvalidInput(
            "input_example is a Series; pass a DataFrame (series.to_frame()) or an array"
        )
    array = np.asarray(input_example)
    if array.ndim == 0:
        raise InvalidInput("input_example is a scalar; pass at least one row")
    spec = TensorSpec("input", dtype_name(array.dtype), (-1, *array.shape[1:]))
    return Signature((spec,), outputs, "tensor")


def _output_specs(output: Any) -> tuple[TensorSpec, ...]:
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        return tuple(TensorSpec(str(n), dtype_name(d)) for n, d in output.dtypes.items())
    if isinstance(output, pd.Series):
        return (TensorSpec(str(output.name or "prediction"), dtype_name(output.dtype)),)
    array = np.asarray(output)
    return (TensorSpec("prediction", dtype_name(array.dtype), (-1, *array.shape[1:])),)


def compatibility_problems(current: Signature, candidate: Signature) -> list[str]:
    """Ways ``candidate`` would break callers of a model with signature ``current``.

    A removed or retyped input breaks them, and so does a new required input (callers
    of the current model do not send it).

    Example:
        >>> a = Signature((TensorSpec("age", "int64"),))
        >>> b = Signature((TensorSpec("age", "str"),))
        >>> compatibility_problems(a, b)
        ["input 'age' changed type: int64 -> str"]
    """
    problems: list[str] = []
    if current.kind != candidate.kind:
        return [f"signature kind changed: {current.kind} -> {candidate.kind}"]
    old = {s.name: s for s in current.inputs}
    new = {s.name: s for s in candidate.inputs}
    for name, spec in old.items():
        if name not in new:
            problems.append(f"input {name!r} removed")
        elif new[name].dtype != spec.dtype:
            problems.append(f"input {name!r} changed type: {spec.dtype} -> {new[name].dtype}")
        elif new[name].shape != spec.shape:
            problems.append(f"input {name!r} changed shape: {spec.shape} -> {new[name].shape}")
    problems.extend(f"input {name!r} added" for name in new if name not in old)
    return problems
