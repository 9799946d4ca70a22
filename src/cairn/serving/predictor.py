"""A loaded model ready for the request path: its spec, and how to call it fast.

A :class:`Predictor` is built once per model version, off the request path, and never
changes; swapping versions means swapping the whole object (see :mod:`.reload`).

The request path already validates input against the signature (:mod:`.codec`), so
the model's own per-call validation is repeated work, and for scikit-learn it is the
dominant cost: a one-row DataFrame costs milliseconds in ``check_array`` where a
2-D array costs tens of microseconds. :func:`make_predictor` therefore looks for a
*direct* call: the underlying estimator (``model.raw``) fed a 2-D array in signature
order. Estimators fitted on DataFrames remember their column names and would warn on
an unnamed array, so the direct call uses a shallow copy without the remembered names
(the column order is guaranteed by the codec instead). That is sound only when the
signature's column order is the order the estimator was fitted with, so the direct
call is never used when the estimator's ``feature_names_in_`` differ from the
signature's columns, in names or in order: agreement on a five-row example cannot
prove the columns line up (a classifier can give the same classes on a few rows with
two columns swapped). Beyond that, the direct call is used only if it gives exactly the
model's own predictions on the saved input example, without warnings; otherwise every
request goes through ``model.predict``.

Classifiers also answer ``predict_proba`` (one probability per class, in the order of
``classes``). It goes through the same estimator as the verified direct call when there
is one, since the check that proves the column layout holds for every method of that
estimator, and through the model's own validated ``predict_proba`` otherwise.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cairn.errors import InvalidInput
from cairn.serving.codec import Batch, encode_predictions, model_input, table_batch, tensor_batch
from cairn.serving.spec import ModelSpec, Servable, ServingError, describe, numpy_dtype


@dataclass(frozen=True, slots=True)
class Predictor:
    """A model version with its spec.

    ``frame`` says whether ``model.predict`` needs a DataFrame; ``direct``, when set, is
    the verified fast call taking a 2-D array (see the module docstring). ``proba`` is
    the call giving class probabilities (None for a model without them), taking what
    ``direct`` takes when ``proba_direct`` is set, and ``classes`` the class labels.
    """

    model: Servable
    spec: ModelSpec
    frame: bool
    direct: Callable[[Any], Any] | None = None
    proba: Callable[[Any], Any] | None = None
    proba_direct: bool = False
    classes: tuple[Any, ...] = ()

    @property
    def version(self) -> str:
        return self.spec.version

    def predict(self, batch: Batch) -> tuple[np.ndarray, list[Any]]:
        """Predictions for a validated batch, as an array and as JSON-ready lists.

        The model's own refusals (``InvalidInput``, or ``ValueError``/``TypeError`` from
        the estimator, e.g. NaN where none is allowed) become 422 errors.
        """
        if batch.rows == 0:
            empty = np.empty((0,), dtype=self.spec.output_dtype)
            return empty, []
        if self.direct is not None:
            return self._call(self.direct, batch, False)
        return self._call(self.model.predict, batch, self.frame)

    def predict_proba(self, batch: Batch) -> tuple[np.ndarray, list[Any]]:
        """Class probabilities for a validated batch, one column per class of ``classes``.

        Raises:
            ServingError: (400) the model is not a classifier with ``predict_proba``.
        """
        if self.proba is None:
            raise ServingError(
                f"model {self.spec.name} gives no class probabilities (it has no "
                "predict_proba); ask for the predict output",
                status=400,
            )
        if batch.rows == 0:
            return np.empty((0, len(self.classes))), []
        return self._call(self.proba, batch, self.frame and not self.proba_direct)

    def _call(
        self, fn: Callable[[Any], Any], batch: Batch, frame: bool
    ) -> tuple[np.ndarray, list[Any]]:
        try:
            # Floating-point overflow inside the model (extreme but valid inputs) yields
            # inf or NaN, as numpy computes it; it must not become an error because a
            # process runs with warnings as errors. Non-finite outputs are sent as null.
            with np.errstate(all="ignore"):
                result = fn(model_input(self.spec, batch, frame))
        except ServingError:
            raise
        except InvalidInput as exc:
            raise ServingError(str(exc), column=getattr(exc, "column", None)) from None
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            raise ServingError(f"the model refused the input: {exc}") from None
        return encode_predictions(result)


def make_predictor(
    model: Servable, name: str | None = None, version: str | None = None
) -> Predictor:
    """Describe ``model`` and find, once, the cheapest call that gives its predictions.

    Example:
        >>> p = make_predictor(cairn.models.load("models:/churn@production"), "churn")
        >>> p.spec.version, p.direct is not None
        ('3', True)
    """
    spec = describe(model, name)
    if version is not None:
        spec = replace(spec, version=version)
    numeric = spec.all_numeric
    frame = spec.kind == "table" and not (numeric and _takes_arrays(model, spec))
    direct = _direct_call(model, spec) if numeric else None
    proba, proba_direct, classes = _proba_call(model, direct)
    return Predictor(
        model=model,
        spec=spec,
        frame=frame,
        direct=direct,
        proba=proba,
        proba_direct=proba_direct,
        classes=classes,
    )


def _proba_call(
    model: Servable, direct: Callable[[Any], Any] | None
) -> tuple[Callable[[Any], Any] | None, bool, tuple[Any, ...]]:
    """The probability call (direct when ``direct`` is), whether it is direct, the classes."""
    own = getattr(model, "predict_proba", None)
    has = getattr(model, "has_proba", callable(own))
    if not has or not callable(own):
        return None, False, ()
    raw = getattr(model, "raw", model)
    try:
        classes = tuple(np.asarray(getattr(raw, "classes_", ())).tolist())
    except Exception:  # an estimator whose classes_ cannot be read: probabilities unnamed
        classes = ()
    stripped = getattr(direct, "__self__", None)
    fast = getattr(stripped, "predict_proba", None)
    if callable(fast):
        return fast, True, classes
    return own, False, classes


def _takes_arrays(model: Servable, spec: ModelSpec) -> bool:
    dtype = np.result_type(*(numpy_dtype(i.dtype) for i in spec.inputs))
    probe = np.zeros((1, len(spec.inputs)), dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            model.predict(probe)
        except Exception:
            return False
    return True


def _direct_call(model: Servable, spec: ModelSpec) -> Callable[[Any], Any] | None:
    raw = getattr(model, "raw", None)
    example_of = getattr(model, "input_example", None)
    if raw is None or not callable(getattr(raw, "predict", None)) or not callable(example_of):
        return None
    if not _fitted_in_signature_order(raw, spec):
        return None
    try:
        example = example_of()
        if example is None:
            return None
        batch = _example_batch(spec, example)
        if batch.rows == 0:
            return None
        X = model_input(spec, batch, False)
        stripped = _without_feature_names(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fast = np.asarray(stripped.predict(X))
        # The reference may warn where the direct call does not (an estimator fitted on
        # an array, handed a frame with column names 0, 1, ...): that is no reason to
        # keep the slow call, which would warn on every request.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slow = np.asarray(model.predict(example))
    except Exception:  # anything unexpected: keep the model's own, validated call
        return None
    if fast.shape != slow.shape or fast.dtype.kind != slow.dtype.kind:
        return None
    if fast.dtype.kind in "fc":
        same = np.allclose(fast, slow, rtol=0, atol=0, equal_nan=True)
    else:
        same = np.array_equal(fast, slow)
    return stripped.predict if same else None


def _fitted_in_signature_order(estimator: Any, spec: ModelSpec) -> bool:
    """Whether positional columns in signature order are the columns the estimator learnt."""
    try:
        fitted = getattr(estimator, "feature_names_in_", None)
        count = getattr(estimator, "n_features_in_", None)
    except Exception:  # a property that raises (e.g. an unfitted step): no fast path
        return False
    if fitted is not None:
        return [str(n) for n in fitted] == list(spec.columns)
    return count is None or int(count) == len(spec.columns)


def _example_batch(spec: ModelSpec, example: Any) -> Batch:
    if spec.kind == "tensor":
        return tensor_batch(spec, np.asarray(example))
    columns = {c: np.asarray(example[c]) for c in spec.columns}
    return table_batch(spec, columns)


def _without_feature_names(estimator: Any) -> Any:
    """A shallow copy that no longer remembers its fitted column names (nor its steps)."""
    clone = copy.copy(estimator)
    state = getattr(clone, "__dict__", None)
    if state is None:
        return estimator
    state.pop("feature_names_in_", None)
    steps = state.get("steps")
    if isinstance(steps, list):  # a Pipeline: the first step checks the names
        clone.steps = [(n, _without_feature_names(s)) for n, s in steps]
    return clone
