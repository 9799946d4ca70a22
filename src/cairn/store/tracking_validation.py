"""Checks on tracking input shared by every backend, so they all refuse the same things.

Each check raises :class:`~cairn.errors.InvalidInput` naming the bad value and the limit,
before anything is written.

Example:
    >>> check_strings("param", {"lr": "0.1"})
    >>> check_strings("param", {" lr": "0.1"})
    Traceback (most recent call last):
    cairn.errors.InvalidInput: param key ' lr' has leading or trailing spaces; remove them
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence

from cairn.errors import InvalidInput
from cairn.store.redaction import redact_secrets
from cairn.store.run_names import generate_run_name
from cairn.types import Environment, Metric, Run, RunIO, RunStatus, now_ms

MAX_KEY_LENGTH = 250
MAX_VALUE_LENGTH = 6000
#: The range of a stored integer (steps, timestamps, ids): SQL BIGINT.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


#: C0 control characters and DEL: a NUL truncates names in C libraries and file systems,
#: a newline or an escape sequence forges lines and colours on a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_printable(what: str, value: str) -> None:
    """Refuse a name holding a control character, naming the character and its position.

    Example:
        >>> check_printable("artifact name", "model\x00.pkl")
        Traceback (most recent call last):
        cairn.errors.InvalidInput: artifact name 'model\x00.pkl' has the control character ...
    """
    found = _CONTROL.search(value)
    if found is not None:
        raise InvalidInput(
            f"{what} {value!r} has the control character {found[0]!r} at position "
            f"{found.start()}; use printable characters only"
        )


def check_key(kind: str, key: object) -> None:
    """A param, tag or metric key: a non-empty string of at most 250 characters."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{kind} key must be a non-empty string, not {key!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{kind} key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_LENGTH}"
        )
    if key != key.strip():
        raise InvalidInput(f"{kind} key {key!r} has leading or trailing spaces; remove them")


def check_experiment_name(name: object) -> None:
    check_key("experiment name", name)


def check_time(what: str, value: int) -> int:
    """``value`` if it is milliseconds since the epoch that a BIGINT column holds."""
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT64_MAX:
        raise InvalidInput(f"{what} must be milliseconds since the epoch (an int >= 0): {value!r}")
    return value


def check_status(status: object) -> RunStatus:
    try:
        return RunStatus(status)  # type: ignore[arg-type]  # any value: refused below
    except ValueError:
        known = ", ".join(s.value for s in RunStatus)
        raise InvalidInput(f"unknown run status {status!r}; one of {known}") from None


def check_end_status(status: object) -> RunStatus:
    """The terminal status ``status`` names (what ending a run takes)."""
    final = check_status(status)
    if not final.is_terminal:
        raise InvalidInput(
            f"end_run needs a terminal status (FINISHED, FAILED or KILLED), not {final}"
        )
    return final


def check_run_name(name: object) -> None:
    if not isinstance(name, str) or len(name) > 250:
        raise InvalidInput(f"run name must be a string of at most 250 characters: {name!r}")


def check_strings(kind: str, values: Mapping[str, str]) -> None:
    """Params or tags: valid keys, string values of at most 6,000 characters."""
    for key, value in values.items():
        check_key(kind, key)
        if not isinstance(value, str):
            raise InvalidInput(
                f"{kind} {key!r} must have a string value, not {value!r} "
                f"({type(value).__name__}); convert it with str()"
            )
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidInput(
                f"{kind} {key!r} has a value of {len(value)} characters; the limit is "
                f"{MAX_VALUE_LENGTH} (log long text as an artifact)"
            )
        if "\x00" in value:
            # PostgreSQL cannot store it in text, and C tools cut the value there.
            raise InvalidInput(
                f"{kind} {key!r} has a NUL character (\\x00) in its value at position "
                f"{value.index(chr(0))}; remove it (log binary data as an artifact)"
            )


def metric_tuples(metrics: Sequence[Metric], now: int) -> list[tuple[str, float, int, int]]:
    """Valid points as ``(key, value, step, timestamp)``; a timestamp of 0 becomes ``now``.

    This is the hot path of metric logging: each distinct key is checked once, and a
    point costs a few type checks.
    """
    lo, hi = INT64_MIN, INT64_MAX
    seen: set[str] = set()
    out: list[tuple[str, float, int, int]] = []
    append = out.append
    for m in metrics:
        if type(m) is not Metric and not isinstance(m, Metric):
            raise InvalidInput(f"metrics must be Metric objects, not {m!r}")
        key, value, step, ts = m.key, m.value, m.step, m.timestamp
        if key not in seen:
            check_key("metric", key)
            seen.add(key)
        if type(value) is not float and (
            not isinstance(value, int | float) or isinstance(value, bool)
        ):
            raise InvalidInput(f"metric {key!r} must have a number value, not {value!r}")
        if type(step) is not int or type(ts) is not int:
            for what, number in (("step", step), ("timestamp", ts)):
                if not isinstance(number, int) or isinstance(number, bool):
                    raise InvalidInput(f"metric {key!r} {what} must be an int, not {number!r}")
        if not (lo <= step <= hi and 0 <= ts <= hi):
            if ts < 0:
                raise InvalidInput(f"metric {key!r} timestamp must be >= 0, not {ts}")
            what, number = ("step", step) if not lo <= step <= hi else ("timestamp", ts)
            raise InvalidInput(f"metric {key!r} {what} {number} is out of the 64-bit range")
        append((key, float(value), step, ts or now))
    return out


def check_environment(env: Environment) -> None:
    if not isinstance(env, Environment):
        raise InvalidInput(f"environment must be an Environment, not {env!r}")
    if env.git_commit is not None and (
        not isinstance(env.git_commit, str) or len(env.git_commit) > 64
    ):
        raise InvalidInput(f"git_commit must be a commit hash, not {env.git_commit!r}")
    if env.git_dirty is not None and not isinstance(env.git_dirty, bool):
        raise InvalidInput(f"git_dirty must be True, False or None, not {env.git_dirty!r}")
    for what, value, limit in (
        ("python_version", env.python_version, 64),
        ("host", env.host, 255),
        ("user", env.user, 255),
    ):
        if not isinstance(value, str) or len(value) > limit:
            raise InvalidInput(f"{what} must be a string of at most {limit} characters: {value!r}")
    for name, version in env.packages.items():
        if not isinstance(name, str) or not isinstance(version, str):
            raise InvalidInput(f"packages must map names to version strings: {name!r}: {version!r}")


def check_run_io(items: Iterable[RunIO]) -> list[RunIO]:
    """Valid lineage edges, as a list."""
    edges = []
    for io in items:
        if not isinstance(io, RunIO):
            raise InvalidInput(f"lineage items must be RunIO objects, not {io!r}")
        if io.direction not in ("input", "output"):
            raise InvalidInput(f"RunIO direction must be 'input' or 'output', not {io.direction!r}")
        for what, value, limit in (
            ("role", io.role, 250),
            ("name", io.name, 500),
            ("digest", io.digest, 128),
            ("kind", io.kind, 32),
        ):
            if not isinstance(value, str) or not value or len(value) > limit:
                raise InvalidInput(
                    f"RunIO {what} must be a non-empty string of at most {limit} characters: "
                    f"{value!r}"
                )
            check_printable(f"RunIO {what}", value)
        if not isinstance(io.size, int) or isinstance(io.size, bool) or io.size < 0:
            raise InvalidInput(f"RunIO size must be an int >= 0, not {io.size!r}")
        edges.append(io)
    return edges


def new_run(
    experiment_id: str,
    *,
    name: str = "",
    parent_id: str | None = None,
    start_time: int | None = None,
    environment: Environment | None = None,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Run:
    """The RUNNING run ``create_run`` starts, with a new id (not yet :func:`checked_run`)."""
    start = now_ms() if start_time is None else check_time("start_time", start_time)
    return Run(
        id=uuid.uuid4().hex,
        experiment_id=str(experiment_id),
        name=name,
        status=RunStatus.RUNNING,
        start_time=start,
        parent_id=parent_id,
        environment=environment or Environment(),
        params=dict(params or {}),
        tags=dict(tags or {}),
    )


def checked_run(run: Run) -> Run:
    """``run`` as a store records it: its name, environment, params and tags checked,
    secret-looking values redacted, a generated name when it has none, and none of the
    fields a start does not set (latest metrics, lineage, deletion)."""
    check_run_name(run.name)
    check_environment(run.environment)
    params, tags = dict(run.params), dict(run.tags)
    check_strings("param", params)
    check_strings("tag", tags)
    return dataclasses.replace(
        run,
        name=run.name if run.name.strip() else generate_run_name(),
        params=redact_secrets(params),
        tags=redact_secrets(tags),
        metrics={},
        io=(),
        deleted_at=None,
        deleted_by=None,
    )
