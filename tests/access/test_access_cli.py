"""The access commands as a user's shell runs them: exit codes, messages, and tokens
shown once and nowhere else."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import cairn.workspace


def cairn_cmd(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


@pytest.fixture
def ws(workspace: cairn.workspace.Workspace) -> Path:
    assert workspace.root is not None
    return workspace.root


def test_admin_users_tokens_grants_and_audit_from_the_shell(ws: Path) -> None:
    created = cairn_cmd(ws, "server", "admin", "create", "root")
    assert created.returncode == 0, created.stderr
    admin_token = created.stdout.strip()
    assert admin_token.startswith("cairn_") and "not shown again" in created.stderr

    again = cairn_cmd(ws, "server", "admin", "create", "root")
    assert again.returncode == 1
    assert again.stderr.startswith("error: a user named 'root' exists already")

    assert cairn_cmd(ws, "users", "create", "alice").returncode == 0
    made = cairn_cmd(ws, "tokens", "create", "--user", "alice", "--read-only", "--json")
    assert made.returncode == 0, made.stderr
    alice = json.loads(made.stdout)
    assert alice["read_only"] and alice["token"].startswith(f"cairn_{alice['id']}_")

    bad_expiry = cairn_cmd(ws, "tokens", "create", "--user", "alice", "--expires", "soon")
    assert bad_expiry.returncode == 1
    assert "invalid expiry 'soon'" in bad_expiry.stderr

    granted = cairn_cmd(ws, "grant", "alice", "edit", "model:churn")
    assert granted.returncode == 0 and "Granted edit on model:churn to alice" in granted.stdout
    bad_kind = cairn_cmd(ws, "grant", "alice", "edit", "cluster:prod")
    assert bad_kind.returncode == 1
    assert "unknown resource kind 'cluster'" in bad_kind.stderr
    usage = cairn_cmd(ws, "grant", "alice")
    assert usage.returncode == 2 and "USER LEVEL KIND:NAME" in usage.stderr

    listed = json.loads(cairn_cmd(ws, "grant", "--list", "--json").stdout)
    assert [(g["user"], g["kind"], g["name"], g["level"]) for g in listed] == [
        ("alice", "model", "churn", "edit")
    ]
    assert cairn_cmd(ws, "grant", "--revoke", "alice", "model:churn").returncode == 0
    assert json.loads(cairn_cmd(ws, "grant", "--list", "--json").stdout) == []

    revoked = cairn_cmd(ws, "tokens", "revoke", alice["id"])
    assert revoked.returncode == 0 and alice["id"] in revoked.stdout
    assert "revoked" in cairn_cmd(ws, "tokens", "ls").stdout
    assert cairn_cmd(ws, "users", "disable", "alice").returncode == 0
    missing = cairn_cmd(ws, "users", "disable", "ghost")
    assert missing.returncode == 1 and "no user named 'ghost'" in missing.stderr

    audit = json.loads(cairn_cmd(ws, "audit", "ls", "--json").stdout)
    operations = [e["operation"] for e in reversed(audit)]
    assert [(e["operation"], e["result"]) for e in reversed(audit)][:3] == [
        ("access.create_admin", "ok"),
        ("access.create_admin", "error"),  # the refused second create is on record too
        ("access.create_user", "ok"),
    ]
    assert "access.grant" in operations and "access.revoke_token" in operations
    only = json.loads(cairn_cmd(ws, "audit", "ls", "--resource", "model:churn", "--json").stdout)
    assert {e["operation"] for e in only} == {"access.grant", "access.revoke_grant"}
    bad_since = cairn_cmd(ws, "audit", "ls", "--since", "yesterday")
    assert bad_since.returncode == 1 and "invalid --since 'yesterday'" in bad_since.stderr

    # No listing, audit entry or message shows a secret.
    everything = [
        cairn_cmd(ws, *args)
        for args in (("tokens", "ls", "--json"), ("audit", "ls", "--json"), ("users", "ls"))
    ]
    for done in everything:
        for secret in (admin_token, alice["token"]):
            assert secret.split("_", 2)[2] not in done.stdout + done.stderr


def test_login_keeps_the_token_private_and_never_echoes_a_bad_one(ws: Path, tmp_path: Path) -> None:
    token = cairn_cmd(ws, "server", "admin", "create", "root").stdout.strip()
    os.umask(0o000)  # the attack: a permissive umask would leave a world-readable file
    try:
        done = cairn_cmd(
            ws,
            "login",
            "--server",
            "https://Cairn.Example:5050/",
            "--token-stdin",
            "--no-check",  # no server there: only the saving is under test here
            stdin=token,
        )
    finally:
        os.umask(0o022)
    assert done.returncode == 0, done.stderr
    assert token not in done.stdout + done.stderr
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "cairn" / "credentials.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token in path.read_text()
    assert token not in (ws / "cairn.toml").read_text()

    from cairn.credentials import server_token

    assert server_token("https://cairn.example:5050") == token

    typo = "hunter2-not-a-token"
    refused = cairn_cmd(ws, "login", "--server", "https://h", "--token-stdin", stdin=typo)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: that is not a Cairn API token")
    assert typo not in refused.stdout + refused.stderr

    in_url = cairn_cmd(ws, "login", "--server", "https://u:pw@h", "--token-stdin", stdin=token)
    assert in_url.returncode == 1 and "invalid server URL" in in_url.stderr
    assert ":pw@" not in in_url.stderr

    out = cairn_cmd(ws, "logout", "--server", "https://cairn.example:5050")
    assert out.returncode == 0 and "Logged out" in out.stdout
    assert token not in path.read_text()
    assert server_token("https://cairn.example:5050") is None
