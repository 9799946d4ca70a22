"""A team's session against `cairn server` with tokens: aliases, the audit log, the
access commands over HTTP, and secrets kept out of logs and answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_harness import Team, bearer, team_server

from cairn.access import AccessPolicy
from cairn.errors import NotFound, PermissionDenied
from cairn.store import open_metadata
from cairn.types import Metric, RunStatus
from ports import free_port
from server_harness import wait_healthy


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    with team_server(tmp_path, AccessPolicy()) as found:
        yield found


def _as(monkeypatch: pytest.MonkeyPatch, team: Team, who: str) -> object:
    monkeypatch.setenv("CAIRN_TRACKING_TOKEN", team.tokens[who])
    return open_metadata(team.url)


def test_promoting_to_a_protected_alias_needs_manage(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    editor = _as(monkeypatch, team, "editor")
    editor.registry.set_alias("churn", "staging", 1)  # type: ignore[attr-defined]
    with pytest.raises(PermissionDenied, match="editor may not manage model 'churn'"):
        editor.registry.set_alias("churn", "production", 1)  # type: ignore[attr-defined]
    manager = _as(monkeypatch, team, "manager")
    event = manager.registry.set_alias("churn", "production", 1)  # type: ignore[attr-defined]
    assert event.actor == "manager"
    assert manager.registry.get_model("churn").aliases == {"staging": 1, "production": 1}  # type: ignore[attr-defined]


def test_the_audit_log_holds_exactly_one_ok_entry_per_change_made_over_http(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _as(monkeypatch, team, "editor")
    tracking = backend.tracking  # type: ignore[attr-defined]
    experiment = tracking.create_experiment("session")
    run = tracking.create_run(experiment.id)
    tracking.log_batch(run.id, [Metric("auc", 0.9)])
    tracking.end_run(run.id, RunStatus.FINISHED)
    backend.registry.set_alias("churn", "staging", 1)  # type: ignore[attr-defined]
    made = [
        "tracking.create_experiment",
        "tracking.create_run",
        "tracking.log_batch",
        "tracking.end_run",
        "registry.set_alias",
    ]
    # The attacks on the count: a refused change, a failed one, and a retried one.
    with pytest.raises(PermissionDenied):
        backend.registry.set_alias("churn", "production", 1)  # type: ignore[attr-defined]
    with pytest.raises(NotFound):
        tracking.end_run("424242", RunStatus.FINISHED)
    key = uuid.uuid4().hex
    body = {"run_id": run.id, "metrics": [{"key": "loss", "value": 0.1}]}
    for _ in range(2):  # the same request sent twice, as a client retry does
        sent = httpx.post(
            f"{team.url}/api/tracking/runs/log-batch",
            json=body,
            headers={**bearer(team.tokens["editor"]), "Idempotency-Key": key},
        )
        assert sent.status_code == 200, sent.text
    made.append("tracking.log_batch")

    entries = team.db.access.list_audit(user="editor")  # type: ignore[attr-defined]
    ok = [e.operation for e in reversed(entries) if e.result == "ok"]
    assert ok == made
    assert all(e.token_id == team.token_ids["editor"] for e in entries)
    assert {e.result for e in entries if e.result != "ok"} <= {"denied", "error"}


def test_a_user_manages_their_own_tokens_and_only_an_admin_anyone_elses(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.access.admin import issue_token

    editor = _as(monkeypatch, team, "editor")
    access = editor.access  # type: ignore[attr-defined]
    mine = issue_token(access, "editor", label="laptop")
    assert {t.user for t in access.list_tokens()} == {"editor"}
    access.revoke_token(mine.token.id)
    with pytest.raises(PermissionDenied, match="or there is none"):
        access.revoke_token(team.token_ids["manager"])
    with pytest.raises(PermissionDenied, match="only that user and server admins"):
        issue_token(access, "manager")
    with pytest.raises(PermissionDenied, match="only server admins"):
        access.update_user("editor", is_admin=True)
    with pytest.raises(PermissionDenied, match="only server admins"):
        access.list_audit()
    root = _as(monkeypatch, team, "root").access  # type: ignore[attr-defined]
    root.revoke_token(team.token_ids["manager"])
    assert {t.user for t in root.list_tokens()} >= {"editor", "manager", "root"}


# -- a real `cairn server` process and the CLI against it ------------------------------


def _cairn(cwd: Path, *args: str, env: dict[str, str], stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _serve(tmp: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cairn",
                "server",
                "--store",
                f"sqlite:///{tmp / 'server.db'}",
                "--artifacts",
                str(tmp / "artifacts"),
                "--port",
                str(port),
                "--log-level",
                "debug",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, f"http://127.0.0.1:{port}", log


def test_the_access_commands_work_over_http_and_no_token_reaches_a_log(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'server.db'}"
    open_metadata(store, create=True).ensure_schema()
    created = _cairn(tmp_path, "server", "admin", "create", "root", "--store", store, env={})
    assert created.returncode == 0, created.stderr
    root = created.stdout.strip()
    proc, url, log = _serve(tmp_path)
    try:
        wait_healthy(url)
        anonymous = _cairn(tmp_path, "runs", "ls", env={"CAIRN_TRACKING_URI": url})
        assert anonymous.returncode == 1
        assert anonymous.stderr.startswith("error: this server needs an API token")

        as_root = {"CAIRN_TRACKING_URI": url, "CAIRN_TRACKING_TOKEN": root}
        assert _cairn(tmp_path, "users", "create", "alice", env=as_root).returncode == 0
        made = _cairn(tmp_path, "tokens", "create", "--user", "alice", "--json", env=as_root)
        assert made.returncode == 0, made.stderr
        alice = json.loads(made.stdout)["token"]
        granted = _cairn(tmp_path, "grant", "alice", "edit", "model:churn", env=as_root)
        assert granted.returncode == 0, granted.stderr

        # alice signs in (the login checks the token with the server) and tries her luck
        xdg = {"XDG_CONFIG_HOME": str(tmp_path / "alice-config")}
        login = _cairn(
            tmp_path, "login", "--server", url, "--token-stdin", env=xdg, stdin=alice + "\n"
        )
        assert login.returncode == 0, login.stderr
        assert f"Logged in to {url} as alice" in login.stdout
        as_alice = {**xdg, "CAIRN_TRACKING_URI": url}
        listed = _cairn(tmp_path, "tokens", "ls", "--json", env=as_alice)
        assert listed.returncode == 0, listed.stderr
        assert {t["user"] for t in json.loads(listed.stdout)} == {"alice"}
        refused = _cairn(tmp_path, "users", "create", "mallory", "--admin", env=as_alice)
        assert refused.returncode == 1
        assert refused.stderr.startswith("error: only server admins may manage servers")
        forged = _cairn(
            tmp_path,
            "login",
            "--server",
            url,
            "--token-stdin",
            env=xdg,
            stdin=alice[:-4] + "AAAA\n",
        )
        assert forged.returncode == 1 and "unknown API token" in forged.stderr

        audit = _cairn(tmp_path, "audit", "ls", "--json", env=as_root)
        assert audit.returncode == 0, audit.stderr
        entries = json.loads(audit.stdout)
        ok = [(e["user"], e["operation"]) for e in reversed(entries) if e["result"] == "ok"]
        assert ok == [
            ("tester", "access.create_admin"),  # on the server's machine, by its local user
            ("root", "access.create_user"),
            ("root", "access.create_token"),
            ("root", "access.set_grant"),
        ]
        outputs = [anonymous, made, granted, login, listed, refused, forged, audit]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "GET /api/access/tokens" in text  # the log was captured, at debug level
    for secret in (root, alice):
        body = secret.split("_", 2)[2]
        assert body not in text
        for done in outputs[1:]:
            assert body not in done.stderr


def test_an_open_server_must_be_asked_for_and_says_so(tmp_path: Path) -> None:
    open_metadata(f"sqlite:///{tmp_path / 'server.db'}", create=True).ensure_schema()
    proc, url, log = _serve(tmp_path)
    try:
        wait_healthy(url)
        assert httpx.get(url + "/api/tracking/experiments").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "no users yet" in log.read_text()

    proc, url, log = _serve(tmp_path, "--insecure-no-auth")
    try:
        wait_healthy(url)
        assert httpx.get(url + "/api/tracking/experiments").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "WITHOUT AUTHENTICATION" in log.read_text()


def test_an_artifact_object_published_is_audited_once_and_a_bad_upload_too(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.hashing import new_hasher

    data = b"model weights " * 1000
    hasher = new_hasher()
    hasher.update(data)
    digest = hasher.hexdigest()
    url = f"{team.url}/api/artifacts/blobs/objects/{digest[:2]}/{digest[2:]}"
    auth = bearer(team.tokens["editor"])
    for _ in range(2):  # the second upload finds the object: nothing new, nothing audited
        assert httpx.put(url, content=data, headers=auth).status_code == 201
    other = "0" * 64
    bad = f"{team.url}/api/artifacts/blobs/objects/00/{other[2:]}"
    assert httpx.put(bad, content=data, headers=auth).status_code == 422
    root = _as(monkeypatch, team, "root").access  # type: ignore[attr-defined]
    entries = [e for e in root.list_audit() if e.operation == "artifacts.put"]
    assert [(e.user, e.resource, e.result) for e in reversed(entries)] == [
        ("editor", digest, "ok"),
        ("editor", other, "error"),
    ]
    assert entries[-1].detail == f"{len(data)} bytes"
    assert digest in entries[0].detail and team.tokens["editor"] not in entries[0].detail


def test_a_step_cache_entry_is_trusted_only_from_a_run_the_reader_could_have_written(
    team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.store.pipelines import CacheEntry

    stranger = _as(monkeypatch, team, "stranger")
    lab = stranger.tracking.create_experiment("lab")  # type: ignore[attr-defined]
    own_run = stranger.tracking.create_run(lab.id)  # type: ignore[attr-defined]
    evil = CacheEntry("k" * 64, "train", '["evil"]', own_run.id)
    # Writing an entry as the output of a run in an experiment one may not edit: refused.
    with pytest.raises(PermissionDenied):
        stranger.pipelines.put_cache([CacheEntry("k" * 64, "train", "[]", team.run_id)])  # type: ignore[attr-defined]
    stranger.pipelines.put_cache([evil])  # type: ignore[attr-defined]
    stranger.pipelines.put_cache([CacheEntry("u" * 64, "train", '["anon"]', None)])  # type: ignore[attr-defined]
    # The editor of 'exp' looks the key up for their own pipeline: the planted entry is
    # not served, nor is the one naming no run; an admin sees the planted one.
    editor = _as(monkeypatch, team, "editor")
    assert editor.pipelines.get_cache(["k" * 64, "u" * 64]) == {}  # type: ignore[attr-defined]
    assert editor.pipelines.recent_cache(["train"], 10) == {}  # type: ignore[attr-defined]
    root = _as(monkeypatch, team, "root")
    assert root.pipelines.get_cache(["k" * 64])["k" * 64].outputs == '["evil"]'  # type: ignore[attr-defined]
    # The editor's own run then writes the key (newest wins); the stranger, who may not
    # edit 'exp', is not served the editor's entry either.
    good = CacheEntry("k" * 64, "train", '["good"]', team.run_id)
    editor.pipelines.put_cache([good])  # type: ignore[attr-defined]
    assert editor.pipelines.get_cache(["k" * 64])["k" * 64].outputs == '["good"]'  # type: ignore[attr-defined]
    assert stranger.pipelines.get_cache(["k" * 64]) == {}  # type: ignore[attr-defined]
