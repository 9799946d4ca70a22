"""A team set-up end to end: PostgreSQL for metadata, S3 (moto's server) for artifacts.

Everything a user does embedded works against shared stores by changing two URIs: the
workspace is created with them, runs are logged from a separate process, and the CLI
lists, verifies and garbage-collects across both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

TRAIN = textwrap.dedent(
    """
    import sys
    import cairn

    for i, model in enumerate(["rf", "gb", "lr"]):
        with cairn.start_run(experiment="shared", params={"model": model}, tags={"team": "ml"}):
            for step in range(5):
                cairn.log_metric("loss", 1.0 / (step + 1 + i), step=step)
            cairn.log_metric("auc", 0.8 + i * 0.05)
            with open("report.txt", "w") as f:
                f.write(f"report of {model}")
            cairn.log_artifact("report.txt")
    print("ok")
    """
)


def _cairn(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_postgres_and_s3_workspace_tracks_lists_verifies_and_collects(
    tmp_path: Path, postgres_uri: str, s3_bucket: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    root = tmp_path / "team"
    root.mkdir()
    artifacts = f"{s3_bucket}/cairn"
    made = _cairn(
        root, env, "init", ".", "--tracking-uri", postgres_uri, "--artifact-uri", artifacts
    )
    assert made.returncode == 0, made.stderr
    assert not (root / ".cairn" / "cairn.db").exists()  # nothing embedded

    trained = subprocess.run(
        [sys.executable, "-c", TRAIN], cwd=root, env=env, capture_output=True, text=True
    )
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.strip() == "ok"

    listed = _cairn(
        root, env, "runs", "ls", "--json", "--filter",
        "(metrics.auc > 0.84 or params.model in ('rf')) and tags.team != 'x'",
        "--sort", "metrics.auc desc",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    runs = json.loads(listed.stdout)
    assert [r["params"]["model"] for r in runs] == ["lr", "gb", "rf"]
    assert all(r["status"] == "FINISHED" for r in runs)

    # The artifact round trip goes through S3: fetch one run's report back.
    best = runs[0]["id"]
    fetched = _cairn(root, env, "artifacts", "get", best[:8], "report.txt", "-o", "out.txt")
    assert fetched.returncode == 0, fetched.stderr
    assert (root / "out.txt").read_text() == "report of lr"

    verified = _cairn(root, env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Purging a deleted run leaves its report unreferenced: gc finds it, and only it.
    deleted = _cairn(root, env, "runs", "delete", runs[-1]["id"][:8])
    assert deleted.returncode == 0, deleted.stderr
    dry = _cairn(root, env, "gc", "--json", "--min-age", "0", "--runs-retention", "0")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert len(report["removed"]) == 1
    purge = ("--runs-retention", "0")
    assert _cairn(root, env, "gc", "--delete", "--min-age", "0", *purge).returncode == 0
    assert _cairn(root, env, "verify").returncode == 0
    still = _cairn(root, env, "artifacts", "get", best[:8], "report.txt", "-o", "again.txt")
    assert still.returncode == 0 and (root / "again.txt").read_text() == "report of lr"
