"""Partitioned files (the prediction log's storage path): whole files or none, under the root."""

from __future__ import annotations

from pathlib import Path
from typing import IO

import pytest

from cairn.errors import InvalidInput
from cairn.store.tables import PartitionedFiles


def _half_then_crash(fh: IO[bytes]) -> None:
    fh.write(b"PAR1 half a file")
    raise OSError("disk went away")


def test_a_writer_that_fails_half_way_leaves_no_file_on_disk(tmp_path: Path) -> None:
    files = PartitionedFiles(str(tmp_path / "predictions"))
    with pytest.raises(OSError, match="disk went away"):
        files.write("churn/date=2026-11-23", "part-1.parquet", _half_then_crash)
    folder = tmp_path / "predictions" / "churn" / "date=2026-11-23"
    assert list(folder.iterdir()) == []  # not even the temporary file
    assert files.glob("churn/date=*/part-*.parquet") == []


def test_a_file_left_by_a_killed_writer_is_never_read(tmp_path: Path) -> None:
    files = PartitionedFiles(str(tmp_path))
    path = files.write("m/date=2026-11-23", "part-2.parquet", lambda fh: fh.write(b"whole"))
    # What a kill -9 between write and rename leaves behind:
    (tmp_path / "m" / "date=2026-11-23" / ".part-3.parquet.tmp").write_bytes(b"ha")
    assert files.glob("m/date=*/part-*") == [path]
    assert files.glob("m/date=*/*") == [path]
    with files.open(path) as fh:
        assert fh.read() == b"whole"


@pytest.mark.parametrize(
    ("partition", "name"),
    [
        ("../outside", "part.parquet"),
        ("/etc", "part.parquet"),
        ("m/date=1", "../../part.parquet"),
        ("m\\..\\..", "part.parquet"),
    ],
)
def test_a_partition_cannot_escape_the_root(tmp_path: Path, partition: str, name: str) -> None:
    files = PartitionedFiles(str(tmp_path / "root"))
    with pytest.raises(InvalidInput, match="must stay under the root"):
        files.write(partition, name, lambda fh: fh.write(b"x"))
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


@pytest.mark.s3
def test_on_s3_a_failed_writer_publishes_nothing_and_a_good_one_reads_back(
    s3_bucket: str,
) -> None:
    import boto3

    files = PartitionedFiles(f"{s3_bucket}/ws/predictions")
    with pytest.raises(OSError, match="disk went away"):
        files.write("churn/date=2026-11-23", "part-1.parquet", _half_then_crash)
    bucket = s3_bucket.removeprefix("s3://")
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    assert listed == []
    path = files.write("churn/date=2026-11-23", "part-2.parquet", lambda fh: fh.write(b"ok"))
    assert files.glob("churn/date=*/part-*.parquet") == [path]
    with files.open(path) as fh:
        assert fh.read() == b"ok"
