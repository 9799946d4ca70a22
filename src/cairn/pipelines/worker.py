"""What runs inside an executor for one step: load inputs, call, store the output.

A :class:`StepTask` is picklable: it names the step by module and qualified name (a
worker process imports the pipeline file itself) and its stored inputs by digest, so the
same task runs in-process, in a local worker process or on a Ray node that shares the
artifact store. The output is written to the artifact store by the worker, so only its
digest travels back.
"""

from __future__ import annotations

import contextvars
import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, InvalidInput
from cairn.pipelines import serializers
from cairn.store.artifacts import ArtifactStore


@dataclass(frozen=True)
class OutputRef:
    """A stored output: where it is and how to read it back."""

    digest: str
    kind: str  # "file" | "tree"
    size: int
    serializer: str
    type: str  # module.qualname of the value, for display

    def as_dict(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "kind": self.kind,
            "size": self.size,
            "serializer": self.serializer,
            "type": self.type,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputRef:
        return cls(**{k: data[k] for k in ("digest", "kind", "size", "serializer", "type")})


@dataclass(frozen=True)
class Loaded:
    """An input already in this process's memory (in-process executor only)."""

    value: Any


@dataclass
class StepResult:
    output: OutputRef
    duration_ms: int
    value: Any = None  # kept only when the task asked for it (in-process)


@dataclass(frozen=True)
class StepContext:
    """What a running step can ask about itself (:func:`current`)."""

    pipeline_run_id: str
    step: str
    #: For each input fed by another step: ``runs:/<step run id>/<step>``, the run that
    #: produced it (a model input can be registered from there, keeping lineage).
    sources: dict[str, str] = field(default_factory=dict)


_CURRENT: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "cairn_step_context", default=None
)


def current() -> StepContext:
    """The context of the step running now; ``InvalidInput`` outside a pipeline step.

    Example:
        >>> @cairn.step
        ... def register(model: LogisticRegression) -> dict:
        ...     source = cairn.pipelines.current().sources["model"]
        ...     return {"version": cairn.registry.register(source, "churn").version}
    """
    found = _CURRENT.get()
    if found is None:
        raise InvalidInput("cairn.pipelines.current() is only known inside a running step")
    return found


class StepFailed(CairnError):
    """The step's own code raised, or returned what cannot be stored; ``summary`` says
    which ("raised ValueError: ..."), ``details`` is the traceback, shown once."""

    def __init__(self, step: str, summary: str, details: str = "") -> None:
        self.step, self.summary, self.details = step, summary, details
        super().__init__(f"step {step!r} {summary}")

    def __reduce__(self) -> Any:  # picklable across processes with all three fields
        return (StepFailed, (self.step, self.summary, self.details))


@dataclass
class StepTask:
    """One execution of one step; calling it runs the step where it is called."""

    key: str
    module: str
    file: str
    qualname: str
    params: dict[str, Any]
    inputs: dict[str, Any]  # name -> Loaded | OutputRef | list of those
    artifact_uri: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    keep_value: bool = False
    fn: Any = None  # the function itself, in-process (skips the import by name)
    context: StepContext | None = None
    #: The caller's folder and CAIRN_* variables: a step on a Ray worker (which starts in
    #: Ray's own folder) finds the same workspace and relative paths as the caller.
    cwd: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def __call__(self) -> StepResult:
        if self.cwd and os.path.isdir(self.cwd) and os.getcwd() != self.cwd:
            os.chdir(self.cwd)
        os.environ.update(self.env)
        store = ArtifactStore(self.artifact_uri, self.storage_options)
        fn = self.fn
        if fn is None:
            from cairn.pipelines.loader import resolve_step

            fn = resolve_step(self.module, self.file, self.qualname)
            fn = getattr(fn, "fn", fn)
        arguments = dict(self.params)
        for name, ref in self.inputs.items():
            arguments[name] = _load(store, ref)
        started = time.perf_counter()
        token = _CURRENT.set(self.context)
        try:
            value = fn(**arguments)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            # The user's frames only: the first one is this method calling the step.
            details = "".join(
                traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next)  # type: ignore[union-attr]
            )
            raise StepFailed(self.key, f"raised {type(exc).__name__}: {exc}", details) from None
        finally:
            _CURRENT.reset(token)
        duration_ms = int((time.perf_counter() - started) * 1000)
        output = store_value(store, self.key, value)
        return StepResult(output, duration_ms, value if self.keep_value else None)


def _load(store: ArtifactStore, ref: Any) -> Any:
    if isinstance(ref, Loaded):
        return ref.value
    if isinstance(ref, list):
        return [_load(store, item) for item in ref]
    return load_output(store, ref)


def load_output(store: ArtifactStore, ref: OutputRef) -> Any:
    """Read a stored output back with the serializer it was written with."""
    serializer = serializers.by_name(ref.serializer)
    with tempfile.TemporaryDirectory(prefix="cairn-step-in-") as tmp:
        path = Path(tmp) / "value"
        store.checkout(ref.digest, path, verify=False)
        return serializer.load(path)


def store_value(store: ArtifactStore, key: str, value: Any) -> OutputRef:
    """Write ``value`` with its serializer; a missing serializer names the step and type."""
    try:
        serializer = serializers.for_value(value)
    except CairnError as exc:
        raise StepFailed(key, f"returned an output it cannot store: {exc}") from None
    cls = type(value)
    with tempfile.TemporaryDirectory(prefix="cairn-step-out-") as tmp:
        path = Path(tmp) / "value"
        try:
            serializer.dump(value, path)
        except CairnError as exc:
            raise StepFailed(key, f"returned an output it cannot store: {exc}") from None
        info = store.put(path)
    return OutputRef(
        info.digest, info.kind, info.size, serializer.name, f"{cls.__module__}.{cls.__qualname__}"
    )
