"""The executor interface: run picklable callables somewhere, get futures back.

Pipelines submit one task per step execution; tuning submits one per trial. Both use only
what is below, so an executor is a small class with three methods::

    from cairn.pipelines.executors import open_executor, Resources

    with open_executor("process") as ex:          # or "inprocess", "ray"
        fut = ex.submit(train, (X, y), {"C": 1.0},
                        resources=Resources(cpus=1, memory=2 * 2**30), timeout=600)
        model = fut.result()                        # the callable's value, or its exception

Contract, the same for every executor:

- ``submit(fn, args, kwargs, *, resources, timeout)`` returns a
  :class:`concurrent.futures.Future` at once (the in-process executor runs the call
  before returning and hands back a finished future). ``fn``, ``args`` and ``kwargs``
  must be picklable for the process and Ray executors (module-level functions, or any
  callable cloudpickle can take when it is installed); the value is pickled back.
- ``resources`` are what the task needs; an executor starts a task only when that much
  is free (the process pool counts ``cpus`` against its slots; Ray receives
  ``num_cpus``/``memory``). A task asking more than the executor can ever give fails at
  ``submit`` with :class:`~cairn.errors.InvalidInput`, naming the figure.
- ``timeout`` (seconds) bounds one call: on expiry the future fails with
  :class:`TaskTimeout`; the process and Ray executors stop the call (the worker process
  is killed / the task cancelled with force); the in-process executor interrupts it with
  ``SIGALRM`` on the main thread (pure-Python code only).
- A worker that dies (killed, segfault, out of memory) fails its future with
  :class:`WorkerDied`; the executor keeps serving the other tasks.
- ``capacity`` is how many one-CPU tasks can run at once (callers use it to decide how
  many to keep in flight).
- ``shutdown(cancel=False)`` waits for running tasks; ``cancel=True`` stops them
  (Ctrl-C) and fails their futures with :class:`concurrent.futures.CancelledError`.
  Executors are context managers (``__exit__`` cancels when leaving on an exception).

Executors are listed as data in :data:`cairn.pipelines.executors.EXECUTORS` and imported
lazily, so choosing ``"inprocess"`` never imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

from cairn.errors import CairnError, InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class Resources:
    """What one task needs. ``memory`` is in bytes (``None``: no reservation)."""

    cpus: float = 1.0
    memory: int | None = None

    def __post_init__(self) -> None:
        if not self.cpus > 0:
            raise InvalidInput(f"cpus must be a positive number, got {self.cpus!r}")
        if self.memory is not None and self.memory <= 0:
            raise InvalidInput(f"memory must be a positive number of bytes, got {self.memory!r}")


DEFAULT_RESOURCES = Resources()


class TaskTimeout(CairnError, TimeoutError):
    """A task ran longer than its ``timeout`` and was stopped."""


class WorkerDied(CairnError):
    """The process running a task ended without returning a result (killed, crashed)."""


@runtime_checkable
class Executor(Protocol):
    """Runs tasks; see the module docstring for the contract."""

    name: str

    @property
    def capacity(self) -> int: ...

    def submit(
        self,
        fn: Callable[..., T],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = DEFAULT_RESOURCES,
        timeout: float | None = None,
    ) -> Future[T]: ...

    def shutdown(self, cancel: bool = False) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ExecutorBase:
    """Context-manager plumbing shared by the executors."""

    name = "base"

    def shutdown(self, cancel: bool = False) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> ExecutorBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown(cancel=exc_type is not None)
