"""Secret-looking params and tags never reach the database, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.store.redaction import looks_secret
from cairn.store.registry import NewModelVersion
from cairn.store.sql.database import SqlDatabase

SECRET = "hunter2-Zq81"


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("db_password", True),
        ("PASSWORD", True),
        ("hfToken", True),
        ("openai.api_key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("client-secret", True),
        ("private_key", True),
        ("credentials", True),
        ("max_tokens", False),
        ("tokenizer", False),
        ("key_column", False),
        ("lr", False),
    ],
)
def test_which_keys_look_secret(key: str, secret: bool) -> None:
    assert looks_secret(key) is secret


def test_secret_params_and_tags_are_stored_as_stars(backend: SqlDatabase, db_uri: str) -> None:
    tracking = backend.tracking
    exp = tracking.create_experiment("e")
    run = tracking.create_run(
        exp.id, params={"db_password": SECRET, "lr": "0.1"}, tags={"hf_token": SECRET}
    )
    assert run.params["db_password"] == "***" and run.tags["hf_token"] == "***"
    tracking.log_batch(run.id, params={"api_key": SECRET}, tags={"auth.token": SECRET})
    # Logging the same secret param again is not a "changed value" error.
    tracking.log_batch(run.id, params={"db_password": SECRET})
    stored = tracking.get_run(run.id)
    assert stored.params == {"db_password": "***", "lr": "0.1", "api_key": "***"}
    assert stored.tags["auth.token"] == "***"
    backend.registry.create_model("m", tags={"deploy_token": SECRET})
    backend.registry.update_model("m", tags={"registry_password": SECRET})
    version = backend.registry.create_version(
        NewModelVersion("m", "0" * 64, "sklearn", tags={"secret": SECRET})
    )
    backend.registry.update_version("m", version.version, tags={"client_secret": SECRET})
    assert SECRET not in repr(backend.registry.get_model("m"))
    assert SECRET not in repr(backend.registry.list_versions("m"))
    assert SECRET not in repr(tracking.search_runs([exp.id]).items)
    backend.close()
    if db_uri.startswith("sqlite:///"):
        path = Path(db_uri.removeprefix("sqlite:///"))
        for file in path.parent.glob(path.name + "*"):  # the database, its WAL and journal
            assert SECRET.encode() not in file.read_bytes()
