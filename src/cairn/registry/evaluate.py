"""Evaluating gate rules: metrics on held-out data, comparisons, latency, fairness.

Every rule returns one JSON-ready row: ``rule``, ``value``, ``limit``, ``passed`` and
``detail``. Predictions are computed once per model (candidate and alias holder) on the
evaluation data and shared by all rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError, InvalidInput, NotFound

if TYPE_CHECKING:
    from cairn.models.loading import LoadedModel
    from cairn.registry.gates import GateSpec, Rule
    from cairn.workspace import Workspace

# name -> (what it scores: "label" | "score" | "proba" | "value", higher is better, sklearn fn)
METRICS: dict[str, tuple[str, bool, str]] = {
    "accuracy": ("label", True, "accuracy_score"),
    "balanced_accuracy": ("label", True, "balanced_accuracy_score"),
    "f1": ("label", True, "f1_score"),
    "precision": ("label", True, "precision_score"),
    "recall": ("label", True, "recall_score"),
    "roc_auc": ("score", True, "roc_auc_score"),
    "average_precision": ("score", True, "average_precision_score"),
    "log_loss": ("proba", False, "log_loss"),
    "mse": ("value", False, "mean_squared_error"),
    "rmse": ("value", False, "root_mean_squared_error"),
    "mae": ("value", False, "mean_absolute_error"),
    "r2": ("value", True, "r2_score"),
}
LATENCY_REPEATS = 50
DEFAULT_MIN_ROWS = 10


def compute_metric(name: str, y_true: Any, labels: Any, proba: Any) -> float:
    """One metric from labels and (for score metrics) class probabilities.

    Example:
        >>> compute_metric("accuracy", [0, 1, 1], [0, 1, 0], None)
        0.6666666666666666
    """
    import numpy as np
    from sklearn import metrics

    needs, _, fn_name = METRICS[name]
    fn: Callable[..., Any] = getattr(metrics, fn_name)
    y = np.asarray(y_true)
    if needs == "label":
        if name in ("f1", "precision", "recall"):
            classes = np.unique(y)
            binary = len(classes) <= 2 and set(classes.tolist()) <= {0, 1}
            return float(fn(y, labels, average="binary" if binary else "macro", zero_division=0))
        return float(fn(y, labels))
    if needs == "value":
        return float(fn(y, labels))
    if proba is None:
        if needs == "proba":
            raise InvalidInput(f"metric {name} needs class probabilities; the model gives none")
        return float(fn(y, labels))
    if needs == "proba":
        return float(fn(y, proba))
    scores = np.asarray(proba)
    if scores.ndim == 2 and scores.shape[1] == 2:
        return float(fn(y, scores[:, 1]))
    if scores.ndim == 2:
        return float(fn(y, scores, multi_class="ovr"))
    return float(fn(y, scores))


class _Predictions:
    def __init__(self, model: LoadedModel, features: Any) -> None:
        self.model = model
        self.labels = model.predict(features)
        self.proba = model.predict_proba(features) if model.has_proba else None

    def metric(self, name: str, y: Any, mask: Any = None) -> float:
        if mask is None:
            return compute_metric(name, y, self.labels, self.proba)
        proba = None if self.proba is None else self.proba[mask]
        return compute_metric(name, y[mask], self.labels[mask], proba)


class Evaluation:
    """State shared by the rules of one gate check."""

    def __init__(
        self,
        ws: Workspace,
        name: str,
        version: int,
        spec: GateSpec,
        *,
        against: str | None = None,
        data: str | None = None,
    ) -> None:
        self.ws = ws
        self.name = name
        self.version = version
        self.spec = spec
        self.against = against or spec.against
        self.data_ref = data or spec.data
        self.data_label = self.data_ref or ""
        self._frame: Any = None
        self._models: dict[int, LoadedModel] = {}
        self._predictions: dict[int, _Predictions] = {}

    # -- shared inputs -----------------------------------------------------------------

    def model(self, version: int) -> LoadedModel:
        if version not in self._models:
            from cairn.models.loading import load

            self._models[version] = load(f"models:/{self.name}/{version}", workspace=self.ws)
        return self._models[version]

    def frame(self) -> Any:
        if self._frame is None:
            if not self.data_ref:
                raise InvalidInput(
                    f"{self.spec.path}: metric and fairness rules need 'data' (a dataset "
                    "version such as churn@v2, or a CSV or Parquet path) or --data"
                )
            self._frame, self.data_label = load_frame(self.data_ref, self.ws)
            if self.spec.target not in self._frame.columns:
                raise InvalidInput(
                    f"target column {self.spec.target!r} is not in {self.data_label}; "
                    f"columns: {', '.join(map(str, self._frame.columns[:20]))}"
                )
        return self._frame

    def features(self, model: LoadedModel) -> Any:
        """The evaluation data without the label (and, for tensor models, without the
        group columns of fairness rules, which a table model would simply ignore)."""
        drop = [self.spec.target]
        if model.signature.is_tensor:
            drop += [str(r.spec["fairness"]["by"]) for r in self.spec.rules if r.kind == "fairness"]
        frame = self.frame()
        return frame.drop(columns=[c for c in drop if c in frame.columns])

    def predictions(self, version: int) -> _Predictions:
        if version not in self._predictions:
            model = self.model(version)
            self._predictions[version] = _Predictions(model, self.features(model))
        return self._predictions[version]

    def holder(self, rule: Rule) -> int | None:
        alias = self.against or rule.alias
        assert alias is not None
        number = self.ws.registry.get_alias(self.name, alias)
        return None if number is None else int(number)

    # -- rules -------------------------------------------------------------------------

    def run(self, rule: Rule) -> dict[str, Any]:
        handler = getattr(self, f"_rule_{rule.kind}")
        try:
            value, limit, passed, detail = handler(rule)
        except CairnError as exc:
            # A rule that cannot be evaluated fails; the message says why.
            value, limit, passed, detail = None, None, False, str(exc)
        return {
            "rule": rule.text,
            "kind": rule.kind,
            "value": value,
            "limit": limit,
            "passed": bool(passed),
            "detail": detail,
        }

    def _rule_metric(self, rule: Rule) -> tuple[Any, Any, bool, str]:
        metric = str(rule.spec["metric"])
        y = self.frame()[self.spec.target].to_numpy()
        value = self.predictions(self.version).metric(metric, y)
        if "no_worse_than" in rule.spec:
            holder = self.holder(rule)
            alias = self.against or rule.alias
            if holder is None:
                return value, None, True, f"no version holds {alias!r} yet: nothing to compare"
            champion = self.predictions(holder).metric(metric, y)
            tolerance = float(rule.spec.get("tolerance", 0.0))
            higher = METRICS[metric][1]
            limit = champion - tolerance if higher else champion + tolerance
            passed = value >= limit if higher else value <= limit
            sign, op = (">=", "-") if higher else ("<=", "+")
            detail = f"{alias} v{holder} scores {champion:.6g}; tolerance {op}{tolerance:g}"
            return value, f"{sign} {limit:.6g}", passed, detail
        low, high = rule.spec.get("min"), rule.spec.get("max")
        passed = (low is None or value >= low) and (high is None or value <= high)
        return value, _bounds(low, high), passed, ""

    def _rule_run_metric(self, rule: Rule) -> tuple[Any, Any, bool, str]:
        key = str(rule.spec["run_metric"])
        version = self.ws.registry.get_version(self.name, self.version)
        if version.run_id is None:
            raise NotFound(f"{self.name}/{self.version} has no source run to read {key!r} from")
        run = self.ws.tracking.get_run(version.run_id)
        if key not in run.metrics:
            raise NotFound(f"run {run.id} logged no metric {key!r}")
        value = run.metrics[key].value
        low, high = rule.spec.get("min"), rule.spec.get("max")
        passed = (low is None or value >= low) and (high is None or value <= high)
        return value, _bounds(low, high), passed, f"logged by run {run.id}"

    def _rule_latency_p95_ms(self, rule: Rule) -> tuple[Any, Any, bool, str]:
        model = self.model(self.version)
        example = model.input_example()
        source = "the input example"
        if example is None:
            frame = self.frame()
            example = frame.drop(columns=[self.spec.target]).head(1)
            source = "one row of the evaluation data"
        repeats = int(rule.spec.get("repeats", LATENCY_REPEATS))
        p95 = latency_p95_ms(model, example, repeats)
        limit = float(rule.spec["latency_p95_ms"])
        rows = len(example)
        return p95, f"<= {limit:g}", p95 <= limit, f"{repeats} calls on {source} ({rows} rows)"

    def _rule_fairness(self, rule: Rule) -> tuple[Any, Any, bool, str]:
        import numpy as np

        f = rule.spec["fairness"]
        frame = self.frame()
        by = str(f["by"])
        if by not in frame.columns:
            raise InvalidInput(f"fairness column {by!r} is not in {self.data_label}")
        y = frame[self.spec.target].to_numpy()
        groups = frame[by].to_numpy()
        min_rows = int(f.get("min_rows", DEFAULT_MIN_ROWS))
        preds = self.predictions(self.version)
        per_group: dict[str, float] = {}
        skipped = []
        for group in sorted(set(groups.tolist()), key=str):
            mask = groups == group
            if int(mask.sum()) < min_rows:
                skipped.append(str(group))
                continue
            try:
                per_group[str(group)] = preds.metric(str(f["metric"]), y, np.asarray(mask))
            except ValueError:  # e.g. roc_auc of a group holding one class only
                skipped.append(str(group))
        if len(per_group) < 2:
            raise InvalidInput(
                f"fairness by {by!r} needs at least two groups of {min_rows}+ rows; "
                f"found {len(per_group)}"
            )
        gap = max(per_group.values()) - min(per_group.values())
        detail = ", ".join(f"{g}={v:.4g}" for g, v in per_group.items())
        if skipped:
            detail += f"; skipped: {', '.join(skipped)}"
        limit = float(f["max_gap"])
        return gap, f"<= {limit:g}", gap <= limit, detail

    def _rule_signature_compatible_with(self, rule: Rule) -> tuple[Any, Any, bool, str]:
        from cairn.models.loading import read_model_manifest
        from cairn.models.signature import compatibility_problems

        alias = self.against or rule.alias
        holder = self.holder(rule)
        if holder is None:
            return "n/a", alias, True, f"no version holds {alias!r} yet: nothing to compare"
        current = read_model_manifest(f"models:/{self.name}/{holder}", self.ws).signature
        candidate = read_model_manifest(f"models:/{self.name}/{self.version}", self.ws).signature
        problems = compatibility_problems(current, candidate)
        value = "compatible" if not problems else f"{len(problems)} change(s)"
        return value, f"{alias} (v{holder})", not problems, "; ".join(problems)

    def _rule_data_validation(self, rule: Rule) -> tuple[Any, Any, bool, str]:
        version = self.ws.registry.get_version(self.name, self.version)
        if version.run_id is None:
            raise NotFound(f"{self.name}/{self.version} has no source run: no training data known")
        run = self.ws.tracking.get_run(version.run_id)
        datasets = [io.name for io in run.inputs if io.kind == "dataset"]
        if not datasets:
            raise NotFound(
                f"run {run.id} recorded no dataset inputs; log them with cairn.log_input"
            )
        value = rule.spec["data_validation"]
        schema = value.get("schema") if isinstance(value, dict) else None
        failed = []
        for ref in datasets:
            status = validation_status(ref, self.ws, schema)
            if status is not True:
                failed.append(f"{ref}: {status}")
        detail = "; ".join(failed) or ", ".join(datasets)
        return ("passed" if not failed else "failed"), "passed", not failed, detail


def _bounds(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low:g} .. {high:g}"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


def latency_p95_ms(model: LoadedModel, example: Any, repeats: int = LATENCY_REPEATS) -> float:
    """95th percentile of ``model.predict(example)`` wall time in ms, after warm-up."""
    import numpy as np

    for _ in range(min(5, repeats)):
        model.predict(example)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(example)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 95))


def load_frame(ref: str, ws: Workspace) -> tuple[Any, str]:
    """A DataFrame from a CSV/Parquet/JSON path or a dataset version (``churn@v2``)."""
    import pandas as pd

    path = Path(ref).expanduser()
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return pd.read_csv(path), str(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), str(path)
        if suffix in (".json", ".jsonl"):
            return pd.read_json(path, lines=suffix == ".jsonl"), str(path)
        raise InvalidInput(f"cannot read {path}: use a .csv, .parquet or .json file")
    try:
        import cairn.data as data
    except ModuleNotFoundError:
        raise NotFound(f"{ref!r} is not a file, and dataset support is not installed") from None
    get = getattr(data, "get", None)
    if get is None:
        raise NotFound(f"{ref!r} is not a file, and this Cairn has no cairn.data.get")
    handle = get(ref)
    label = str(getattr(handle, "ref", ref))
    return handle.load(), label


def validation_status(ref: str, ws: Workspace, schema: str | None = None) -> bool | str:
    """True when dataset version ``ref`` passes validation; otherwise the reason.

    With ``schema`` the version is validated now against that schema file. Without it,
    a validation result recorded by the data layer is used, when it records one.
    """
    try:
        import cairn.data as data
    except ModuleNotFoundError:
        return "dataset support is not installed"
    if schema is not None:
        report = data.validate(ref, schema, workspace=ws)
        if report.ok:
            return True
        first = report.failures[0]
        return f"{len(report.failures)} check(s) failed, first: {first.message}"
    recorded = getattr(data, "validation_status", None)
    if recorded is None:
        return (
            "no validation result is recorded; give the schema in the rule: "
            "{data_validation: {schema: schema.yaml}}"
        )
    status = recorded(ref)
    return True if status is True else str(status or "no validation recorded")
