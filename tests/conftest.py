"""Shared fixtures: a fresh workspace, a throwaway PostgreSQL server, moto's S3 server.

Real components only. PostgreSQL comes from Debian's ``initdb``/``pg_ctl`` (run as the
``postgres`` user when the tests run as root); tests that need it skip, naming what is
missing, when it is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import cairn.workspace
from ports import free_port

#: Where S3 clients without an endpoint go in tests: a closed local port, never AWS.
DEAD_S3_ENDPOINT = "http://127.0.0.1:9"

#: AWS settings for the whole session: no instance metadata service, no shared
#: credential or config files, so no S3 or boto call ever looks outside the machine.
OFFLINE_AWS = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/cairn-tests/aws-credentials",
    "AWS_CONFIG_FILE": "/nonexistent/cairn-tests/aws-config",
    "AWS_ENDPOINT_URL": DEAD_S3_ENDPOINT,
}
#: Variables that would make a client fetch credentials from a real service or profile.
AWS_CREDENTIAL_SOURCES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "FSSPEC_S3_ENDPOINT_URL",
)
#: libpq reads these on its own; a developer's password must not leak into a test.
PG_SECRETS = ("PGPASSWORD", "PGPASSFILE", "PGSERVICEFILE", "PGSERVICE")


@pytest.fixture(scope="session", autouse=True)
def _offline_aws() -> Iterator[None]:
    """Session-wide, so session fixtures (moto's server) see it too."""
    with pytest.MonkeyPatch.context() as mp:
        for var in AWS_CREDENTIAL_SOURCES:
            mp.delenv(var, raising=False)
        for var, value in OFFLINE_AWS.items():
            mp.setenv(var, value)
        yield


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's CAIRN_* variables, credentials or workspace cache."""
    for var in list(os.environ):
        if var.startswith("CAIRN_"):
            monkeypatch.delenv(var)
    for var in PG_SECRETS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    # The credentials file lives under XDG_CONFIG_HOME: one per test, never the real one.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for var, value in OFFLINE_AWS.items():  # a test that changed them does not leak it
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("CAIRN_USER", "tester")
    cairn.workspace.reset()
    yield
    cairn.workspace.reset()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> cairn.workspace.Workspace:
    """A new embedded workspace (SQLite + local artifacts); the cwd is its root."""
    root = tmp_path / "ws"
    ws = cairn.workspace.Workspace.init(root)
    monkeypatch.chdir(root)
    return ws


# -- PostgreSQL ------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def _postgres(password: str | None = None) -> Iterator[str]:
    """Run a throwaway server; with ``password``, TCP logins need it (scram-sha-256)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not installed: apt-get install postgresql"
        )
    base = Path(tempfile.mkdtemp(prefix="cairn-pg-"))
    data = base / "data"
    auth = ["-A", "trust"]
    if password is not None:
        pwfile = base / "pw"
        pwfile.write_text(password + "\n")
        auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        if password is not None:
            shutil.chown(base / "pw", "postgres", "postgres")
    port = free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    subprocess.run(
        _as_postgres(
            [str(bindir / "initdb"), "-D", str(data), *auth, "-U", "postgres", "--no-sync"]
        ),
        check=True,
        capture_output=True,
        env=env,
    )
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                opts,
                "-l",
                str(base / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            env=env,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1; yields its base URI (no database)."""
    with _postgres() as uri:
        yield uri


@pytest.fixture(scope="session")
def postgres_password_server() -> Iterator[tuple[str, str]]:
    """A throwaway PostgreSQL server that refuses TCP logins without a password
    (scram-sha-256); yields ``(base URI without the password, the password)``. The
    password holds characters a URI must escape."""
    password = "s3cret-Pa55:w@rd/%"
    with _postgres(password) as uri:
        yield uri, password


@pytest.fixture
def postgres_uri(postgres_server: str) -> str:
    """A new, empty database on the throwaway server."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{postgres_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_server}/{name}"


# -- S3 (moto) -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3-compatible server on 127.0.0.1; yields its endpoint URL."""
    pytest.importorskip("moto.server", reason="moto[server] not installed")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    deadline = time.monotonic() + 30
    while True:  # until the server accepts connections, not a guessed pause
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("moto's S3 server did not start in 30 s") from None
            time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket; AWS variables point every client at moto. Yields ``s3://bucket``."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", s3_endpoint)
    name = f"cairn-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return f"s3://{name}"
