"""Output helpers shared by the command modules.

Tables are drawn with Rich when stdout is a terminal and printed as plain aligned columns
when it is piped; ``--json`` output is one JSON document on stdout; progress bars appear
only on a terminal. Rich is imported only when a terminal will see it.

Times in JSON output are ISO 8601 strings in UTC with millisecond precision
(``2024-05-01T12:00:03.120Z``); the store keeps integer milliseconds. NaN and infinite
numbers are written as ``null``, since JSON cannot spell them.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click


def is_terminal() -> bool:
    """True when stdout is an interactive terminal (not a pipe or a file)."""
    return sys.stdout.isatty()


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout.

    Example:
        >>> print_json([{"id": "a1"}])  # doctest: +NORMALIZE_WHITESPACE
        [
          {
            "id": "a1"
          }
        ]
    """
    click.echo(json.dumps(_json_safe(data), indent=2, allow_nan=False, default=str))


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them and jq rejects ``NaN``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def print_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    title: str | None = None,
    styles: Sequence[str | None] | None = None,
) -> None:
    """Print rows under a header: a Rich table on a terminal, aligned plain text otherwise.

    ``styles`` gives a Rich style per row (``"bold yellow"``) used only on a terminal.

    Example:
        >>> print_table(["NAME", "AUC"], [["rf", 0.91], ["gb", None]])
        NAME  AUC
        rf    0.91
        gb    -
    """
    cells = [[_cell(value) for value in row] for row in rows]
    if is_terminal():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title, header_style="bold", show_edge=False)
        for name in columns:
            table.add_column(name, overflow="fold")
        for i, row in enumerate(cells):
            # Text() so that values such as "[1, 2]" are not read as Rich markup.
            table.add_row(*(Text(value) for value in row), style=styles[i] if styles else None)
        Console().print(table)
        return
    if title:
        click.echo(title)
    widths = [len(name) for name in columns]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    for row in [list(columns), *cells]:
        line = "  ".join(value.ljust(widths[i]) for i, value in enumerate(row))
        click.echo(line.rstrip())


def print_fields(fields: Mapping[str, Any]) -> None:
    """Print ``name: value`` lines with the names aligned."""
    width = max((len(name) for name in fields), default=0)
    for name, value in fields.items():
        click.echo(f"{(name + ':').ljust(width + 1)} {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format_number(value)
    return str(value)


def format_number(value: float) -> str:
    """A metric value short enough for a table: ``0.912345678`` -> ``0.912346``."""
    if value != value or value in (float("inf"), float("-inf")):  # NaN and infinities
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def format_delta(value: float) -> str:
    """A signed difference: ``+0.0123``, ``-4``, ``0``."""
    if value == 0:
        return "0"
    return ("+" if value > 0 else "") + format_number(value)


def iso_time(ms: int | None) -> str | None:
    """Milliseconds since the epoch as ISO 8601 UTC: ``2024-05-01T12:00:03.120Z``."""
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def short_time(ms: int | None) -> str:
    """Milliseconds since the epoch for a table cell, in UTC: ``2024-05-01 12:00:03``."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def format_duration(ms: int | None) -> str:
    """``1234`` -> ``1.2s``; ``125000`` -> ``2m05s``; ``None`` (still running) -> ``-``."""
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(size: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal, nothing otherwise; yields ``advance(n)``.

    Example:
        >>> with progress("hashing", total=3) as advance:
        ...     for _ in range(3):
        ...         advance(1)
    """
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def echo_err(message: str) -> None:
    """A line for humans on stderr (notes and warnings that must not pollute piped output)."""
    click.echo(message, err=True)
