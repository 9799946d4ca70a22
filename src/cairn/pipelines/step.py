"""``@step`` and the lazy handles a step call returns inside a pipeline.

Outside a pipeline a step is its plain function (call it in a test, get the value).
Inside a function decorated with ``@pipeline`` that is being built, a call records a
node of the DAG and returns a :class:`Handle` standing for the value the step will
produce; passing a handle to another step makes an edge.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import math
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from cairn.errors import InvalidInput

P = ParamSpec("P")
R = TypeVar("R")


def call_site(depth: int = 2) -> str:
    """``file:line`` of the caller ``depth`` frames up (where a step was called)."""
    frame = sys._getframe(depth)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def definition_site(fn: Callable[..., Any]) -> str:
    """``file:line`` of the ``def`` line (the code object starts at the decorators)."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return "<unknown>"
    line = code.co_firstlineno
    for offset in range(50):
        text = linecache.getline(code.co_filename, line + offset).lstrip()
        if text.startswith(("def ", "async def ")):
            line += offset
            break
    return f"{code.co_filename}:{line}"


@dataclass(eq=False)
class Node:
    """One step call in the graph (one item for a mapped step)."""

    key: str  # unique in the graph: "train", "train#2", "fold[3]"
    step: Step[..., Any]
    args: dict[str, Any]  # parameter name -> constant, Handle, or list with handles
    site: str  # file:line of the call
    upstream: list[Node] = field(default_factory=list)


class Handle:
    """The future output of a node; only steps can use it (it has no value yet)."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    def __repr__(self) -> str:
        return f"<output of step {self.node.key!r}>"

    def _no_value(self, *_: Any, **__: Any) -> Any:
        raise InvalidInput(
            f"the output of step {self.node.key!r} ({self.node.site}) has no value while the "
            "pipeline is being built: pass it to another step, which receives the value"
        )

    __bool__ = __iter__ = __len__ = __getitem__ = __getattr__ = _no_value
    __add__ = __sub__ = __mul__ = __truediv__ = __lt__ = __gt__ = _no_value


class Builder:
    """Collects the nodes while a pipeline function runs (one per build)."""

    current: Builder | None = None

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.errors: list[str] = []
        self._counts: dict[str, int] = {}

    def unique(self, name: str) -> str:
        count = self._counts.get(name, 0)
        self._counts[name] = count + 1
        return name if count == 0 else f"{name}#{count + 1}"


def handles_in(value: Any) -> list[Handle]:
    if isinstance(value, Handle):
        return [value]
    if isinstance(value, (list, tuple)):
        return [h for item in value for h in handles_in(item)]
    if isinstance(value, dict):
        return [h for item in value.values() for h in handles_in(item)]
    return []


class Step(Generic[P, R]):
    """A step: a typed function with caching, retries, a timeout and resources.

    Use :func:`step` to make one. Calling it outside a pipeline being built runs the
    function.
    """

    __cairn_step__ = True

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        cache: bool = True,
        retries: int = 0,
        retry_delay: float = 1.0,
        timeout: float | None = None,
        cpus: float = 1,
        memory: int | None = None,
    ) -> None:
        if not isinstance(retries, int) or retries < 0:
            raise InvalidInput(f"retries must be a whole number >= 0, got {retries!r}")
        if timeout is not None and not (timeout > 0 and math.isfinite(timeout)):
            raise InvalidInput(f"timeout must be a positive number of seconds, got {timeout!r}")
        if not cpus > 0:
            raise InvalidInput(f"cpus must be a positive number, got {cpus!r}")
        self.fn = fn
        self.name = name or fn.__name__
        self.cache = cache
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.cpus = cpus
        self.memory = memory
        self.signature = inspect.signature(fn)
        self.site = definition_site(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<step {self.name} at {self.site}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = Builder.current
        if builder is None:
            return self.fn(*args, **kwargs)
        return self._record(builder, builder.unique(self.name), args, kwargs, call_site())  # type: ignore[return-value]

    def map(self, items: Iterable[Any], *args: Any, **kwargs: Any) -> list[R]:
        """Run the step once per item (given as its first parameter), with the other
        arguments shared; a step receiving the result gets the outputs as a list, in
        item order. ``items`` must be known when the pipeline is built (a list, a
        range, a parameter)."""
        builder = Builder.current
        site = call_site()
        if builder is None:
            return [self.fn(item, *args, **kwargs) for item in items]
        if isinstance(items, Handle):
            builder.errors.append(
                f"{site}: {self.name}.map() needs the items when the pipeline is built, got "
                f"the output of step {items.node.key!r}; map over a list or a pipeline parameter"
            )
            return []
        base = builder.unique(self.name)
        return [
            self._record(builder, f"{base}[{i}]", (item, *args), kwargs, site)  # type: ignore[misc]
            for i, item in enumerate(items)
        ]

    def _record(
        self, builder: Builder, key: str, args: tuple[Any, ...], kwargs: dict[str, Any], site: str
    ) -> Handle:
        node = Node(key, self, {}, site)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            builder.errors.append(
                f"{site}: step {self.name!r} (defined at {self.site}) called wrongly: {exc}"
            )
        else:
            bound.apply_defaults()
            node.args = dict(bound.arguments)
        upstream: dict[int, Node] = {}
        for handle in handles_in(node.args):
            upstream[id(handle.node)] = handle.node
        node.upstream = list(upstream.values())
        builder.nodes.append(node)
        return Handle(node)


@overload
def step(fn: Callable[P, R], /) -> Step[P, R]: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    retry_delay: float = 1.0,
    timeout: float | None = None,
    cpus: float = 1,
    memory: int | None = None,
) -> Callable[[Callable[P, R]], Step[P, R]]: ...


def step(fn: Any = None, /, **options: Any) -> Any:
    """Make a typed function a pipeline step.

    Args:
        cache: skip the step when its code, parameters and inputs are unchanged.
        retries: how many times to run it again after it raises (backoff doubles from
            ``retry_delay`` seconds).
        timeout: seconds one attempt may take before it is stopped.
        cpus, memory: what the executor reserves for it (memory in bytes).

    Example:
        >>> @cairn.step(retries=2, timeout=600)
        ... def train(frame: pd.DataFrame, C: float = 1.0) -> LogisticRegression: ...
    """
    if fn is not None:
        return Step(fn, **options)
    return lambda f: Step(f, **options)
