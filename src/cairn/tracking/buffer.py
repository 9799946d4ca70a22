"""Buffered metric writes: logging a point is an append; a background thread writes batches.

``MetricBuffer.add`` appends a tuple to a :class:`collections.deque` (atomic under the
GIL, so logging threads never take a lock) and starts the writer thread on first use.
The thread wakes every :attr:`MetricBuffer.interval` seconds, or as soon as
:attr:`MetricBuffer.flush_count` points wait, and writes them grouped by run through the
store's one batch primitive. :meth:`MetricBuffer.flush` does the same synchronously; a
lock serializes it with the thread, so when ``flush`` returns every point logged before
the call is stored.

The buffer is bounded: at most :attr:`MetricBuffer.capacity` points are held unwritten
(queued, or in the batch being written). A caller that logs faster than the store
writes blocks in ``add`` until the writer has made room, so memory stays flat and a
process killed without warning (SIGKILL, out-of-memory killer) loses at most
``capacity`` points: in practice the points of the last ``interval``.

A write that fails is not lost silently: the error is kept and raised by the next
``flush`` (which runs at every run end), naming how many points were lost, and the
count per run is kept until the run ends (see :meth:`MetricBuffer.lost`), so the run can
end FAILED. Buffers are flushed at interpreter exit, and a forked child starts with an
empty buffer and no thread (the parent's pending points stay the parent's to write).
"""

from __future__ import annotations

import atexit
import logging
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
#: The writer wakes once this many points wait (or a quarter of the capacity, if less).
FLUSH_COUNT = 5_000
#: The writer thread ends after this long without points; the next point starts another.
IDLE_EXIT_SECONDS = 10.0

_buffers: weakref.WeakSet[MetricBuffer] = weakref.WeakSet()
_log = logging.getLogger("cairn.tracking")


def describe_error(exc: BaseException) -> str:
    """``Type: message`` of a write error, one line: a database driver's own error
    rather than the SQL and parameters a wrapping library adds."""
    orig = getattr(exc, "orig", None)
    cause = orig if isinstance(orig, BaseException) else exc
    text = " ".join(str(cause).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(cause).__name__}: {text}"


class MetricBuffer:
    """Collects metric points in memory and writes them to a store in batches.

    Args:
        write: Writes one run's points (one transaction).
        interval: Seconds between the writer's wake-ups: no point waits much longer.
        capacity: Most points held unwritten; ``add`` blocks while the buffer is full.

    Example:
        >>> written = []
        >>> buf = MetricBuffer(lambda run_id, points: written.extend(points))
        >>> buf.add("run1", "loss", 0.5, 0, 1700000000000)
        >>> buf.flush()
        >>> written[0].value
        0.5
    """

    def __init__(self, write: WriteFn, *, interval: float = 0.5, capacity: int = 20_000) -> None:
        self.interval = interval
        self.capacity = capacity
        self._write = write
        self._reset()
        _buffers.add(self)

    @property
    def capacity(self) -> int:
        """Most points held unwritten (queued or being written); ``add`` waits beyond."""
        return self._capacity

    @capacity.setter
    def capacity(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._capacity = capacity
        # A queue shorter than flush_count plus one batch in flight stays below the
        # capacity, so the fast path in add() needs only the one comparison.
        self.flush_count = max(1, min(FLUSH_COUNT, capacity // 4))
        self.batch_size = max(1, min(MAX_BATCH, capacity // 2))

    def _reset(self) -> None:
        self._pending: deque[tuple[str, str, float, int, int]] = deque()
        self._wake = threading.Event()
        self._drain_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._room = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._in_flight = 0
        self._high_water = 0
        self._error: BaseException | None = None
        self._lost = 0
        self._lost_by_run: dict[str, tuple[int, BaseException]] = {}

    def add(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        """Queue one point. Costs an append, unless the buffer is full: then it waits
        for the writer to make room (back-pressure instead of unbounded memory)."""
        pending = self._pending
        pending.append((run_id, key, value, step, timestamp))
        if len(pending) >= self.flush_count:
            self._backlog()
        elif self._thread is None:
            self._start()

    def _backlog(self) -> None:
        """Enough points wait: wake the writer, and wait for room if the buffer is full."""
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        unwritten = len(self._pending) + self._in_flight
        if unwritten > self._high_water:
            self._high_water = unwritten
        if unwritten >= self._capacity:
            self._wait_for_room()

    def _wait_for_room(self) -> None:
        me = threading.current_thread()
        with self._room:
            # Until this point fits below the capacity: unwritten points whose add()
            # has returned never reach the capacity, counting this one never exceed it.
            while len(self._pending) + self._in_flight >= self._capacity:
                writer = self._thread
                if writer is None or writer is me or not writer.is_alive():
                    break  # no writer to wait for (closed, or at exit): write here
                # Notified after each batch; the timeout re-checks a writer that ended.
                self._room.wait(self.interval)
            else:
                return
        with self._drain_lock:
            self._drain_locked()

    @property
    def pending(self) -> int:
        """Points queued and not yet handed to the store."""
        return len(self._pending)

    @property
    def high_water(self) -> int:
        """The most points this buffer has held unwritten at once (queued or in flight)."""
        return self._high_water

    def lost(self, run_id: str) -> tuple[int, BaseException | None]:
        """How many of ``run_id``'s points could not be written, and the first error.

        Kept for the buffer's life (one entry per run that lost points), so every end of
        the run through this buffer's client reports the loss.
        """
        return self._lost_by_run.get(run_id, (0, None))

    def record_lost(self, run_id: str, count: int, exc: BaseException) -> None:
        """Count ``run_id`` points that failed to write elsewhere (a run's final points)."""
        before, first = self._lost_by_run.get(run_id, (0, exc))
        self._lost_by_run[run_id] = (before + count, first)

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
            f"{lost} buffered metric point(s) could not be recorded: {describe_error(error)}"
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
            queued = len(pending)  # nothing is in flight between batches
            if queued > self._high_water:
                self._high_water = queued
            count = min(queued, self.batch_size)
            # Counted in flight before they leave the queue (for a moment twice, never
            # zero times), so add() never sees fewer unwritten points than there are.
            self._in_flight = count
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
            try:
                for run_id, points in by_run.items():
                    try:
                        self._write(run_id, points)
                    except Exception as exc:  # kept and raised by the next flush()
                        self._count_lost(run_id, len(points), exc)
            finally:
                self._in_flight = 0
                with self._room:
                    self._room.notify_all()
        return held

    def _count_lost(self, run_id: str, count: int, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self._lost += count
        first_loss = not self._lost_by_run.get(run_id)
        self.record_lost(run_id, count, exc)
        if first_loss:
            # Say it now, not only at the run's end, which may be hours away.
            _log.warning(
                "cairn: %d metric point(s) of run %s could not be recorded (%s); "
                "the run will end FAILED with the count of points lost",
                count,
                run_id,
                describe_error(exc),
            )


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
