"""Privacy of the prediction log: excluded columns never reach disk, hashed ones are
keyed digests that equal values share, old partitions are pruned whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import cairn.workspace
from cairn.errors import InvalidInput
from cairn.monitoring.retention import prune
from cairn.serving.codec import Batch
from cairn.serving.predlog import LogRecord, PredictionLog, read_log
from cairn.serving.privacy import LogPrivacy, hash_value, workspace_key

HOUR = 3_600_000


def _batch(emails: list[str], plans: list[str], income: list[float]) -> Batch:
    return Batch(
        rows=len(emails),
        columns={
            "email": np.array(emails, dtype=object),
            "plan": np.array(plans, dtype=object),
            "income": np.array(income),
        },
    )


def _log(root: Path, privacy: dict[str, LogPrivacy], when_ms: int = 1_800_000_000_000) -> None:
    plog = PredictionLog(str(root), privacy=privacy)
    plog.append(
        LogRecord(
            when_ms,
            "r1",
            "churn",
            "3",
            "primary",
            True,
            _batch(["a@x.org", "b@y.org", "a@x.org"], ["pro", "basic", "pro"], [1.0, 2.0, 3.0]),
            np.array([0, 1, 0]),
        )
    )
    plog.close()


def test_excluded_columns_never_reach_disk_and_hashed_ones_are_keyed(
    workspace: cairn.workspace.Workspace, tmp_path: Path
) -> None:
    key = workspace_key(workspace)
    policy = LogPrivacy.of(exclude=["email"], hash=["plan"], key=key)
    root = tmp_path / "predictions"
    _log(root, {"churn": policy})
    (path,) = root.rglob("part-*.parquet")
    raw = path.read_bytes()
    assert b"a@x.org" not in raw and b"pro" not in raw.replace(b"prediction", b"")
    df = read_log("churn", root=str(root))
    assert "email" not in df.columns
    assert df["income"].tolist() == [1.0, 2.0, 3.0]
    # Equal values, equal digests: monitoring compares them as categories.
    plans = df["plan"].tolist()
    assert plans[0] == plans[2] != plans[1]
    assert plans[0] == hash_value("pro", key) and len(plans[0]) == 32
    # Not the unkeyed digest: guessing "pro" without the workspace's key finds nothing.
    from blake3 import blake3

    assert plans[0] != blake3(b"pro").hexdigest(length=16)
    meta = pq.read_schema(path).metadata
    assert meta[b"cairn.log.hashed"] == b"plan" and meta[b"cairn.log.excluded"] == b"email"


def test_the_key_is_the_workspaces_own_and_stable(workspace: cairn.workspace.Workspace) -> None:
    first = workspace_key(workspace)
    cairn.workspace.reset()
    again = cairn.workspace.Workspace(workspace.settings)
    assert workspace_key(again) == first and len(first) == 32


def test_a_column_both_excluded_and_hashed_is_refused() -> None:
    with pytest.raises(InvalidInput, match="column 'email' is both excluded and hashed"):
        LogPrivacy.of(exclude=["email"], hash=["email"], key=b"k" * 32)


def test_other_models_keep_their_columns(tmp_path: Path) -> None:
    root = tmp_path / "predictions"
    _log(root, {"fraud": LogPrivacy.of(exclude=["email"])})
    assert "email" in read_log("churn", root=str(root)).columns


def _hours(root: Path) -> list[str]:
    return sorted(p.name + "@" + p.parent.name for p in root.rglob("hour=*"))


def test_prune_deletes_whole_old_hours_only(
    workspace: cairn.workspace.Workspace, tmp_path: Path
) -> None:
    root = tmp_path / "predictions"
    now = 1_800_000_000_000 + 30 * 60_000  # half past the hour
    for hours_ago in (0, 1, 2, 3, 50):
        _log(root, {}, when_ms=now - hours_ago * HOUR)
    gone = prune(
        ["churn@production"],
        older_than_ms=2 * HOUR,
        workspace=workspace,
        now_ms=now,
        root=str(root),
    )
    # The hour that ended 1.5 h ago stays; the one that ended 2.5 h ago and older go.
    assert all("hour=05" in g or "date=2027-01-13" in g for g in gone)
    assert len(gone) == 2
    left = read_log("churn", root=str(root))
    assert sorted(left["time"].dt.hour.unique().tolist()) == sorted(
        {dt.datetime.fromtimestamp((now - h * HOUR) / 1000, dt.UTC).hour for h in (0, 1, 2)}
    )


@pytest.mark.parametrize("ref", ["../etc", "*", "churn\\x"])
def test_prune_refuses_a_crafted_model_name(
    workspace: cairn.workspace.Workspace, tmp_path: Path, ref: str
) -> None:
    with pytest.raises(InvalidInput):
        prune([ref], older_than_ms=2 * HOUR, workspace=workspace, root=str(tmp_path))


def test_prune_refuses_to_touch_the_current_hour(workspace: cairn.workspace.Workspace) -> None:
    with pytest.raises(InvalidInput, match="--older-than must be at least 1h"):
        prune(older_than_ms=60_000, workspace=workspace)
