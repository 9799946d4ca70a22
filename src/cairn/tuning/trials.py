"""One trial: what the objective sees (:class:`Trial`) and the code that runs it.

:func:`run_trial` runs in the tuner's process (executor ``inline``) or in a worker
process or Ray task. It logs to the trial's child run, which the tuner created before
submitting it, and returns a :class:`TrialOutcome`; the tuner ends the run.

Pruning: in the tuner's process the trial asks the live Optuna study. In a worker, it
asks a copy of the study holding the trials finished when it was submitted (the same
information a distributed Optuna study offers a worker), built on first use.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.config import Settings
    from cairn.tracking.client import TrackingClient

TrialState = Literal["complete", "pruned", "failed"]


class TrialPruned(Exception):
    """Raise from an objective to stop a trial that :meth:`Trial.should_prune` condemned
    (``optuna.TrialPruned`` works the same)."""


@dataclass
class TrialOutcome:
    """What a trial produced, sent back to the tuner."""

    number: int
    state: TrialState
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    intermediate: list[tuple[int, float]] = field(default_factory=list)
    model: Any = None
    error: str = ""


@dataclass
class TrialJob:
    """Everything a worker needs to run one trial (picklable for process executors)."""

    objective: Callable[[Trial], Any]
    number: int
    params: dict[str, Any]
    run_id: str
    metric: str
    settings: Settings
    #: (direction, pruner, finished FrozenTrials) for pruning away from the study.
    snapshot: tuple[str, Any, list[Any]] | None = None
    #: The live (study, optuna trial) when the trial runs in the tuner's process.
    live: Any = None
    client: TrackingClient | None = None


class Trial:
    """What the objective receives: the trial's parameters and a way to report.

    Example:
        >>> def objective(trial):
        ...     model = make_model(**trial.params)
        ...     for epoch in range(10):
        ...         auc = train_one_epoch(model)
        ...         trial.report(auc, epoch)            # intermediate value, for pruning
        ...         if trial.should_prune():
        ...             raise cairn.tuning.TrialPruned()
        ...     return auc, model                      # final metric (and the model)
    """

    def __init__(self, job: TrialJob, client: TrackingClient) -> None:
        self.number = job.number
        self.params = dict(job.params)
        self.run_id = job.run_id
        self._job = job
        self._client = client
        self._steps: dict[str, int] = {}
        self.intermediate: list[tuple[int, float]] = []
        self._pruning_trial: Any = None

    def __repr__(self) -> str:
        return f"<Trial {self.number} {self.params}>"

    def report(self, value: float, step: int) -> None:
        """Record an intermediate value of the tuned metric (logged on the trial's run at
        ``step``); pruners compare trials by these."""
        value = _number(self._job.metric, value)
        self.intermediate.append((step, value))
        self._client.log_metric(self.run_id, self._job.metric, value, step)
        self._pruner_trial().report(value, step)

    def should_prune(self) -> bool:
        """True when the pruner says this trial is doing worse than the others did."""
        return bool(self._pruner_trial().should_prune())

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log another metric on the trial's run (each key counts steps 0, 1, ...)."""
        if step is None:
            step = self._steps.get(key, -1) + 1
        self._steps[key] = max(step, self._steps.get(key, -1))
        self._client.log_metric(self.run_id, key, value, step)

    def set_tag(self, key: str, value: Any) -> None:
        self._client.set_tag(self.run_id, key, value)

    def _pruner_trial(self) -> Any:
        if self._pruning_trial is None:
            if self._job.live is not None:
                self._pruning_trial = self._job.live
            else:
                self._pruning_trial = _snapshot_trial(self._job.snapshot)
        return self._pruning_trial


def _snapshot_trial(snapshot: tuple[str, Any, list[Any]] | None) -> Any:
    import optuna

    direction, pruner, finished = snapshot or ("maximize", None, [])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="minimize" if direction == "minimize" else "maximize",
        pruner=pruner or optuna.pruners.NopPruner(),
        sampler=optuna.samplers.RandomSampler(),
    )
    if finished:
        study.add_trials(finished)
    return study.ask()


_clients: dict[tuple[str, str], TrackingClient] = {}


def _client_for(settings: Settings) -> TrackingClient:
    """One tracking client per workspace per worker process (reused across trials)."""
    key = (settings.tracking_uri, settings.artifact_uri)
    client = _clients.get(key)
    if client is None:
        from cairn.tracking.client import TrackingClient
        from cairn.workspace import Workspace

        client = _clients[key] = TrackingClient(Workspace(settings))
    return client


def run_trial(job: TrialJob) -> TrialOutcome:
    """Run the objective once. A pruned trial and a NaN result come back as outcomes;
    any other exception propagates (after the trial's metrics are written)."""
    import optuna

    client = job.client or _client_for(job.settings)
    trial = Trial(job, client)
    try:
        result = job.objective(trial)
    except (TrialPruned, optuna.TrialPruned):
        return TrialOutcome(job.number, "pruned", intermediate=trial.intermediate)
    finally:
        if job.client is None:  # a worker: hand the points over before returning
            client.flush()
    value, metrics, model = split_result(job.metric, result)
    if math.isnan(value):
        return TrialOutcome(
            job.number, "failed", intermediate=trial.intermediate, error="objective returned NaN"
        )
    return TrialOutcome(job.number, "complete", value, metrics, trial.intermediate, model)


def split_result(metric: str, result: Any) -> tuple[float, dict[str, float], Any]:
    """(value of ``metric``, every metric, model) from what an objective returned: a
    number, a dict of metrics holding ``metric``, or either with a model in a pair."""
    model = None
    if isinstance(result, tuple) and len(result) == 2:
        result, model = result
    if isinstance(result, Mapping):
        if metric not in result:
            raise InvalidInput(
                f"the objective returned metrics {sorted(result)} without {metric!r}, the "
                "metric being tuned: include it, or pass metric= one of those"
            )
        metrics = {str(k): _number(str(k), v) for k, v in result.items()}
        return metrics[metric], metrics, model
    value = _number(metric, result)
    return value, {metric: value}, model


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(
            f"the objective gave {type(value).__name__} {value!r} for {key!r}: return a "
            "number, a dict of numbers, or (either, model)"
        )
    return float(value)
