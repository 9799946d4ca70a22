"""Where trials run: in this process, on a local process pool, or on Ray.

A small adapter, so the tuner does not care: ``submit(fn, arg)`` returns a
:class:`concurrent.futures.Future`. ``process`` and ``ray`` are the pipeline executors
(:mod:`cairn.pipelines.executors`) when that package is installed, so steps and trials
share one implementation; the classes here are the fallback without it. ``inline``
stays here: a trial in the tuner's own process asks the live study about pruning.
"""

from __future__ import annotations

import importlib
import importlib.util
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


class PipelineExecutorAdapter:
    """Trials on a pipeline executor (``cairn.pipelines.executors``): one task per trial."""

    in_process = False

    def __init__(self, executor: Any) -> None:
        self._executor = executor
        self.workers = max(1, int(executor.capacity))

    def submit(self, fn: Callable[[Any], Any], arg: Any) -> Future[Any]:
        return self._executor.submit(fn, (arg,))  # type: ignore[no-any-return]

    def shutdown(self) -> None:
        self._executor.shutdown()


#: Executors by name: (name, "module:factory(workers)").
EXECUTORS: list[tuple[str, str]] = [
    ("inline", "cairn.tuning.executors:InlineExecutor"),
    ("inprocess", "cairn.tuning.executors:InlineExecutor"),  # the pipelines' name for it
    ("process", "cairn.tuning.executors:ProcessExecutor"),
    ("ray", "cairn.tuning.executors:RayExecutor"),
]


def _pipeline_executor(name: str, workers: int | None) -> TrialExecutor | None:
    """The pipelines' executor ``name`` wrapped for trials, if that package is here."""
    if importlib.util.find_spec("cairn.pipelines.executors") is None:
        return None
    from cairn.pipelines.executors import open_executor

    options = {"max_cpus": workers} if name == "process" and workers else {}
    return PipelineExecutorAdapter(open_executor(name, **options))


def make_executor(spec: Any, workers: int | None = None) -> TrialExecutor:
    """The executor ``spec`` names (``inline``, ``process``, ``ray``), a pipeline
    executor object (wrapped), or ``spec`` itself."""
    if spec is None:
        spec = "inline" if not workers or workers == 1 else "process"
    if not isinstance(spec, str):
        if hasattr(spec, "capacity") and not hasattr(spec, "workers"):
            return PipelineExecutorAdapter(spec)
        return spec  # type: ignore[no-any-return]
    if spec in ("process", "ray"):
        shared = _pipeline_executor(spec, workers)
        if shared is not None:
            return shared
    for name, target in EXECUTORS:
        if name == spec:
            module_name, _, attr = target.partition(":")
            factory = getattr(importlib.import_module(module_name), attr)
            if name in ("inline", "inprocess"):
                return factory()  # type: ignore[no-any-return]
            return factory(workers)  # type: ignore[no-any-return]
    known = ", ".join(n for n, _ in EXECUTORS)
    raise InvalidInput(f"unknown executor {spec!r}; use one of: {known}")
