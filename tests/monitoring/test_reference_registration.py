"""The monitoring reference is built at registration, kept by gc, and never blocks
registering a model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from monitor_helpers import Monitored, make_frame, settled_hour

import cairn
from cairn.api import register_model
from cairn.errors import InvalidInput
from cairn.monitoring import reference as reference_module
from cairn.monitoring.check import check
from cairn.monitoring.drift import compare
from cairn.monitoring.reference import REFERENCE_TAG, STATUS_TAG
from cairn.monitoring.sketch import FeatureSketch
from cairn.workspace import DIGEST_TAGS, Workspace


def _cairn(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args], cwd=root, capture_output=True, text=True,
        timeout=240,
    )  # fmt: skip


def _version(ws: Workspace, number: int = 1) -> cairn.registry.ModelVersion:
    return ws.registry.get_version("churn", number)


def test_registering_a_model_builds_its_reference_before_any_check(monitored: Monitored) -> None:
    version = _version(monitored.ws)
    digest = version.tags.get(REFERENCE_TAG)
    assert digest and monitored.ws.artifacts.exists(digest)
    assert version.tags[STATUS_TAG] == "built from churn-valid@v1"
    monitored.log(make_frame(300, 21), settled_hour(3), per_request=10)
    report = check("churn", window="6h", workspace=monitored.ws)
    # The check used the reference registration stored: it did not score the data again.
    assert report.reference == f"churn-valid@v1 ({digest[:12]})"
    assert _version(monitored.ws).tags[REFERENCE_TAG] == digest


def test_gc_after_building_a_reference_keeps_it(monitored: Monitored) -> None:
    """gc --delete with no age grace must not take the reference a version's tag names."""
    assert REFERENCE_TAG in DIGEST_TAGS
    digest, _ = reference_module.get_reference(_version(monitored.ws), monitored.ws)
    result = _cairn(monitored.root, "gc", "--delete", "--min-age", "0")
    assert result.returncode == 0, result.stderr
    assert digest not in result.stdout
    assert monitored.ws.artifacts.exists(digest)
    assert digest in monitored.ws.referenced_digests()
    # A reference replaced by another one is garbage like any unreferenced object.
    cairn.monitoring.reference.build_reference(
        _version(monitored.ws), monitored.ws, dataset="churn-train@v1"
    )
    newer = _version(monitored.ws).tags[REFERENCE_TAG]
    assert newer != digest
    result = _cairn(monitored.root, "gc", "--delete", "--min-age", "0")
    assert digest in result.stdout.split()
    assert monitored.ws.artifacts.exists(newer)


def test_a_large_reference_dataset_is_left_pending_and_says_so(
    monitored: Monitored, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reference_module, "REGISTRATION_ROWS", 1_000)
    source = "models:/churn/1"
    version, note = register_model(source, "churn", workspace=monitored.ws)
    assert version.version == 2
    assert REFERENCE_TAG not in version.tags
    assert note is not None
    assert note.startswith("monitoring reference pending: churn-valid@v1 has 3,000 rows")
    assert "cairn monitor reference churn/2" in version.tags[STATUS_TAG]
    # The first check builds it then.
    monitored.log(make_frame(300, 22), settled_hour(3), version=2, per_request=10)
    check("churn/2", window="6h", workspace=monitored.ws)
    assert REFERENCE_TAG in _version(monitored.ws, 2).tags


def test_registration_survives_reference_data_that_cannot_serve(monitored: Monitored) -> None:
    """A run that logged a non-tabular file as its data still registers; the reference
    is pending with the reason, and the CLI says so on its second line."""
    blob = monitored.root / "notes.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    ds = cairn.data.add(blob, name="notes", workspace=monitored.ws)
    frame = make_frame(200, 23)
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame[["x0", "x1"]], frame["churned"])
    with cairn.start_run(experiment="blob", workspace=monitored.ws) as run:
        run.log_input(ds, role="validation")
        info = cairn.log_model(model, input_example=frame[["x0", "x1"]].head(3))
    result = _cairn(monitored.root, "models", "register", info.uri, "--name", "blobby")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    assert first.startswith("registered blobby/1")
    assert second.startswith("monitoring reference pending: dataset notes@v1")
    assert "has no profile" in second
    tags = monitored.ws.registry.get_version("blobby", 1).tags
    assert REFERENCE_TAG not in tags and "has no profile" in tags[STATUS_TAG]


def test_a_forced_test_of_the_wrong_kind_is_refused_naming_the_usable_ones() -> None:
    ref = {"kind": "numeric", "count": 3, "nulls": 0}
    with pytest.raises(InvalidInput, match="does not apply to numeric feature 'x0'; use one of ks"):
        compare("x0", ref, FeatureSketch.empty(ref), test="chi2")


def test_wasserstein_reads_no_drift_between_two_samples_of_a_heavy_tail() -> None:
    """Two samples of one lognormal differ in their maxima by many standard deviations;
    the distance must not read that as drift."""
    from cairn.data.profile import compute_profile

    flagged = 0
    for seed in range(5):
        rng = np.random.default_rng(seed)
        ref = pa.table({"x": rng.lognormal(0.0, 1.5, 100_000)})
        info = compute_profile(ref.schema, lambda cols, t=ref: iter(t.to_batches()))["columns"]["x"]
        sketch = FeatureSketch.empty(info)
        sketch.update(info, pa.array(rng.lognormal(0.0, 1.5, 100_000)))
        result = compare("x", info, sketch)
        assert result.test == "wasserstein"
        flagged += result.drifted
        assert result.score is not None and result.score < 0.05, result.score
    assert flagged == 0
