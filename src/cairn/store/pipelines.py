"""The pipeline store protocol: pipeline runs, the state of each of their steps, and the
step cache.

A pipeline run is also a tracking run (same id) with a child tracking run per executed
step; this store keeps what tracking has no place for: the DAG's per-step states with
their decodable cache keys (what ``cairn pipeline show``, ``explain`` and ``resume``
read), and the cache itself, ``cache_key -> outputs``.

Cache entries do not keep objects alive: the outputs they name are referenced through
the step runs' lineage, and a hit whose objects are gone (purged by ``cairn gc``) is
treated as a miss by the runner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

#: States of a step in one pipeline run. ``ran`` and ``cached`` have outputs.
STEP_STATES = (
    "pending",
    "running",
    "retrying",
    "ran",
    "cached",
    "failed",
    "skipped",
    "interrupted",
)
#: States of a pipeline run.
RUN_STATES = ("running", "finished", "failed", "interrupted")


@dataclass(frozen=True, slots=True)
class PipelineRun:
    run_id: str  # the tracking run's id
    pipeline: str  # the pipeline function's name
    target: str  # what `cairn pipeline run` was given: path/to/file.py:function
    executor: str
    state: str
    params: str = "{}"  # canonical JSON of the pipeline's parameters
    created_at: int = 0
    updated_at: int = 0
    resumed_from: str | None = None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step (or one item of a mapped step, ``name[i]``) of one pipeline run."""

    run_id: str
    step: str
    state: str
    cache_key: str = ""
    components: str = "{}"  # JSON {"code": digest, "params": {...}, "inputs": {...}}
    outputs: str = "[]"  # JSON [{"digest", "kind", "size", "serializer", "type"}]
    step_run_id: str | None = None  # the child tracking run (None for cached/skipped)
    attempts: int = 0
    duration_ms: int | None = None
    error: str = ""
    updated_at: int = 0


@dataclass(frozen=True, slots=True)
class CacheEntry:
    cache_key: str
    step: str
    outputs: str  # JSON, as StepRecord.outputs
    step_run_id: str | None
    created_at: int = 0


@runtime_checkable
class PipelineStore(Protocol):
    def create_run(self, run: PipelineRun) -> None:
        """Record a new pipeline run (its tracking run exists already)."""
        ...

    def set_run_state(self, run_id: str, state: str) -> None: ...

    def get_run(self, run_id: str) -> PipelineRun:
        """By id or unique id prefix; ``NotFound`` naming ``cairn pipeline ls`` otherwise."""
        ...

    def list_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRun]:
        """Newest first."""
        ...

    def save_steps(self, records: Sequence[StepRecord]) -> None:
        """Insert or replace the records (keyed by run id and step) in one transaction."""
        ...

    def list_steps(self, run_id: str) -> list[StepRecord]: ...

    def previous_step(self, pipeline: str, step: str, before_run_id: str) -> StepRecord | None:
        """The same step's record in the newest earlier run of ``pipeline`` that has one
        with a cache key (what ``explain`` compares against)."""
        ...

    def get_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]: ...

    def recent_cache(self, steps: Sequence[str], limit: int) -> dict[str, CacheEntry]:
        """The newest ``limit`` entries of these step names, by key: read once at the
        start of a run, so a chain of unchanged steps costs one query, not one each."""
        ...

    def put_cache(self, entries: Sequence[CacheEntry]) -> None:
        """Insert or replace entries (the newest outputs for a key win)."""
        ...
