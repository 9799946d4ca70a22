"""Buffered metric writes: logging a point is an append; a background thread writes batches.

``MetricBuffer.add`` appends a tuple to a :class:`collections.deque` (atomic under the
GIL, so logging threads never take a lock) and starts the writer thread on first use.
The thread wakes every :attr:`MetricBuffer.interval` seconds, or as soon as
:attr:`MetricBuffer.max_pending` points wait, and writes them grouped by run through the
store's one batch primitive. :meth:`MetricBuffer.flush` does the same synchronously; a
lock serializes it with the thread, so when ``flush`` returns every point logged before
the call is stored.

A write that fails in the background is not lost silently: the error is kept and raised
by the next ``flush`` (which runs at every run end), naming how many points were lost.
Buffers are flushed at interpreter exit, and a forked child starts with an empty buffer
and no thread (the parent's pending points stay the parent's to write).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence

from cairn.errors import StoreError
from cairn.types import Metric

#: Writes one run's points; a store's ``log_batch(run_id, metrics=...)``.
WriteFn = Callable[[str, Sequence[Metric]], None]

#: Most points sent to the store in one call (one transaction).
MAX_BATCH = 10_000
#: The writer thread ends after this long without points; the next point starts another.
IDLE_EXIT_SECONDS = 10.0

_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()


class MetricBuffer:
    """Collects metric points in memory and writes them to a store in batches.

    Example:
        >>> written = []
        >>> buf = MetricBuffer(lambda run_id, points: written.extend(points))
        >>> buf.add("run1", "loss", 0.5, 0, 1700000000000)
        >>> buf.flush()
        >>> written[0].value
        0.5
    """

    def __init__(self, write: WriteFn, *, interval: float = 0.5, max_pending: int = 5_000) -> None:
        self.interval = interval
        self.max_pending = max_pending
        self._write = write
        self._reset()
        _buffers.add(self)

    def _reset(self) -> None:
        self._pending: deque[tuple[str, str, float, int, int]] = deque()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._error: BaseException | None = None
        self._lost = 0

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Queue one point. Costs an append; never blocks on the store."""
        pending = self._pending
        pending.append((run_id, key, value, step, timestamp))
        if self._thread is None:
            self._start()
        if len(pending) >= self.max_pending:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Points queued and not yet handed to the store."""
        return len(self._pending)

    def take(self, run_id: str, timeout: float | None = None) -> list[Metric]:
        """Write every queued point except ``run_id``'s, which are returned instead.

        A run's end uses this to write its last points in the same transaction as its
        status. Raises like :meth:`flush`.
        """
        return self._drain(run_id, timeout)

    def flush(self, timeout: float | None = None) -> None:
        """Write every queued point now; raise a background write error if one occurred.

        Args:
            timeout: Give up waiting for an in-flight background write after this many
                seconds (used from signal handlers); ``None`` waits as long as it takes.

        Raises:
            StoreError: points logged earlier could not be written; the message says how
                many and why. The error is reported once.
        """
        self._drain(None, timeout)

    def _drain(self, hold: str | None, timeout: float | None) -> list[Metric]:
        if not self._drain_lock.acquire(timeout=-1 if timeout is None else timeout):
            return []
        try:
            held = self._drain_locked(hold)
        finally:
            self._drain_lock.release()
        self.raise_error()
        return held

    def raise_error(self) -> None:
        """Raise (once) the error of a failed background write, if any."""
        error, lost = self._error, self._lost
        if error is None:
            return
        self._error, self._lost = None, 0
        raise StoreError(
            f"{lost} buffered metric point(s) could not be recorded: "
            f"{type(error).__name__}: {error}"
        ) from error

    def close(self) -> None:
        """Stop the writer thread and write what is left."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self.flush()

    # -- writer thread ---------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._loop, name="cairn-metric-writer", daemon=True)
            thread.start()
            self._thread = thread

    def _loop(self) -> None:
        idle = 0.0
        while not self._stopped:
            self._wake.wait(self.interval)
            self._wake.clear()
            with self._drain_lock:
                busy = bool(self._pending)
                self._drain_locked()
            idle = 0.0 if busy else idle + self.interval
            if idle >= IDLE_EXIT_SECONDS:
                # Leave rather than wake forever; the next add() starts a new thread.
                with self._start_lock:
                    self._thread = None
                if self._pending:  # queued after the drain, before _thread was cleared
                    self._start()
                return

    def _drain_locked(self, hold: str | None = None) -> list[Metric]:
        """Hand every queued point to the store, grouped by run. Caller holds the lock.

        Points of run ``hold`` are not written but returned.
        """
        pending = self._pending
        held: list[Metric] = []
        while pending:
            count = min(len(pending), MAX_BATCH)
            popleft = pending.popleft
            by_run: dict[str, list[Metric]] = {}
            for _ in range(count):
                run_id, key, value, step, timestamp = popleft()
                points = by_run.get(run_id)
                if points is None:
                    points = by_run[run_id] = []
                points.append(Metric(key, value, step, timestamp))
            if hold is not None and hold in by_run:
                held.extend(by_run.pop(hold))
            for run_id, points in by_run.items():
                try:
                    self._write(run_id, points)
                except Exception as exc:  # kept and raised by the next flush()
                    if self._error is None:
                        self._error = exc
                    self._lost += len(points)
        return held


def flush_all() -> None:
    """Flush every buffer of this process; raise the first write error after trying all."""
    first: StoreError | None = None
    for buffer in list(_buffers):
        try:
            buffer.flush()
        except StoreError as exc:
            first = first or exc
    if first is not None:
        raise first


def _flush_at_exit() -> None:
    try:
        flush_all()
    except StoreError as exc:
        # Nobody is left to catch it: say it on stderr rather than lose it.
        print(f"cairn: {exc}", file=sys.stderr)


def _reset_after_fork() -> None:
    for buffer in list(_buffers):
        buffer._reset()


atexit.register(_flush_at_exit)
os.register_at_fork(after_in_child=_reset_after_fork)
