"""Helpers shared by the schedule tests (a clock tests move by hand)."""

from __future__ import annotations

import datetime as dt


def ms(text: str) -> int:
    """``"2026-03-01T03:00"`` (UTC) as milliseconds since 1970."""
    return round(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


class FakeClock:
    """A clock that moves only when a test sets it."""

    def __init__(self, start: str) -> None:
        self.now = ms(start)

    def set(self, text: str) -> None:
        self.now = ms(text)

    def __call__(self) -> int:
        return self.now
