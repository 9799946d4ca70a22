"""Reading pipeline runs back: list, show (the DAG with states), explain, resume."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput
from cairn.pipelines import cache as cachekeys
from cairn.store.pipelines import PipelineRun, StepRecord

if TYPE_CHECKING:
    from cairn.pipelines.outcome import Outcome
    from cairn.pipelines.runner import Listener
    from cairn.workspace import Workspace


def _ws(workspace: Workspace | None) -> Workspace:
    from cairn.workspace import current

    return workspace or current()


def list_runs(
    pipeline: str | None = None, limit: int = 50, *, workspace: Workspace | None = None
) -> list[PipelineRun]:
    """Pipeline runs, newest first."""
    if limit < 1:
        raise InvalidInput(f"limit must be at least 1, got {limit}")
    return _ws(workspace).metadata.pipelines.list_runs(pipeline, limit)


def step_dict(record: StepRecord) -> dict[str, Any]:
    components = json.loads(record.components or "{}")
    outputs = json.loads(record.outputs or "[]")
    return {
        "step": record.step,
        "state": record.state,
        "upstream": components.get("upstream", []),
        "cache_key": record.cache_key or None,
        "duration_ms": record.duration_ms,
        "attempts": record.attempts,
        "step_run_id": record.step_run_id,
        "output": outputs[0] if outputs else None,
        "error": record.error or None,
    }


def show_run(run_ref: str, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """The run and its steps in DAG order (each after the steps feeding it)."""
    ws = _ws(workspace)
    store = ws.metadata.pipelines
    run = store.get_run(run_ref)
    records = {r.step: r for r in store.list_steps(run.run_id)}
    steps = [step_dict(r) for r in records.values()]
    order = _dag_order(steps)
    return {
        "run_id": run.run_id,
        "pipeline": run.pipeline,
        "target": run.target,
        "executor": run.executor,
        "state": run.state,
        "params": json.loads(run.params or "{}"),
        "created_at": run.created_at,
        "updated_at": run.updated_at,
        "resumed_from": run.resumed_from,
        "steps": order,
    }


def _dag_order(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_key = {s["step"]: s for s in steps}
    done: set[str] = set()
    order: list[dict[str, Any]] = []

    def visit(key: str) -> None:
        if key in done or key not in by_key:
            return
        done.add(key)
        for up in by_key[key]["upstream"]:
            visit(up)
        order.append(by_key[key])

    for key in sorted(by_key, key=lambda k: (bool(by_key[k]["upstream"]), k)):
        visit(key)
    return order


@dataclass(frozen=True)
class Explanation:
    step: str
    state: str
    cache_key: str
    reasons: list[str]
    compared_with: str | None  # the earlier pipeline run used for the comparison

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "state": self.state,
            "cache_key": self.cache_key or None,
            "reasons": self.reasons,
            "compared_with": self.compared_with,
        }


def explain(run_ref: str, step: str, *, workspace: Workspace | None = None) -> Explanation:
    """Why ``step`` ran or was cached in a run: which of code, params and inputs
    changed compared with the same step in the previous run of the pipeline."""
    ws = _ws(workspace)
    store = ws.metadata.pipelines
    run = store.get_run(run_ref)
    records = {r.step: r for r in store.list_steps(run.run_id)}
    record = records.get(step)
    if record is None:
        raise InvalidInput(
            f"pipeline run {run.run_id[:12]} has no step {step!r}; its steps: "
            + ", ".join(sorted(records))
        )
    if not record.cache_key:
        reason = record.error or "its inputs never became available"
        return Explanation(step, record.state, "", [f"it did not run: {reason}"], None)
    current = json.loads(record.components)
    previous = store.previous_step(run.pipeline, step, run.run_id)
    before = json.loads(previous.components) if previous is not None else None
    changes = cachekeys.explain(current, before)
    compared = previous.run_id if previous is not None else None
    if record.state == "cached":
        source = record.step_run_id[:12] if record.step_run_id else "an earlier run"
        reasons = [
            f"cached: code, params and inputs match the execution in step run {source} "
            f"(cache key {record.cache_key[:12]})"
        ]
    elif previous is None:
        reasons = ["ran: first run of this step (nothing cached to compare with)"]
    elif not changes or changes == ["no earlier run of this step to compare with"]:
        reasons = [
            "ran although code, params and inputs are unchanged: caching was off "
            "(--no-cache or cache=False), or the cached output was removed by gc"
        ]
    else:
        reasons = [f"ran because {line}" for line in changes]
    if record.state in ("failed", "skipped", "interrupted"):
        reasons.append(f"then {record.state}: {record.error}" if record.error else record.state)
    return Explanation(step, record.state, record.cache_key, reasons, compared)


def resume(
    run_ref: str,
    *,
    executor: str | None = None,
    listener: Listener | None = None,
    workspace: Workspace | None = None,
) -> Outcome:
    """Run a failed or interrupted pipeline run again as a new run: steps whose code,
    params and inputs are unchanged reuse the outputs they already stored (even with
    ``cache=False``); failed, skipped, interrupted and changed steps run."""
    from cairn.pipelines.loader import load_target
    from cairn.pipelines.runner import run_pipeline

    ws = _ws(workspace)
    run = ws.metadata.pipelines.get_run(run_ref)
    pipe, target = load_target(run.target)
    return run_pipeline(
        pipe,
        json.loads(run.params or "{}"),
        executor=executor or run.executor,
        target=target,
        workspace=ws,
        listener=listener,
        resumed_from=run.run_id,
    )
