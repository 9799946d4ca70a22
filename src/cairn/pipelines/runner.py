"""Run a validated pipeline graph: cache, executors, retries, records.

The loop, in the parent process:

1. every node whose inputs are all available gets its cache key (code digest,
   parameters, input digests); with caching on, a key found in the cache whose objects
   are still stored makes the node ``cached`` at once;
2. other ready nodes are submitted to the executor (a child tracking run each);
3. a finished node records its output (lineage on its run, the cache entry, its step
   record); a failed one is retried with doubling backoff, then marked ``failed`` and
   everything downstream ``skipped`` -- other branches go on;
4. Ctrl-C cancels what is running, records those steps and the run as ``interrupted``,
   and raises :class:`PipelineInterrupted`; ``resume`` picks it up.

A pipeline run is a tracking run (experiment: the pipeline's name) with the pipeline's
parameters, a child run per executed step, and every step output as an output edge, so
``runs_for_digest(model_digest)`` names the pipeline run that made a model.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cairn.errors import CairnError
from cairn.pipelines import cache as cachekeys
from cairn.pipelines.codehash import code_digest
from cairn.pipelines.executors import Resources, open_executor
from cairn.pipelines.outcome import Outcome, PipelineFailed, PipelineInterrupted
from cairn.pipelines.records import Recorder, as_text, open_recorder
from cairn.pipelines.step import Handle, Node
from cairn.pipelines.worker import (
    Loaded,
    OutputRef,
    StepContext,
    StepFailed,
    StepResult,
    StepTask,
)
from cairn.store.pipelines import CacheEntry, PipelineRun, StepRecord
from cairn.types import RunIO, RunStatus

if TYPE_CHECKING:
    from cairn.pipelines.graph import Graph, Pipeline
    from cairn.workspace import Workspace

#: Cache entries read up front per node of the graph (the newest ones of its steps): a
#: re-run of an unchanged pipeline finds every key among them without a query per step.
PREFETCH_PER_STEP = 8

#: Called with (step record, error details) whenever a step changes state.
Listener = Callable[[StepRecord, str], None]


def run_pipeline(
    pipe: Pipeline[..., Any],
    params: Mapping[str, Any] | None = None,
    *,
    executor: str = "inprocess",
    executor_options: Mapping[str, Any] | None = None,
    use_cache: bool = True,
    target: str = "",
    workspace: Workspace | None = None,
    listener: Listener | None = None,
    resumed_from: str | None = None,
) -> Outcome:
    """Build, validate and run ``pipe``; see the module docstring.

    Raises :class:`~cairn.pipelines.graph.PipelineError` before anything is recorded if
    the graph is invalid, :class:`PipelineFailed` after the run if a step failed, and
    :class:`PipelineInterrupted` on Ctrl-C.
    """
    from cairn.workspace import current

    graph = pipe.build(params)
    ws = workspace or current()
    recorder = open_recorder(ws)
    try:
        reuse: dict[str, StepRecord] = {}
        if resumed_from:
            reuse = {r.step: r for r in recorder.list_steps(resumed_from)}
        runner = _Runner(
            graph, ws, recorder, executor, dict(executor_options or {}), use_cache, listener
        )
        where = target or f"{pipe.site.rpartition(':')[0]}:{pipe.name}"
        return runner.run(where, resumed_from, reuse)
    finally:
        recorder.close()


def _params_json(values: Mapping[str, Any]) -> str:
    try:
        return cachekeys.canonical(dict(values))
    except (TypeError, ValueError):
        return cachekeys.canonical({k: repr(v) for k, v in values.items()})


class _Runner:
    def __init__(
        self,
        graph: Graph,
        ws: Workspace,
        recorder: Recorder,
        executor: str,
        options: dict[str, Any],
        use_cache: bool,
        listener: Listener | None,
    ) -> None:
        self.graph, self.ws = graph, ws
        self.executor_name, self.options = executor, options
        self.use_cache, self.listener = use_cache, listener
        self.store = recorder
        self.records: dict[str, StepRecord] = {}
        self.outputs: dict[str, OutputRef] = {}
        self.values: dict[str, Any] = {}
        self.dirty: list[StepRecord] = []
        self.details: dict[str, str] = {}

    # -- recording -------------------------------------------------------------------

    def _set(self, record: StepRecord, details: str = "") -> None:
        self.records[record.step] = record
        self.dirty.append(record)
        if details:
            self.details[record.step] = details
        if self.listener is not None:
            self.listener(record, details)

    def _flush(self) -> None:
        if self.dirty:
            latest = {r.step: r for r in self.dirty}
            self.store.save_steps(list(latest.values()))
            self.dirty.clear()

    # -- the run ---------------------------------------------------------------------

    def run(self, target: str, resumed_from: str | None, reuse: dict[str, StepRecord]) -> Outcome:
        # The executor first: one that cannot start (Ray not installed, a cluster not
        # reachable) must not leave a run behind.
        self.executor = open_executor(self.executor_name, **self.options)
        try:
            self._record_start(target, resumed_from, reuse)
        except BaseException:
            self.executor.shutdown(cancel=True)
            raise
        try:
            with self.executor:
                self._loop()
        except KeyboardInterrupt:
            self._interrupted()
            raise PipelineInterrupted(
                f"interrupted: pipeline run {self.run_id} is recorded as interrupted; continue "
                f"it with `cairn pipeline resume {self.run_id[:12]}`"
            ) from None
        except BaseException:
            # Anything else (the store failing) must still close the records.
            self._interrupted("failed")
            raise
        return self._finish()

    def _record_start(
        self, target: str, resumed_from: str | None, reuse: dict[str, StepRecord]
    ) -> None:
        from cairn.tracking.environment import capture

        pipe, graph = self.graph.pipeline, self.graph
        self.environment = capture(self.ws.root)
        run_id = self.store.create_run(
            pipe.name,
            name=pipe.name,
            params=as_text(graph.params),
            tags={
                "cairn.pipeline": pipe.name,
                "cairn.pipeline.target": target,
                "cairn.pipeline.executor": self.executor_name,
                **({"cairn.pipeline.resumed_from": resumed_from} if resumed_from else {}),
            },
            environment=self.environment,
        )
        self.run_id = run_id
        self.reuse = reuse
        self.store.create_pipeline_run(
            PipelineRun(
                run_id,
                pipe.name,
                target,
                self.executor_name,
                "running",
                _params_json(graph.params),
                resumed_from=resumed_from,
            )
        )
        for node in graph.nodes:
            self._set(StepRecord(run_id, node.key, "pending"))
        self._flush()
        cached_steps = sorted({n.step.name for n in graph.nodes if n.step.cache})
        self.prefetched: dict[str, CacheEntry] = {}
        if self.use_cache and cached_steps:
            limit = PREFETCH_PER_STEP * len(graph.nodes)
            self.prefetched = self.store.recent_cache(cached_steps, limit)

    def _loop(self) -> None:
        running: dict[Future[StepResult], tuple[Node, StepRecord, str]] = {}
        retry_at: list[tuple[float, Node, StepRecord]] = []
        while True:
            for node in self.graph.nodes:
                record = self.records[node.key]
                if record.state != "pending" or not self._inputs_ready(node):
                    continue
                self._start(node, record, running)
            due = [item for item in retry_at if item[0] <= time.monotonic()]
            for item in due:
                retry_at.remove(item)
                self._submit(item[1], item[2], running)
            self._flush()
            if not running and not retry_at:
                return
            # Nothing may wait on the executor (or a retry's delay) with the records of
            # this round unwritten.
            self.store.commit()
            wait_for = None
            if retry_at:
                wait_for = max(0.0, min(t for t, _, _ in retry_at) - time.monotonic())
            done, _ = wait(list(running), timeout=wait_for, return_when=FIRST_COMPLETED)
            for future in done:
                node, record, step_run_id = running.pop(future)
                self._completed(node, record, step_run_id, future, retry_at)

    def _inputs_ready(self, node: Node) -> bool:
        return all(self.records[up.key].state in ("ran", "cached") for up in node.upstream)

    def _input_refs(self, node: Node) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(params, input digests for the key, input refs for the task)."""
        params: dict[str, Any] = {}
        digests: dict[str, Any] = {}
        refs: dict[str, Any] = {}
        keep = self.executor_name == "inprocess"

        def ref(handle: Handle) -> Any:
            key = handle.node.key
            if keep and key in self.values:
                return Loaded(self.values[key])
            return self.outputs[key]

        for name, value in node.args.items():
            if isinstance(value, Handle):
                digests[name] = self.outputs[value.node.key].digest
                refs[name] = ref(value)
            elif (
                isinstance(value, (list, tuple))
                and value
                and all(isinstance(v, Handle) for v in value)
            ):
                digests[name] = [self.outputs[v.node.key].digest for v in value]
                refs[name] = [ref(v) for v in value]
            else:
                params[name] = value
        return params, digests, refs

    def _start(self, node: Node, record: StepRecord, running: dict[Any, Any]) -> None:
        params, digests, _ = self._input_refs(node)
        # build() checked that every parameter is JSON.
        key, components = cachekeys.key_of(
            node.step.name,
            code_digest(node.step.fn),
            params,
            digests,
            [up.key for up in node.upstream],
        )
        record = replace(record, cache_key=key, components=components)
        hit = self._cached(node, key)
        if hit is not None:
            outputs, source = hit
            self.outputs[node.key] = OutputRef.from_dict(outputs[0])
            self._set(
                replace(record, state="cached", outputs=json.dumps(outputs), step_run_id=source)
            )
            return
        self._submit(node, record, running)

    def _cached(self, node: Node, key: str) -> tuple[list[dict[str, Any]], str | None] | None:
        if not key:
            return None
        previous = self.reuse.get(node.key)
        if (
            previous is not None
            and previous.cache_key == key
            and previous.state in ("ran", "cached")
        ):
            outputs = json.loads(previous.outputs)
            if outputs and self._stored(outputs):
                return outputs, previous.step_run_id
        if not (self.use_cache and node.step.cache):
            return None
        entry = self.prefetched.get(key) or self.store.get_cache([key]).get(key)
        if entry is None:
            return None
        outputs = json.loads(entry.outputs)
        if not outputs or not self._stored(outputs):
            return None  # purged by gc since: run the step again
        return outputs, entry.step_run_id

    def _stored(self, outputs: list[dict[str, Any]]) -> bool:
        return all(self.ws.artifacts.exists(o["digest"]) for o in outputs)

    def _sources(self, node: Node) -> dict[str, str]:
        found = {}
        for name, value in node.args.items():
            if isinstance(value, Handle):
                producer = self.records[value.node.key].step_run_id
                if producer:
                    found[name] = f"runs:/{producer}/{value.node.key}"
        return found

    def _submit(self, node: Node, record: StepRecord, running: dict[Any, Any]) -> None:
        params, _, refs = self._input_refs(node)
        step = node.step
        fn = step.fn
        task = StepTask(
            key=node.key,
            module=fn.__module__,
            file=node.step.site.rpartition(":")[0],
            qualname=fn.__qualname__,
            params=params,
            inputs=refs,
            artifact_uri=self.ws.settings.artifact_uri,
            storage_options=dict(self.ws.settings.storage_options),
            keep_value=self.executor_name == "inprocess",
            fn=fn if self.executor_name == "inprocess" else None,
            context=StepContext(self.run_id, node.key, self._sources(node)),
            cwd=os.getcwd(),
            env={k: v for k, v in os.environ.items() if k.startswith("CAIRN_")},
        )
        step_run_id = record.step_run_id
        if record.attempts == 0 or step_run_id is None:
            step_run_id = self.store.create_run(
                self.graph.pipeline.name,
                name=node.key,
                parent_id=self.run_id,
                params=as_text(params),
                tags={
                    "cairn.step": step.name,
                    "cairn.step.key": node.key,
                    "cairn.step.cache_key": record.cache_key,
                },
                environment=self.environment,
            )
        record = replace(
            record, state="running", attempts=record.attempts + 1, step_run_id=step_run_id
        )
        self._set(record)
        resources = Resources(cpus=step.cpus, memory=step.memory)
        # The step's records are written before it runs: its code may read or write the
        # workspace (another connection), and a crash while it runs leaves it "running".
        self._flush()
        self.store.commit()
        try:
            future = self.executor.submit(task, resources=resources, timeout=step.timeout)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # refused at submit (too many cpus): that step fails
            future = Future()
            future.set_exception(exc)
        running[future] = (node, record, step_run_id)

    def _completed(
        self,
        node: Node,
        record: StepRecord,
        step_run_id: str,
        future: Future[StepResult],
        retry_at: list[tuple[float, Node, StepRecord]],
    ) -> None:
        error = future.exception()
        if error is None:
            result = future.result()
            self.outputs[node.key] = result.output
            if result.value is not None or self.executor_name == "inprocess":
                self.values[node.key] = result.value
            self._record_success(node, record, step_run_id, result)
            return
        if isinstance(error, KeyboardInterrupt):
            raise error
        if record.attempts <= node.step.retries:
            delay = node.step.retry_delay * 2 ** (record.attempts - 1)
            retry_at.append((time.monotonic() + delay, node, record))
            self._set(replace(record, state="retrying", error=_summary(error)))
            return
        details = error.details if isinstance(error, StepFailed) else ""
        summary = _summary(error)
        self._set(replace(record, state="failed", error=summary), details or summary)
        self.store.set_tags(step_run_id, {"cairn.step.error": summary[:5000]})
        self.store.end_run(step_run_id, RunStatus.FAILED)
        self._skip_downstream(node)

    def _record_success(
        self, node: Node, record: StepRecord, step_run_id: str, result: StepResult
    ) -> None:
        output = result.output
        inputs = []
        for name, value in node.args.items():
            handles = value if isinstance(value, (list, tuple)) else [value]
            for i, handle in enumerate(h for h in handles if isinstance(h, Handle)):
                ref = self.outputs[handle.node.key]
                label = name if not isinstance(value, (list, tuple)) else f"{name}[{i}]"
                inputs.append(RunIO("input", label, f"{label}", ref.digest, ref.kind, ref.size))
        # A model is recorded with kind "model", so `runs:/<step run>/<step>` loads and
        # registers it like a model logged with log_model.
        edges = [
            *inputs,
            RunIO("output", "output", node.key, output.digest, _edge_kind(output), output.size),
        ]
        self.store.log_io(step_run_id, edges)
        self.store.set_tags(
            step_run_id,
            as_text(
                {
                    "cairn.step.duration_ms": result.duration_ms,
                    "cairn.step.output_type": output.type,
                }
            ),
        )
        self.store.end_run(step_run_id, RunStatus.FINISHED)
        outputs = json.dumps([output.as_dict()])
        self.store.put_cache([CacheEntry(record.cache_key, node.step.name, outputs, step_run_id)])
        self._set(
            replace(record, state="ran", outputs=outputs, duration_ms=result.duration_ms, error="")
        )

    def _skip_downstream(self, failed: Node) -> None:
        blocked = {failed.key}
        for node in self.graph.nodes:
            if any(up.key in blocked for up in node.upstream):
                blocked.add(node.key)
                current = self.records[node.key]
                if current.state == "pending":
                    self._set(
                        replace(
                            current, state="skipped", error=f"upstream step {failed.key!r} failed"
                        )
                    )

    def _interrupted(self, state: str = "interrupted") -> None:
        self.executor.shutdown(cancel=True)
        for record in list(self.records.values()):
            if record.state in ("running", "retrying"):
                self._set(replace(record, state="interrupted"))
                if record.step_run_id:
                    self.store.end_run(record.step_run_id, RunStatus.KILLED)
        try:
            self._flush()
            self.store.set_run_state(self.run_id, state)
            self.store.end_run(self.run_id, RunStatus.KILLED)
            self.store.commit()
        except CairnError:
            pass

    def _finish(self) -> Outcome:
        edges = [
            RunIO("output", f"step:{key}", key, ref.digest, _edge_kind(ref), ref.size)
            for key, ref in self.outputs.items()
        ]
        if edges:
            self.store.log_io(self.run_id, edges)
        failed = [r for r in self.records.values() if r.state == "failed"]
        state = "failed" if failed else "finished"
        self._flush()
        self.store.set_run_state(self.run_id, state)
        self.store.end_run(self.run_id, RunStatus.FAILED if failed else RunStatus.FINISHED)
        self.store.commit()
        outcome = Outcome(self.run_id, state, dict(self.records), self.ws)
        if failed:
            skipped = sum(1 for r in self.records.values() if r.state == "skipped")
            names = ", ".join(repr(r.step) for r in failed)
            error = PipelineFailed(
                f"pipeline run {self.run_id} failed: step {names} {failed[0].error}; "
                f"{skipped} downstream step(s) skipped, the other results are stored; fix it "
                f"and run `cairn pipeline resume {self.run_id[:12]}`"
            )
            error.outcome = outcome
            raise error
        return outcome


def _edge_kind(ref: OutputRef) -> str:
    return "model" if ref.serializer == "model" else ref.kind


def _summary(error: BaseException) -> str:
    if isinstance(error, StepFailed):
        return error.summary
    return f"failed with {type(error).__name__}: {error}"
