"""Plain frozen dataclasses shared by every layer.

Store protocols take and return these, never ORM rows, so a REST client and a SQL
store are interchangeable. Times are integer milliseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class Experiment:
    id: str
    name: str
    created_at: int
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Set while the experiment is soft-deleted: it and its runs are hidden from the
    #: default listings and searches, and it takes no new runs; restoring clears both.
    deleted_at: int | None = None
    deleted_by: str | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    value: float
    step: int = 0
    timestamp: int = 0


@dataclass(frozen=True, slots=True)
class Environment:
    """Where a run executed: code version, interpreter, packages, machine, person."""

    git_commit: str | None = None
    git_dirty: bool | None = None
    python_version: str = ""
    packages: Mapping[str, str] = field(default_factory=dict)
    host: str = ""
    user: str = ""


Direction = Literal["input", "output"]

#: ``RunIO.kind`` of content identified by digest whose bytes live outside the artifact
#: store (a scoring job's input file, say): lineage without a copy. ``cairn verify`` and
#: ``cairn gc`` do not expect such digests in the store.
EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class RunIO:
    """A lineage edge: a run read (input) or wrote (output) content with a role.

    ``kind`` says what the digest addresses: ``file`` or ``tree`` (a manifest) for
    plain artifacts; ``dataset`` and ``model`` for versions the other domains own;
    ``external`` for content recorded by digest only, not stored.
    ``name`` is unique per run and direction (an artifact path, ``churn@v3``, ...).
    """

    direction: Direction
    role: str
    name: str
    digest: str
    kind: str = "file"
    size: int = 0


@dataclass(frozen=True, slots=True)
class Run:
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None = None
    parent_id: str | None = None
    environment: Environment = field(default_factory=Environment)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, Metric] = field(default_factory=dict)  # latest value per key
    io: tuple[RunIO, ...] = ()
    #: Set while the run is soft-deleted: hidden from search, kept until ``cairn gc``
    #: purges it after the retention period; ``cairn runs restore`` clears both.
    deleted_at: int | None = None
    deleted_by: str | None = None

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def inputs(self) -> tuple[RunIO, ...]:
        return tuple(i for i in self.io if i.direction == "input")

    @property
    def outputs(self) -> tuple[RunIO, ...]:
        return tuple(i for i in self.io if i.direction == "output")

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self, experiment_name: str | None = None) -> dict[str, Any]:
        """The JSON form scripts rely on (``cairn runs ls --json``)."""
        env = self.environment
        return {
            "id": self.id,
            "experiment": experiment_name if experiment_name is not None else self.experiment_id,
            "experiment_id": self.experiment_id,
            "name": self.name,
            "status": str(self.status),
            "start_time": self.start_time,
            "end_time": self.end_time,
            "parent_id": self.parent_id,
            "params": dict(self.params),
            "metrics": {k: m.value for k, m in self.metrics.items()},
            "tags": dict(self.tags),
            "git_commit": env.git_commit,
            "git_dirty": env.git_dirty,
            "inputs": [_io_dict(i) for i in self.inputs],
            "outputs": [_io_dict(i) for i in self.outputs],
            "deleted_at": self.deleted_at,
            "deleted_by": self.deleted_by,
        }


def _io_dict(io: RunIO) -> dict[str, Any]:
    return {"role": io.role, "name": io.name, "digest": io.digest, "kind": io.kind, "size": io.size}


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of results; pass ``next_token`` back to get the next page."""

    items: tuple[T, ...]
    next_token: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A stored blob (``kind="file"``) or directory manifest (``kind="tree"``)."""

    digest: str
    size: int
    kind: Literal["file", "tree"] = "file"


@dataclass(frozen=True, slots=True)
class TreeEntry:
    path: str  # POSIX, relative to the tree root
    digest: str
    size: int
    pack: str | None = None  # a small file's bytes sit in this pack object, at ``offset``
    offset: int = 0
