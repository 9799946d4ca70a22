"""Where the runner writes a pipeline run's records: the :class:`Recorder` protocol.

A pipeline run writes a tracking run (and a child run per executed step, with tags,
lineage edges and an end status) plus the pipeline store's run, step records and cache
entries. :func:`open_recorder` picks how:

- on an embedded SQLite workspace, :class:`~cairn.store.sql.embedded_pipelines.
  EmbeddedPipelineRecords` writes the same rows with the standard library's ``sqlite3``,
  gathering them in one transaction until :meth:`Recorder.commit` (so a fully cached run
  neither imports SQLAlchemy nor commits more than once);
- anywhere else (PostgreSQL, a server, another schema revision), :class:`StoreRecorder`
  goes through the workspace's tracking client and pipeline store, each call its own
  transaction.

The runner calls :meth:`Recorder.commit` before any step runs, so what a step's code
reads from the workspace, and what a crash leaves behind, is the same either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from cairn.store.pipelines import CacheEntry, PipelineRun, StepRecord
from cairn.types import Environment, RunIO, RunStatus

if TYPE_CHECKING:
    from cairn.workspace import Workspace


class Recorder(Protocol):
    """What the runner records through; see the module docstring."""

    def create_run(
        self,
        experiment: str,
        *,
        name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
        environment: Environment,
        parent_id: str | None = None,
    ) -> str:
        """Start a RUNNING tracking run; its id."""
        ...

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None: ...

    def end_run(self, run_id: str, status: RunStatus) -> None: ...

    def log_io(self, run_id: str, items: Sequence[RunIO]) -> None: ...

    def create_pipeline_run(self, run: PipelineRun) -> None: ...

    def set_run_state(self, run_id: str, state: str) -> None: ...

    def save_steps(self, records: Sequence[StepRecord]) -> None: ...

    def list_steps(self, run_id: str) -> list[StepRecord]: ...

    def get_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]: ...

    def recent_cache(self, steps: Sequence[str], limit: int) -> dict[str, CacheEntry]: ...

    def put_cache(self, entries: Sequence[CacheEntry]) -> None: ...

    def commit(self) -> None:
        """Make every record written so far durable and visible to other processes."""
        ...

    def close(self) -> None: ...


def open_recorder(ws: Workspace) -> Recorder:
    """The embedded recorder when the workspace allows it, else the stores' one."""
    from cairn.store.sql.embedded_pipelines import EmbeddedPipelineRecords

    return EmbeddedPipelineRecords.open(ws.settings.tracking_uri) or StoreRecorder(ws)


def as_text(values: Mapping[str, Any]) -> dict[str, str]:
    """Param and tag values as the tracking client stores them: strings as they are,
    mappings and lists as sorted JSON, anything else through ``str``."""
    out = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[key] = value
        elif isinstance(value, Mapping | list | tuple):
            try:
                out[key] = json.dumps(value, sort_keys=True, default=str)
            except (TypeError, ValueError):
                out[key] = str(value)
        else:
            out[key] = str(value)
    return out


class StoreRecorder:
    """Records through the workspace's tracking client and pipeline store."""

    def __init__(self, ws: Workspace) -> None:
        from cairn.tracking.client import TrackingClient

        self.ws = ws
        self.client = TrackingClient(ws)
        self.store = ws.metadata.pipelines

    def create_run(
        self,
        experiment: str,
        *,
        name: str,
        params: Mapping[str, str],
        tags: Mapping[str, str],
        environment: Environment,
        parent_id: str | None = None,
    ) -> str:
        run = self.client.create_run(
            experiment,
            name=name,
            params=params,
            tags=tags,
            parent_id=parent_id,
            environment=environment,
        )
        return run.id

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        self.client.set_tags(run_id, tags)

    def end_run(self, run_id: str, status: RunStatus) -> None:
        self.client.end_run(run_id, status)

    def log_io(self, run_id: str, items: Sequence[RunIO]) -> None:
        self.ws.tracking.log_io(run_id, items)

    def create_pipeline_run(self, run: PipelineRun) -> None:
        self.store.create_run(run)

    def set_run_state(self, run_id: str, state: str) -> None:
        self.store.set_run_state(run_id, state)

    def save_steps(self, records: Sequence[StepRecord]) -> None:
        self.store.save_steps(records)

    def list_steps(self, run_id: str) -> list[StepRecord]:
        return self.store.list_steps(run_id)

    def get_cache(self, keys: Sequence[str]) -> dict[str, CacheEntry]:
        return self.store.get_cache(keys)

    def recent_cache(self, steps: Sequence[str], limit: int) -> dict[str, CacheEntry]:
        return self.store.recent_cache(steps, limit)

    def put_cache(self, entries: Sequence[CacheEntry]) -> None:
        self.store.put_cache(entries)

    def commit(self) -> None:
        """Nothing to do: every call above is its own transaction."""

    def close(self) -> None:
        """Nothing to do: the workspace owns its stores."""
