"""What every importer shares: the records read from another tool, the summary of an
import, and the progress callback.

Readers of other tools' stores turn what they find into these plain records; the
importers write them into Cairn through the public store APIs only, so an import lands
in an embedded workspace and in a shared server alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cairn.errors import InvalidInput
from cairn.store.tracking_validation import MAX_VALUE_LENGTH, check_key
from cairn.types import Metric, RunStatus

#: ``progress(description, total)``: a context manager yielding ``advance(n)``; the CLI
#: passes a Rich bar on a terminal. ``None`` runs quietly.
Progress = Callable[[str, int | None], Any]


@contextlib.contextmanager
def step(progress: Progress | None, description: str, total: int | None) -> Iterator[Any]:
    """``progress``'s bar for one phase, or a no-op ``advance`` when there is none."""
    if progress is None:
        yield lambda _n: None
        return
    with progress(description, total) as advance:
        yield advance


@dataclass(frozen=True, slots=True)
class SourceExperiment:
    id: str
    name: str
    deleted: bool = False
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_tags(
        cls, id: str, name: str, deleted: bool, tags: Mapping[str, str]
    ) -> SourceExperiment:
        """MLflow keeps an experiment's description as its ``mlflow.note.content`` tag."""
        rest = dict(tags)
        description = rest.pop("mlflow.note.content", "")
        return cls(id, name, deleted, description, rest)


@dataclass(frozen=True, slots=True)
class SourceRun:
    """One MLflow run as read from its store; metrics hold every point of every key."""

    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    deleted: bool = False
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()
    artifact_uri: str = ""

    @property
    def parent_id(self) -> str | None:
        return self.tags.get("mlflow.parentRunId") or None


@dataclass(frozen=True, slots=True)
class SourceLoggedModel:
    """A model logged by a run (MLflow 3 keeps these beside the run's artifacts)."""

    id: str
    name: str
    artifact_uri: str


@dataclass(frozen=True, slots=True)
class SourceVersion:
    name: str
    version: int
    source: str
    run_id: str | None
    stage: str = "None"
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    created_at: int = 0
    user: str = ""
    storage_location: str = ""


@dataclass(frozen=True, slots=True)
class SourceModel:
    name: str
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, int] = field(default_factory=dict)
    versions: tuple[SourceVersion, ...] = ()


@dataclass
class ImportSummary:
    """What an import did; printed by the CLI, returned by the Python API."""

    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    def note(self, text: str) -> None:
        self.notes.append(text)

    def __getitem__(self, what: str) -> int:
        return self.counts.get(what, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "notes": list(self.notes)}

    def lines(self) -> list[str]:
        """The summary for people: one line per count, then the notes."""
        out = [f"{what}: {n:,}" for what, n in sorted(self.counts.items())]
        return out + [f"note: {n}" for n in self.notes]


def fit_strings(kind: str, values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Split params or tags into what Cairn's limits accept and what they refuse (MLflow
    allows longer tag values), so the rest can be kept elsewhere instead of lost."""
    fits: dict[str, str] = {}
    rest: dict[str, str] = {}
    for key, value in values.items():
        try:
            check_key(kind, key)
            ok = len(value) <= MAX_VALUE_LENGTH
        except InvalidInput:
            ok = False
        (fits if ok else rest)[key] = value
    return fits, rest
