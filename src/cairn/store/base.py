"""The metadata backend protocol and the tracking store protocol.

:class:`MetadataBackend` is what a URI opens (:func:`cairn.store.open_metadata`): one
object exposing one narrow store per domain. The SQL backend implements it today; the
REST client of ``cairn server`` implements the same protocol, so the workspace and the
domains never know which one they talk to.

The tracking store protocol:

Every backend (SQL today, the REST client of ``cairn server`` later) implements these
methods with the same behaviour; ``tests/store/test_tracking_contract.py`` holds them to
it. Methods take and return the plain dataclasses of :mod:`cairn.types` and raise
:class:`~cairn.errors.CairnError` subclasses (``NotFound``, ``AlreadyExists``,
``InvalidInput``, ``FilterSyntaxError``).

Convenience calls (``log_metric``, ``log_param``) live in the client and go through the
one batch primitive, :meth:`TrackingStore.log_batch`.

Runs have a lifecycle: ``delete_run`` soft-deletes (the row and everything recorded on
it stay, hidden from search; logging to it is refused), ``restore_run`` brings it back,
and ``purge_runs`` hard-deletes soft-deleted runs past their retention (``cairn gc``).
A run that model versions, dataset versions or live child runs depend on is neither
deleted nor purged without ``force``; every delete, restore and purge is recorded as a
:class:`RunEvent` naming who and when.

Experiments have a lifecycle too: ``delete_experiment`` soft-deletes one (its runs count
as deleted while it is, without changing their own state), ``restore_experiment`` brings
it and them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from cairn.store.access import AccessStore
from cairn.store.alerts import AlertStore
from cairn.store.datasets import DatasetStore
from cairn.store.pipelines import PipelineStore
from cairn.store.registry import RegistryStore
from cairn.store.schedules import ScheduleStore
from cairn.types import Direction, Environment, Experiment, Metric, Page, Run, RunIO, RunStatus

DEFAULT_EXPERIMENT = "Default"

#: Which runs a search sees: live ones (the default), soft-deleted ones, or both.
RunView = Literal["active", "deleted", "all"]
RUN_VIEWS: tuple[RunView, ...] = ("active", "deleted", "all")


def check_view(view: object) -> None:
    """``InvalidInput`` unless ``view`` is one of :data:`RUN_VIEWS` (every backend, and
    the REST client before it sends, refuse with this one message)."""
    if view not in RUN_VIEWS:
        from cairn.errors import InvalidInput

        raise InvalidInput(f"view must be one of {', '.join(RUN_VIEWS)}, not {view!r}")


DependentKind = Literal["model version", "dataset version", "child run"]
RunAction = Literal["delete", "restore", "purge"]


@dataclass(frozen=True, slots=True)
class RunDependent:
    """A record that points at a run: a model version registered from it, a dataset
    version whose content it wrote, or a child run that is not deleted."""

    kind: DependentKind
    ref: str  # churn/3, churn@v2, or a run id
    detail: str = ""  # aliases of a model version, name of a child run

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One delete, restore or purge of a run: who, when, and what it overrode."""

    seq: int
    run_id: str
    action: RunAction
    actor: str
    created_at: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Deletion:
    """What ``delete_run`` did: the time and actor recorded, and the dependents a forced
    delete went past (empty otherwise)."""

    run_id: str
    deleted_at: int
    deleted_by: str
    dependents: tuple[RunDependent, ...] = ()


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Soft-deleted runs past their retention: those purged (or, for a dry run, those
    that would be) and those kept because something depends on them.

    ``released`` holds the artifact digests that only the purged runs pointed at among
    tracking records; other domains (dataset and model versions) may still hold them.
    """

    purged: tuple[Run, ...]
    kept: tuple[tuple[Run, tuple[RunDependent, ...]], ...] = ()
    released: frozenset[str] = frozenset()


@runtime_checkable
class TrackingStore(Protocol):
    def create_experiment(
        self, name: str, description: str = "", tags: dict[str, str] | None = None
    ) -> Experiment:
        """Create an experiment with its tags; ``AlreadyExists`` if the name is taken
        (by a deleted experiment too: restore that one instead)."""
        ...

    def get_experiment(self, id_or_name: str) -> Experiment:
        """Look up by id or, failing that, by name (deleted ones too); ``NotFound``
        otherwise."""
        ...

    def list_experiments(self, view: RunView = "active") -> list[Experiment]:
        """Experiments, oldest first: live ones by default, or the deleted ones, or all."""
        ...

    def set_experiment_tag(self, id_or_name: str, key: str, value: str) -> None:
        """Set (or overwrite) one tag of an experiment, deleted or not."""
        ...

    def delete_experiment(self, id_or_name: str, *, actor: str) -> Experiment:
        """Soft-delete an experiment, recording ``actor`` and the time.

        Its runs keep their own state but count as deleted while it is (hidden from
        ``active`` searches, shown by ``deleted``); it takes no new runs. ``InvalidInput``
        if already deleted, or for the ``Default`` experiment.
        """
        ...

    def restore_experiment(self, id_or_name: str, *, actor: str) -> Experiment:
        """Undo a soft delete: the experiment and its runs are live again (runs deleted
        on their own stay deleted); ``InvalidInput`` if it is not deleted."""
        ...

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

    def record_run(self, run: Run, metrics: Sequence[Metric] = ()) -> None:
        """Store ``run`` as the caller made it, with metric ``metrics`` points, in one
        transaction: its id (32 hex digits), name (generated when empty), start, status
        and end time (none while RUNNING), parent, environment, params and tags; its
        ``metrics``, ``io`` and deletion fields are ignored.

        How a client that starts runs without a round trip sends them (see
        :mod:`cairn.store.rest.starts`). ``AlreadyExists`` when the id is taken;
        ``NotFound`` for a missing experiment or parent run.
        """
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

    def run_experiment(self, run_id: str) -> Experiment:
        """The experiment run ``run_id`` belongs to (a deleted run's too), without reading
        the run's records; ``NotFound`` when there is no such run."""
        ...

    def delete_run(self, run_id: str, *, actor: str, force: bool = False) -> Deletion:
        """Soft-delete a run, recording ``actor`` and the time.

        Raises ``InUse`` listing the dependents (model versions, dataset versions, live
        child runs) unless ``force``; ``InvalidInput`` if the run is already deleted.
        """
        ...

    def restore_run(self, run_id: str, *, actor: str) -> Run:
        """Undo a soft delete (recorded as an event); ``InvalidInput`` if not deleted."""
        ...

    def purge_runs(
        self, deleted_before: int, *, actor: str, force: bool = False, dry_run: bool = False
    ) -> PurgeResult:
        """Hard-delete runs soft-deleted at or before ``deleted_before`` (ms), with
        everything recorded on them; their child runs lose the parent link. Runs with
        dependents are kept unless ``force``. One transaction; a purge event per run."""
        ...

    def run_events(self, run_id: str) -> list[RunEvent]:
        """Deletes, restores and purges of a run, oldest first (also after a purge)."""
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
        view: RunView = "active",
    ) -> Page[Run]:
        """Runs matching the filter language (see :mod:`cairn.store.filters`); soft-deleted
        runs only when ``view`` is ``deleted`` or ``all``."""
        ...

    def log_io(self, run_id: str, items: Iterable[RunIO]) -> None:
        """Record lineage edges; the same (direction, name) again replaces the edge."""
        ...

    def runs_for_digest(self, digest: str, direction: Direction | None = None) -> list[Run]:
        """Runs, not deleted, that read or wrote the content ``digest`` (lineage queries)."""
        ...

    def referenced_digests(self) -> Iterator[str]:
        """Every artifact digest a tracking record points at (for ``cairn gc``), soft-deleted
        runs included: their artifacts stay until the runs are purged."""
        ...


@runtime_checkable
class MetadataBackend(Protocol):
    """Everything a workspace's metadata lives in: one store per domain, plus its schema.

    Implemented by :class:`cairn.store.sql.database.SqlDatabase` (SQLite, PostgreSQL);
    a REST backend talking to ``cairn server`` implements the same members. Domain
    code reaches it only through :class:`cairn.workspace.Workspace`.
    """

    @property
    def tracking(self) -> TrackingStore:
        """Experiments, runs, metrics, params, tags and lineage."""
        ...

    @property
    def datasets(self) -> DatasetStore:
        """Dataset names and versions."""
        ...

    @property
    def registry(self) -> RegistryStore:
        """Registered models, versions, aliases and their history, gate results."""
        ...

    @property
    def pipelines(self) -> PipelineStore:
        """Pipeline runs, their steps' states and cache keys, and the step cache."""
        ...

    @property
    def schedules(self) -> ScheduleStore:
        """Pipeline schedules and their claimed firings."""
        ...

    @property
    def access(self) -> AccessStore:
        """Users, API tokens, grants per resource and the audit log."""
        ...

    @property
    def alerts(self) -> AlertStore:
        """Monitoring rule states, alerts and the actions they started."""
        ...

    def ensure_schema(self) -> None:
        """Check (or, for a new workspace, create) the schema; ``StoreError`` naming the
        fix when it is behind or ahead of this Cairn."""
        ...

    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""
        ...
