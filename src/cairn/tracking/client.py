"""The explicit tracking API: every call names the run it acts on.

:class:`TrackingClient` sits over a workspace's tracking store and artifact store. Metric
points go through a :class:`~cairn.tracking.buffer.MetricBuffer`; everything else is
written synchronously through the store's batch primitive, so a call that returns has
been recorded. The fluent API (:mod:`cairn.tracking.fluent`) is a thin layer over this.
"""

from __future__ import annotations

import json
import operator
import os
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cairn.errors import AlreadyExists, CairnError, InvalidInput, NotFound, StoreError
from cairn.hashing import is_digest
from cairn.store.base import DEFAULT_EXPERIMENT
from cairn.store.tracking_validation import INT64_MAX, INT64_MIN, check_key, check_printable
from cairn.tracking import environment, lifecycle
from cairn.tracking.buffer import MetricBuffer, describe_error
from cairn.types import (
    Direction,
    Environment,
    Experiment,
    Metric,
    ObjectInfo,
    Run,
    RunIO,
    RunStatus,
    now_ms,
)

if TYPE_CHECKING:
    from cairn.store.base import Deletion, RunView, TrackingStore
    from cairn.workspace import Workspace


#: Tags recording why a run FAILED (set by the fluent API, and here for lost metrics).
ERROR_TYPE_TAG = "cairn.error.type"
ERROR_MESSAGE_TAG = "cairn.error.message"
#: Tag holding how many metric points of a run could not be written.
LOST_METRICS_TAG = "cairn.metrics.lost"

#: Runs fetched per store call when a search asks for more.
SEARCH_PAGE_SIZE = 1000

#: Lineage kind recorded for versioned objects of other domains, by class path.
LINEAGE_KINDS: dict[str, str] = {
    "cairn.store.datasets.DatasetVersion": "dataset",
    "cairn.store.registry.ModelVersion": "model",
}


_clients: weakref.WeakSet[TrackingClient] = weakref.WeakSet()


class TrackingClient:
    """Log to and query runs of one workspace.

    Example:
        >>> client = TrackingClient(cairn.workspace.current())
        >>> run = client.create_run("churn", params={"lr": 0.1})
        >>> client.log_metric(run.id, "auc", 0.91)
        >>> client.end_run(run.id)
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._experiment_ids: dict[str, str] = {}
        self._metric_keys: set[str] = set()
        self._lock = threading.Lock()
        settings = workspace.settings
        self._buffer = MetricBuffer(
            self._write_metrics,
            interval=settings.metric_flush_seconds,
            capacity=settings.metric_buffer,
        )
        _clients.add(self)

    @property
    def store(self) -> TrackingStore:
        return self.workspace.tracking

    @property
    def metric_buffer(self) -> MetricBuffer:
        """The buffer metric points wait in (its size, high-water mark, pending count)."""
        return self._buffer

    def _write_metrics(self, run_id: str, points: Sequence[Metric]) -> None:
        self.store.log_batch(run_id, metrics=points)

    # -- experiments -------------------------------------------------------------------

    def get_or_create_experiment(self, name: str | None = None) -> Experiment:
        """The experiment with this id or name, created when absent (default: ``Default``)."""
        name = name or DEFAULT_EXPERIMENT
        try:
            return self.store.get_experiment(name)
        except NotFound:
            pass
        try:
            return self.store.create_experiment(name)
        except AlreadyExists:  # another process created it in between
            return self.store.get_experiment(name)

    def _experiment_id(self, name: str | None) -> str:
        name = name or DEFAULT_EXPERIMENT
        with self._lock:
            cached = self._experiment_ids.get(name)
        if cached is None:
            cached = self.get_or_create_experiment(name).id
            with self._lock:
                self._experiment_ids[name] = cached
        return cached

    def _existing_experiment_id(self, id_or_name: str) -> str:
        """The id of the experiment ``id_or_name`` names (``NotFound`` if none),
        remembered: an experiment is never renamed nor removed, so an id or a name (one
        that cannot be read as an id) names the same experiment for good."""
        with self._lock:
            cached = self._experiment_ids.get(id_or_name)
        if cached is not None:
            return cached
        found = self.store.get_experiment(id_or_name)
        if found.id == id_or_name or not id_or_name.isdigit():
            with self._lock:
                self._experiment_ids[id_or_name] = found.id
        return found.id

    # -- runs ----------------------------------------------------------------------------

    def create_run(
        self,
        experiment: str | None = None,
        *,
        name: str = "",
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        environment: Environment | None = None,
    ) -> Run:
        """Start a RUNNING run in ``experiment`` (a name or id; created when absent).

        The environment (git commit and dirty flag of the workspace, Python and package
        versions, host, user) is captured unless given.
        """
        if environment is None:
            environment = self.capture_environment()
        return self.store.create_run(
            self._experiment_id(experiment),
            name=name or "",
            parent_id=parent_id,
            environment=environment,
            params=stringify_mapping(params, "param") if params else None,
            tags=stringify_mapping(tags, "tag") if tags else None,
        )

    def capture_environment(self) -> Environment:
        """The environment a run started now records (git state of the workspace root)."""
        return environment.capture(self.workspace.root)

    def end_run(
        self,
        run_id: str,
        status: RunStatus | str = RunStatus.FINISHED,
        *,
        flush_timeout: float | None = None,
    ) -> None:
        """Write the run's buffered metrics, then set its terminal status.

        A run some of whose metric points could not be written (disk full, database
        unreachable) does not end FINISHED: it ends FAILED, the count is kept in the tag
        ``cairn.metrics.lost``, and a :class:`~cairn.errors.StoreError` saying so is
        raised once the status is recorded. A write error of another run's points is
        raised too, after this run has ended. ``flush_timeout`` bounds the wait for an
        in-flight background write (signal handlers use it so they cannot hang).
        """
        status = _status(status)
        error: StoreError | None = None
        final: list[Metric] = []
        try:
            final = self._buffer.take(run_id, timeout=flush_timeout)
        except StoreError as exc:
            error = exc
        if not self._buffer.lost(run_id)[0]:
            try:
                self.store.end_run(run_id, status, end_time=now_ms(), metrics=final)
            except Exception as exc:
                if not final:
                    raise
                # The final points could not be written with the status: the run's end
                # must still be recorded, as FAILED with the points counted.
                self._buffer.record_lost(run_id, len(final), exc)
            else:
                if error is not None:
                    raise error
                return
        elif final:
            try:
                self.store.log_batch(run_id, metrics=final)
            except Exception as exc:
                self._buffer.record_lost(run_id, len(final), exc)
        self._end_with_lost_points(run_id, status)

    def _end_with_lost_points(self, run_id: str, status: RunStatus) -> None:
        """End a run that lost metric points: FAILED (unless already FAILED or KILLED),
        with the count in a tag, then raise a StoreError that says so.

        The buffer keeps the count, so ending the run again fails the same way.
        """
        lost, cause = self._buffer.lost(run_id)
        reason = describe_error(cause) if cause is not None else "write failed"
        message = (
            f"{lost} metric point(s) of run {run_id} could not be recorded ({reason}); "
            "the stored history of its metrics is incomplete"
        )
        tags = {LOST_METRICS_TAG: str(lost)}
        if status is RunStatus.FINISHED:
            status = RunStatus.FAILED
            tags[ERROR_TYPE_TAG] = "MetricsLost"
            tags[ERROR_MESSAGE_TAG] = message
        recorded = True
        try:
            self.store.log_batch(run_id, tags=tags)
        except Exception:
            recorded = False  # the status below still says the run is not complete
        try:
            self.store.end_run(run_id, status, end_time=now_ms())
        except CairnError as exc:
            if not isinstance(exc, StoreError):
                raise  # the run refuses records (deleted, unknown): that is the news
            raise StoreError(
                f"{message}, and the run could not be ended either ({describe_error(exc)}); "
                f"it stays RUNNING: free space or fix the store, then call "
                f"end_run({run_id!r}, 'FAILED')"
            ) from cause
        except Exception as exc:
            raise StoreError(
                f"{message}, and the run could not be ended either ({describe_error(exc)}); "
                f"it stays RUNNING: free space or fix the store, then call "
                f"end_run({run_id!r}, 'FAILED')"
            ) from cause
        where = f"; tag {LOST_METRICS_TAG} holds the count" if recorded else ""
        raise StoreError(f"run {run_id} ended {status.value}: {message}{where}") from cause

    def get_run(self, run_id: str) -> Run:
        """The run with params, tags, latest metrics and lineage (buffered points included)."""
        self._buffer.flush()
        return self.store.get_run(run_id)

    def delete_run(self, run_id: str, *, force: bool = False) -> Deletion:
        """Soft-delete a run: hidden from search, restorable until ``cairn gc`` purges it.

        Raises :class:`~cairn.errors.InUse` naming the model versions, dataset versions
        and child runs that depend on the run, unless ``force``.
        """
        self._buffer.flush()
        return lifecycle.delete_run(run_id, force=force, workspace=self.workspace)

    def restore_run(self, run_id: str) -> Run:
        """Undo :meth:`delete_run`: the run is searchable and open to records again."""
        return lifecycle.restore_run(run_id, workspace=self.workspace)

    # -- metrics, params, tags --------------------------------------------------------

    def log_metric(
        self,
        run_id: str,
        key: str,
        value: float,
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        """Queue one metric point; it is written within about half a second.

        Blocks while the buffer holds ``metric_buffer`` unwritten points, until the
        background writer has made room (see docs/tracking.md).

        ``value`` may be any real number type (numpy scalars included); NaN and
        infinities are kept. Bad keys or values raise ``InvalidInput`` here, at the call.
        """
        # Everything the store would refuse is refused here, at the call: a bad point
        # reaching the background writer would fail its whole batch.
        if key not in self._metric_keys:
            check_key("metric", key)
            if len(self._metric_keys) >= 10_000:  # bound the memo, not the keys
                self._metric_keys.clear()
            self._metric_keys.add(key)
        if type(value) is not float:
            value = _as_float(key, value)
        if type(step) is not int:
            step = _as_int(key, step, "step")
        if not INT64_MIN <= step <= INT64_MAX:
            raise InvalidInput(f"step {step} of metric {key!r} is out of the 64-bit range")
        if timestamp is None:
            timestamp = now_ms()
        else:
            timestamp = _as_int(key, timestamp, "timestamp")
            if not 0 <= timestamp <= INT64_MAX:
                raise InvalidInput(
                    f"timestamp {timestamp} of metric {key!r} must be milliseconds since 1970"
                )
        self._buffer.add(run_id, key, value, step, timestamp)

    def log_metrics(
        self,
        run_id: str,
        metrics: Mapping[str, float],
        step: int = 0,
        timestamp: int | None = None,
    ) -> None:
        """Queue several points sharing one step and timestamp."""
        ts = now_ms() if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(run_id, key, value, step, ts)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric, ordered by step then timestamp."""
        self._buffer.flush()
        return self.store.get_metric_history(run_id, key)

    def flush(self) -> None:
        """Write every buffered metric point now; raise a background write error, if any."""
        self._buffer.flush()

    def close(self) -> None:
        """Flush and stop the background writer."""
        self._buffer.close()

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Record a parameter (stringified; dicts and lists as JSON). Params are write-once."""
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        if params:
            self.store.log_batch(run_id, params=stringify_mapping(params, "param"))

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set a tag (stringified); setting it again overwrites."""
        self.set_tags(run_id, {key: value})

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        if tags:
            self.store.log_batch(run_id, tags=stringify_mapping(tags, "tag"))

    # -- artifacts and lineage -----------------------------------------------------------

    def log_artifact(
        self, run_id: str, path: str | os.PathLike[str], name: str | None = None
    ) -> RunIO:
        """Store a file or directory and record it as the run's output artifact ``name``.

        ``name`` (default: the file or directory name) is a relative POSIX path such as
        ``plots/roc.png``; logging the same name again replaces the record.

        Example:
            >>> client.log_artifact(run.id, "report.html")
            RunIO(direction='output', role='artifact', name='report.html', ...)
        """
        (item,) = self._log_artifact_paths(run_id, [(Path(path), name)])
        return item

    def log_artifacts(
        self, run_id: str, directory: str | os.PathLike[str], prefix: str | None = None
    ) -> list[RunIO]:
        """Log each entry directly inside ``directory`` as its own artifact.

        Files become file artifacts and sub-directories tree artifacts, named by their
        path relative to ``directory`` (under ``prefix`` when given).
        """
        folder = Path(directory)
        if not folder.is_dir():
            raise NotFound(f"cannot log artifacts from {folder}: not a directory")
        entries = sorted(folder.iterdir())
        if not entries:
            raise InvalidInput(f"cannot log artifacts from {folder}: the directory is empty")
        named = [(p, f"{prefix.strip('/')}/{p.name}" if prefix else p.name) for p in entries]
        return self._log_artifact_paths(run_id, named)

    def _log_artifact_paths(
        self, run_id: str, paths: Sequence[tuple[Path, str | None]]
    ) -> list[RunIO]:
        checked = []
        for path, name in paths:
            if not path.exists():
                raise NotFound(f"cannot log artifact {path}: no such file or directory")
            checked.append((path, artifact_name(name if name is not None else path.name)))
        items = []
        for path, name in checked:
            info = self.workspace.artifacts.put(path)
            items.append(RunIO("output", "artifact", name, info.digest, info.kind, info.size))
        self.store.log_io(run_id, items)
        return items

    def log_input(
        self,
        run_id: str,
        ref: ObjectInfo | str | Any,
        role: str = "input",
        name: str | None = None,
        kind: str | None = None,
    ) -> RunIO:
        """Record that the run read ``ref`` (a lineage edge).

        ``ref`` is an :class:`~cairn.types.ObjectInfo`, a digest string, or a versioned
        object with a ``digest`` attribute (a dataset or model version).
        """
        return self._log_edge(run_id, "input", ref, role, name, kind)

    def log_output(
        self,
        run_id: str,
        ref: ObjectInfo | str | Any,
        role: str = "output",
        name: str | None = None,
        kind: str | None = None,
    ) -> RunIO:
        """Record that the run wrote ``ref`` (see :meth:`log_input`)."""
        return self._log_edge(run_id, "output", ref, role, name, kind)

    def _log_edge(
        self,
        run_id: str,
        direction: Direction,
        ref: Any,
        role: str,
        name: str | None,
        kind: str | None,
    ) -> RunIO:
        item = lineage_edge(direction, ref, role, name, kind)
        self.store.log_io(run_id, [item])
        return item

    def download_artifact(
        self,
        run_id: str,
        name: str,
        dest: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Copy the run's artifact ``name`` to ``dest`` and return the local path.

        ``name`` is an artifact name or a path inside a directory artifact
        (``model/model.skops``). When ``dest`` is an existing directory the artifact is
        placed inside it under its base name; default: the current directory. An
        existing target is refused unless ``overwrite`` is true. Bytes are verified.
        """
        run = self.get_run(run_id)
        item, inner = _find_artifact(run, name)
        target = Path(dest) if dest is not None else Path.cwd()
        if target.is_dir():
            target = target / PurePosixPath(name).name
        store = self.workspace.artifacts
        if inner is None:
            return store.checkout(item.digest, target, overwrite=overwrite)
        if target.exists() and not overwrite:
            raise InvalidInput(f"{target} already exists; remove it or pass overwrite=True")
        entries = store.read_tree(item.digest)
        for entry in entries:
            if entry.path == inner:
                store.get_file(entry, target)
                return target
        # A sub-directory of a tree artifact: copy the files under it.
        below = [e for e in entries if e.path.startswith(inner + "/")]
        for entry in below:
            out = target / entry.path[len(inner) + 1 :]
            out.parent.mkdir(parents=True, exist_ok=True)
            store.get_file(entry, out)
        if below:
            return target
        raise NotFound(f"run {run_id} has no artifact {name!r}: {item.name!r} holds no {inner!r}")

    # -- search ------------------------------------------------------------------------

    def search_runs(
        self,
        experiments: str | Iterable[str] | None = None,
        filter: str = "",
        order_by: str | Sequence[str] = (),
        max_results: int = 1000,
        view: RunView = "active",
    ) -> list[Run]:
        """Runs matching ``filter`` in the given experiments (names or ids; default: all).

        Deleted runs are left out unless ``view`` is ``"deleted"`` or ``"all"``.

        Example:
            >>> client.search_runs("churn", "metrics.auc > 0.9", "metrics.auc DESC")
        """
        if max_results < 1:
            raise InvalidInput(f"max_results must be at least 1, got {max_results}")
        self._buffer.flush()
        names = [experiments] if isinstance(experiments, str) else experiments
        ids = None if names is None else [self._existing_experiment_id(n) for n in names]
        orders = [order_by] if isinstance(order_by, str) else list(order_by)
        found: list[Run] = []
        token: str | None = None
        while len(found) < max_results:
            page = self.store.search_runs(
                ids,
                filter=filter,
                order_by=orders,
                max_results=min(SEARCH_PAGE_SIZE, max_results - len(found)),
                page_token=token,
                view=view,
            )
            found.extend(page.items)
            token = page.next_token
            if not token or not page.items:
                break
        return found[:max_results]


# -- value handling (module level: used by the fluent API and autolog too) ------------------


def stringify(value: Any) -> str:
    """The stored form of a param or tag value: strings as is, dicts and lists as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list | tuple):
        try:
            return json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):  # keys that are not strings, cycles
            return str(value)
    return str(value)


def stringify_mapping(values: Mapping[str, Any], what: str) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise InvalidInput(
            f"{what}s must be a mapping of name to value, got {type(values).__name__}"
        )
    out: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"{what} name must be a non-empty string, got {key!r}")
        out[key] = stringify(value)
    return out


def artifact_name(name: str) -> str:
    """Check an artifact name: a relative POSIX path without ``..`` or control characters."""
    check_printable("artifact name", str(name))
    clean = str(name).replace("\\", "/").strip()
    parts = PurePosixPath(clean).parts
    if not clean or clean.startswith("/") or ".." in parts or not parts:
        raise InvalidInput(
            f"artifact name {name!r} must be a relative path like 'plots/roc.png' without '..'"
        )
    return "/".join(p for p in parts if p != ".")


def lineage_edge(
    direction: Direction, ref: Any, role: str, name: str | None, kind: str | None
) -> RunIO:
    """Turn ``ref`` (ObjectInfo, digest, or an object with ``digest``) into a RunIO."""
    if not role or not isinstance(role, str):
        raise InvalidInput(f"lineage role must be a non-empty string, got {role!r}")
    size = 0
    default_kind: str
    if isinstance(ref, ObjectInfo):
        digest, size, default_kind, default_name = ref.digest, ref.size, ref.kind, ref.digest
    elif isinstance(ref, str):
        digest, default_kind, default_name = ref, "file", ref
    elif isinstance(getattr(ref, "digest", None), str):
        digest = ref.digest
        size = int(getattr(ref, "size", 0) or 0)
        cls = type(ref)
        default_kind = LINEAGE_KINDS.get(f"{cls.__module__}.{cls.__qualname__}") or str(
            getattr(ref, "kind", "") or "file"
        )
        default_name = _ref_name(ref) or digest
    else:
        raise InvalidInput(
            f"cannot record {ref!r} as lineage: pass a digest string, an ObjectInfo, "
            "or a dataset or model version"
        )
    if not is_digest(digest):
        raise InvalidInput(f"{digest!r} is not a content digest (64 lowercase hex characters)")
    return RunIO(direction, role, name or default_name, digest, kind or default_kind, size)


def _ref_name(ref: Any) -> str | None:
    """``name@vN`` for versioned objects, else their ``name`` or ``ref`` attribute."""
    for attr in ("ref", "uri"):
        value = getattr(ref, attr, None)
        if isinstance(value, str) and value:
            return value
    name = getattr(ref, "name", None)
    version = getattr(ref, "version", None)
    if isinstance(name, str) and name:
        return f"{name}@v{version}" if isinstance(version, int) else name
    return None


def _find_artifact(run: Run, name: str) -> tuple[RunIO, str | None]:
    """The artifact record for ``name``, and the path inside it when ``name`` goes deeper."""
    wanted = artifact_name(name)
    for item in run.outputs:
        if item.name == wanted:
            return item, None
    for item in run.outputs:
        # Directory artifacts: trees, and model or dataset versions stored as trees.
        if item.kind != "file" and wanted.startswith(item.name + "/"):
            return item, wanted[len(item.name) + 1 :]
    names = ", ".join(sorted(i.name for i in run.outputs)) or "none"
    raise NotFound(f"run {run.id} has no artifact {name!r} (artifacts: {names})")


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, str | bytes) or value is None:
        raise InvalidInput(f"metric {key!r} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"metric {key!r} must be a number, got {value!r}") from None


def _as_int(key: str, value: Any, what: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidInput(f"{what} of metric {key!r} must be an integer, got {value!r}") from None


def _status(status: RunStatus | str) -> RunStatus:
    try:
        result = RunStatus(str(status).upper())
    except ValueError:
        known = ", ".join(s.value for s in RunStatus if s.is_terminal)
        raise InvalidInput(f"unknown run status {status!r}; use one of {known}") from None
    if not result.is_terminal:
        raise InvalidInput(f"a run ends with FINISHED, FAILED or KILLED, not {result.value}")
    return result


def _after_fork_in_child() -> None:
    # Database connections pooled by the parent must not be shared with it: drop them
    # from the child's pools without closing them (closing would hit the parent's).
    for client in list(_clients):
        metadata = client.workspace.__dict__.get("metadata")
        engine = getattr(metadata, "engine", None)
        if engine is not None:
            engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)
