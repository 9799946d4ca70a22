"""Export to ONNX for edge deployment, with an equivalence check before writing.

scikit-learn models that ``skl2onnx`` supports are converted with one ``(n, 1)`` input
per column for table signatures (so a ColumnTransformer keeps working by column name)
or one tensor input. The ONNX predictions on the model's input example (or on data
given) must match the original: labels equal, and probabilities or regression values
within ``tolerance``. Only then is the file written, atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.models.loading import LoadedModel

DEFAULT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportReport:
    path: Path
    rows_checked: int
    max_abs_diff: float
    labels_equal: bool
    size: int


def _initial_types(model: LoadedModel) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    types = {
        "float32": FloatTensorType,
        "float64": DoubleTensorType,
        "int64": Int64TensorType,
        "int32": Int64TensorType,
        "bool": BooleanTensorType,
        "str": StringTensorType,
    }
    sig = model.signature
    if not sig.inputs:
        raise InvalidInput(
            f"{model.uri} has no signature; log it with an input_example to export it"
        )
    if sig.is_tensor:
        spec = sig.inputs[0]
        shape = [None if d == -1 else d for d in (spec.shape or (-1,))]
        # Floating inputs go in as float32, the usual ONNX runtime type.
        cls = FloatTensorType if spec.dtype.startswith("float") else types.get(spec.dtype)
        if cls is None:
            raise InvalidInput(f"cannot export input {spec.name!r} of dtype {spec.dtype} to ONNX")
        return [(spec.name, cls(shape))]
    result = []
    for spec in sig.inputs:
        cls = FloatTensorType if spec.dtype.startswith("float") else types.get(spec.dtype)
        if cls is None:
            raise InvalidInput(f"cannot export column {spec.name!r} of dtype {spec.dtype} to ONNX")
        result.append((spec.name, cls([None, 1])))
    return result


def to_onnx(model: LoadedModel) -> Any:
    """Convert a loaded scikit-learn model to an ONNX ModelProto."""
    if model.flavor != "sklearn":
        raise InvalidInput(
            f"{model.uri} is a {model.flavor} model; ONNX export supports scikit-learn models"
        )
    from skl2onnx import convert_sklearn
    from skl2onnx.common.exceptions import MissingShapeCalculator

    estimator = model.raw
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    try:
        return convert_sklearn(
            estimator, initial_types=_initial_types(model), options=options, target_opset=None
        )
    except (MissingShapeCalculator, RuntimeError, NotImplementedError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"skl2onnx cannot convert {model.uri}: {first}") from None


def export_onnx(
    model: LoadedModel,
    output: str | Path,
    *,
    data: Any = None,
    tolerance: float = DEFAULT_TOLERANCE,
    force: bool = False,
) -> ExportReport:
    """Convert ``model`` to ONNX, check it against the original, write ``output``.

    Example:
        >>> m = cairn.models.load("models:/churn@production")  # doctest: +SKIP
        >>> export_onnx(m, "churn.onnx").max_abs_diff < 1e-4  # doctest: +SKIP
        True
    """
    import numpy as np

    from cairn.models.flavors.onnx import OnnxPredictor

    path = Path(output)
    if path.exists() and not force:
        raise InvalidInput(f"{path} already exists; pass --force to replace it")
    sample = data if data is not None else model.input_example()
    if sample is None:
        raise InvalidInput(f"{model.uri} has no input example; pass data to check the export")
    sample = model.signature.validate(sample)
    proto = to_onnx(model)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp.write_bytes(proto.SerializeToString())
        onnx_model = OnnxPredictor(tmp)
        expected = np.asarray(model.raw.predict(sample))
        got = np.asarray(onnx_model.predict(sample)).reshape(expected.shape)
        labels_equal = True
        if expected.dtype.kind in "f":
            diff = float(np.max(np.abs(expected - got))) if expected.size else 0.0
        else:
            labels_equal = bool(np.array_equal(expected, got.astype(expected.dtype)))
            diff = 0.0
            if model.has_proba and len(onnx_model.outputs) > 1:
                want = np.asarray(model.raw.predict_proba(sample))
                diff = float(np.max(np.abs(want - onnx_model.predict_proba(sample))))
        if not labels_equal or diff > tolerance:
            raise InvalidInput(
                f"the ONNX export of {model.uri} does not match the original on "
                f"{len(sample)} rows (labels equal: {labels_equal}, max difference {diff:.3g} "
                f"> tolerance {tolerance:g}); nothing written"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(path, len(sample), diff, labels_equal, path.stat().st_size)
