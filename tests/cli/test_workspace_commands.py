"""``cairn init``, ``cairn verify``, ``cairn gc``, ``cairn db``, experiments and artifacts."""

from __future__ import annotations

import json
import socket
import sqlite3
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from cairn.store.sql import migrations
from cairn.store.sql.database import SqlDatabase

Invoke = Callable[..., Any]
RunCairn = Callable[..., subprocess.CompletedProcess[str]]


def _object_path(root: Path, digest: str) -> Path:
    matches = list((root / ".cairn" / "artifacts").rglob(digest[2:]))
    assert len(matches) == 1, matches
    return matches[0]


def test_init_creates_a_workspace_that_commands_find_from_subdirectories(
    tmp_path: Path, run_cairn: RunCairn
) -> None:
    proc = run_cairn("init", "proj", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "proj" / "cairn.toml").is_file()
    assert (tmp_path / "proj" / ".cairn" / "cairn.db").is_file()
    sub = tmp_path / "proj" / "src" / "deep"
    sub.mkdir(parents=True)
    proc = run_cairn("experiments", "ls", "--json", cwd=sub)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_init_refuses_an_existing_workspace(tmp_path: Path, invoke: Invoke) -> None:
    assert invoke("init", str(tmp_path / "ws")).exit_code == 0
    config = (tmp_path / "ws" / "cairn.toml").read_text()
    result = invoke("init", str(tmp_path / "ws"))
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert "already a workspace" in result.stderr
    assert (tmp_path / "ws" / "cairn.toml").read_text() == config


def test_init_with_bad_uri_leaves_nothing_behind(tmp_path: Path, invoke: Invoke) -> None:
    result = invoke("init", str(tmp_path / "ws"), "--tracking-uri", "mysql://db/x")
    assert result.exit_code == 1
    assert "unknown tracking URI scheme 'mysql'" in result.stderr
    assert not (tmp_path / "ws" / "cairn.toml").exists()
    assert invoke("init", str(tmp_path / "ws")).exit_code == 0


def test_init_with_uris_writes_them(tmp_path: Path, invoke: Invoke) -> None:
    db = tmp_path / "shared" / "meta.db"
    blobs = tmp_path / "shared" / "blobs"
    result = invoke(
        "init",
        str(tmp_path / "ws"),
        "--tracking-uri",
        f"sqlite:///{db}",
        "--artifact-uri",
        str(blobs),
    )
    assert result.exit_code == 0, result.stderr
    assert db.is_file()
    assert blobs.is_dir()
    assert f"sqlite:///{db}" in (tmp_path / "ws" / "cairn.toml").read_text()


def test_verify_passes_on_a_healthy_store(invoke: Invoke, populated: Any) -> None:
    result = invoke("verify")
    assert result.exit_code == 0, result.stdout
    assert result.stdout.strip().endswith("ok")


def test_verify_detects_a_corrupted_object(
    run_cairn: RunCairn, invoke: Invoke, populated: Any
) -> None:
    digest = populated.ws.tracking.get_run(populated.ids[1]).outputs[0].digest
    path = _object_path(populated.ws.root, digest)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    proc = run_cairn("verify", cwd=populated.ws.root)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"corrupt  {digest}" in proc.stdout.splitlines()
    assert "1 corrupt" in proc.stdout
    report = json.loads(invoke("verify", "--json").stdout)
    assert report["corrupt"] == [digest]
    assert report["ok"] is False


def test_verify_detects_a_missing_object(invoke: Invoke, populated: Any) -> None:
    digest = populated.ws.tracking.get_run(populated.ids[1]).outputs[0].digest
    _object_path(populated.ws.root, digest).unlink()
    result = invoke("verify")
    assert result.exit_code == 1
    assert f"missing  {digest}" in result.stdout.splitlines()


def test_gc_dry_run_keeps_and_delete_removes(invoke: Invoke, populated: Any) -> None:
    digest = populated.ws.tracking.get_run(populated.ids[1]).outputs[0].digest
    path = _object_path(populated.ws.root, digest)
    assert invoke("gc").stdout.startswith("would remove 0 unreferenced objects")

    assert invoke("runs", "delete", populated.ids[1]).exit_code == 0
    assert "would remove 0 unreferenced" in invoke("gc", "--min-age", "0").stdout  # retained
    dry = invoke("gc", "--min-age", "0", "--runs-retention", "0")
    assert dry.exit_code == 0
    assert digest in dry.stdout.splitlines()
    assert "would remove 1 unreferenced objects (15 B)" in dry.stdout
    assert path.exists()

    # The deleted run held the only artifact: emptying the store needs --force.
    deleted = invoke("gc", "--delete", "--min-age", "0", "--runs-retention", "0", "--force")
    assert deleted.exit_code == 0
    assert "removed 1 unreferenced objects" in deleted.stdout
    assert not path.exists()
    assert invoke("verify").exit_code == 0


def test_gc_spares_recent_unreferenced_objects_by_default(invoke: Invoke, populated: Any) -> None:
    # A job that stored an object but has not committed its record yet must not lose
    # it to a gc running at the same moment: by default gc keeps what is under an hour old.
    digest = populated.ws.tracking.get_run(populated.ids[1]).outputs[0].digest
    path = _object_path(populated.ws.root, digest)
    assert invoke("runs", "delete", populated.ids[1]).exit_code == 0

    result = invoke("gc", "--delete", "--runs-retention", "0", "--force")

    assert result.exit_code == 0
    assert path.exists()
    assert "removed 0 unreferenced objects" in result.stdout
    assert "1 unreferenced objects are newer than --min-age (3600 s)" in result.stderr
    report = json.loads(invoke("gc", "--json").stdout)
    assert (report["removed"], report["young"]) == ([], 1)


def test_gc_keeps_referenced_objects(invoke: Invoke, populated: Any) -> None:
    digest = populated.ws.tracking.get_run(populated.ids[1]).outputs[0].digest
    report = json.loads(invoke("gc", "--delete", "--json").stdout)
    assert report["removed"] == []
    assert _object_path(populated.ws.root, digest).exists()


def test_experiments_create_and_ls(invoke: Invoke, workspace: Any) -> None:
    assert invoke("experiments", "create", "churn", "-d", "who leaves").exit_code == 0
    listed = json.loads(invoke("experiments", "ls", "--json").stdout)
    assert [(e["name"], e["description"]) for e in listed] == [("churn", "who leaves")]
    again = invoke("experiments", "create", "churn")
    assert again.exit_code == 1
    assert again.stderr.startswith("error: experiment 'churn' already exists; choose another")
    assert len(again.stderr.splitlines()) == 1


def test_artifacts_ls_and_get(invoke: Invoke, populated: Any, tmp_path: Path) -> None:
    run_id = populated.ids[1]
    listed = json.loads(invoke("artifacts", "ls", run_id[:8], "--json").stdout)
    assert [(a["name"], a["kind"], a["size"]) for a in listed] == [("model.txt", "file", 15)]
    dest = tmp_path / "fetched.txt"
    result = invoke("artifacts", "get", run_id, "model.txt", "-o", str(dest))
    assert result.exit_code == 0, result.stderr
    assert dest.read_text() == "a fitted model\n"
    again = invoke("artifacts", "get", run_id, "model.txt", "-o", str(dest))
    assert again.exit_code == 1
    assert again.stderr == f"error: {dest} already exists; pass --force to replace it\n"
    dest.write_text("stale")
    assert (
        invoke("artifacts", "get", run_id, "model.txt", "-o", str(dest), "--force").exit_code == 0
    )
    assert dest.read_text() == "a fitted model\n"
    into = tmp_path / "new_dir"
    assert invoke("artifacts", "get", run_id, "model.txt", "-o", f"{into}/").exit_code == 0
    assert (into / "model.txt").read_text() == "a fitted model\n"
    missing = invoke("artifacts", "get", run_id, "nope.bin")
    assert missing.exit_code == 1
    assert "nope.bin" in missing.stderr and "model.txt" in missing.stderr


@pytest.fixture
def old_schema_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace whose database was created by an older Cairn (schema 0001)."""
    root = tmp_path / "old"
    root.mkdir()
    db_path = root / "meta.db"
    db = SqlDatabase(f"sqlite:///{db_path}", create=True)
    db.upgrade("0001")
    db.close()
    (root / "cairn.toml").write_text(
        f'[tracking]\nuri = "sqlite:///{db_path}"\n[artifacts]\nuri = "blobs"\n'
    )
    monkeypatch.chdir(root)
    return root


def test_db_upgrade_brings_an_old_database_to_head(
    invoke: Invoke, old_schema_workspace: Path
) -> None:
    head = migrations.head()
    assert head > "0001"
    refused = invoke("runs", "ls")
    assert refused.exit_code == 1
    assert "run `cairn db upgrade`" in refused.stderr
    assert invoke("db", "current").stdout.startswith(f"0001 (head: {head}, run `cairn db upgrade`")

    upgraded = invoke("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert upgraded.stdout.strip() == f"Upgraded schema from 0001 to {head}"
    assert invoke("db", "current").stdout.startswith(f"{head} (head: {head}, up to date)")
    assert invoke("db", "upgrade").stdout.strip() == f"Schema already at {head}"
    assert invoke("runs", "ls").exit_code == 0


# -- secrets: a password never reaches cairn.toml or the terminal ------------------------


def _private_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _with_password(uri: str, password: str) -> str:
    return uri.replace("postgres@", f"postgres:{quote(password, safe='')}@", 1)


def test_init_with_a_password_keeps_it_out_of_cairn_toml_and_output_and_still_connects(
    tmp_path: Path,
    run_cairn: RunCairn,
    postgres_password_server: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    server, password = postgres_password_server
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_with_password(f"{server}/postgres", password), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    plain = f"{server}/{name}"
    secret_uri = _with_password(plain, password)

    def _leaks(text: str) -> bool:
        return password in text or quote(password, safe="") in text

    proc = run_cairn("init", "proj", "--tracking-uri", secret_uri, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not _leaks(proc.stdout + proc.stderr)
    toml = (tmp_path / "proj" / "cairn.toml").read_text()
    assert f'uri = "{plain}"' in toml
    assert not _leaks(toml)
    creds = tmp_path / "xdg-config" / "cairn" / "credentials.toml"
    assert f"tracking:  {plain.replace('postgres@', 'postgres:***@')}\n" in proc.stdout
    assert f"password:  saved in {creds} (mode 0600), not in cairn.toml\n" in proc.stdout
    assert _private_mode(creds) == 0o600
    for path in (tmp_path / "proj").rglob("*"):
        if path.is_file():
            assert not _leaks(path.read_text(errors="replace")), path

    # Later commands connect: the password comes back from the credentials file.
    proc = run_cairn("experiments", "create", "secretive", cwd=tmp_path / "proj")
    assert proc.returncode == 0, proc.stderr
    proc = run_cairn("experiments", "ls", "--json", cwd=tmp_path / "proj")
    assert proc.returncode == 0, proc.stderr
    assert "secretive" in [e["name"] for e in json.loads(proc.stdout)]

    # Without it the server refuses: the password really is what lets commands in.
    hidden = creds.rename(creds.with_suffix(".away"))
    proc = run_cairn("experiments", "ls", cwd=tmp_path / "proj")
    assert proc.returncode == 1
    assert "no password supplied" in proc.stderr
    assert "Traceback" not in proc.stderr

    # ... and the environment can supply it instead.
    monkeypatch.setenv("CAIRN_TRACKING_PASSWORD", password)
    proc = run_cairn("experiments", "ls", "--json", cwd=tmp_path / "proj")
    assert proc.returncode == 0, proc.stderr
    monkeypatch.delenv("CAIRN_TRACKING_PASSWORD")

    # A credentials file others can read is refused, like ssh refuses such a key.
    hidden.rename(creds)
    creds.chmod(0o644)
    proc = run_cairn("experiments", "ls", cwd=tmp_path / "proj")
    assert proc.returncode == 1
    assert proc.stderr.startswith(
        f"error: the credentials file {creds} has mode 0644, readable by other users; "
    )
    assert f"chmod 600 {creds}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not _leaks(proc.stderr)


def test_init_that_cannot_connect_saves_no_password(tmp_path: Path, invoke: Invoke) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"postgresql://ml:hunter2@127.0.0.1:{port}/cairn"
    result = invoke("init", str(tmp_path / "ws"), "--tracking-uri", uri)
    assert result.exit_code == 1
    # A refusal that says what to check, not an internal error passing as one.
    assert result.stderr.startswith(
        f"error: cannot connect to the metadata store at postgresql://ml:***@127.0.0.1:{port}/"
    ), result.stderr
    assert "server is running" in result.stderr and len(result.stderr.splitlines()) == 1
    assert "hunter2" not in result.stdout + result.stderr
    assert not (tmp_path / "ws" / "cairn.toml").exists()
    assert not (tmp_path / "xdg-config" / "cairn" / "credentials.toml").exists()


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (
            "--tracking-uri",
            "error: unknown tracking URI scheme 'ftp' in 'ftp://ml:***@files.example/x'; "
            "use one of: http, https, postgres, postgresql, sqlite\n",
        ),
        (
            "--artifact-uri",
            "error: unsupported artifact store scheme 'ftp' in 'ftp://ml:***@files.example/x'; "
            "use a folder, file://, or one of: abfs://, abfss://, az://, gcs://, gs://, "
            "memory://, oss://, s3://, s3a://\n",
        ),
    ],
    ids=["tracking", "artifacts"],
)
def test_an_ftp_uri_is_one_masked_line_without_traceback(
    tmp_path: Path, run_cairn: RunCairn, option: str, expected: str
) -> None:
    proc = run_cairn("init", "ws", option, "ftp://ml:hunter2@files.example/x", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr == expected
    assert "hunter2" not in proc.stdout
    assert not (tmp_path / "ws" / "cairn.toml").exists()


def test_ftp_artifact_uri_from_the_environment_is_refused_the_same_way(
    tmp_path: Path, run_cairn: RunCairn, workspace: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("CAIRN_ARTIFACT_URI", "ftp://ml:hunter2@files.example/x")
    proc = run_cairn("verify", cwd=tmp_path / "ws")
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: unsupported artifact store scheme 'ftp' in ")
    assert "hunter2" not in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_scheme_error_masks_the_password(tmp_path: Path, invoke: Invoke) -> None:
    result = invoke("init", str(tmp_path / "ws"), "--tracking-uri", "mysql://ml:hunter2@db/x")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: unknown tracking URI scheme 'mysql' in 'mysql://ml:***@db/x'; "
        "use one of: http, https, postgres, postgresql, sqlite\n"
    )


# -- a missing or wrong database, and gc failing closed -----------------------------


def test_a_deleted_database_is_an_error_not_an_empty_workspace(
    run_cairn: RunCairn, populated: Any
) -> None:
    root = populated.ws.root
    db = root / ".cairn" / "cairn.db"
    populated.ws.close()
    for leftover in db.parent.glob("cairn.db*"):
        leftover.unlink()
    objects = sorted((root / ".cairn" / "artifacts" / "objects").rglob("*"))

    for args in (("runs", "ls"), ("gc", "--delete", "--min-age", "0"), ("verify",)):
        proc = run_cairn(*args, cwd=root)
        assert proc.returncode == 1, (args, proc.stdout)
        assert proc.stderr == (
            f"error: no metadata database at {db}: run `cairn init` to create a workspace, "
            "or point CAIRN_TRACKING_URI (or [tracking] uri in cairn.toml) at the existing "
            "database\n"
        ), args
    assert not db.exists()  # nothing created it again
    assert sorted((root / ".cairn" / "artifacts" / "objects").rglob("*")) == objects


def test_a_mistyped_tracking_uri_creates_nothing(
    run_cairn: RunCairn, populated: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = populated.ws.root / ".cairn" / "cairm.db"
    monkeypatch.setenv("CAIRN_TRACKING_URI", f"sqlite:///{typo}")
    proc = run_cairn("gc", "--delete", "--min-age", "0", cwd=populated.ws.root)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: no metadata database at {typo}: run `cairn init`")
    assert len(proc.stderr.splitlines()) == 1
    assert not typo.exists()
    monkeypatch.delenv("CAIRN_TRACKING_URI")
    assert run_cairn("verify", cwd=populated.ws.root).returncode == 0


def test_an_empty_database_file_is_refused_until_db_upgrade(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "meta.db").write_bytes(b"")  # `touch meta.db`: a file, but no Cairn tables
    (root / "cairn.toml").write_text('[tracking]\nuri = "sqlite:///meta.db"\n')
    monkeypatch.chdir(root)

    refused = invoke("runs", "ls")
    assert refused.exit_code == 1
    assert "holds no Cairn schema" in refused.stderr
    assert "`cairn db upgrade`" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert invoke("db", "upgrade").exit_code == 0
    assert invoke("runs", "ls").exit_code == 0


def test_gc_refuses_to_delete_everything_when_no_record_references_anything(
    invoke: Invoke, populated: Any
) -> None:
    digest = populated.ws.tracking.get_run(populated.ids[1]).outputs[0].digest
    path = _object_path(populated.ws.root, digest)
    assert invoke("runs", "delete", populated.ids[1]).exit_code == 0

    # The deleted run is purged now (retention 0): then nothing references the object.
    refused = invoke("gc", "--delete", "--min-age", "0", "--runs-retention", "0")

    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "error: no record references any object, yet the artifact store "
    )
    assert "holds 1: if this is the right metadata database" in refused.stderr
    assert refused.stderr.rstrip().endswith("pass --force to delete them all")
    assert path.exists()
    forced = invoke("gc", "--delete", "--min-age", "0", "--runs-retention", "0", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "removed 1 unreferenced objects" in forced.stdout
    assert not path.exists()


def _register(ws: Any, tmp_path: Path) -> str:
    """A model version whose object only the registry references."""
    from cairn.store.registry import NewModelVersion

    digest: str = ws.artifacts.put_bytes(b"a registered model").digest
    ws.registry.create_version(NewModelVersion(name="churn", digest=digest, flavor="sklearn"))
    return digest


def test_gc_fails_closed_when_a_domain_cannot_be_imported(
    invoke: Invoke, populated: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A broken install: the registry's store module cannot be imported. Its references
    # are unknown, so nothing may be deleted (the registered model must survive).
    registered = _register(populated.ws, tmp_path)
    populated.ws.close()
    monkeypatch.setitem(sys.modules, "cairn.store.sql.registry", None)

    result = invoke("gc", "--delete", "--min-age", "0")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: cannot read which objects the registry records reference (ModuleNotFoundError: "
    )
    assert "nothing was deleted" in result.stderr and len(result.stderr.splitlines()) == 1
    monkeypatch.delitem(sys.modules, "cairn.store.sql.registry")
    assert _object_path(populated.ws.root, registered).exists()


def test_gc_fails_closed_when_a_domain_table_is_damaged(
    invoke: Invoke, populated: Any, tmp_path: Path
) -> None:
    registered = _register(populated.ws, tmp_path)
    populated.ws.close()
    db = sqlite3.connect(populated.ws.root / ".cairn" / "cairn.db")
    with db:
        db.execute("ALTER TABLE model_versions RENAME TO model_versions_lost")
    db.close()

    result = invoke("gc", "--delete", "--min-age", "0")

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: cannot read which objects the registry records reference (OperationalError"
    )
    assert len(result.stderr.splitlines()) == 1
    assert _object_path(populated.ws.root, registered).exists()
