"""The default executor: each task runs in the calling thread, before ``submit`` returns.

Cheapest (no pickling, outputs stay in memory for the next step) and the easiest to
debug. A timeout interrupts the call with ``SIGALRM`` when called from the main thread
(pure-Python code stops; a long C call finishes first); elsewhere it cannot be enforced,
which the process executor can.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from types import FrameType
from typing import Any, TypeVar

from cairn.pipelines.executors.base import DEFAULT_RESOURCES, ExecutorBase, Resources, TaskTimeout

T = TypeVar("T")


class _Alarm(BaseException):
    """Raised into the task by SIGALRM; a BaseException so ``except Exception`` in the
    task's code does not swallow it."""


class InProcessExecutor(ExecutorBase):
    name = "inprocess"

    def __init__(self, **_options: Any) -> None:
        pass

    @property
    def capacity(self) -> int:
        return 1

    def submit(
        self,
        fn: Callable[..., T],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        resources: Resources = DEFAULT_RESOURCES,
        timeout: float | None = None,
    ) -> Future[T]:
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        use_alarm = (
            timeout is not None
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        previous: Any = None
        if use_alarm:

            def on_alarm(_signum: int, _frame: FrameType | None) -> None:
                raise _Alarm

            previous = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, float(timeout))  # type: ignore[arg-type]
        try:
            future.set_result(fn(*args, **dict(kwargs or {})))
        except _Alarm:
            future.set_exception(
                TaskTimeout(
                    f"the task ran longer than its timeout of {timeout:g} s and was stopped"
                )
            )
        except Exception as exc:
            future.set_exception(exc)
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        return future

    def shutdown(self, cancel: bool = False) -> None:
        pass
