"""Where trials run: in this process, on a local process pool, or on Ray.

A small adapter, so the tuner does not care: ``submit(fn, arg)`` returns a
:class:`concurrent.futures.Future`. The registry is data, ``(name, "module:factory")``,
imported when named. The pipeline executors can serve here once they expose the same
``submit``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from cairn.errors import ConfigError, InvalidInput


class TrialExecutor(Protocol):
    """Runs one function call per trial; ``workers`` trials run at once."""

    workers: int

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]: ...

    def shutdown(self) -> None: ...


class InlineExecutor:
    """Runs each trial in this process, one at a time (pruning uses the live study)."""

    workers = 1
    in_process = True

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(arg))
        except Exception as exc:  # Ctrl-C and exits propagate at once, as in a plain call
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        pass


class ProcessExecutor:
    """A pool of fresh ("spawn") processes; the objective must be importable by name
    (defined at module level, not in a notebook cell or a lambda)."""

    in_process = False

    def __init__(self, workers: int | None = None) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.workers = workers or os.cpu_count() or 1
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
        )

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        return self._pool.submit(fn, arg)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class RayExecutor:
    """Ray tasks: a local Ray, or the cluster at ``RAY_ADDRESS``."""

    in_process = False

    def __init__(self, workers: int | None = None) -> None:
        try:
            import ray
        except ModuleNotFoundError:
            raise ConfigError(
                "executor 'ray' needs Ray: pip install 'ray[default]', or use executor='process'"
            ) from None
        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            address = os.environ.get("RAY_ADDRESS")
            # A local Ray's workers import the objective from where this process does.
            env = None if address else {"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}}
            ray.init(address=address, include_dashboard=False, runtime_env=env)
        cpus = int(ray.available_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.workers = workers or max(cpus, 1)
        self._remote: dict[Callable[[Any], Any], Any] = {}

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self._ray.remote(fn)
        return remote.remote(arg).future()

    def shutdown(self) -> None:
        if self._started:
            self._ray.shutdown()


#: Executors by name: (name, "module:factory(workers)").
EXECUTORS: list[tuple[str, str]] = [
    ("inline", "cairn.tuning.executors:InlineExecutor"),
    ("process", "cairn.tuning.executors:ProcessExecutor"),
    ("ray", "cairn.tuning.executors:RayExecutor"),
]


def make_executor(spec: str | TrialExecutor | None, workers: int | None = None) -> TrialExecutor:
    """The executor ``spec`` names (``inline``, ``process``, ``ray``) or ``spec`` itself."""
    if spec is None:
        spec = "inline" if not workers or workers == 1 else "process"
    if not isinstance(spec, str):
        return spec
    for name, target in EXECUTORS:
        if name == spec:
            module_name, _, attr = target.partition(":")
            factory = getattr(importlib.import_module(module_name), attr)
            return factory() if name == "inline" else factory(workers)  # type: ignore[no-any-return]
    known = ", ".join(n for n, _ in EXECUTORS)
    raise InvalidInput(f"unknown executor {spec!r}; use one of: {known}")
