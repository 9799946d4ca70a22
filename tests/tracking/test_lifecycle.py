"""Deleting, restoring and purging runs from Python: the client, the fluent API, gc's purge."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import cairn
from cairn.errors import InUse, InvalidInput, StoreError
from cairn.store.registry import NewModelVersion
from cairn.tracking import lifecycle
from cairn.tracking.client import TrackingClient
from cairn.types import RunStatus
from cairn.workspace import Workspace


def test_client_delete_refuses_a_model_versions_run_and_records_the_configured_user(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("churn", name="trainer")
    client.log_metric(run.id, "auc", 0.9)
    workspace.registry.create_version(NewModelVersion("churn", "a" * 64, "sklearn", run_id=run.id))
    workspace.registry.set_alias("churn", "production", 1)

    with pytest.raises(InUse) as refused:
        client.delete_run(run.id)
    assert refused.value.dependents == ("model version churn/1 (aliases: production)",)
    assert client.get_run(run.id).metrics["auc"].value == 0.9  # the buffered point landed

    deletion = client.delete_run(run.id, force=True)

    assert deletion.deleted_by == "tester"  # CAIRN_USER
    assert client.search_runs("churn") == []
    assert [r.deleted_by for r in client.search_runs("churn", view="deleted")] == ["tester"]
    restored = client.restore_run(run.id)
    assert not restored.is_deleted
    events = lifecycle.run_history(run.id, workspace=workspace)
    assert [(e.action, e.actor) for e in events] == [("delete", "tester"), ("restore", "tester")]
    client.close()


def test_a_script_logging_to_a_run_deleted_under_it_is_refused_and_records_nothing(
    workspace: Workspace,
) -> None:
    # Leaving the block cannot record FINISHED on the deleted run either: it raises too.
    leaving = pytest.raises(InvalidInput, match="was deleted by tester")
    with leaving, cairn.start_run(experiment="churn") as run:
        cairn.log_param("C", 1.0)
        lifecycle.delete_run(run.id, workspace=workspace)  # a colleague, meanwhile
        with pytest.raises(InvalidInput, match=f"run {run.id} was deleted by tester"):
            cairn.log_param("penalty", "l2")
        cairn.log_metric("auc", 0.5)  # buffered: refused when written
        with pytest.raises(StoreError, match="was deleted by tester"):
            cairn.flush()
    assert cairn.active_run() is None
    kept = workspace.tracking.get_run(run.id)
    assert (kept.params, kept.metrics, kept.status) == ({"C": "1.0"}, {}, RunStatus.RUNNING)


def test_purge_respects_the_retention_and_rejects_a_bad_one(workspace: Workspace) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("churn")
    client.end_run(run.id)
    client.delete_run(run.id)

    with pytest.raises(InvalidInput, match="runs retention must be a number of days >= 0"):
        lifecycle.purge_deleted_runs(-1, dry_run=False, workspace=workspace)
    within = lifecycle.purge_deleted_runs(30, dry_run=False, workspace=workspace)
    assert within.purged == () and workspace.tracking.get_run(run.id).is_deleted

    purged = lifecycle.purge_deleted_runs(0, dry_run=False, workspace=workspace)

    assert [r.id for r in purged.purged] == [run.id]
    assert [e.action for e in lifecycle.run_history(run.id, workspace=workspace)] == [
        "delete",
        "purge",
    ]
    client.close()


def test_a_dry_purge_does_not_release_digests_a_model_version_holds(
    workspace: Workspace,
) -> None:
    client = TrackingClient(workspace)
    run = client.create_run("churn")
    model = workspace.artifacts.put_bytes(b"model bytes")
    report = workspace.artifacts.put_bytes(b"report bytes")
    client.log_output(run.id, model.digest, role="model", name="model")
    client.log_output(run.id, report.digest, role="report", name="report")
    workspace.registry.create_version(
        NewModelVersion("churn", model.digest, "sklearn", run_id=run.id)
    )
    client.delete_run(run.id, force=True)

    dry = lifecycle.purge_deleted_runs(0, force=True, workspace=workspace)

    assert dry.released == frozenset({report.digest})
    client.close()


def test_cli_gc_purge_in_a_real_process_keeps_a_run_deleted_within_retention(
    workspace: Workspace,
) -> None:
    script = textwrap.dedent(
        """
        import cairn
        with cairn.start_run(experiment="churn") as run:
            cairn.log_metric("auc", 0.9)
        print(run.id)
        """
    )
    root = workspace.root
    made = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    run_id = made.stdout.strip()

    def cairn_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args], cwd=root, capture_output=True, text=True
        )

    assert cairn_cli("runs", "delete", run_id).returncode == 0
    kept = cairn_cli("gc", "--delete")
    assert kept.returncode == 0 and "purged" not in kept.stdout
    assert cairn_cli("runs", "restore", run_id[:8]).returncode == 0
    assert workspace.tracking.get_run(run_id).deleted_at is None
