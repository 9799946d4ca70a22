"""Fixtures of the monitoring tests: a workspace with ``churn`` v1 in production."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from monitor_helpers import Monitored, train

import cairn
from cairn.tracking import fluent
from cairn.workspace import Workspace


@pytest.fixture(autouse=True)
def _fresh_tracking_state() -> Iterator[None]:
    fluent.reset()
    yield
    fluent.reset()


@pytest.fixture
def monitored(workspace: Workspace) -> Monitored:
    assert workspace.root is not None
    train(workspace, workspace.root)
    cairn.registry.promote("churn", 1, "production", workspace=workspace)
    return Monitored(workspace, workspace.root)
