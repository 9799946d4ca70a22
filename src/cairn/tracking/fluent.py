"""The fluent tracking API: ``with cairn.start_run(): cairn.log_metric("loss", 0.3)``.

A process keeps a stack of active runs; module-level calls act on the innermost one.
Runs end FINISHED when their ``with`` block exits normally, FAILED when it raises (the
error's type and message are kept as tags), and KILLED on SIGTERM or Ctrl-C. Runs still
active when the interpreter exits end FINISHED, or FAILED after an uncaught exception.

Runs are owned by the process that started them: a forked child can log to a run it
inherited but never ends it, so a worker exiting does not finish its parent's run.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from cairn.errors import CairnError, ConfigError
from cairn.tracking.buffer import flush_all
from cairn.tracking.client import ERROR_MESSAGE_TAG, ERROR_TYPE_TAG, TrackingClient
from cairn.types import Experiment, Metric, ObjectInfo, Run, RunIO, RunStatus, now_ms
from cairn.workspace import Workspace

_MAX_MESSAGE = 5000

_stack: list[ActiveRun] = []
_lock = threading.RLock()  # re-entrant: the SIGTERM handler may run while it is held
_clients: dict[int, TrackingClient] = {}
_sigterm_installed = False
_previous_sigterm: Any = None
_excepthook_installed = False
_uncaught: BaseException | None = None


class ActiveRun:
    """A run started by :func:`start_run`: a context manager and a handle to log with.

    Example:
        >>> with cairn.start_run(experiment="churn", params={"lr": 0.1}) as run:
        ...     run.log_metric("auc", 0.91)
        >>> run.info.status
        <RunStatus.FINISHED: 'FINISHED'>
    """

    def __init__(self, client: TrackingClient, run: Run) -> None:
        self.client = client
        self.id = run.id
        self.name = run.name
        self.experiment_id = run.experiment_id
        self.parent_id = run.parent_id
        self._steps: dict[str, int] = {}
        self._pid = os.getpid()
        self._ended = False

    def __repr__(self) -> str:
        state = "ended" if self._ended else "active"
        return f"<ActiveRun {self.id} {self.name!r} {state}>"

    @property
    def info(self) -> Run:
        """The run as stored now (params, tags, latest metrics, lineage, status)."""
        return self.client.get_run(self.id)

    # -- logging -----------------------------------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log a metric point. Without ``step``, each key counts 0, 1, 2, ...

        The default step is one more than the highest step this process logged for the
        key in this run, so a plain loop of ``log_metric("loss", v)`` yields a history.
        """
        steps = self._steps
        if step is None:
            step = steps.get(key, -1) + 1
        self.client.log_metric(self.id, key, value, step, timestamp)
        if step > steps.get(key, -1):
            steps[key] = step

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Log several metrics at once (each key gets its own default step)."""
        ts = timestamp if timestamp is not None else now_ms()
        for key, value in metrics.items():
            self.log_metric(key, value, step, ts)

    def log_param(self, key: str, value: Any) -> None:
        self.client.log_param(self.id, key, value)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.client.log_params(self.id, params)

    def set_tag(self, key: str, value: Any) -> None:
        self.client.set_tag(self.id, key, value)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.client.set_tags(self.id, tags)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> RunIO:
        return self.client.log_artifact(self.id, path, name)

    def log_artifacts(
        self, directory: str | os.PathLike[str], prefix: str | None = None
    ) -> list[RunIO]:
        return self.client.log_artifacts(self.id, directory, prefix)

    def log_input(
        self,
        ref: ObjectInfo | str | Any,
        role: str = "input",
        name: str | None = None,
        kind: str | None = None,
    ) -> RunIO:
        """Record that this run read ``ref`` (a dataset version, ObjectInfo or digest)."""
        return self.client.log_input(self.id, ref, role, name, kind)

    def log_output(
        self,
        ref: ObjectInfo | str | Any,
        role: str = "output",
        name: str | None = None,
        kind: str | None = None,
    ) -> RunIO:
        """Record that this run wrote ``ref``."""
        return self.client.log_output(self.id, ref, role, name, kind)

    def flush(self) -> None:
        self.client.flush()

    # -- ending ------------------------------------------------------------------------

    def end(
        self, status: RunStatus | str = RunStatus.FINISHED, *, flush_timeout: float | None = None
    ) -> None:
        """End the run (and any run started inside it that is still active).

        Ending a run twice keeps the first status.
        """
        with _lock:
            if self in _stack:
                inner = _stack[_stack.index(self) + 1 :]
                del _stack[_stack.index(self) :]
            else:
                inner = []
        for child in reversed(inner):
            child.end(status, flush_timeout=flush_timeout)
        if self._ended:
            return
        self._ended = True
        self.client.end_run(self.id, status, flush_timeout=flush_timeout)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if os.getpid() != self._pid:
            # A forked child leaving the block (sys.exit in a worker): the run is the
            # parent's to end; just hand over what the child logged.
            self.flush()
            return
        status = _status_for(exc)
        try:
            if status is RunStatus.FAILED and exc is not None and not self._ended:
                self.set_tags(_error_tags(exc))
            self.end(status)
        except CairnError as err:
            if exc is None:
                raise
            # The user's exception matters more; do not replace it with ours.
            print(f"cairn: while ending run {self.id}: {err}", file=sys.stderr)


# -- starting runs -----------------------------------------------------------------------


def start_run(
    experiment: str | Experiment | None = None,
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent: str | ActiveRun | Run | None = None,
    nested: bool = False,
    *,
    workspace: Workspace | None = None,
) -> ActiveRun:
    """Start a run in the current workspace and make it the active run.

    Args:
        experiment: Experiment name or id; created when absent. Default: ``Default``,
            or the parent's experiment for a nested run.
        name: Run name; a generated one when empty.
        params: Parameters to record at once (values stringified).
        tags: Tags to record at once.
        parent: The parent run (id, ``ActiveRun`` or ``Run``); for a nested run the
            enclosing active run by default.
        nested: Required to start a run while another is active; the new run becomes
            its child.
        workspace: The workspace to record in (default: ``cairn.init``/``cairn.use``'s,
            else the current directory's). Logging calls on the run follow it.

    Raises:
        CairnError: a run is already active and ``nested`` is false.

    Example:
        >>> with cairn.start_run(experiment="churn", params={"C": 1.0}) as run:
        ...     cairn.log_metric("auc", 0.93)
    """
    with _lock:
        pid = os.getpid()
        own = [r for r in _stack if r._pid == pid]
        if own and not nested:
            raise CairnError(
                f"run {own[-1].id} is already active; pass nested=True to start a child run "
                "of it, or end it first with cairn.end_run()"
            )
        client = current_client(workspace)
        enclosing = _stack[-1] if nested and _stack else None
        parent_ref: str | ActiveRun | Run | None = parent if parent is not None else enclosing
        parent_id, parent_experiment = _parent_of(client, parent_ref)
        if isinstance(experiment, Experiment):
            experiment = experiment.id
        run = client.create_run(
            experiment if experiment is not None else parent_experiment,
            name=name or "",
            params=params,
            tags=tags,
            parent_id=parent_id,
        )
        active = ActiveRun(client, run)
        _stack.append(active)
    _install_handlers()
    return active


def _parent_of(
    client: TrackingClient, parent: str | ActiveRun | Run | None
) -> tuple[str | None, str | None]:
    if parent is None:
        return None, None
    if isinstance(parent, ActiveRun | Run):
        return parent.id, parent.experiment_id
    if isinstance(parent, str):
        return parent, client.get_run(parent).experiment_id
    raise CairnError(f"parent must be a run id, an ActiveRun or a Run, got {parent!r}")


# -- module-level API on the active run -----------------------------------------------------


def active_run() -> ActiveRun | None:
    """The innermost active run, or ``None``."""
    return _stack[-1] if _stack else None


def _active() -> ActiveRun:
    try:
        return _stack[-1]
    except IndexError:
        raise CairnError(
            "no active run: start one with `with cairn.start_run():` before logging"
        ) from None


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Log a metric point on the active run (buffered; see :meth:`ActiveRun.log_metric`).

    Example:
        >>> for epoch, loss in enumerate(losses):
        ...     cairn.log_metric("loss", loss)      # steps 0, 1, 2, ...
    """
    _active().log_metric(key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
) -> None:
    """Log several metrics on the active run."""
    _active().log_metrics(metrics, step, timestamp)


def log_param(key: str, value: Any) -> None:
    """Record a parameter of the active run (write-once; stringified)."""
    _active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Record several parameters of the active run."""
    _active().log_params(params)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    _active().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags on the active run."""
    _active().set_tags(tags)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> RunIO:
    """Store a file or directory as an artifact of the active run."""
    return _active().log_artifact(path, name)


def log_artifacts(directory: str | os.PathLike[str], prefix: str | None = None) -> list[RunIO]:
    """Store each entry of ``directory`` as an artifact of the active run."""
    return _active().log_artifacts(directory, prefix)


def log_input(
    ref: ObjectInfo | str | Any,
    role: str = "input",
    name: str | None = None,
    kind: str | None = None,
) -> RunIO:
    """Record that the active run read ``ref`` (dataset version, ObjectInfo or digest)."""
    return _active().log_input(ref, role, name, kind)


def log_output(
    ref: ObjectInfo | str | Any,
    role: str = "output",
    name: str | None = None,
    kind: str | None = None,
) -> RunIO:
    """Record that the active run wrote ``ref``."""
    return _active().log_output(ref, role, name, kind)


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the innermost active run; does nothing when no run is active."""
    run = active_run()
    if run is not None:
        run.end(status)


def flush() -> None:
    """Write every buffered metric point of this process now."""
    flush_all()


def get_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    """A run of the current workspace by id."""
    return current_client(workspace).get_run(run_id)


def get_metric_history(
    run_id: str, key: str, *, workspace: Workspace | None = None
) -> list[Metric]:
    """Every point of metric ``key`` of a run, ordered by step."""
    return current_client(workspace).get_metric_history(run_id, key)


def search_runs(
    experiment: str | Iterable[str] | None = None,
    filter: str = "",
    order_by: str | Sequence[str] = (),
    max_results: int = 1000,
    *,
    workspace: Workspace | None = None,
) -> list[Run]:
    """Search runs of the current workspace (or of ``workspace``).

    Args:
        experiment: An experiment name or id, or several; ``None`` searches them all.
        filter: The filter language of ``docs/search.md``.
        order_by: ``"metrics.auc desc"`` or a list of such terms.
        max_results: At most this many runs.

    Example:
        >>> cairn.search_runs("churn", "metrics.auc > 0.9", order_by="metrics.auc DESC")
    """
    return current_client(workspace).search_runs(experiment, filter, order_by, max_results)


# -- workspace --------------------------------------------------------------------------------


def init(
    path: str | os.PathLike[str] | None = None,
    *,
    tracking_uri: str | None = None,
    artifact_uri: str | None = None,
) -> Workspace:
    """Create (or open) a workspace and make it this process's workspace.

    Every domain (tracking, data, models, registry, serving) then acts on it, whatever
    the current directory: this is :func:`cairn.workspace.use` after creating it.

    Example:
        >>> ws = cairn.init("/tmp/demo")
        >>> with cairn.start_run():
        ...     cairn.log_metric("x", 1.0)
    """
    import cairn.workspace
    from cairn.config import CONFIG_FILE, load_settings

    root = Path(path if path is not None else Path.cwd()).expanduser().resolve()
    if (root / CONFIG_FILE).is_file():
        if tracking_uri or artifact_uri:
            raise ConfigError(
                f"{root / CONFIG_FILE} already exists; edit it, or set CAIRN_TRACKING_URI / "
                "CAIRN_ARTIFACT_URI, instead of passing URIs to init()"
            )
        ws = Workspace(load_settings(root))
        ws.metadata.ensure_schema()
    else:
        ws = Workspace.init(root, tracking_uri, artifact_uri)
    return cairn.workspace.use(ws)


def current_client(workspace: Workspace | None = None) -> TrackingClient:
    """The client of ``workspace``, else of the process's workspace (``init()``/``use()``'s,
    else the current directory's)."""
    import cairn.workspace

    ws = cairn.workspace.resolve(workspace)
    with _lock:
        client = _clients.get(id(ws))
        if client is None or client.workspace is not ws:
            client = _clients[id(ws)] = TrackingClient(ws)
        return client


def reset() -> None:
    """End this process's active runs and forget the process's workspace (tests)."""
    import cairn.workspace

    _end_own_runs(RunStatus.KILLED)
    with _lock:
        _stack.clear()
        _clients.clear()
    cairn.workspace.stop_using()


# -- process life: SIGTERM, uncaught exceptions, exit, fork -----------------------------------


def _status_for(exc: BaseException | None) -> RunStatus:
    if exc is None:
        return RunStatus.FINISHED
    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.KILLED
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return RunStatus.FINISHED
    return RunStatus.FAILED


def _error_tags(exc: BaseException) -> dict[str, str]:
    return {ERROR_TYPE_TAG: type(exc).__name__, ERROR_MESSAGE_TAG: str(exc)[:_MAX_MESSAGE]}


def _end_own_runs(
    status: RunStatus, tags: Mapping[str, str] | None = None, flush_timeout: float | None = None
) -> None:
    """End, innermost first, the active runs this process started; errors go to stderr."""
    pid = os.getpid()
    with _lock:
        runs = [r for r in reversed(_stack) if r._pid == pid]
    for run in runs:
        try:
            if tags:
                run.set_tags(tags)
            run.end(status, flush_timeout=flush_timeout)
        except Exception as exc:  # at exit or in a signal handler nobody can catch it
            print(f"cairn: while ending run {run.id}: {exc}", file=sys.stderr)


def _install_handlers() -> None:
    """Install the SIGTERM handler and the uncaught-exception hook (main thread only)."""
    global _sigterm_installed, _previous_sigterm, _excepthook_installed
    if threading.current_thread() is not threading.main_thread():
        return
    with _lock:
        if not _sigterm_installed:
            previous = signal.getsignal(signal.SIGTERM)
            if previous is not signal.SIG_IGN:  # a process that ignores SIGTERM keeps doing so
                signal.signal(signal.SIGTERM, _on_sigterm)
                _previous_sigterm = previous
                _sigterm_installed = True
        if not _excepthook_installed:
            previous_hook = sys.excepthook

            def _hook(
                exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
            ) -> None:
                global _uncaught
                _uncaught = exc
                previous_hook(exc_type, exc, tb)

            sys.excepthook = _hook
            _excepthook_installed = True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """End active runs KILLED, then let the previous handler (or the default) act."""
    global _sigterm_installed
    _end_own_runs(RunStatus.KILLED, flush_timeout=5.0)
    previous = _previous_sigterm if _previous_sigterm is not None else signal.SIG_DFL
    signal.signal(signal.SIGTERM, previous)
    _sigterm_installed = False
    # Re-deliver so the process ends (or not) exactly as it would have without Cairn.
    os.kill(os.getpid(), signum)


def _end_at_exit() -> None:
    exc = _uncaught
    if exc is None:
        _end_own_runs(RunStatus.FINISHED)
    else:
        status = _status_for(exc)
        _end_own_runs(status, _error_tags(exc) if status is RunStatus.FAILED else None)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()


atexit.register(_end_at_exit)
os.register_at_fork(after_in_child=_after_fork_in_child)
