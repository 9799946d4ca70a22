"""The scheduler: start the pipelines of due schedules, once per slot, one at a time.

    scheduler = Scheduler(workspace, load_runner())
    scheduler.run(stop_event)          # what `cairn scheduler` does

Every tick it

1. marks its own running firings alive (``heartbeat``);
2. marks firings of dead schedulers ``interrupted``: their process is gone (same host)
   or their heartbeat is older than the lease (another host);
3. per schedule not running here: retakes an interrupted firing (up to
   ``max_attempts`` attempts in all), else claims the due slot or dataset version
   (:func:`cairn.pipelines.schedule.due_claim`) and starts the pipeline on a thread.

What holds the guarantees is the store's claim (:mod:`cairn.store.schedules`): the
``(schedule, fire_key)`` row and the schedule's "last fired" mark are written in one
transaction before the pipeline starts, so a restarted scheduler neither starts a
claimed slot again nor forgets one, and two schedulers on one database never both start
it; the claim is refused while another firing of the schedule is running, so one
schedule never runs twice at once. A firing cut off by a crash is retaken, not
duplicated: it keeps its one row and counts its attempts.

The clock is a parameter (milliseconds since 1970), so tests move time instead of
waiting for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError, ConfigError
from cairn.pipelines.schedule import due_claim, firing_params, store
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.schedules import Firing, Schedule
    from cairn.workspace import Workspace

#: The function that starts a pipeline: ``runner(target, params=..., executor=...)``.
DEFAULT_RUNNER = "cairn.pipelines.scheduler:run_scheduled"
DEFAULT_LEASE_MS = 120_000
DEFAULT_MAX_ATTEMPTS = 3
_MAX_ERROR = 2000

Runner = Callable[..., Any]
Clock = Callable[[], int]

_local = threading.local()


def current_firing() -> Firing | None:
    """The firing whose pipeline runs on this thread (its slot is ``fire_key`` and
    ``fire_time``), or ``None`` outside a scheduled run."""
    return getattr(_local, "firing", None)


def run_scheduled(target: str, *, params: Mapping[str, str], executor: str | None = None) -> Any:
    """The default runner: load the pipeline ``target`` names (``file.py:name``) and run
    it with ``params`` on ``executor``; returns the pipeline's outcome (its ``run_id``
    goes on the firing)."""
    from cairn.pipelines.loader import load_target
    from cairn.pipelines.runner import run_pipeline

    pipe, canonical = load_target(target)
    return run_pipeline(pipe, params, executor=executor or "inprocess", target=canonical)


def load_runner(path: str = DEFAULT_RUNNER) -> Runner:
    """Import the pipeline runner named ``module:function`` (or ``module.function``)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        runner = getattr(module, attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(
            f"cannot load the pipeline runner {path!r} ({type(exc).__name__}: {exc}); "
            "install Cairn's pipelines, or pass --runner MODULE:FUNCTION"
        ) from None
    if not callable(runner):
        raise ConfigError(f"the pipeline runner {path!r} is not a function")
    return runner  # type: ignore[no-any-return]


def new_owner() -> str:
    """``host:pid:token``: names this scheduler in the firings it claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` ran on this host and its process is gone."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine: only the lease can tell
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def run_id_of(result: Any) -> str | None:
    """The run id a runner returned (a run, an id, or anything with ``id``/``run_id``)."""
    if result is None:
        return None
    if isinstance(result, str):
        return result
    for attr in ("run_id", "id"):
        value = getattr(result, attr, None)
        if isinstance(value, str):
            return value
    return None


class Scheduler:
    """Starts the due firings of a workspace's schedules; see the module docstring."""

    def __init__(
        self,
        workspace: Workspace,
        runner: Runner,
        *,
        clock: Clock = now_ms,
        owner: str | None = None,
        lease_ms: int = DEFAULT_LEASE_MS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.store = store(workspace)
        self.runner = runner
        self.clock = clock
        self.owner = owner or new_owner()
        self.lease_ms = lease_ms
        self.max_attempts = max_attempts
        self.on_event = on_event or (lambda message: None)
        self._threads: dict[str, threading.Thread] = {}

    # -- one pass ------------------------------------------------------------------

    def tick(self) -> list[Firing]:
        """Heartbeat, clean up after dead schedulers, start what is due; returns the
        firings started."""
        now = self.clock()
        self.store.heartbeat(self.owner, now)
        self._interrupt_dead(now)
        started = []
        for schedule in self.store.list_schedules():
            thread = self._threads.get(schedule.name)
            if thread is not None and thread.is_alive():
                continue
            firing = self._take(schedule, now)
            if firing is not None:
                self._start(schedule, firing)
                started.append(firing)
        return started

    def _interrupt_dead(self, now: int) -> None:
        for firing in self.store.list_firings(states=("running",), limit=10_000):
            if firing.owner == self.owner:
                continue
            if owner_is_dead(firing.owner):
                reason = f"scheduler {firing.owner} exited while the pipeline ran"
            elif now - firing.heartbeat_at > self.lease_ms:
                reason = f"scheduler {firing.owner} stopped sending heartbeats"
            else:
                continue
            if self.store.interrupt_firing(
                firing.schedule, firing.fire_key, owner=firing.owner, reason=reason
            ):
                self.on_event(f"interrupted {firing.schedule} {firing.fire_key}: {reason}")

    def _take(self, schedule: Schedule, now: int) -> Firing | None:
        interrupted = self.store.list_firings(schedule.name, states=("interrupted",))
        for old in sorted(interrupted, key=lambda f: f.fire_time):
            firing = self.store.retake_firing(
                schedule.name,
                old.fire_key,
                owner=self.owner,
                now=now,
                max_attempts=self.max_attempts,
            )
            if firing is not None:
                return firing
        if self.store.list_firings(schedule.name, states=("interrupted",)):
            return None  # one is waiting for its scheduler to be declared dead
        try:
            claim = due_claim(schedule, now, self.workspace)
        except CairnError as exc:
            self.on_event(f"skipped {schedule.name}: {exc}")
            return None
        if claim is None:
            return None
        return self.store.claim_firing(claim, owner=self.owner, now=now)

    # -- running a firing ----------------------------------------------------------

    def _start(self, schedule: Schedule, firing: Firing) -> None:
        attempt = f" (attempt {firing.attempts})" if firing.attempts > 1 else ""
        self.on_event(f"started {schedule.name} {firing.fire_key}{attempt}")
        thread = threading.Thread(
            target=self._fire,
            args=(schedule, firing),
            name=f"cairn-schedule-{schedule.name}",
            daemon=True,  # a stopped scheduler must not wait for a pipeline: it is retaken
        )
        self._threads[schedule.name] = thread
        thread.start()

    def _fire(self, schedule: Schedule, firing: Firing) -> None:
        _local.firing = firing
        try:
            result = self.runner(
                schedule.pipeline,
                params=firing_params(schedule, firing),
                executor=schedule.executor,
            )
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
            self.store.finish_firing(
                schedule.name,
                firing.fire_key,
                owner=self.owner,
                state="failed",
                now=self.clock(),
                error=error,
            )
            self.on_event(f"failed {schedule.name} {firing.fire_key}: {error}")
            return
        run_id = run_id_of(result)
        self.store.finish_firing(
            schedule.name,
            firing.fire_key,
            owner=self.owner,
            state="finished",
            now=self.clock(),
            run_id=run_id,
        )
        self.on_event(
            f"finished {schedule.name} {firing.fire_key}" + (f" run {run_id}" if run_id else "")
        )

    # -- loops ---------------------------------------------------------------------

    def running(self) -> list[str]:
        """Names of the schedules whose pipeline runs in this scheduler now."""
        return [name for name, thread in self._threads.items() if thread.is_alive()]

    def wait(self, stop: threading.Event | None = None, poll: float = 1.0) -> None:
        """Wait for this scheduler's firings to end, heartbeating meanwhile."""
        while self.running() and not (stop is not None and stop.is_set()):
            for name in self.running():
                self._threads[name].join(timeout=poll)
                break
            self.store.heartbeat(self.owner, self.clock())

    def run(self, stop: threading.Event, poll: float = 10.0, once: bool = False) -> None:
        """Tick every ``poll`` seconds until ``stop`` is set (``once``: one tick, then
        wait for what it started). On the way out, firings still running here are
        marked interrupted, so the next scheduler retakes them."""
        try:
            while not stop.is_set():
                if once:
                    self.tick()
                    self.wait(stop)
                    return
                try:
                    self.tick()
                except Exception as exc:
                    # The database away for a moment must not end a long-running
                    # scheduler: say so and try again at the next poll.
                    self.on_event(f"check failed, retrying in {poll:g} s: {exc}")
                stop.wait(poll)
        finally:
            self.release()

    def release(self) -> None:
        """Hand this scheduler's running firings over: mark them interrupted."""
        for firing in self.store.list_firings(states=("running",), limit=10_000):
            if firing.owner == self.owner:
                self.store.finish_firing(
                    firing.schedule,
                    firing.fire_key,
                    owner=self.owner,
                    state="interrupted",
                    now=self.clock(),
                    error="the scheduler stopped while the pipeline ran",
                )
