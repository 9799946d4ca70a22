"""Secrets stay out of cairn.toml and out of every message; the credentials file is private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cairn import credentials
from cairn.config import load_settings
from cairn.credentials import mask_uri, redact, split_password
from cairn.errors import ConfigError
from cairn.workspace import Workspace

PG = "postgresql://ml@db.internal:5432/cairn"


def _workspace_at(root: Path, tracking_uri: str, extra: str = "") -> Path:
    root.mkdir(parents=True)
    (root / "cairn.toml").write_text(
        f'[tracking]\nuri = "{tracking_uri}"\n\n[artifacts]\nuri = ".cairn/artifacts"\n{extra}'
    )
    return root


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("postgresql://ml:pw@db/cairn", "postgresql://ml:***@db/cairn"),
        ("postgresql+psycopg://ml:p%40ss@db:5432/x", "postgresql+psycopg://ml:***@db:5432/x"),
        ("postgresql://ml:p@ss@db/cairn", "postgresql://ml:***@db/cairn"),  # raw '@'
        ("postgresql://ml@db/cairn?password=pw&sslmode=require", None),
        ("ftp://u:pw@127.0.0.1:1/x", "ftp://u:***@127.0.0.1:1/x"),
        ("postgresql://ml@db:5432/cairn", "postgresql://ml@db:5432/cairn"),
        ("sqlite:////abs/path/cairn.db", "sqlite:////abs/path/cairn.db"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
    ],
    ids=["userinfo", "driver-encoded", "raw-at", "query", "ftp", "no-password", "sqlite", "s3"],
)
def test_mask_uri_hides_every_password(uri: str, masked: str | None) -> None:
    shown = mask_uri(uri)
    if masked is not None:
        assert shown == masked
    assert "pw" not in shown.replace("password=", "")
    assert "p@ss" not in shown and "p%40ss" not in shown


def test_redact_masks_uris_inside_a_library_message() -> None:
    message = (
        "(psycopg.OperationalError) connection to 'postgresql://ml:hunter2@db:5432/x' "
        "failed; retried postgresql://ml:hunter2@db/x?password=hunter2"
    )
    assert "hunter2" not in redact(message)
    assert redact("no uri, http://127.0.0.1:8000/v2 ok") == "no uri, http://127.0.0.1:8000/v2 ok"


def test_split_password_round_trips_an_encoded_password() -> None:
    plain, password = split_password("postgresql://ml:p%40ss%3Aw%2F@db:5432/cairn")
    assert (plain, password) == ("postgresql://ml@db:5432/cairn", "p@ss:w/")
    assert credentials.with_password(plain, password) == (
        "postgresql://ml:p%40ss%3Aw%2F@db:5432/cairn"
    )
    assert split_password("postgresql://ml@db/x?password=pw&sslmode=require") == (
        "postgresql://ml@db/x?sslmode=require",
        "pw",
    )


def test_saved_password_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)  # the attack: a shell with umask 000 would leave a 0666 file
    try:
        path = credentials.save_tracking_password(PG, "first")
        credentials.save_tracking_password("postgresql://other@db2/x", "second")
    finally:
        os.umask(old)
    assert path == tmp_path / "xdg-config" / "cairn" / "credentials.toml"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    data = credentials.load_credentials()
    assert data["tracking"]["postgresql://ml@db.internal:5432"] == {"password": "first"}
    assert data["tracking"]["postgresql://other@db2"] == {"password": "second"}
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_password_is_merged_from_the_credentials_file_in_memory_only(tmp_path: Path) -> None:
    root = _workspace_at(tmp_path / "ws", PG)
    credentials.save_tracking_password(PG, "p@ss word")
    settings = load_settings(root)
    assert settings.tracking_uri == "postgresql://ml:p%40ss%20word@db.internal:5432/cairn"
    assert "p@ss" not in repr(settings) and "p%40ss" not in repr(settings)
    assert "p@ss" not in (root / "cairn.toml").read_text()


def test_password_from_the_environment_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _workspace_at(tmp_path / "ws", PG)
    credentials.save_tracking_password(PG, "from-file")
    monkeypatch.setenv("CAIRN_TRACKING_PASSWORD", "from-env")
    assert load_settings(root).tracking_uri == "postgresql://ml:from-env@db.internal:5432/cairn"


def test_credentials_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    root = _workspace_at(tmp_path / "ws", PG)
    path = credentials.save_tracking_password(PG, "topsecret")
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_settings(root)
    message = str(caught.value)
    assert f"the credentials file {path} has mode 0644, readable by other users" in message
    assert f"chmod 600 {path}" in message
    assert "topsecret" not in message


def test_password_in_cairn_toml_is_refused_without_showing_it(tmp_path: Path) -> None:
    root = _workspace_at(tmp_path / "ws", "postgresql://ml:topsecret@db.internal/cairn")
    with pytest.raises(ConfigError) as caught:
        load_settings(root)
    message = str(caught.value)
    assert "holds a password in [tracking] uri (postgresql://ml:***@db.internal/cairn)" in message
    assert 'write uri = "postgresql://ml@db.internal/cairn"' in message
    assert "topsecret" not in message


def test_s3_keys_in_cairn_toml_are_refused_and_taken_from_the_credentials_file(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ws"
    Workspace.init(root).close()
    toml = root / "cairn.toml"
    toml.write_text(
        '[artifacts]\nuri = "s3://bucket/cairn"\n[artifacts.storage_options]\n'
        'endpoint_url = "http://127.0.0.1:9"\nkey = "AKIDEXAMPLE"\nsecret = "wJalrXUtn"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(root)
    assert "holds secrets in [artifacts.storage_options] (key, secret)" in str(caught.value)
    assert "wJalrXUtn" not in str(caught.value)

    toml.write_text(
        '[artifacts]\nuri = "s3://bucket/cairn"\n[artifacts.storage_options]\n'
        'endpoint_url = "http://127.0.0.1:9"\n'
    )
    path = credentials.credentials_path()
    path.parent.mkdir(parents=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write('[artifacts."s3://bucket/cairn"]\nkey = "AKIDEXAMPLE"\nsecret = "wJalrXUtn"\n')
    settings = load_settings(root)
    assert settings.storage_options == {
        "endpoint_url": "http://127.0.0.1:9",
        "key": "AKIDEXAMPLE",
        "secret": "wJalrXUtn",
    }
    assert "wJalrXUtn" not in repr(settings)


def test_credentials_path_can_be_named_explicitly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAIRN_CREDENTIALS_FILE", str(tmp_path / "mounted" / "creds.toml"))
    assert credentials.save_tracking_password(PG, "x") == tmp_path / "mounted" / "creds.toml"


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a file to another user needs root")
def test_credentials_file_of_another_user_is_refused(tmp_path: Path) -> None:
    root = _workspace_at(tmp_path / "ws", PG)
    path = credentials.save_tracking_password(PG, "planted")
    os.chown(path, 65534, 65534)  # the attack: a file someone else controls
    with pytest.raises(ConfigError, match=r"belongs to user id 65534, not you"):
        load_settings(root)
