"""cairn monitor check: drift, quality and health from the real prediction log."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from monitor_helpers import HOUR_MS, Monitored, make_frame, settled_hour

import cairn
from cairn.errors import CairnError, InvalidInput, NotFound
from cairn.monitoring.check import check, needs_attention, window_sketch
from cairn.monitoring.sketch import WindowSketch


def _cairn(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args], cwd=root, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


def _no_nan(value: object) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for v in value.values():
            _no_nan(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _no_nan(v)


def test_check_flags_the_shifted_feature_and_exits_3(monitored: Monitored) -> None:
    start = settled_hour(3)
    monitored.log(make_frame(2000, 11, shift=1.5), start, per_request=20)
    result = _cairn(monitored.root, "monitor", "check", "churn@production", "--window", "6h",
                    "--json")  # fmt: skip
    assert result.returncode == 3, result.stderr
    report = json.loads(result.stdout)
    assert report["drifted"] == ["x0"]
    assert report["prediction"]["drifted"]
    _no_nan(report)


def test_an_unshifted_window_exits_0(monitored: Monitored) -> None:
    monitored.log(make_frame(3000, 12), settled_hour(3), per_request=20)
    result = _cairn(monitored.root, "monitor", "check", "churn", "--window", "6h")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 of 5 features drifted" in result.stderr


def test_columns_kept_out_of_the_log_are_reported_not_compared_and_the_rest_checked(
    monitored: Monitored,
) -> None:
    from cairn.serving.privacy import LogPrivacy, workspace_key

    policy = LogPrivacy.of(exclude=["x0"], hash=["plan"], key=workspace_key(monitored.ws))
    # x0 drifts, but the log never holds it; x1 drifts too and is checked.
    frame = make_frame(2000, 21, shift=1.5)
    frame["x1"] = frame["x1"] + 3.0
    monitored.log(frame, settled_hour(3), per_request=20, privacy=policy)
    report = check("churn@production", window="6h", workspace=monitored.ws)
    by_name = {f.feature: f for f in report.features}
    assert report.drifted == ("x1",)
    assert by_name["x0"].score is None and "excluded" in by_name["x0"].note
    assert by_name["plan"].score is None and "hashed" in by_name["plan"].note
    assert not [q for q in report.quality if q.kind == "missing_feature"]
    _no_nan(report.to_dict())


def test_an_empty_window_is_an_error_naming_the_fix(monitored: Monitored) -> None:
    monitored.log(make_frame(100, 13), settled_hour(30), per_request=10)
    result = _cairn(monitored.root, "monitor", "check", "churn@production", "--window", "1h")
    assert result.returncode == 1
    assert "no logged predictions of churn/1 in the window" in result.stderr
    assert "--window 7d" in result.stderr and "Traceback" not in result.stderr


def test_contradicting_window_options_are_refused(monitored: Monitored) -> None:
    with pytest.raises(InvalidInput, match="give one of --window, --last"):
        check("churn", window="1h", last=10, workspace=monitored.ws)
    with pytest.raises(InvalidInput, match="is not a duration"):
        check("churn", window="an hour", workspace=monitored.ws)


def test_a_file_landing_late_in_a_cached_hour_is_counted(monitored: Monitored) -> None:
    """A sketch cached for a settled hour must not hide rows written to it afterwards."""
    start = settled_hour(4)
    monitored.log(make_frame(500, 14), start, per_request=10, prefix="a")
    first = window_sketch("churn", window="8h", workspace=monitored.ws).sketch
    cached = list((monitored.root / ".cairn").rglob("sketch-*.json"))
    assert first.rows == 500 and len(cached) == 1
    # Another replica flushes late into the same hour.
    monitored.log(make_frame(300, 15), start + 60_000, per_request=10, prefix="b")
    again = window_sketch("churn", window="8h", workspace=monitored.ws).sketch
    assert again.rows == 800 and again.requests == 80


def test_merged_hourly_sketches_equal_one_pass_over_the_rows(monitored: Monitored) -> None:
    frames = [make_frame(400, 20 + i, shift=0.3 * i) for i in range(3)]
    start = settled_hour(6)
    for i, frame in enumerate(frames):
        monitored.log(frame, start + i * HOUR_MS, per_request=8, prefix=f"h{i}-")
    got = window_sketch("churn", window="12h", workspace=monitored.ws)
    merged = got.sketch
    # The same rows in one pass, one sketch, no hours and no cache.
    cut = WindowSketch.empty(got.reference_digest, got.reference)
    for path in sorted((monitored.root / ".cairn").rglob("part-*.parquet")):
        for batch in pq.ParquetFile(path).iter_batches():
            cut.update(got.reference, batch)
    assert merged.rows == cut.rows == 1200
    for name in merged.features:
        assert merged.features[name].bins == cut.features[name].bins
        assert merged.features[name].count == cut.features[name].count
    x0 = np.concatenate([f["x0"].to_numpy() for f in frames])
    median = merged.features["x0"].sketch.get_quantile(0.5)
    assert abs(np.mean(x0 <= median) - 0.5) < 0.0133  # KLL k=200 rank error bound


def test_constant_null_and_nan_columns_give_no_nan(monitored: Monitored) -> None:
    frame = make_frame(1500, 16)
    frame["x2"] = 4.0  # constant where the reference varied
    frame["x3"] = np.nan  # every value missing
    frame.loc[::3, "x1"] = np.inf
    monitored.log(frame, settled_hour(3), per_request=15)
    report = check("churn", window="6h", workspace=monitored.ws)
    _no_nan(report.to_dict())
    by = {f.feature: f for f in report.features}
    assert by["x3"].score is None and "no values" in by["x3"].note
    assert by["x2"].drifted
    kinds = {(q.feature, q.kind) for q in report.quality}
    assert ("x3", "nulls") in kinds and ("x1", "out_of_range") in kinds
    assert needs_attention(report)


def test_a_feature_missing_from_every_row_is_an_error(monitored: Monitored) -> None:
    frame = make_frame(200, 17)
    monitored.log(frame, settled_hour(3), per_request=10)
    # A client that never sends x3: the log has no such column.
    from cairn.serving.codec import Batch
    from cairn.serving.predlog import LogRecord, PredictionLog, default_root

    root = monitored.root
    for path in (root / ".cairn").rglob("part-*.parquet"):
        path.unlink()
    plog = PredictionLog(default_root(monitored.ws))
    cols = {c: frame[c].to_numpy() for c in ["x0", "x1", "x2", "plan"]}
    plog.append(
        LogRecord(settled_hour(3), "q1", "churn", "1", "primary", True,
                  Batch(rows=200, columns=cols), np.zeros(200, dtype=int))
    )  # fmt: skip
    plog.close()
    result = _cairn(root, "monitor", "check", "churn/1", "--window", "6h")
    assert result.returncode == 1
    assert "feature 'x3' of churn/1 is in none of the 200 logged rows" in result.stderr


def test_failed_requests_count_in_the_error_rate(monitored: Monitored) -> None:
    start = settled_hour(3)
    monitored.log(make_frame(900, 18), start, per_request=10, prefix="ok", latency_ms=4.0)
    monitored.log(make_frame(100, 19), start + 1000, per_request=10, prefix="bad", status=500)
    report = check("churn", window="6h", workspace=monitored.ws)
    assert report.health is not None
    assert report.health.requests == 100
    assert report.health.error_rate == pytest.approx(0.1)
    assert report.health.latency_p50_ms == pytest.approx(4.0)


def test_a_model_without_reference_data_says_how_to_give_one(monitored: Monitored) -> None:
    from sklearn.linear_model import LinearRegression

    X = make_frame(50, 1)[["x0", "x1"]]
    with cairn.start_run(experiment="bare"):
        cairn.log_model(LinearRegression().fit(X, X["x0"]), input_example=X.head(3),
                        registered_name="bare")  # fmt: skip
    with pytest.raises(NotFound, match=r"read no dataset version.*monitor reference bare/1"):
        check("bare", window="1h", workspace=monitored.ws)


def test_a_reference_stored_as_bytes_is_refused(monitored: Monitored) -> None:
    blob = monitored.root / "notes.bin"
    blob.write_bytes(b"\x00\x01 not a table")
    cairn.data.add(blob, name="blob", workspace=monitored.ws)
    result = _cairn(monitored.root, "monitor", "reference", "churn/1", "--dataset", "blob@v1")
    assert result.returncode == 1
    assert "has no profile" in result.stderr and "--dataset NAME@vN" in result.stderr


def test_every_error_is_a_cairn_error(monitored: Monitored) -> None:
    with pytest.raises(CairnError):
        check("runs:/nope/model", workspace=monitored.ws)
