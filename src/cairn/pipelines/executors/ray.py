"""Ray: tasks on a local Ray instance or an existing cluster (``RAY_ADDRESS``).

``ray`` is imported only when this executor is opened (install ``cairn-mlops[ray]``).
Without ``RAY_ADDRESS`` (or ``address=``) a local Ray is started, with the dashboard and
usage reporting off, and stopped by :meth:`RayExecutor.shutdown` without Ray's graceful
teardown (:mod:`.raylocal`: its processes are killed at once, none is left behind); with
one, the executor connects to that cluster and leaves it running. A Ray already
initialised in this process is used as it is and left running. Ray that cannot start, or
a cluster that cannot be reached, is a :class:`~cairn.errors.ConfigError`.

Each task is a Ray task with ``num_cpus`` and ``memory`` from its resources; a timeout
cancels it with force (its worker process is killed). Steps read and write the artifact
store themselves, so on a cluster the store must be one every node reaches (S3, GCS, a
shared folder).

Ray starts on the calling thread, not in the background: Ray 2.60's GCS client answers
only the thread that called ``ray.init``, so a Ray started on a helper thread leaves
every later call from the main thread waiting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError, Future
from types import ModuleType
from typing import Any, TypeVar

from cairn.errors import ConfigError, InvalidInput
from cairn.pipelines.executors.base import (
    DEFAULT_RESOURCES,
    ExecutorBase,
    Resources,
    TaskTimeout,
    WorkerDied,
)
from cairn.pipelines.executors.raylocal import stop_local

T = TypeVar("T")

#: How long a cluster address may take to accept a connection before it counts as down.
PROBE_SECONDS = 5.0


def _call(fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
    return fn(*args, **kwargs)


def _probe(address: str) -> None:
    """Refuse an address where nothing listens: ``ray.init`` would retry it for minutes.

    ``auto`` and ``local`` are Ray's own lookups and are left to it.
    """
    target = address.partition("://")[2] or address
    host, _, port = target.rpartition(":")
    if address in ("auto", "local") or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise ConfigError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start it with "
            "`ray start --head`, or unset RAY_ADDRESS to run on a local Ray"
        ) from None


def _start(ray: ModuleType, address: str | None, num_cpus: int | None) -> None:
    """Start a local Ray (``address`` None) or connect to the cluster at ``address``."""
    # Workers import Cairn and the pipeline's modules from the same paths as here.
    env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "RAY_USAGE_STATS_ENABLED": "0"}
    options: dict[str, Any] = {}
    if address is None:
        # A local Ray's processes inherit this process's environment: setting it while
        # Ray starts spares every worker a runtime environment set-up (about a second for
        # the first tasks on a small machine). No GPU probing for a local Ray either.
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        options["num_cpus"], options["num_gpus"] = num_cpus, 0
    else:
        options["runtime_env"] = {"env_vars": env}
        _probe(address)
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=True,
            **options,
        )
    except Exception as exc:
        # A start that failed half-way may have left processes behind.
        with contextlib.suppress(Exception):
            ray.shutdown()
        what = (
            f"connect to the Ray cluster at {address}; check RAY_ADDRESS (or address=), or "
            "start the cluster with `ray start --head`"
            if address
            else "start a local Ray; its logs are under /tmp/ray/session_latest/logs"
        )
        detail = " ".join(str(exc).split())
        raise ConfigError(f"could not {what} ({type(exc).__name__}: {detail})") from exc
    finally:
        if address is None:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


class RayExecutor(ExecutorBase):
    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, **_: Any) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError(
                "the ray executor needs Ray: pip install 'cairn-mlops[ray]'"
            ) from None
        self._ray = ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        address = address or os.environ.get("RAY_ADDRESS") or None
        self._owns = not ray.is_initialized() and address is None
        if not ray.is_initialized():
            _start(ray, address, num_cpus)
        self._remote = ray.remote(_call)
        self._pending: dict[Any, Future[Any]] = {}
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self._stopped = False

    def _cluster_cpus(self) -> float:
        resources: dict[str, float] = self._ray.cluster_resources()  # type: ignore[no-untyped-call]
        return float(resources.get("CPU", 0))

    @property
    def capacity(self) -> int:
        return max(1, int(self._cluster_cpus() or 1))

    def submit(
        self,
        fn: Callable[..., T],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = DEFAULT_RESOURCES,
        timeout: float | None = None,
    ) -> Future[T]:
        total = self._cluster_cpus()
        if resources.cpus > total:
            raise InvalidInput(
                f"a task asks for {resources.cpus:g} CPUs but the Ray cluster has {total:g}; "
                "lower the step's cpus= or add nodes"
            )
        options: dict[str, Any] = {"num_cpus": resources.cpus, "max_retries": 0}
        if resources.memory is not None:
            options["memory"] = resources.memory
        ref = self._remote.options(**options).remote(fn, tuple(args), dict(kwargs or {}))
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        with self._lock:
            self._pending[ref] = future
        inner = ref.future()
        inner.add_done_callback(lambda done: self._settle(ref, done))
        if timeout is not None:
            timer = threading.Timer(timeout, self._expire, (ref, timeout))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        return future

    def _settle(self, ref: Any, done: Future[Any]) -> None:
        with self._lock:
            future = self._pending.pop(ref, None)
        if future is None or future.done():
            return
        try:
            future.set_result(done.result())
        except BaseException as exc:
            future.set_exception(self._unwrap(exc))

    def _unwrap(self, exc: BaseException) -> BaseException:
        exceptions = self._ray.exceptions
        if isinstance(exc, exceptions.RayTaskError):
            cause = exc.as_instanceof_cause()
            original = getattr(exc, "cause", None)
            return original if isinstance(original, BaseException) else cause
        if isinstance(exc, exceptions.TaskCancelledError):
            return CancelledError()
        if isinstance(exc, (exceptions.WorkerCrashedError, exceptions.RayActorError)):
            return WorkerDied(f"the Ray worker running the task died: {exc}")
        return exc

    def _expire(self, ref: Any, timeout: float) -> None:
        with self._lock:
            future = self._pending.pop(ref, None)
        if future is None or future.done():
            return
        self._ray.cancel(ref, force=True)
        future.set_exception(
            TaskTimeout(f"the task ran longer than its timeout of {timeout:g} s and was cancelled")
        )

    def shutdown(self, cancel: bool = False) -> None:
        """Wait for (or with ``cancel``, cancel) the pending tasks; then stop the local
        Ray if this executor started it (at once: :func:`.raylocal.stop_local`)."""
        if self._stopped:
            return
        self._stopped = True
        for timer in self._timers:
            timer.cancel()
        with self._lock:
            pending = dict(self._pending)
            if cancel:
                self._pending.clear()
        if cancel:
            for ref, future in pending.items():
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref, force=True)
                future.set_exception(CancelledError())
        else:
            for future in pending.values():
                with contextlib.suppress(CancelledError):
                    future.exception()
        if self._owns and self._ray.is_initialized():
            stop_local(self._ray)
