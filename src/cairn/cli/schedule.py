"""``cairn schedule add/ls/rm`` and ``cairn scheduler``: thin over
:mod:`cairn.pipelines.schedule` and :mod:`cairn.pipelines.scheduler`."""

from __future__ import annotations

import click

from cairn.cli import _output
from cairn.cli._group import Group

app = Group("schedule", help="Start pipelines on a cron schedule or on new dataset versions.")


def _params(pairs: tuple[str, ...]) -> dict[str, str]:
    from cairn.errors import InvalidInput

    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"invalid --param {pair!r}: use KEY=VALUE, e.g. --param lr=0.1")
        params[key] = value
    return params


@app.command("add")
@click.argument("name", help="Schedule name (letters, digits, '.', '_', '-').")
@click.option(
    "--pipeline",
    "-p",
    required=True,
    help="The pipeline to start: FILE.py:PIPELINE or MODULE:PIPELINE.",
)
@click.option("--cron", default=None, help="Five-field cron expression, e.g. '0 3 * * *'.")
@click.option(
    "--on-dataset", default=None, help="Start the pipeline on every new version of this dataset."
)
@click.option("--timezone", "tz", default="UTC", help="Time zone of the cron expression (IANA).")
@click.option("--param", "params", multiple=True, help="Pipeline parameter KEY=VALUE (repeatable).")
@click.option(
    "--dataset-param",
    default="dataset",
    help="Parameter that receives the new dataset version (NAME@vN) with --on-dataset.",
)
@click.option("--executor", default=None, help="Executor the pipeline runs on (e.g. process, ray).")
def add(
    name: str,
    pipeline: str,
    cron: str | None,
    on_dataset: str | None,
    tz: str,
    params: tuple[str, ...],
    dataset_param: str,
    executor: str | None,
) -> None:
    """Add a schedule; `cairn scheduler` starts its pipeline when it is due.

    A cron schedule fires first at its next slot; a dataset trigger for the next
    version added. Exactly one of --cron and --on-dataset.
    """
    from cairn.pipelines.schedule import add_schedule

    schedule = add_schedule(
        name,
        pipeline,
        cron=cron,
        on_dataset=on_dataset,
        timezone=tz,
        params=_params(params),
        dataset_param=dataset_param,
        executor=executor,
    )
    click.echo(f"Added schedule {schedule.name}: {schedule.trigger} -> {schedule.pipeline}")


@app.command("ls")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON, with each schedule's last firings."
)
def ls(as_json: bool) -> None:
    """List schedules: trigger, pipeline, next slot and the last firing's state."""
    from cairn.pipelines.schedule import list_schedules, next_slot, store
    from cairn.types import now_ms

    schedules = list_schedules()
    firings = store()
    now = now_ms()
    if as_json:
        records = []
        for schedule in schedules:
            record = schedule.to_dict()
            upcoming = next_slot(schedule, now)
            record["next_slot"] = upcoming.isoformat() if upcoming else None
            record["firings"] = [f.to_dict() for f in firings.list_firings(schedule.name, limit=10)]
            records.append(record)
        _output.print_json(records)
        return
    rows = []
    for schedule in schedules:
        last = firings.list_firings(schedule.name, limit=1)
        upcoming = next_slot(schedule, now)
        rows.append(
            [
                schedule.name,
                schedule.trigger,
                schedule.pipeline,
                upcoming.isoformat() if upcoming else "next version",
                f"{last[0].fire_key} {last[0].state}" if last else "-",
            ]
        )
    _output.print_table(["NAME", "TRIGGER", "PIPELINE", "NEXT", "LAST FIRING"], rows)


@app.command("rm")
@click.argument("name", help="Schedule to remove.")
def rm(name: str) -> None:
    """Remove a schedule and its firing history (a pipeline running now finishes)."""
    from cairn.pipelines.schedule import remove_schedule

    remove_schedule(name)
    click.echo(f"Removed schedule {name}")


@click.command("scheduler")
@click.option(
    "--poll", default=10.0, type=click.FloatRange(min=0.1), help="Seconds between checks."
)
@click.option("--once", is_flag=True, help="Start what is due now, wait for it, and exit.")
@click.option(
    "--runner",
    default="cairn.pipelines.scheduler:run_scheduled",
    help="The function that starts a pipeline, MODULE:FUNCTION.",
)
@click.option(
    "--lease",
    default=120.0,
    type=click.FloatRange(min=1),
    help="Seconds without a heartbeat after which another host's scheduler counts as dead.",
)
def scheduler(poll: float, once: bool, runner: str, lease: float) -> None:
    """Run the schedules of this workspace until stopped (Ctrl-C or SIGTERM).

    Each due slot or new dataset version starts its pipeline once, also with several
    schedulers on one PostgreSQL store; a missed slot is caught up once; a pipeline cut
    off by a crash is retaken by the next scheduler.
    """
    import signal
    import threading

    from cairn.pipelines.scheduler import Scheduler, load_runner
    from cairn.workspace import current

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = Scheduler(
        current(), load_runner(runner), lease_ms=int(lease * 1000), on_event=click.echo
    )
    if not once:
        click.echo(f"scheduler {worker.owner} started; Ctrl-C stops it")
    worker.run(stop, poll=poll, once=once)
