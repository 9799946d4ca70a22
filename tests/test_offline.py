"""Tests never reach outside the machine: no AWS instance metadata, no real credentials,
and an S3 client without an endpoint talks to a closed local port, not to AWS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def test_aws_lookups_are_switched_off_for_every_test() -> None:
    assert os.environ["AWS_EC2_METADATA_DISABLED"] == "true"
    for var in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        assert not Path(os.environ[var]).exists(), var
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_ROLE_ARN"):
        assert var not in os.environ, var
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_botocore_finds_no_credentials_anywhere() -> None:
    botocore_session = pytest.importorskip("botocore.session")
    # With metadata, profiles and variables gone, the whole chain comes up empty
    # without a network call (an IMDS probe would be the one that leaves the machine).
    assert botocore_session.get_session().get_credentials() is None


def test_an_s3_store_without_an_endpoint_option_stays_on_this_machine() -> None:
    pytest.importorskip("s3fs")
    from cairn.store.blobs import open_blobs

    blobs = open_blobs("s3://cairn-offline-check/prefix")
    endpoint = blobs.fs.endpoint_url  # type: ignore[attr-defined]
    assert endpoint == os.environ["AWS_ENDPOINT_URL"]
    assert endpoint.startswith("http://127.0.0.1:")


def test_the_developer_credentials_file_is_never_the_one_used(tmp_path: Path) -> None:
    from cairn.credentials import credentials_path

    assert credentials_path().is_relative_to(tmp_path)
    assert "PGPASSWORD" not in os.environ
    assert not Path(os.environ["PGPASSFILE"]).exists()
