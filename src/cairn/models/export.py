"""Export to ONNX for edge deployment, with an equivalence check before writing.

Supported: scikit-learn estimators and pipelines (``skl2onnx``), XGBoost and LightGBM
models (``onnxmltools``), fitted on DataFrames or arrays. The graph's inputs follow
what the model reads:

- a pipeline that starts with a ``ColumnTransformer`` (or a bare one) selects columns by
  name, so it gets one ``(n, 1)`` input per column, named after the column;
- any other model of a table signature reads its columns by position, so it gets one
  ``input`` of shape ``(n, columns)`` in signature order (the onnx flavor feeds a
  DataFrame's columns in that order);
- a tensor signature gives its one input.

Floating inputs go in as float32, the usual ONNX runtime type. The ONNX predictions on
the model's input example (or on data given) must match the original: labels equal, and
probabilities or regression values within ``tolerance``. Only then is the file
written, atomically.
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


def _tensor_type(dtype: str, shape: list[int | None], what: str) -> Any:
    from skl2onnx.common.data_types import (
        BooleanTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    if dtype.startswith("float"):
        return FloatTensorType(shape)
    types = {
        "int64": Int64TensorType,
        "int32": Int64TensorType,
        "bool": BooleanTensorType,
        "str": StringTensorType,
    }
    cls = types.get(dtype)
    if cls is None:
        raise InvalidInput(f"cannot export {what} of dtype {dtype} to ONNX")
    return cls(shape)


def _initial_types(model: LoadedModel, by_name: bool) -> list[tuple[str, Any]]:
    """The graph's inputs: one per column when the model selects columns by name."""
    from skl2onnx.common.data_types import FloatTensorType

    sig = model.signature
    if not sig.inputs:
        raise InvalidInput(
            f"{model.uri} has no signature; log it with an input_example to export it"
        )
    if sig.is_tensor:
        spec = sig.inputs[0]
        shape = [None if d == -1 else d for d in (spec.shape or (-1,))]
        return [(spec.name, _tensor_type(spec.dtype, shape, f"input {spec.name!r}"))]
    if by_name:
        return [
            (spec.name, _tensor_type(spec.dtype, [None, 1], f"column {spec.name!r}"))
            for spec in sig.inputs
        ]
    text = [spec.name for spec in sig.inputs if spec.dtype in ("str", "object", "bool")]
    if text:
        raise InvalidInput(
            f"cannot export {model.uri}: column {text[0]!r} is {sig.inputs[0].dtype} and the "
            "model reads its columns as one numeric array; encode it inside the model (a "
            "Pipeline starting with a ColumnTransformer) to export it"
        )
    return [("input", FloatTensorType([None, len(sig.inputs)]))]


def _selects_by_name(estimator: Any) -> bool:
    """Whether the model picks its columns by name (a ColumnTransformer first)."""
    steps = getattr(estimator, "steps", None)
    first = steps[0][1] if isinstance(steps, list) and steps else estimator
    if getattr(first, "steps", None) is not None:
        return _selects_by_name(first)
    return type(first).__name__ == "ColumnTransformer"


def to_onnx(model: LoadedModel) -> Any:
    """Convert a loaded scikit-learn, XGBoost or LightGBM model to an ONNX ModelProto."""
    converters = {"sklearn": _sklearn, "xgboost": _xgboost, "lightgbm": _lightgbm}
    convert = converters.get(model.flavor)
    if convert is None:
        raise InvalidInput(
            f"{model.uri} is a {model.flavor} model; ONNX export supports scikit-learn, "
            "XGBoost and LightGBM models"
        )
    try:
        return convert(model)
    except InvalidInput:
        raise
    except (RuntimeError, NotImplementedError, ValueError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"cannot convert {model.uri} to ONNX: {first}") from None


def _sklearn(model: LoadedModel) -> Any:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.exceptions import MissingShapeCalculator

    estimator = model.raw
    options = {id(estimator): {"zipmap": False}} if hasattr(estimator, "predict_proba") else None
    inputs = _initial_types(model, by_name=_selects_by_name(estimator))
    try:
        return convert_sklearn(estimator, initial_types=inputs, options=options, target_opset=None)
    except MissingShapeCalculator as exc:
        first = str(exc).strip().splitlines()[0]
        raise InvalidInput(f"skl2onnx cannot convert {model.uri}: {first}") from None


def _xgboost(model: LoadedModel) -> Any:
    import copy

    import onnxmltools
    import xgboost

    # The converter names features f0, f1, ...; a model fitted on a DataFrame remembers
    # column names instead, which it refuses. The order is the signature's either way.
    raw = model.raw
    booster = getattr(raw, "booster", None)
    if isinstance(booster, xgboost.Booster):  # a bare Booster behind the flavor's predictor
        clone = booster.copy()
        clone.feature_names = None
    else:
        clone = copy.deepcopy(raw)
        clone.get_booster().feature_names = None
    return onnxmltools.convert_xgboost(clone, initial_types=_booster_inputs(model))


def _lightgbm(model: LoadedModel) -> Any:
    import onnxmltools

    raw = model.raw
    classes = getattr(raw, "classes", None)
    if classes is not None and list(classes) != list(range(len(classes))):
        raise InvalidInput(
            f"cannot export {model.uri}: its classes are {list(classes)[:5]}, and an ONNX "
            "LightGBM graph answers class indices 0..k-1; fit it on encoded labels"
        )
    return onnxmltools.convert_lightgbm(
        raw.booster, initial_types=_booster_inputs(model), zipmap=False
    )


def _booster_inputs(model: LoadedModel) -> list[tuple[str, Any]]:
    """One float input of all columns, typed for onnxmltools' converters."""
    from onnxmltools.convert.common.data_types import FloatTensorType

    ((name, declared),) = _initial_types(model, by_name=False)
    return [(name, FloatTensorType(declared.shape))]


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
