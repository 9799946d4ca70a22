"""Every tracking test starts with no active run, the fluent API on the cwd's workspace
and autolog off."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cairn.tracking import autolog, fluent


@pytest.fixture(autouse=True)
def _fresh_tracking_state() -> Iterator[None]:
    fluent.reset()
    yield
    autolog.autolog(disable=True)
    fluent.reset()
