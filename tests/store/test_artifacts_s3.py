"""The ArtifactStore on S3 (moto's real server): push and pull against a local store,
configuration through storage_options, and what S3 itself holds.

The round trip, verify and gc cases shared with the local backend run in
``test_artifacts.py`` over both backends (its ``[s3]`` cases).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from cairn.config import load_settings
from cairn.errors import IntegrityError
from cairn.hashing import hash_bytes
from cairn.store.artifacts import ArtifactStore
from cairn.workspace import Workspace

pytestmark = pytest.mark.s3


def s3_keys(bucket_uri: str, endpoint: str) -> list[str]:
    """What the bucket holds, as S3 itself lists it."""
    bucket = bucket_uri.removeprefix("s3://")
    client = boto3.client("s3", endpoint_url=endpoint)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def make_files(root: Path) -> dict[str, bytes]:
    files = {f"part-{i:03d}.csv": os.urandom(2048) for i in range(300)}
    files["nested/model.bin"] = os.urandom(700 * 1024)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def test_push_to_s3_then_pull_into_a_fresh_local_store(s3_bucket: str, tmp_path: Path) -> None:
    laptop = ArtifactStore(str(tmp_path / "laptop"))
    remote = ArtifactStore(f"{s3_bucket}/team")
    files = make_files(tmp_path / "data")
    tree = laptop.put_tree(tmp_path / "data").digest
    note = laptop.put_bytes(b"run notes").digest

    pushed = laptop.copy_to(remote, [tree, note])

    assert set(pushed.copied) == set(laptop.iter_objects())
    assert remote.verify([tree, note]).ok
    assert laptop.copy_to(remote, [tree, note]).copied == ()

    other_machine = ArtifactStore(str(tmp_path / "other"))
    pulled = remote.copy_to(other_machine, [tree])
    restored = other_machine.checkout(tree, tmp_path / "restored")

    assert note not in pulled.copied
    assert {
        p.relative_to(restored).as_posix(): p.read_bytes()
        for p in restored.rglob("*")
        if p.is_file()
    } == files


def test_s3_holds_fanned_out_objects_under_the_prefix_and_no_temp_keys(
    s3_bucket: str, s3_endpoint: str, tmp_path: Path
) -> None:
    store = ArtifactStore(f"{s3_bucket}/some/prefix")
    digest = store.put_bytes(b"on s3").digest
    (tmp_path / "f.bin").write_bytes(os.urandom(10_000))
    other = store.put_file(tmp_path / "f.bin").digest
    with open(tmp_path / "f.bin", "rb") as f:
        assert store.put_stream(f).digest == other

    keys = s3_keys(s3_bucket, s3_endpoint)
    objects = [k for k in keys if not k.startswith("some/prefix/marks/")]
    assert objects == sorted(f"some/prefix/objects/{d[:2]}/{d[2:]}" for d in (digest, other))
    # Storing content that is there already uploads nothing but an empty mark (which
    # tells a concurrent gc the object is in use again).
    (mark,) = (k for k in keys if k not in objects)
    assert mark.startswith(f"some/prefix/marks/{other[:2]}/{other[2:]}.")
    assert store.blobs.size(mark.removeprefix("some/prefix/")) == 0


def test_a_failed_upload_publishes_nothing(s3_bucket: str, s3_endpoint: str) -> None:
    store = ArtifactStore(s3_bucket)
    key = f"objects/{'ab'}/{'c' * 62}"

    def chunks() -> Iterator[bytes]:
        yield b"first half"
        raise IntegrityError("the source went bad")

    with pytest.raises(IntegrityError):
        store.blobs.write_atomic(key, chunks())

    assert s3_keys(s3_bucket, s3_endpoint) == []


def point_environment_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    """Endpoint variables that lead nowhere: only explicit options can reach moto."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{unused.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    monkeypatch.setenv("FSSPEC_S3_ENDPOINT_URL", dead)


def test_storage_options_endpoint_wins_over_the_environment(
    s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_environment_elsewhere(monkeypatch)
    store = ArtifactStore(s3_bucket, {"endpoint_url": s3_endpoint})

    digest = store.put_bytes(b"explicit endpoint").digest

    assert s3_keys(s3_bucket, s3_endpoint) == [f"objects/{digest[:2]}/{digest[2:]}"]


def test_workspace_reads_artifact_uri_and_storage_options_from_cairn_toml(
    s3_bucket: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_environment_elsewhere(monkeypatch)
    (tmp_path / "cairn.toml").write_text(
        f'[artifacts]\nuri = "{s3_bucket}/ws"\n\n'
        f'[artifacts.storage_options]\nendpoint_url = "{s3_endpoint}"\n',
        encoding="utf-8",
    )

    store = Workspace(load_settings(tmp_path)).artifacts
    digest = store.put_bytes(b"configured").digest

    assert digest == hash_bytes(b"configured")
    assert s3_keys(s3_bucket, s3_endpoint) == [f"ws/objects/{digest[:2]}/{digest[2:]}"]
