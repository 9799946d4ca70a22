"""Local process pool: each task in its own worker process, up to ``max_cpus`` at once.

A fresh process per task (forked from a forkserver that has Cairn imported, so a start
costs milliseconds) is what makes the guarantees of :mod:`.base` hold: a task past its
timeout is killed without touching the others, a worker that dies (``kill -9``, a
segfault, the OOM killer) fails only its own future, and Ctrl-C stops every worker.
Tasks start in submission order as their ``cpus`` fit in the free slots; a smaller task
may pass a larger one that is waiting.

Callables are pickled with cloudpickle when it is installed (closures, lambdas), with
pickle otherwise (module-level functions).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from cairn.errors import InvalidInput
from cairn.hashing import usable_cores
from cairn.pipelines.executors.base import (
    DEFAULT_RESOURCES,
    ExecutorBase,
    Resources,
    TaskTimeout,
    WorkerDied,
)

T = TypeVar("T")

try:
    import cloudpickle as _pickler
except ImportError:  # pragma: no cover - cloudpickle is in the pipelines extra
    _pickler = pickle


def _child_main(conn: Connection, payload: bytes, cwd: str, env: dict[str, str]) -> None:
    # The parent decides what Ctrl-C means (cancel everything); a worker must not die
    # half-way through writing its output because the terminal's SIGINT reached it too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The forkserver keeps the folder and environment it started with; a task runs in
    # the caller's as they were at submit time (relative paths, CAIRN_* variables).
    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
    except OSError as exc:
        conn.send_bytes(pickle.dumps(("error", exc)))
        conn.close()
        return
    try:
        fn, args, kwargs = pickle.loads(payload)
        message: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except BaseException as exc:
        message = ("error", exc)
    try:
        data = _pickler.dumps(message)
    except Exception as exc:
        data = pickle.dumps(("error", RuntimeError(f"the task's result cannot be pickled: {exc}")))
    conn.send_bytes(data)
    conn.close()


@dataclass(eq=False)
class _Job:
    future: Future[Any]
    payload: bytes
    cpus: float
    timeout: float | None
    cwd: str = ""
    env: dict[str, str] = field(default_factory=dict)
    process: Any = None
    conn: Connection | None = None
    deadline: float | None = None
    started: float = field(default=0.0)


class ProcessExecutor(ExecutorBase):
    """Run tasks in worker processes; ``max_cpus`` slots (default: the usable cores)."""

    name = "process"

    def __init__(self, max_cpus: int | None = None, **_options: Any) -> None:
        self.max_cpus = max_cpus or usable_cores()
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["cairn.pipelines.worker"])
        self._queue: list[_Job] = []
        self._running: list[_Job] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="cairn-process-pool", daemon=True)
        self._thread.start()

    @property
    def capacity(self) -> int:
        return int(self.max_cpus)

    def submit(
        self,
        fn: Callable[..., T],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = DEFAULT_RESOURCES,
        timeout: float | None = None,
    ) -> Future[T]:
        if resources.cpus > self.max_cpus:
            raise InvalidInput(
                f"a task asks for {resources.cpus:g} CPUs but the process pool has "
                f"{self.max_cpus}; lower the step's cpus= or use --executor ray on a cluster"
            )
        if self._closing:
            raise InvalidInput("the process pool is shut down; open a new executor")
        payload = _pickler.dumps((fn, tuple(args), dict(kwargs or {})))
        future: Future[T] = Future()
        with self._lock:
            self._queue.append(
                _Job(future, payload, resources.cpus, timeout, os.getcwd(), dict(os.environ))
            )
        self._wake()
        return future

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed during shutdown
            os.write(self._wake_w, b"x")

    # -- the dispatcher thread ---------------------------------------------------------

    def _loop(self) -> None:
        # Start the forkserver now (about 0.4 s: an interpreter importing Cairn), while
        # the caller records its run, rather than when the first task is due.
        from multiprocessing import forkserver

        with contextlib.suppress(Exception):  # the first Process.start() retries anyway
            forkserver.ensure_running()
        while True:
            with self._lock:
                if self._closing and not self._queue and not self._running:
                    return
                self._start_fitting()
                watched: list[Any] = [self._wake_r]
                watched += [job.conn for job in self._running]
                deadlines = [job.deadline for job in self._running if job.deadline is not None]
            wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = wait(watched, timeout=wait_for)
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            with self._lock:
                for job in list(self._running):
                    if job.conn in ready:
                        self._finish(job)
                    elif job.deadline is not None and time.monotonic() >= job.deadline:
                        self._kill(
                            job,
                            TaskTimeout(
                                f"the task ran longer than its timeout of {job.timeout:g} s and "
                                "its worker process was stopped"
                            ),
                        )

    def _start_fitting(self) -> None:
        free = self.max_cpus - sum(job.cpus for job in self._running)
        for job in list(self._queue):
            if job.cpus > free:
                continue
            self._queue.remove(job)
            if not job.future.set_running_or_notify_cancel():
                continue
            reader, writer = self._ctx.Pipe(duplex=False)
            job.process = self._ctx.Process(
                target=_child_main, args=(writer, job.payload, job.cwd, job.env)
            )
            job.process.start()
            writer.close()
            job.conn = reader
            job.started = time.monotonic()
            job.deadline = None if job.timeout is None else job.started + job.timeout
            self._running.append(job)
            free -= job.cpus

    def _finish(self, job: _Job) -> None:
        assert job.conn is not None
        try:
            status, value = pickle.loads(job.conn.recv_bytes())
        except (EOFError, OSError):
            job.process.join()
            code = job.process.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            status, value = (
                "error",
                WorkerDied(
                    f"the worker process running the task ended without a result ({how}); "
                    "it was killed or crashed (out of memory?)"
                ),
            )
        self._release(job)
        if status == "ok":
            job.future.set_result(value)
        else:
            job.future.set_exception(value)

    def _kill(self, job: _Job, error: BaseException) -> None:
        job.process.kill()
        job.process.join()
        self._release(job)
        job.future.set_exception(error)

    def _release(self, job: _Job) -> None:
        if job.conn is not None:
            job.conn.close()
        job.process.join()
        job.process.close()
        self._running.remove(job)

    def shutdown(self, cancel: bool = False) -> None:
        with self._lock:
            if self._closing and not self._thread.is_alive():
                return
            self._closing = True
            if cancel:
                for job in self._queue:
                    job.future.cancel()
                self._queue.clear()
                for job in list(self._running):
                    self._kill(job, CancelledError())
        self._wake()
        self._thread.join()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)
