"""The schedule store protocol: schedules that start pipelines, and their firings.

A :class:`Schedule` starts a pipeline on a cron expression or when a dataset gets a new
version. Each start is a :class:`Firing`, keyed by ``(schedule, fire_key)`` where the key
names the slot (``2026-03-01T03:00:00+00:00``) or the dataset version (``churn@v4``).

:meth:`ScheduleStore.claim_firing` is the one place a firing begins: it inserts the
firing's row and advances the schedule's "last fired" mark in one transaction, and
refuses (returns ``None``) when the slot was claimed already or another firing of the
schedule is still running. Two schedulers on one database therefore start each slot
once and never run one schedule twice at the same time.

Firing states::

    running ──> finished | failed
       │
       └──> interrupted ──(retake_firing, attempts < max)──> running

``tests/pipelines/test_schedule_store.py`` holds every backend to this contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from cairn.errors import InvalidInput

FiringState = Literal["running", "finished", "failed", "interrupted"]
FIRING_STATES: tuple[FiringState, ...] = ("running", "finished", "failed", "interrupted")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_schedule_name(name: str) -> str:
    """``name`` if it is a valid schedule name; ``InvalidInput`` naming it otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid schedule name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """What ``add_schedule`` records; exactly one of ``cron`` and ``dataset`` is set."""

    name: str
    pipeline: str
    cron: str | None = None
    timezone: str = "UTC"
    dataset: str | None = None
    dataset_param: str = "dataset"
    params: Mapping[str, str] = field(default_factory=dict)
    executor: str | None = None
    created_by: str = ""
    #: The "last fired" mark a new schedule starts from (ms): slots after it are due.
    last_fire_time: int = 0
    #: For a dataset trigger: versions after this one start the pipeline.
    last_dataset_version: int | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A stored schedule with its "last fired" marks."""

    name: str
    pipeline: str
    cron: str | None
    timezone: str
    dataset: str | None
    dataset_param: str
    params: dict[str, str]
    executor: str | None
    created_at: int
    created_by: str
    last_fire_time: int
    last_dataset_version: int | None

    @property
    def trigger(self) -> str:
        """``cron 0 3 * * * (UTC)`` or ``dataset churn``: what starts it, for people."""
        if self.cron is not None:
            return f"cron {self.cron} ({self.timezone})"
        return f"dataset {self.dataset}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pipeline": self.pipeline,
            "cron": self.cron,
            "timezone": self.timezone,
            "dataset": self.dataset,
            "dataset_param": self.dataset_param,
            "params": dict(self.params),
            "executor": self.executor,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "last_fire_time": self.last_fire_time,
            "last_dataset_version": self.last_dataset_version,
        }


@dataclass(frozen=True, slots=True)
class Firing:
    """One start of a schedule: its slot, who ran it, how it ended."""

    schedule: str
    fire_key: str
    fire_time: int
    state: FiringState
    owner: str
    attempts: int
    claimed_at: int
    heartbeat_at: int
    finished_at: int | None = None
    run_id: str | None = None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "fire_key": self.fire_key,
            "fire_time": self.fire_time,
            "state": self.state,
            "owner": self.owner,
            "attempts": self.attempts,
            "claimed_at": self.claimed_at,
            "heartbeat_at": self.heartbeat_at,
            "finished_at": self.finished_at,
            "run_id": self.run_id,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Claim:
    """A slot a scheduler wants to start: the firing's key and time, and the mark the
    schedule advances to when the claim succeeds."""

    schedule: str
    fire_key: str
    fire_time: int
    dataset_version: int | None = None


@runtime_checkable
class ScheduleStore(Protocol):
    def add_schedule(self, new: NewSchedule) -> Schedule:
        """Record a schedule; ``AlreadyExists`` if the name is taken."""
        ...

    def get_schedule(self, name: str) -> Schedule:
        """The schedule; ``NotFound`` naming it otherwise."""
        ...

    def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""
        ...

    def remove_schedule(self, name: str) -> None:
        """Delete a schedule and its firing history; ``NotFound`` if absent."""
        ...

    def claim_firing(self, claim: Claim, *, owner: str, now: int) -> Firing | None:
        """Start a firing: insert its row (state ``running``) and advance the schedule's
        mark, in one transaction. ``None`` when the slot is claimed already, when
        another firing of the schedule is running or waiting to be retaken, or when the
        schedule's mark is already at or past the claim (the schedule was removed:
        ``NotFound``)."""
        ...

    def retake_firing(
        self, schedule: str, fire_key: str, *, owner: str, now: int, max_attempts: int
    ) -> Firing | None:
        """Take over an ``interrupted`` firing (attempts + 1, state ``running``) if it has
        had fewer than ``max_attempts`` attempts and nothing else of the schedule runs;
        past the limit it becomes ``failed``. ``None`` when not taken."""
        ...

    def heartbeat(self, owner: str, now: int) -> int:
        """Mark ``owner``'s running firings alive at ``now``; returns how many."""
        ...

    def interrupt_firing(self, schedule: str, fire_key: str, *, owner: str, reason: str) -> bool:
        """Mark a running firing of ``owner`` interrupted (its scheduler died);
        compare-and-set on the owner, so a firing retaken meanwhile is left alone."""
        ...

    def finish_firing(
        self,
        schedule: str,
        fire_key: str,
        *,
        owner: str,
        state: FiringState,
        now: int,
        run_id: str | None = None,
        error: str = "",
    ) -> bool:
        """End ``owner``'s running (or interrupted, not yet retaken) firing as
        ``finished``, ``failed`` or ``interrupted``; ``False`` (nothing written) when the
        firing is no longer this owner's."""
        ...

    def list_firings(
        self,
        schedule: str | None = None,
        states: Sequence[FiringState] = (),
        limit: int = 100,
    ) -> list[Firing]:
        """Firings, newest slot first, optionally of one schedule and in some states."""
        ...
