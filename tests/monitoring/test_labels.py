"""Labels joined to the log, realized performance, and estimation before labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from monitor_helpers import HOUR_MS, Monitored, make_frame, settled_hour

from cairn.errors import InvalidInput
from cairn.monitoring.check import check
from cairn.monitoring.labels import add_labels, performance

#: |estimated - realized| accuracy bound of CBPE on the planted covariate shift below.
CBPE_BOUND = 0.03


def _labels_dir(root: Path) -> list[Path]:
    return list((root / ".cairn").rglob("_labels/**/*.parquet"))


def _write(root: Path, name: str, ids: list[str], labels: list[int]) -> Path:
    path = root / name
    pd.DataFrame({"request_id": ids, "label": labels}).to_csv(path, index=False)
    return path


def test_a_label_file_whose_ids_match_nothing_is_refused_whole(monitored: Monitored) -> None:
    monitored.log(make_frame(50, 30), settled_hour(3))
    path = _write(monitored.root, "wrong.csv", ["nope-1", "nope-2"], [0, 1])
    result = subprocess.run(
        [sys.executable, "-m", "cairn", "monitor", "labels", "add", str(path)],
        cwd=monitored.root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "none of the 2 request ids" in result.stderr and "Nothing was stored" in result.stderr
    assert _labels_dir(monitored.root) == []


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"id": ["r1"], "label": [1]}), "has no 'request_id' column"),
        (pd.DataFrame({"request_id": ["r1", None], "label": [1, 0]}), "without a request_id"),
        (pd.DataFrame({"request_id": ["r1"], "label": [None]}), "without a label"),
    ],
    ids=["no-id-column", "empty-id", "empty-label"],
)
def test_malformed_label_files_store_nothing(
    monitored: Monitored, frame: pd.DataFrame, message: str
) -> None:
    monitored.log(make_frame(20, 31), settled_hour(3))
    path = monitored.root / "bad.parquet"
    frame.to_parquet(path)
    with pytest.raises(InvalidInput, match=message):
        add_labels(path, workspace=monitored.ws)
    assert _labels_dir(monitored.root) == []


def test_late_labels_update_past_windows_and_the_latest_label_wins(monitored: Monitored) -> None:
    old, new = settled_hour(5), settled_hour(2)
    frame_old, frame_new = make_frame(200, 32), make_frame(200, 33)
    ids_old = monitored.log(frame_old, old, prefix="o")
    ids_new = monitored.log(frame_new, new, prefix="n")
    add_labels(_write(monitored.root, "new.csv", ids_new, list(frame_new["churned"])),
               workspace=monitored.ws)  # fmt: skip
    window_old = {"since": _iso(old), "until": _iso(old + HOUR_MS)}
    assert check("churn", **window_old, workspace=monitored.ws).performance[0].labelled == 0
    # Labels of the old hour arrive a day late: wrong at first, then corrected.
    wrong = [1 - v for v in frame_old["churned"]]
    add_labels(_write(monitored.root, "late.csv", ids_old, wrong), workspace=monitored.ws)
    late = check("churn", **window_old, workspace=monitored.ws).performance[0]
    add_labels(_write(monitored.root, "fix.csv", ids_old, list(frame_old["churned"])),
               workspace=monitored.ws)  # fmt: skip
    fixed = check("churn", **window_old, workspace=monitored.ws).performance[0]
    assert late.labelled == fixed.labelled == 200
    assert fixed.realized["accuracy"] == pytest.approx(1 - late.realized["accuracy"])
    assert fixed.realized["accuracy"] > 0.7
    assert len(_labels_dir(monitored.root)) == 3  # appended, never rewritten


def _iso(ms: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).isoformat()


def test_estimated_accuracy_tracks_realized_under_a_covariate_shift(monitored: Monitored) -> None:
    """x0 moves towards the decision boundary: accuracy drops, and CBPE sees it
    before any label arrives."""
    frame = make_frame(6000, 34, scale=0.3)  # most rows near the boundary: a harder window
    ids = monitored.log(frame, settled_hour(3), per_request=20)
    before = check("churn", window="6h", workspace=monitored.ws).performance[0]
    assert before.labelled == 0 and "accuracy" in before.estimated
    per_row = [rid for rid in ids for _ in range(20)][: len(frame)]
    rows = list(range(20)) * (len(frame) // 20)
    path = monitored.root / "labels.parquet"
    pd.DataFrame({"request_id": per_row, "row": rows, "label": frame["churned"]}).to_parquet(path)
    add_labels(path, workspace=monitored.ws)
    after = check("churn", window="6h", workspace=monitored.ws).performance[0]
    realized, estimated = after.realized["accuracy"], after.estimated["accuracy"]
    reference_accuracy = 0.83  # this model on unshifted data (see test_an_unshifted_...)
    assert realized < reference_accuracy - 0.05  # the shift really hurt
    assert abs(estimated - realized) < CBPE_BOUND


def test_performance_is_reported_per_version_and_bucket(monitored: Monitored) -> None:
    start = settled_hour(4)
    frame = make_frame(300, 35)
    ids = monitored.log(frame, start, prefix="p")
    monitored.log(make_frame(300, 36), start + HOUR_MS, prefix="q")
    add_labels(_write(monitored.root, "l.csv", ids, list(frame["churned"])), workspace=monitored.ws)
    found = performance("churn@production", since=_iso(start), until=_iso(start + 2 * HOUR_MS),
                        every="1h", workspace=monitored.ws)  # fmt: skip
    assert [(p.version, p.labelled) for p in found] == [("1", 300), ("1", 0)]
    assert found[0].realized["accuracy"] > 0.7 and found[1].realized == {}
    assert all("accuracy" in p.estimated for p in found)
