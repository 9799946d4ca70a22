"""Run starts sent without a round trip of their own.

Over HTTP a run costs two requests (start and end), and a loop of short runs (a sweep,
a tuning study) spends most of its time waiting for the first. So the REST store starts
a run in the client: it makes the run's id and name, queues the start here and returns
at once. The start is sent, as one ``tracking.record_run`` request:

- with the run's end, if the run ends first (then start and end are one request);
- before any other request this process makes to the server (so everything the
  server is asked about a run, or the run's children, finds it there);
- at the latest ``delay`` seconds after the run started, by a background thread (so
  other clients see a long run while it runs).

The first run started in an experiment by a client is sent at once: that answers
"no such experiment" or "you may not" where the run was started. A start the server
refuses later (the experiment deleted meanwhile, a grant revoked) is raised by the call
that sent it, or, if the background thread sent it, by the next call of this client; a
later end of that run raises it again. A server that cannot be reached keeps the start
queued for the next try. Queued starts are sent at interpreter exit; a forked child
starts with an empty queue (the parent's starts stay the parent's to send).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from cairn.errors import CairnError, StoreError
from cairn.types import Metric, Run

#: The sender thread ends after this long with nothing queued; the next start restarts it.
IDLE_EXIT_SECONDS = 10.0

_queues: weakref.WeakSet[StartQueue] = weakref.WeakSet()
_log = logging.getLogger("cairn.tracking")

#: Sends one run (with its final points); ``record_run`` of the server.
SendFn = Callable[[Run, Sequence[Metric]], None]


class StartQueue:
    """The runs this client started whose start the server has not been sent."""

    def __init__(self, send: SendFn, delay: float) -> None:
        self.delay = delay
        self._send = send
        self._reset()
        _queues.add(self)

    def _reset(self) -> None:
        #: run id -> (run, monotonic time it was queued); in start order.
        self._runs: dict[str, tuple[Run, float]] = {}
        #: Experiments a start was sent to (the first start in each goes at once).
        self._seen: set[str] = set()
        #: Starts the server refused: raised again by the run's end.
        self._refused: dict[str, CairnError] = {}
        self._error: CairnError | None = None
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        return len(self._runs)

    @property
    def due(self) -> bool:
        """Whether a start waits to be sent, or a background send failed unreported."""
        return bool(self._runs) or self._error is not None

    def defers(self, experiment_id: str) -> bool:
        """Whether a run started in ``experiment_id`` now may wait (not the first)."""
        return self.delay > 0 and experiment_id in self._seen

    def sent(self, experiment_id: str) -> None:
        """A start in ``experiment_id`` was accepted: later ones may wait."""
        self._seen.add(experiment_id)

    def forget_experiments(self) -> None:
        """The next start in each experiment goes at once (one was deleted, say)."""
        self._seen.clear()

    def holds(self, run_id: str) -> bool:
        """Whether ``run_id``'s start waits here."""
        return run_id in self._runs

    def add(self, run: Run) -> None:
        with self._lock:
            self._runs[run.id] = (run, time.monotonic())
            if self._thread is None:
                thread = threading.Thread(target=self._loop, name="cairn-run-starts", daemon=True)
                thread.start()
                self._thread = thread

    def take(self, run_id: str) -> Run | None:
        """Remove and return ``run_id``'s queued start (None if it was sent); raise the
        refusal of its start if the server refused it."""
        with self._lock:
            refused = self._refused.get(run_id)
            if refused is not None:
                raise refused  # on every end of the run: it was never recorded
            entry = self._runs.pop(run_id, None)
        return None if entry is None else entry[0]

    def send_all(self, older_than: float | None = None) -> None:
        """Send every queued start (or those queued ``older_than`` seconds ago), in the
        order they were started; raise the first refusal, after sending the rest."""
        first: CairnError | None = None
        with self._lock:
            if self._error is not None:
                first, self._error = self._error, None
            cutoff = None if older_than is None else time.monotonic() - older_than
            for run_id, (run, queued) in list(self._runs.items()):
                if cutoff is not None and queued > cutoff:
                    break  # later ones are younger still
                try:
                    self._send(run, ())
                except StoreError:
                    if first is not None:
                        self._error = first  # reported by the next call
                    raise  # unreachable: it stays queued for the next try
                except CairnError as exc:
                    self._runs.pop(run_id, None)
                    refusal = _refusal(exc, f"run {run_id} could not be recorded: {exc}")
                    self._refused[run_id] = refusal
                    self._seen.discard(run.experiment_id)
                    first = first or refusal
                else:
                    self._runs.pop(run_id, None)
                    self._seen.add(run.experiment_id)
        if first is not None:
            raise first

    def _loop(self) -> None:
        idle = 0.0
        while True:
            time.sleep(self.delay)
            with self._lock:
                if not self._runs:
                    idle += self.delay
                    if idle >= IDLE_EXIT_SECONDS:
                        self._thread = None
                        return
                    continue
                idle = 0.0
                try:
                    self.send_all(older_than=self.delay)
                except CairnError as exc:  # raised by this client's next call
                    if not isinstance(exc, StoreError):
                        _log.warning("cairn: %s", exc)
                    self._error = self._error or exc
                except Exception as exc:
                    _log.warning("cairn: sending run starts failed: %s", exc)


def _refusal(exc: CairnError, message: str) -> CairnError:
    """``exc``'s class with ``message`` (the class a caller would catch)."""
    try:
        return type(exc)(message)
    except TypeError:
        return CairnError(message)


def send_all_queues() -> None:
    """Send every queued start of this process (at exit)."""
    for queue in list(_queues):
        try:
            queue.send_all()
        except CairnError as exc:
            print(f"cairn: {exc}", file=sys.stderr)


def _reset_after_fork() -> None:
    for queue in list(_queues):
        queue._reset()


atexit.register(send_all_queues)
os.register_at_fork(after_in_child=_reset_after_fork)
