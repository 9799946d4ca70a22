"""A loaded model ready for the request path: its spec, and how to call it fast.

A :class:`Predictor` is built once per model version, off the request path, and never
changes; swapping versions means swapping the whole object (see :mod:`.reload`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cairn.errors import InvalidInput
from cairn.serving.codec import Batch, encode_predictions, model_input
from cairn.serving.spec import ModelSpec, Servable, ServingError, describe, numpy_dtype


@dataclass(frozen=True, slots=True)
class Predictor:
    """A model version with its spec; ``frame`` says whether it needs a DataFrame."""

    model: Servable
    spec: ModelSpec
    frame: bool

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
        X = model_input(self.spec, batch, self.frame)
        try:
            result = self.model.predict(X)
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
    """Describe ``model`` and find out, once, whether it takes a plain 2-D array.

    Passing an array skips building a DataFrame per request. A table model whose
    columns are not all numbers, or that refuses or warns on an unnamed array, gets
    a DataFrame.

    Example:
        >>> p = make_predictor(cairn.models.load("models:/churn@production"), "churn")
        >>> p.spec.version, p.frame
        ('3', False)
    """
    spec = describe(model, name)
    if version is not None:
        spec = replace(spec, version=version)
    frame = spec.kind == "table" and not (spec.all_numeric and _takes_arrays(model, spec))
    return Predictor(model=model, spec=spec, frame=frame)


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
