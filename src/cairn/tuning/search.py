"""``cairn.tune``: Optuna search where every trial is a child run.

    result = cairn.tune(objective, {"C": Float(1e-3, 100, log=True)}, n_trials=50,
                        metric="auc", direction="maximize", executor="process")
    result.best.params, result.best.value, result.run_id

The parent run holds the search (its tags say the metric, direction and how many trials
finished, were pruned or failed) and, at the end, the best trial's params, metrics and
model. Each trial is a child run with its params, its intermediate values (the tuned
metric at steps 0, 1, ...) and its final metrics; a pruned trial ends KILLED and a
failed one FAILED, tagged ``cairn.tuning.state``. ``cairn runs compare`` takes any of
them.

The study itself is Optuna's, in memory: Cairn's store is the record, so there is no
second database to keep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cairn.errors import CairnError, InvalidInput
from cairn.tuning.executors import TrialExecutor, make_executor
from cairn.tuning.space import to_optuna
from cairn.tuning.trials import Trial, TrialJob, TrialOutcome, TrialState, run_trial
from cairn.types import RunStatus

if TYPE_CHECKING:
    import pandas as pd

STATE_TAG = "cairn.tuning.state"
TRIAL_TAG = "cairn.tuning.trial"
ERROR_TAG = "cairn.error.message"
_STATUS: dict[TrialState, RunStatus] = {
    "complete": RunStatus.FINISHED,
    "pruned": RunStatus.KILLED,
    "failed": RunStatus.FAILED,
}


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial as recorded: its child run, params, state and metrics."""

    number: int
    run_id: str
    params: dict[str, Any]
    state: TrialState
    value: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str = ""


@dataclass
class TuneResult:
    """The outcome of :func:`tune`: the parent run, every trial, the best one."""

    run_id: str
    metric: str
    direction: str
    trials: list[TrialRecord]
    best: TrialRecord
    model: Any = None
    study: Any = None

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best.params

    @property
    def best_value(self) -> float | None:
        return self.best.value

    def leaderboard(self) -> pd.DataFrame:
        """One row per trial, best first: number, run id, state, value, params."""
        import pandas as pd

        rows = [
            {"trial": t.number, "run_id": t.run_id, "state": t.state, self.metric: t.value}
            | {f"params.{k}": v for k, v in t.params.items()}
            for t in self.trials
        ]
        frame = pd.DataFrame(rows)
        ascending = self.direction == "minimize"
        return frame.sort_values(self.metric, ascending=ascending, na_position="last")


def tune(
    objective: Callable[[Trial], Any],
    space: Mapping[str, Any],
    n_trials: int = 20,
    metric: str = "score",
    direction: Literal["maximize", "minimize"] = "maximize",
    *,
    executor: str | TrialExecutor | None = None,
    n_jobs: int | None = None,
    pruner: Any = None,
    sampler: Any = None,
    seed: int | None = None,
    timeout: float | None = None,
    experiment: str | None = None,
    name: str = "",
    catch: tuple[type[Exception], ...] = (),
) -> TuneResult:
    """Search ``space`` for the parameters that optimize ``metric``.

    Args:
        objective: ``objective(trial) -> value``; ``trial.params`` holds the sampled
            parameters. Return a number, a dict of metrics holding ``metric``, or
            ``(either, model)`` to have the best trial's model logged on the parent run.
            Call ``trial.report(value, step)`` and ``trial.should_prune()`` for pruning.
        space: Parameter name -> distribution (:class:`~cairn.tuning.Float`, ``Int``,
            ``Choice``, a list of options, or an Optuna distribution).
        n_trials: How many trials to run (fewer if ``timeout`` passes first).
        metric: Name of the metric the objective returns.
        direction: ``maximize`` or ``minimize``.
        executor: ``inline`` (this process, the default), ``process`` (a pool of
            ``n_jobs`` processes; the objective must be importable) or ``ray``.
        pruner: An Optuna pruner, e.g. ``optuna.pruners.MedianPruner()``.
        sampler: An Optuna sampler (default TPE, seeded with ``seed``).
        timeout: Seconds after which no new trial starts (the first always does).
        experiment: Experiment of the runs (default: the active run's, or ``Default``).
        catch: Exception types that fail a trial without stopping the search; any other
            exception stops it and is raised after the runs are recorded.

    Raises:
        InvalidInput: a bad space, direction or trial count.
        CairnError: no trial completed.
    """
    import optuna

    from cairn.tracking import fluent

    if direction not in ("maximize", "minimize"):
        raise InvalidInput(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidInput(f"n_trials must be a positive integer, got {n_trials!r}")
    if not callable(objective):
        raise InvalidInput(f"objective must be a function of one trial, got {objective!r}")
    distributions = to_optuna(space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction=direction,
        sampler=sampler or optuna.samplers.TPESampler(seed=seed),
        pruner=pruner or optuna.pruners.NopPruner(),
    )
    pool = make_executor(executor, n_jobs)
    nested = fluent.active_run() is not None
    tags = {"cairn.tuning.metric": metric, "cairn.tuning.direction": direction}
    try:
        with fluent.start_run(experiment, name=name, tags=tags, nested=nested) as parent:
            search = _Search(study, distributions, objective, metric, pool, parent, catch)
            search.run(n_trials, timeout)
            return search.finish()
    finally:
        pool.shutdown()


class _Search:
    """The ask / run / tell loop of one :func:`tune` call."""

    def __init__(
        self,
        study: Any,
        distributions: dict[str, Any],
        objective: Callable[[Trial], Any],
        metric: str,
        pool: TrialExecutor,
        parent: Any,
        catch: tuple[type[Exception], ...],
    ) -> None:
        self.study = study
        self.distributions = distributions
        self.objective = objective
        self.metric = metric
        self.pool = pool
        self.parent = parent
        self.client = parent.client
        self.catch = catch
        self.environment = self.client.capture_environment()  # once, not per trial
        self.records: list[TrialRecord] = []
        self.best_model: Any = None
        self._best_value: float | None = None
        self._error: BaseException | None = None
        self._in_process = bool(getattr(pool, "in_process", False))

    def run(self, n_trials: int, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        in_flight: dict[Future[Any], tuple[Any, str]] = {}
        submitted = 0
        try:
            while True:
                while (
                    submitted < n_trials
                    and len(in_flight) < self.pool.workers
                    and self._error is None
                    # The first trial always runs: a budget spent before it would
                    # leave nothing to report.
                    and (deadline is None or submitted == 0 or time.monotonic() < deadline)
                ):
                    future, optuna_trial, run_id = self._submit()
                    in_flight[future] = (optuna_trial, run_id)
                    submitted += 1
                if not in_flight:
                    break
                done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for future in done:
                    optuna_trial, run_id = in_flight.pop(future)
                    self._collect(future, optuna_trial, run_id)
        except BaseException:
            # Ctrl-C or a crash of the loop itself: the trials still out end KILLED.
            for _trial, run_id in in_flight.values():
                self.client.end_run(run_id, RunStatus.KILLED)
            raise
        if self._error is not None:
            self._tag_parent()
            raise self._error

    def _submit(self) -> tuple[Future[Any], Any, str]:
        optuna_trial = self.study.ask(self.distributions)
        number = optuna_trial.number
        run = self.client.store.create_run(
            self.parent.experiment_id,
            name=f"trial-{number}",
            parent_id=self.parent.id,
            environment=self.environment,
            params={k: _text(v) for k, v in optuna_trial.params.items()},
            tags={TRIAL_TAG: str(number)},
        )
        job = TrialJob(
            objective=self.objective,
            number=number,
            params=optuna_trial.params,
            run_id=run.id,
            metric=self.metric,
            settings=self.client.workspace.settings,
        )
        if self._in_process:
            job.live = optuna_trial
            job.client = self.client
        elif not isinstance(self.study.pruner, _nop_pruner()):
            finished = [t for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()]
            job.snapshot = (self.study.direction.name.lower(), self.study.pruner, finished)
        try:
            future = self.pool.submit(run_trial, job)
        except BaseException:  # Ctrl-C inside an in-process trial
            self.client.end_run(run.id, RunStatus.KILLED)
            raise
        return future, optuna_trial, run.id

    def _collect(self, future: Future[Any], optuna_trial: Any, run_id: str) -> None:
        from optuna.trial import TrialState as OptunaState

        try:
            outcome: TrialOutcome = future.result()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            outcome = TrialOutcome(optuna_trial.number, "failed", error=error)
            if not isinstance(exc, self.catch) and self._error is None:
                self._error = exc
        if not self._in_process:  # the live trial got them already
            for step, value in outcome.intermediate:
                optuna_trial.report(value, step)
        final = []
        if outcome.state == "complete":
            step = max((s for s, _ in outcome.intermediate), default=-1) + 1
            final = [(key, value, step) for key, value in outcome.metrics.items()]
            self.study.tell(optuna_trial, outcome.value)
        else:
            state = OptunaState.PRUNED if outcome.state == "pruned" else OptunaState.FAIL
            self.study.tell(optuna_trial, state=state)
            tags: dict[str, str] = {STATE_TAG: outcome.state}
            if outcome.error:
                tags[ERROR_TAG] = outcome.error[:5000]
            self.client.set_tags(run_id, tags)
        for key, value, step in final:
            self.client.log_metric(run_id, key, value, step)
        self.client.end_run(run_id, _STATUS[outcome.state])
        record = TrialRecord(
            outcome.number,
            run_id,
            dict(optuna_trial.params),
            outcome.state,
            outcome.value,
            outcome.metrics,
            outcome.error,
        )
        self.records.append(record)
        if outcome.state == "complete" and outcome.model is not None and self._better(record):
            self.best_model, self._best_value = outcome.model, record.value

    def _better(self, record: TrialRecord) -> bool:
        if self._best_value is None or record.value is None:
            return record.value is not None
        if self.study.direction.name.lower() == "maximize":
            return record.value > self._best_value
        return record.value < self._best_value

    def _tag_parent(self) -> None:
        counts = {state: 0 for state in ("complete", "pruned", "failed")}
        for record in self.records:
            counts[record.state] += 1
        self.client.set_tags(self.parent.id, {f"cairn.tuning.{k}": v for k, v in counts.items()})

    def finish(self) -> TuneResult:
        self._tag_parent()
        complete = [r for r in self.records if r.state == "complete"]
        if not complete:
            errors = sorted({r.error for r in self.records if r.error})
            raise CairnError(
                f"none of the {len(self.records)} trials completed"
                + (f"; first error: {errors[0]}" if errors else " (all were pruned)")
                + ": check the objective and the search space"
            )
        best_number = self.study.best_trial.number
        best = next(r for r in complete if r.number == best_number)
        self.client.log_params(self.parent.id, {k: _text(v) for k, v in best.params.items()})
        self.client.log_metrics(self.parent.id, best.metrics)
        self.client.set_tags(
            self.parent.id,
            {"cairn.tuning.best_run": best.run_id, "cairn.tuning.best_trial": best.number},
        )
        if self.best_model is not None:
            from cairn.models import log_model

            log_model(self.best_model)
        return TuneResult(
            run_id=self.parent.id,
            metric=self.metric,
            direction=self.study.direction.name.lower(),
            trials=sorted(self.records, key=lambda r: r.number),
            best=best,
            model=self.best_model,
            study=self.study,
        )


def _nop_pruner() -> type:
    import optuna

    return optuna.pruners.NopPruner


def _text(value: Any) -> str:
    return "None" if value is None else str(value)
