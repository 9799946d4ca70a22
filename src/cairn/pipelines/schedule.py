"""Schedules: start a pipeline on a cron expression or when a dataset gets a new version.

    cairn.pipelines.schedule.add_schedule(
        "nightly", pipeline="pipelines/churn.py:train", cron="0 3 * * *"
    )
    cairn.pipelines.schedule.add_schedule(
        "on-churn", pipeline="pipelines/churn.py:train", on_dataset="churn"
    )

Schedules live in the workspace's metadata store (:mod:`cairn.store.schedules`), so every
scheduler on that store sees the same ones; :mod:`cairn.pipelines.scheduler` starts them.

When is a slot due? A cron schedule keeps the time of the last slot it fired. At time
``now`` the newest slot at or before ``now`` is due when it is later than that mark, so
a scheduler that was down for three days fires the missed schedule once (for the newest
slot), not three times. A dataset trigger keeps the last version it fired for; the
newest version is due when it is newer, and the pipeline gets it as a parameter
(``dataset=churn@v4`` unless ``dataset_param`` names another parameter).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.errors import ConfigError, InvalidInput, NotFound
from cairn.store.schedules import Claim, NewSchedule, Schedule, check_schedule_name
from cairn.types import now_ms

if TYPE_CHECKING:
    from cairn.store.schedules import Firing, ScheduleStore
    from cairn.workspace import Workspace

#: ``module.py:attr`` or ``package.module:attr``.
_TARGET = re.compile(r"(?P<module>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*)")
_PARAM = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")


def store(workspace: Workspace | None = None) -> ScheduleStore:
    """The schedule store of ``workspace`` (default: the current one)."""
    if workspace is None:
        from cairn.workspace import current

        workspace = current()
    found: ScheduleStore | None = getattr(workspace.metadata, "schedules", None)
    if found is None:
        raise InvalidInput(
            f"the metadata store {type(workspace.metadata).__name__} keeps no schedules: "
            "use a SQLite or PostgreSQL store"
        )
    return found


# -- cron ------------------------------------------------------------------------------


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ModuleNotFoundError:
        raise ConfigError(
            "cron schedules need the croniter package: pip install 'cairn-mlops[schedules]'"
        ) from None
    return croniter


def check_cron(expression: str) -> str:
    """``expression`` if it is a five-field cron expression; ``InvalidInput`` otherwise."""
    croniter = _croniter()
    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        raise InvalidInput(
            f"invalid cron expression {expression!r}: use five fields, minute hour "
            "day-of-month month day-of-week, e.g. '0 3 * * *' for 03:00 every day"
        )
    return " ".join(fields)


def check_timezone(name: str) -> dt.tzinfo:
    """The zone named ``name`` (IANA, e.g. ``Europe/Paris``; ``UTC``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}: use an IANA name such as 'UTC' or 'Europe/Paris'"
        ) from None


def due_slot(schedule: Schedule, now: int) -> dt.datetime | None:
    """The newest cron slot at or before ``now`` (ms) if it is after the schedule's last
    fired slot; ``None`` when nothing is due (or the schedule is a dataset trigger)."""
    if schedule.cron is None:
        return None
    croniter = _croniter()
    moment = dt.datetime.fromtimestamp(now / 1000, tz=check_timezone(schedule.timezone))
    previous: dt.datetime = croniter(schedule.cron, moment).get_prev(dt.datetime)
    # get_prev is strictly before ``moment``: a slot exactly at ``now`` is the next one.
    following: dt.datetime = croniter(schedule.cron, previous).get_next(dt.datetime)
    slot = following if following <= moment else previous
    return slot if _ms(slot) > schedule.last_fire_time else None


def next_slot(schedule: Schedule, now: int) -> dt.datetime | None:
    """The first cron slot after ``now`` (for ``cairn schedule ls``)."""
    if schedule.cron is None:
        return None
    croniter = _croniter()
    moment = dt.datetime.fromtimestamp(now / 1000, tz=check_timezone(schedule.timezone))
    result: dt.datetime = croniter(schedule.cron, moment).get_next(dt.datetime)
    return result


def _ms(moment: dt.datetime) -> int:
    return round(moment.timestamp() * 1000)


def due_claim(schedule: Schedule, now: int, workspace: Workspace) -> Claim | None:
    """The firing ``schedule`` wants at ``now``, or ``None``: its newest cron slot, or the
    newest version of its dataset, when that is newer than what it last fired for."""
    if schedule.cron is not None:
        slot = due_slot(schedule, now)
        if slot is None:
            return None
        key = slot.astimezone(dt.UTC).isoformat()
        return Claim(schedule.name, key, _ms(slot))
    assert schedule.dataset is not None
    try:
        latest = workspace.datasets.get_version(schedule.dataset)
    except NotFound:
        return None  # all its versions were deleted: nothing new to run on
    seen = schedule.last_dataset_version or 0
    if latest.version <= seen:
        return None
    return Claim(schedule.name, latest.ref, latest.created_at, dataset_version=latest.version)


def firing_params(schedule: Schedule, firing: Firing) -> dict[str, str]:
    """The parameters a firing passes to the pipeline: the schedule's own, plus the new
    dataset version for a dataset trigger."""
    params = dict(schedule.params)
    if schedule.dataset is not None:
        params[schedule.dataset_param] = firing.fire_key
    return params


# -- adding, listing, removing ---------------------------------------------------------------


def check_pipeline_target(target: str, base: Path | None = None) -> str:
    """``file.py:name`` (made absolute, the file must exist) or ``package.module:name``.

    A scheduler may run in another directory than the one the schedule was added from,
    so a file path is stored absolute.
    """
    match = _TARGET.fullmatch(target.strip())
    if match is None:
        raise InvalidInput(
            f"invalid pipeline {target!r}: use FILE.py:PIPELINE (e.g. pipelines/churn.py:train) "
            "or package.module:PIPELINE"
        )
    module, attr = match["module"], match["attr"]
    if module.endswith(".py"):
        path = Path(module).expanduser()
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        if not path.is_file():
            raise InvalidInput(f"pipeline file {path} does not exist: check the path in {target!r}")
        return f"{path.resolve()}:{attr}"
    return f"{module}:{attr}"


def add_schedule(
    name: str,
    pipeline: str,
    *,
    cron: str | None = None,
    on_dataset: str | None = None,
    timezone: str = "UTC",
    params: Mapping[str, Any] | None = None,
    dataset_param: str = "dataset",
    executor: str | None = None,
    workspace: Workspace | None = None,
    now: int | None = None,
) -> Schedule:
    """Record a schedule that starts ``pipeline`` on ``cron`` or on new versions of the
    dataset ``on_dataset`` (exactly one of the two).

    A new cron schedule first fires at its first slot after now; a dataset trigger first
    fires for the first version added after now.

    Raises:
        InvalidInput: a bad name, cron expression, time zone, pipeline or parameter.
        NotFound: no dataset named ``on_dataset``.
        AlreadyExists: a schedule with this name exists.

    Example:
        >>> add_schedule("nightly", "pipelines/churn.py:train", cron="0 3 * * *")  # doctest: +SKIP
    """
    from cairn.tracking.lifecycle import actor

    check_schedule_name(name)
    if (cron is None) == (on_dataset is None):
        raise InvalidInput(
            f"schedule {name!r} needs exactly one trigger: --cron EXPRESSION or --on-dataset NAME"
        )
    if workspace is None:
        from cairn.workspace import current

        workspace = current()
    target = check_pipeline_target(pipeline, workspace.root)
    check_timezone(timezone)
    if not _PARAM.fullmatch(dataset_param):
        raise InvalidInput(f"invalid parameter name {dataset_param!r} for the dataset version")
    clean: dict[str, str] = {}
    for key, value in (params or {}).items():
        if not isinstance(key, str) or not _PARAM.fullmatch(key):
            raise InvalidInput(f"invalid parameter name {key!r}: use letters, digits and _")
        clean[key] = str(value)
    now = now_ms() if now is None else now
    last_version: int | None = None
    if on_dataset is not None:
        try:
            last_version = workspace.datasets.get_version(on_dataset).version
        except NotFound:
            raise NotFound(
                f"no dataset named {on_dataset!r}: add a first version with "
                f"`cairn data add PATH --name {on_dataset}`, then add the schedule"
            ) from None
    new = NewSchedule(
        name=name,
        pipeline=target,
        cron=check_cron(cron) if cron is not None else None,
        timezone=timezone,
        dataset=on_dataset,
        dataset_param=dataset_param,
        params=clean,
        executor=executor,
        created_by=actor(workspace),
        last_fire_time=now,
        last_dataset_version=last_version,
    )
    return store(workspace).add_schedule(new)


def list_schedules(workspace: Workspace | None = None) -> list[Schedule]:
    """Every schedule of the workspace, by name."""
    return store(workspace).list_schedules()


def remove_schedule(name: str, workspace: Workspace | None = None) -> None:
    """Delete a schedule and its firing history. A firing running now finishes; no new
    one starts."""
    store(workspace).remove_schedule(check_schedule_name(name))
