"""``@pipeline``: build the DAG by calling the function, and validate it before running.

Everything that can be known before a step runs is checked here, and every problem is
reported with the file and line of the step definition or call: a step called with a
missing or unknown argument, a parameter the pipeline does not take, a declared return
type no serializer stores, a cycle.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar

from cairn.errors import InvalidInput
from cairn.pipelines import serializers
from cairn.pipelines.step import Builder, Node, Step, definition_site

P = ParamSpec("P")
R = TypeVar("R")


class PipelineError(InvalidInput):
    """The pipeline cannot run as written; the message points at file:line."""


@dataclass
class Graph:
    """A validated DAG: nodes in an order where every node follows its inputs."""

    pipeline: Pipeline[..., Any]
    params: dict[str, Any]
    nodes: list[Node]

    def node(self, key: str) -> Node:
        for node in self.nodes:
            if node.key == key:
                return node
        raise PipelineError(
            f"pipeline {self.pipeline.name!r} has no step {key!r}; its steps: "
            + ", ".join(n.key for n in self.nodes)
        )


class Pipeline(Generic[P, R]):
    """A function whose body wires steps by calling them; see :func:`pipeline`."""

    __cairn_pipeline__ = True

    def __init__(self, fn: Callable[P, R], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        self.site = definition_site(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<pipeline {self.name} at {self.site}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run the pipeline in-process in the current workspace (like
        ``cairn pipeline run``) and return its :class:`~cairn.pipelines.outcome.Outcome`."""
        from cairn.pipelines.runner import run_pipeline

        bound = self.signature.bind(*args, **kwargs)
        return run_pipeline(self, params=dict(bound.arguments))

    def build(self, params: Mapping[str, Any] | None = None) -> Graph:
        """Call the function with ``params`` to record its step calls; validate the DAG."""
        values = self.bind_params(params or {})
        builder = Builder()
        previous, Builder.current = Builder.current, builder
        try:
            self.fn(**values)  # type: ignore[call-arg]
        except PipelineError:
            raise
        except InvalidInput as exc:
            raise PipelineError(f"{self.site}: pipeline {self.name!r}: {exc}") from None
        finally:
            Builder.current = previous
        errors = list(builder.errors)
        errors += _declared_type_errors(builder.nodes)
        errors += _argument_errors(builder.nodes)
        if not builder.nodes and not errors:
            errors.append(f"{self.site}: pipeline {self.name!r} calls no step")
        if errors:
            more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise PipelineError(errors[0] + more)
        return Graph(self, values, topological(builder.nodes))

    def bind_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Parameters with defaults filled in and strings (from ``--param``) converted to
        the type of the annotation or default; unknown or missing ones are refused."""
        accepted = self.signature.parameters
        for key in params:
            if key not in accepted:
                takes = ", ".join(accepted) or "no parameters"
                raise PipelineError(
                    f"{self.site}: pipeline {self.name!r} has no parameter {key!r}; it takes: "
                    f"{takes}"
                )
        values: dict[str, Any] = {}
        hints = _hints(self.fn)
        for key, parameter in accepted.items():
            if key in params:
                values[key] = _convert(self, key, params[key], hints.get(key), parameter.default)
            elif parameter.default is not inspect.Parameter.empty:
                values[key] = parameter.default
            else:
                raise PipelineError(
                    f"{self.site}: pipeline {self.name!r} needs parameter {key!r}; pass "
                    f"--param {key}=VALUE"
                )
        return values


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:  # an annotation naming something not importable: check values instead
        return {}


def _convert(pipe: Pipeline[..., Any], key: str, raw: Any, hint: Any, default: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    target = hint if isinstance(hint, type) else type(default) if default is not None else None
    if target in (None, str) or (default is inspect.Parameter.empty and target is None):
        return raw
    try:
        if target is bool:
            lowered = raw.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return lowered in ("true", "1", "yes")
        if target in (int, float):
            return target(raw)
        if target in (list, dict, tuple):
            value = json.loads(raw)
            return tuple(value) if target is tuple else value
    except (ValueError, TypeError):
        raise PipelineError(
            f"{pipe.site}: parameter {key!r} of pipeline {pipe.name!r} must be a "
            f"{target.__name__ if isinstance(target, type) else target}, got {raw!r}"
        ) from None
    return raw


def _declared_type_errors(nodes: list[Node]) -> list[str]:
    errors = []
    seen: set[int] = set()
    for node in nodes:
        step = node.step
        if id(step) in seen:
            continue
        seen.add(id(step))
        declared = _hints(step.fn).get("return", inspect.Signature.empty)
        problem = serializers.check_declared(declared)
        if problem:
            errors.append(f"{step.site}: step {step.name!r} declares its output type: {problem}")
    return errors


def _argument_errors(nodes: list[Node]) -> list[str]:
    """Constants passed to steps become part of their cache keys, so they must be JSON;
    a list is either all step outputs (gathered) or all constants."""
    from cairn.pipelines.cache import canonical
    from cairn.pipelines.step import Handle, handles_in

    errors = []
    for node in nodes:
        for name, value in node.args.items():
            if isinstance(value, Handle):
                continue
            found = handles_in(value)
            gathered = isinstance(value, (list, tuple)) and len(found) == len(value) > 0
            if found and not gathered:
                errors.append(
                    f"{node.site}: argument {name!r} of step {node.step.name!r} mixes step "
                    "outputs with other values; pass a list of outputs only (it is gathered) "
                    "or combine them in a step"
                )
                continue
            if gathered:
                continue
            try:
                canonical(value)
            except (TypeError, ValueError):
                errors.append(
                    f"{node.site}: argument {name!r} of step {node.step.name!r} is a "
                    f"{type(value).__qualname__}, which is not JSON: step arguments other than "
                    "step outputs are parameters and part of the cache key; pass a JSON value, "
                    "or produce the object in a step"
                )
    return errors


def topological(nodes: list[Node]) -> list[Node]:
    """``nodes`` ordered so that each follows its upstream nodes (stable: call order
    otherwise); a cycle raises :class:`PipelineError` naming its steps and their calls."""
    order: list[Node] = []
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(node: Node, path: list[Node]) -> None:
        mark = state.get(id(node))
        if mark == 2:
            return
        if mark == 1:
            cycle = [*path[path.index(node) :], node]
            text = " -> ".join(f"{n.key} ({n.site})" for n in cycle)
            raise PipelineError(f"the pipeline has a cycle: {text}")
        state[id(node)] = 1
        for up in node.upstream:
            visit(up, [*path, node])
        state[id(node)] = 2
        order.append(node)

    for node in nodes:
        visit(node, [])
    return order


def pipeline(fn: Any = None, /, *, name: str | None = None) -> Any:
    """Make a function a pipeline: its body calls steps, passing outputs along.

    Example:
        >>> @cairn.pipeline
        ... def churn(test_size: float = 0.2):
        ...     frame = ingest()
        ...     train_set, test_set = split(frame, test_size), None
        ...     evaluate(train(train_set), frame)
    """
    if fn is not None:
        return Pipeline(fn, name=name)
    return lambda f: Pipeline(f, name=name)


def is_step(value: Any) -> bool:
    return isinstance(value, Step)
