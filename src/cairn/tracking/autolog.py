"""Automatic logging for scikit-learn: call ``cairn.autolog()``, then fit as usual.

``autolog()`` wraps the ``fit`` method of every scikit-learn estimator class (those
already imported, and, through a hook on ``BaseEstimator.__init_subclass__``, those
defined later, including your own). Only the outermost fit is logged: the fits a
Pipeline, a meta-estimator or a grid search runs inside it are not, so one ``fit`` call
gives one record. scikit-learn is imported when ``autolog()`` is called, never by
``import cairn``.

A fit logs, on the active run (or on a run it starts and ends around the fit, in the
experiment ``autolog(experiment=...)`` names, ``Default`` otherwise):

- tags: ``cairn.autolog`` (``sklearn``) and ``cairn.autolog.estimator`` (the estimator's
  class), the same whether autolog started the run or the fit ran inside yours;

- params: ``estimator.get_params(deep=False)``, stringified;
- metrics: ``fit_time_s``, ``training_score`` (``estimator.score`` on the training data)
  and, for classifiers, ``training_accuracy`` and ``training_f1``, for regressors
  ``training_r2``, ``training_mae`` and ``training_rmse``; for searches, ``best_cv_score``;
- the fitted model, through :func:`cairn.models.log_model` when that exists, else saved
  with skops as the directory artifact ``model/``.

Fits logged in one run get metric steps 0, 1, 2, ...; params are write-once, so a second
fit with different params in the same run keeps the first values and logs a warning.
Logging problems after a fit are logged as warnings and never lose the fitted model.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FunctionType
from typing import Any

from cairn.errors import CairnError, InvalidInput

logger = logging.getLogger(__name__)

AUTOLOG_TAG = "cairn.autolog"
ESTIMATOR_TAG = "cairn.autolog.estimator"
#: Longest stored param value; longer reprs (nested estimators) are cut.
MAX_PARAM_LENGTH = 6000
_ORIGINAL = "__cairn_original_fit__"

_lock = threading.RLock()
_enabled = False
_log_models = True
_experiment: str | None = None
_patched: dict[type, Callable[..., Any]] = {}
_init_subclass: tuple[bool, Any] | None = None  # (was defined on BaseEstimator, value)
# Fits in progress in this process. Process-wide rather than per thread: meta-estimators
# may fit their inner estimators in worker threads, which must not count as top level.
_depth = 0


def autolog(
    disable: bool = False, *, log_models: bool = True, experiment: str | None = None
) -> None:
    """Log every top-level scikit-learn ``fit`` (idempotent; a second call updates options).

    Args:
        disable: Undo the patching; fits are no longer logged.
        log_models: Store the fitted estimator as the run's model.
        experiment: Experiment (name or id) of the runs autolog starts for fits made
            outside a run; created when absent. A fit inside an active run logs to that
            run, whatever its experiment. Default: ``Default``.

    Raises:
        CairnError: scikit-learn is not installed.

    Example:
        >>> cairn.autolog()
        >>> LogisticRegression(max_iter=200).fit(X, y)  # a FINISHED run with params, metrics, model
    """
    global _enabled, _log_models, _experiment, _init_subclass
    if disable:
        _disable()
        return
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        raise CairnError(
            "cairn.autolog() needs scikit-learn: pip install 'cairn-mlops[sklearn]'"
        ) from None
    if experiment is not None and (not isinstance(experiment, str) or not experiment.strip()):
        raise InvalidInput(
            f"autolog(experiment={experiment!r}): give an experiment name, e.g. "
            "autolog(experiment='churn'), or leave it out for 'Default'"
        )
    with _lock:
        _log_models = log_models
        _experiment = experiment
        if _enabled:
            return
        for cls in _subclasses(BaseEstimator):
            _patch(cls)
        defined = "__init_subclass__" in BaseEstimator.__dict__
        _init_subclass = (defined, BaseEstimator.__dict__.get("__init_subclass__"))

        if defined:
            original = BaseEstimator.__dict__["__init_subclass__"]

            def _on_subclass(cls: type, /, **kwargs: Any) -> None:
                original.__get__(None, cls)(**kwargs)
                _patch(cls)
        else:

            def _on_subclass(cls: type, /, **kwargs: Any) -> None:
                super(BaseEstimator, cls).__init_subclass__(**kwargs)
                _patch(cls)

        BaseEstimator.__init_subclass__ = classmethod(_on_subclass)
        _enabled = True


def _disable() -> None:
    global _enabled, _experiment, _init_subclass
    with _lock:
        _experiment = None
        for cls, original in _patched.items():
            cls.fit = original  # type: ignore[attr-defined]
        _patched.clear()
        if _init_subclass is not None:
            from sklearn.base import BaseEstimator

            defined, value = _init_subclass
            if defined:
                BaseEstimator.__init_subclass__ = value
            else:
                del BaseEstimator.__init_subclass__
            _init_subclass = None
        _enabled = False


def _subclasses(base: type) -> list[type]:
    found: dict[type, None] = {}
    todo: list[type] = [base]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found[cls] = None
            todo.extend(cls.__subclasses__())
    return list(found)


def _patch(cls: type) -> None:
    """Wrap ``cls.fit`` when the class defines its own (inherited fits are wrapped once)."""
    fit = cls.__dict__.get("fit")
    if not isinstance(fit, FunctionType) or hasattr(fit, _ORIGINAL) or cls in _patched:
        return
    _patched[cls] = fit
    cls.fit = _wrap(fit)  # type: ignore[attr-defined]


def _wrap(fit: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fit)
    def logged_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _depth
        with _lock:
            top = _depth == 0 and _enabled
            _depth += 1
        try:
            if not top:
                return fit(self, *args, **kwargs)
            return _fit_and_log(fit, self, args, kwargs)
        finally:
            with _lock:
                _depth -= 1

    setattr(logged_fit, _ORIGINAL, fit)
    return logged_fit


def _fit_and_log(
    fit: Callable[..., Any], estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    from cairn.tracking import fluent

    run = fluent.active_run()
    started = None
    if run is None:
        started = run = fluent.start_run(experiment=_experiment, name=type(estimator).__name__)
    # The same tags on a run autolog started and on the user's own run, set before the
    # fit so a failed fit is findable too.
    cls = type(estimator)
    try:
        run.set_tags(
            {AUTOLOG_TAG: "sklearn", ESTIMATOR_TAG: f"{cls.__module__}.{cls.__qualname__}"}
        )
    except CairnError as exc:
        logger.warning("cairn.autolog could not tag the run of %s: %s", cls.__name__, exc)
    began = time.perf_counter()
    try:
        result = fit(estimator, *args, **kwargs)
    except BaseException as exc:
        if started is not None:
            started.__exit__(type(exc), exc, exc.__traceback__)
        raise
    seconds = time.perf_counter() - began
    name = type(estimator).__name__
    try:
        _log_fit(run, estimator, args, kwargs, seconds)
    except Exception as exc:  # the fitted estimator matters more than its record
        logger.warning("cairn.autolog could not record the fit of %s: %s", name, exc)
    if started is not None:
        try:
            started.end()
        except CairnError as exc:
            logger.warning("cairn.autolog could not end the run of %s: %s", name, exc)
    return result


def _log_fit(
    run: Any, estimator: Any, args: tuple[Any, ...], kwargs: dict[str, Any], seconds: float
) -> None:
    params = {k: _param_text(v) for k, v in estimator.get_params(deep=False).items()}
    best = getattr(estimator, "best_params_", None)
    if isinstance(best, dict):
        params.update({f"best.{k}": _param_text(v) for k, v in best.items()})
    try:
        run.log_params(params)
    except InvalidInput as exc:  # a second fit in one run with other params
        logger.warning("cairn.autolog kept the run's earlier params: %s", exc)
    metrics = {"fit_time_s": seconds}
    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    if X is not None:
        metrics.update(_training_metrics(estimator, X, y, kwargs.get("sample_weight")))
    best_score = getattr(estimator, "best_score_", None)
    if isinstance(best_score, int | float):
        metrics["best_cv_score"] = float(best_score)
    run.log_metrics(metrics)
    if _log_models:
        _log_model(run, estimator, X)


def _param_text(value: Any) -> str:
    from cairn.tracking.client import stringify

    text = stringify(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 3] + "..."


def _training_metrics(estimator: Any, X: Any, y: Any, sample_weight: Any) -> dict[str, float]:
    """Scores of the fitted estimator on its training data; each skipped if it fails."""
    from sklearn import metrics as skm
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    weights = {} if sample_weight is None else {"sample_weight": sample_weight}
    if hasattr(estimator, "score"):
        out.update(_try("training_score", lambda: estimator.score(X, y, **weights)))
    if y is None or not hasattr(estimator, "predict"):
        return out
    if is_classifier(estimator) or is_regressor(estimator):
        try:
            predicted = estimator.predict(X)
        except Exception as exc:  # e.g. a fit on data predict() rejects
            logger.debug("cairn.autolog: predict failed: %s", exc)
            return out
    if is_classifier(estimator):
        out.update(_try("training_accuracy", lambda: skm.accuracy_score(y, predicted, **weights)))
        out.update(
            _try("training_f1", lambda: skm.f1_score(y, predicted, average="weighted", **weights))
        )
    elif is_regressor(estimator):
        out.update(_try("training_r2", lambda: skm.r2_score(y, predicted, **weights)))
        out.update(_try("training_mae", lambda: skm.mean_absolute_error(y, predicted, **weights)))
        out.update(
            _try("training_rmse", lambda: skm.mean_squared_error(y, predicted, **weights) ** 0.5)
        )
    return out


def _try(key: str, compute: Callable[[], Any]) -> dict[str, float]:
    try:
        return {key: float(compute())}
    except Exception as exc:  # a score that does not apply to this estimator or data
        logger.debug("cairn.autolog: %s not computed: %s", key, exc)
        return {}


def _log_model(run: Any, estimator: Any, X: Any) -> None:
    """Through cairn.models when available, else a skops file in the ``model/`` artifact."""
    log_model = _models_log_model()
    if log_model is not None:
        # A few training rows let log_model infer the model's input signature.
        log_model(estimator, name="model", input_example=_head(X))
        return
    import tempfile

    import skops.io

    with tempfile.TemporaryDirectory(prefix="cairn-autolog-") as tmp:
        folder = Path(tmp) / "model"
        folder.mkdir()
        skops.io.dump(estimator, folder / "model.skops")
        run.log_artifact(folder, name="model")


def _head(X: Any, rows: int = 5) -> Any:
    if X is None:
        return None
    try:
        return X.iloc[:rows] if hasattr(X, "iloc") else X[:rows]
    except Exception:  # sparse matrices or unusual containers: no example
        return None


def _models_log_model() -> Callable[..., Any] | None:
    try:
        module = importlib.import_module("cairn.models")
    except ModuleNotFoundError as exc:
        if exc.name in ("cairn.models", "cairn"):
            return None
        raise
    found = getattr(module, "log_model", None)
    return found if callable(found) else None
