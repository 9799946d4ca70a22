"""The tracking store protocol.

Every backend (SQL today, the REST client of ``cairn server`` later) implements these
methods with the same behaviour; ``tests/store/test_tracking_contract.py`` holds them to
it. Methods take and return the plain dataclasses of :mod:`cairn.types` and raise
:class:`~cairn.errors.CairnError` subclasses (``NotFound``, ``AlreadyExists``,
``InvalidInput``, ``FilterSyntaxError``).

Convenience calls (``log_metric``, ``log_param``) live in the client and go through the
one batch primitive, :meth:`TrackingStore.log_batch`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol, runtime_checkable

from cairn.types import Direction, Environment, Experiment, Metric, Page, Run, RunIO, RunStatus

DEFAULT_EXPERIMENT = "Default"


@runtime_checkable
class TrackingStore(Protocol):
    def create_experiment(self, name: str, description: str = "") -> Experiment:
        """Create an experiment; ``AlreadyExists`` if the name is taken."""
        ...

    def get_experiment(self, id_or_name: str) -> Experiment:
        """Look up by id or, failing that, by name; ``NotFound`` otherwise."""
        ...

    def list_experiments(self) -> list[Experiment]: ...

    def create_run(
        self,
        experiment_id: str,
        *,
        name: str = "",
        parent_id: str | None = None,
        start_time: int | None = None,
        environment: Environment | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> Run:
        """Start a RUNNING run. An empty name gets a generated one."""
        ...

    def end_run(
        self,
        run_id: str,
        status: RunStatus,
        end_time: int | None = None,
        metrics: Sequence[Metric] = (),
    ) -> None:
        """Set a terminal status and end time, writing the run's final ``metrics`` points
        in the same transaction (one commit where a flush and an update would take two).
        ``get_run`` reads the result back."""
        ...

    def get_run(self, run_id: str) -> Run:
        """The run with params, tags, latest metrics and lineage; ``NotFound`` otherwise."""
        ...

    def delete_run(self, run_id: str) -> None:
        """Remove a run and everything recorded on it (its child runs keep existing)."""
        ...

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Record metric points, params and tags in one transaction.

        Params are write-once: logging a different value for an existing key raises
        ``InvalidInput`` naming the key (the same value again is accepted). Tags are
        overwritten. Metric points are appended; the latest value per key (highest
        step, then timestamp) is kept for search.
        """
        ...

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step then timestamp."""
        ...

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> Page[Run]:
        """Runs matching the filter language (see :mod:`cairn.store.filters`)."""
        ...

    def log_io(self, run_id: str, items: Iterable[RunIO]) -> None:
        """Record lineage edges; the same (direction, name) again replaces the edge."""
        ...

    def runs_for_digest(self, digest: str, direction: Direction | None = None) -> list[Run]:
        """Runs that read or wrote the content ``digest`` (lineage queries)."""
        ...

    def referenced_digests(self) -> Iterator[str]:
        """Every artifact digest a tracking record points at (for ``cairn gc``)."""
        ...
