"""Which columns ``cairn runs ls`` shows: the user's ``--columns``, or as many metrics as fit.

A column is a fixed field (``id``, ``experiment``, ``name``, ``status``, ``start``,
``end``, ``duration``, ``user``, ``parent``, ``git``) or a value of the run:
``metrics.KEY``, ``params.KEY``, ``tags.KEY``. Without ``--columns`` the table has the
default fixed fields, then metric columns: sorted-by metrics first, then the metrics most
runs have (ties by name). On a terminal only as many metric columns as fit its width are
added; piped output (a file, ``less``, ``grep``) gets them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.cli import _output
from cairn.tracking.lookup import SHORT_ID

if TYPE_CHECKING:
    from cairn.types import Run

PREFIXES = ("metrics", "params", "tags")
DEFAULT_FIXED = ("id", "experiment", "name", "status", "start", "duration")
#: Per-column cost on a terminal beyond the widest cell: Rich pads each side by one
#: character and draws a one-character rule between columns.
COLUMN_PADDING = 3


@dataclass(frozen=True)
class Column:
    """One table column: its header and how to read its cell from a run."""

    header: str
    cell: Callable[[Run, Mapping[str, str]], Any]


def _short(value: str | None) -> str | None:
    return value[:SHORT_ID] if value else None


FIXED: dict[str, Column] = {
    "id": Column("ID", lambda r, _: r.id[:SHORT_ID]),
    "experiment": Column(
        "EXPERIMENT", lambda r, names: names.get(r.experiment_id, r.experiment_id)
    ),
    "name": Column("NAME", lambda r, _: r.name),
    "status": Column("STATUS", lambda r, _: "DELETED" if r.is_deleted else str(r.status)),
    "start": Column("STARTED (UTC)", lambda r, _: _output.short_time(r.start_time)),
    "end": Column("ENDED (UTC)", lambda r, _: r.end_time and _output.short_time(r.end_time)),
    "duration": Column("DURATION", lambda r, _: _output.format_duration(r.duration_ms)),
    "user": Column("USER", lambda r, _: r.environment.user or None),
    "parent": Column("PARENT", lambda r, _: _short(r.parent_id)),
    "git": Column("GIT", lambda r, _: _short(r.environment.git_commit)),
}
#: Other spellings accepted for fixed fields (the names ``--sort`` uses).
ALIASES = {"start_time": "start", "end_time": "end", "started": "start", "ended": "end"}


def _value_column(prefix: str, key: str) -> Column:
    if prefix == "metrics":
        return Column(key, lambda r, _: r.metrics[key].value if key in r.metrics else None)
    if prefix == "params":
        return Column(f"params.{key}", lambda r, _: r.params.get(key))
    return Column(f"tags.{key}", lambda r, _: r.tags.get(key))


def _available(runs: Sequence[Run], prefix: str) -> set[str]:
    return {k for r in runs for k in getattr(r, prefix)}


def parse_columns(specs: Sequence[str], runs: Sequence[Run]) -> list[Column]:
    """The columns ``--columns`` names (comma-separated, flag repeatable), in order.

    Raises:
        InvalidInput: an unknown fixed field, an empty name, or a metric, param or tag
            that none of the listed runs has; the message lists what exists.
    """
    from cairn.errors import InvalidInput

    names = [n.strip() for spec in specs for n in spec.split(",")]
    fixed_names = ", ".join(FIXED)
    columns: list[Column] = []
    for name in names:
        prefix, dot, key = name.partition(".")
        if dot and prefix in PREFIXES:
            if not key:
                raise InvalidInput(f"column {name!r} names no key; write e.g. {prefix}.auc")
            present = _available(runs, prefix)
            if runs and key not in present:
                shown = ", ".join(f"{prefix}.{k}" for k in sorted(present)[:20]) or "none"
                raise InvalidInput(f"no listed run has {name!r}; {prefix} in these runs: {shown}")
            columns.append(_value_column(prefix, key))
            continue
        fixed = ALIASES.get(name.lower(), name.lower())
        if fixed not in FIXED:
            raise InvalidInput(
                f"unknown column {name!r} in --columns; use {fixed_names}, or "
                "metrics.KEY, params.KEY, tags.KEY (e.g. --columns id,name,metrics.auc)"
            )
        columns.append(FIXED[fixed])
    return columns


def metric_order(runs: Sequence[Run], sort: Sequence[str]) -> tuple[list[str], int]:
    """Metric keys for default columns, and how many lead because the table is sorted by
    them; the rest follow by how many runs have them, then by name."""
    counts = Counter(k for r in runs for k in r.metrics)
    first = [s.split()[0][len("metrics.") :] for s in sort if s.startswith("metrics.")]
    first = [k for k in dict.fromkeys(first) if k in counts]
    rest = sorted((k for k in counts if k not in first), key=lambda k: (-counts[k], k))
    return first + rest, len(first)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    return _output.format_number(value) if isinstance(value, float) else str(value)


def _width(column: Column, runs: Sequence[Run], names: Mapping[str, str]) -> int:
    cells = [_text(column.cell(r, names)) for r in runs]
    return max([len(column.header), *(len(c) for c in cells)]) + COLUMN_PADDING


def default_columns(
    runs: Sequence[Run],
    names: Mapping[str, str],
    sort: Sequence[str],
    width: int | None,
) -> tuple[list[Column], int]:
    """Default columns for ``width`` characters (None: no limit), and how many metrics
    were left out for lack of room. Sorted-by metrics are shown even when they overflow."""
    columns = [FIXED[name] for name in DEFAULT_FIXED]
    used = sum(_width(c, runs, names) for c in columns)
    keys, pinned = metric_order(runs, sort)
    shown = 0
    for i, key in enumerate(keys):
        column = _value_column("metrics", key)
        cost = _width(column, runs, names)
        if width is not None and used + cost > width and i >= pinned:
            break
        columns.append(column)
        used += cost
        shown += 1
    return columns, len(keys) - shown
