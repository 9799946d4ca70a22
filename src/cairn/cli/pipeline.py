"""``cairn pipeline``: run, list, show, explain and resume pipelines.

The work happens in :mod:`cairn.pipelines`; this module parses options and prints. A
run shows each step's state as it changes: a live table on a terminal, one plain line
per change when piped. A step that raises prints its own traceback once, under its name.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from cairn.cli import _output
from cairn.cli._group import Group

if TYPE_CHECKING:
    from cairn.store.pipelines import StepRecord

app = Group("pipeline", help="Run cached pipelines of typed steps, and inspect their runs.")

EXECUTOR_NAMES = ("inprocess", "process", "ray")
SHORT_ID = 12


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--param")
        params[key.strip()] = value
    return params


class _View:
    """Step states as they change: a Rich live table on a terminal, lines otherwise."""

    def __init__(self) -> None:
        self.live: Any = None
        self.states: dict[str, StepRecord] = {}

    def __enter__(self) -> _View:
        if _output.is_terminal():
            from rich.live import Live

            self.live = Live(self._table(), refresh_per_second=8, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.update(self._table())
            self.live.__exit__(*exc)

    def _table(self) -> Any:
        from rich.table import Table

        table = Table("STEP", "STATE", "DURATION", "CACHE KEY", box=None)
        colours = {"ran": "green", "cached": "cyan", "failed": "red", "running": "yellow"}
        for record in self.states.values():
            colour = colours.get(record.state, "dim")
            table.add_row(
                record.step,
                f"[{colour}]{record.state}[/{colour}]",
                _output.format_duration(record.duration_ms) if record.duration_ms else "",
                record.cache_key[:SHORT_ID],
            )
        return table

    def __call__(self, record: StepRecord, details: str) -> None:
        self.states[record.step] = record
        if record.state == "failed" and details:
            # The step's own traceback, once, named; then the run goes on with the others.
            message = f"step {record.step!r} failed:\n{details.rstrip()}\n"
            if self.live is not None:
                self.live.console.print(message, markup=False, highlight=False)
            else:
                sys.stderr.write(message)
                sys.stderr.flush()
        if self.live is not None:
            self.live.update(self._table())
        elif record.state not in ("pending", "running"):
            extra = f" {_output.format_duration(record.duration_ms)}" if record.duration_ms else ""
            click.echo(f"{record.state:<8} {record.step}{extra}")


def _summary(outcome: Any) -> None:
    states = [r.state for r in outcome.steps.values()]
    counts = ", ".join(f"{states.count(s)} {s}" for s in ("ran", "cached") if s in states)
    click.echo(f"pipeline run {outcome.run_id} {outcome.state}: {counts}")


@app.command("run")
@click.argument(
    "target",
    metavar="FILE.py:PIPELINE",
    help="The pipeline: a file and a @cairn.pipeline function.",
)
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A pipeline parameter.")
@click.option(
    "--executor",
    type=click.Choice(EXECUTOR_NAMES),
    default="inprocess",
    help="Where steps run: this process, a local process pool, or Ray (RAY_ADDRESS).",
)
@click.option("--max-cpus", type=click.IntRange(1), default=None, help="Process pool size.")
@click.option("--no-cache", is_flag=True, help="Run every step even if its outputs are cached.")
def run(
    target: str, params: tuple[str, ...], executor: str, max_cpus: int | None, no_cache: bool
) -> None:
    """Run a pipeline: validate it, skip the steps whose code, parameters and inputs are
    unchanged, run the others."""
    from cairn.pipelines.loader import load_target
    from cairn.pipelines.runner import run_pipeline

    pipe, canonical = load_target(target)
    options = {"max_cpus": max_cpus} if max_cpus else {}
    with _View() as view:
        outcome = run_pipeline(
            pipe,
            _parse_params(params),
            executor=executor,
            executor_options=options,
            use_cache=not no_cache,
            target=canonical,
            listener=view,
        )
    _summary(outcome)


@app.command("resume")
@click.argument("run_id", help="Pipeline run id, or a unique prefix of one.")
@click.option(
    "--executor",
    type=click.Choice(EXECUTOR_NAMES),
    default=None,
    help="Default: the executor the run used.",
)
def resume(run_id: str, executor: str | None) -> None:
    """Run a failed or interrupted pipeline run again: only failed, skipped, interrupted
    and changed steps run; the others reuse their stored outputs."""
    from cairn.pipelines.history import resume as resume_run

    with _View() as view:
        outcome = resume_run(run_id, executor=executor, listener=view)
    _summary(outcome)


@app.command("ls")
@click.option("--pipeline", default=None, help="Only runs of this pipeline.")
@click.option("--limit", type=click.IntRange(1), default=50, help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of runs.")
def list_runs(pipeline: str | None, limit: int, as_json: bool) -> None:
    """List pipeline runs, newest first."""
    from cairn.pipelines.history import list_runs as list_pipeline_runs

    runs = list_pipeline_runs(pipeline, limit)
    if as_json:
        _output.print_json(
            [
                {
                    "run_id": r.run_id,
                    "pipeline": r.pipeline,
                    "state": r.state,
                    "executor": r.executor,
                    "target": r.target,
                    "created_at": _output.iso_time(r.created_at),
                    "resumed_from": r.resumed_from,
                }
                for r in runs
            ]
        )
        return
    _output.print_table(
        ["ID", "PIPELINE", "STATE", "EXECUTOR", "STARTED (UTC)", "DURATION"],
        [
            [
                r.run_id[:SHORT_ID],
                r.pipeline,
                r.state,
                r.executor,
                _output.short_time(r.created_at),
                _output.format_duration(r.updated_at - r.created_at),
            ]
            for r in runs
        ],
    )


@app.command("show")
@click.argument("run_id", help="Pipeline run id, or a unique prefix of one.")
@click.option("--json", "as_json", is_flag=True, help="Print the run and its steps as JSON.")
def show(run_id: str, as_json: bool) -> None:
    """Show a pipeline run as a tree of steps with states, durations and cache keys."""
    from cairn.pipelines.history import show_run

    data = show_run(run_id)
    if as_json:
        data["created_at"] = _output.iso_time(data["created_at"])
        data["updated_at"] = _output.iso_time(data["updated_at"])
        _output.print_json(data)
        return
    click.echo(f"pipeline run {data['run_id']} ({data['pipeline']}): {data['state']}")
    click.echo(f"target: {data['target']}  executor: {data['executor']}")
    if data["params"]:
        click.echo("params: " + ", ".join(f"{k}={v}" for k, v in data["params"].items()))
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    position = {step["step"]: i for i, step in enumerate(data["steps"])}
    for step in data["steps"]:
        if step["upstream"]:
            # Drawn under the input that finished last; the others are named ("after").
            parent = max(step["upstream"], key=lambda key: position.get(key, -1))
            children.setdefault(parent, []).append(step)
        else:
            roots.append(step)

    def line(step: dict[str, Any]) -> str:
        parts = [step["step"], step["state"]]
        if step["duration_ms"] is not None:
            parts.append(_output.format_duration(step["duration_ms"]))
        if step["cache_key"]:
            parts.append(f"key {step['cache_key'][:SHORT_ID]}")
        if len(step["upstream"]) > 1:
            parts.append("after " + ", ".join(step["upstream"]))
        if step["error"]:
            parts.append(step["error"])
        return "  ".join(parts)

    def draw(step: dict[str, Any], prefix: str, last: bool) -> None:
        click.echo(f"{prefix}{'└── ' if last else '├── '}{line(step)}")
        below = children.get(step["step"], [])
        for i, child in enumerate(below):
            draw(child, prefix + ("    " if last else "│   "), i == len(below) - 1)

    for i, root in enumerate(roots):
        draw(root, "", i == len(roots) - 1)


@app.command("explain")
@click.argument("run_id", help="Pipeline run id, or a unique prefix of one.")
@click.argument("step", help="A step of the run, e.g. train or score[2].")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain(run_id: str, step: str, as_json: bool) -> None:
    """Say why a step ran or was cached: which of its code, parameters and inputs
    changed since the previous run of the pipeline."""
    from cairn.pipelines.history import explain as explain_step

    result = explain_step(run_id, step)
    if as_json:
        _output.print_json(result.to_dict())
        return
    click.echo(f"{result.step}: {result.state}")
    for reason in result.reasons:
        click.echo(f"  {reason}")
    if result.compared_with:
        click.echo(f"  (compared with pipeline run {result.compared_with[:SHORT_ID]})")
