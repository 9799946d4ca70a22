"""``gc`` against a second process that stores and records objects while it runs.

The writer is a real process on the same workspace (SQLite records, a local or S3
artifact store). The store's blob backend is wrapped so that, right before gc removes
or moves an object out of ``objects/``, the writer stores or records that very object
and commits its record: the worst moment for gc, reached every time instead of by luck.
Every recorded artifact must still be there and verify afterwards.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cairn
from cairn.store.blobs import Blobs
from cairn.workspace import Workspace

WRITER = Path(__file__).with_name("gc_writer.py")


class Writer:
    """The writer process, driven one request at a time (each waits for its commit)."""

    def __init__(self, root: Path) -> None:
        src = Path(cairn.__file__).resolve().parents[1]  # the cairn this test imports
        env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER)],
            cwd=root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.selector = selectors.DefaultSelector()
        assert self.proc.stdout is not None
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        assert self._answer() == "ready"

    def request(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self._answer()
        assert answer.startswith("done "), answer
        return answer.split()[1]

    def _answer(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            if self.selector.select(timeout=deadline - time.monotonic()):
                line = self.proc.stdout.readline()
                assert line, f"the writer exited with {self.proc.wait()}"
                return line.strip()
        raise AssertionError("the writer did not answer in time")

    def close(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        code = self.proc.wait(timeout=60)
        self.selector.close()
        self.proc.stdout.close()
        assert code == 0


class RacingBlobs:
    """The workspace's real blob backend; before an object leaves ``objects/``, the
    writer first stores (or records) it, as a job running beside gc would."""

    def __init__(self, inner: Blobs, writer: Writer, requests: dict[str, str]) -> None:
        self.inner = inner
        self.writer = writer
        self.requests = requests  # digest -> request line, sent once
        self.raced: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _race(self, key: str) -> None:
        parts = key.split("/")
        digest = parts[1] + parts[2] if parts[0] == "objects" and len(parts) == 3 else ""
        line = self.requests.pop(digest, None)
        if line is not None:
            assert self.writer.request(line) == digest
            self.raced.append(digest)

    def delete(self, key: str) -> None:
        self._race(key)
        self.inner.delete(key)

    def move(self, src: str, dst: str) -> None:
        self._race(src)
        self.inner.move(src, dst)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Workspace, Writer]]:
    """A workspace with one recorded artifact, and the writer process working on it."""
    artifacts = None
    if request.param == "s3":
        os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
        artifacts = f"{request.getfixturevalue('s3_bucket')}/ws"
    root = tmp_path / "ws"
    ws = Workspace.init(root, artifact_uri=artifacts)
    writer = Writer(root)
    writer.request("put anchor.txt recorded-from-the-start")
    try:
        yield ws, writer
    finally:
        writer.close()
        ws.close()


def payload(round_: int, i: int) -> str:
    return f"round-{round_}-object-{i}"


def test_gc_never_deletes_an_object_a_writer_stores_again_while_it_runs(
    shared: tuple[Workspace, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, writer = shared
    store = ws.artifacts
    for round_ in range(3):
        # Old unreferenced objects: stored once, never recorded (a crashed job's output).
        digests = [store.put_bytes(payload(round_, i).encode()).digest for i in range(12)]
        # Every other one is stored again and recorded by the writer, at the last moment.
        requests = {
            digests[i]: f"put r{round_}-{i}.txt {payload(round_, i)}" for i in range(0, 12, 2)
        }
        racing = RacingBlobs(store.blobs, writer, dict(requests))
        monkeypatch.setattr(store, "blobs", racing)

        report = store.gc(ws.referenced_digests(), dry_run=False, min_age=0)

        monkeypatch.setattr(store, "blobs", racing.inner)
        assert sorted(racing.raced) == sorted(requests)  # the race happened for each
        # The untouched ones went: gc did delete, it did not merely stop deleting.
        assert {digests[i] for i in range(1, 12, 2)} <= set(report.removed)
        for digest in requests:
            assert store.exists(digest), f"recorded object {digest} was deleted by gc"
        verified = store.verify(ws.referenced_digests())
        assert verified.ok, verified
    outputs = {io.name: io.digest for run in _runs(ws) for io in run.outputs}
    for round_ in range(3):
        for i in range(0, 12, 2):
            digest = outputs[f"r{round_}-{i}.txt"]
            assert store.read_bytes(digest, verify=True) == payload(round_, i).encode()


def test_gc_keeps_an_object_recorded_while_it_runs_without_being_stored_again(
    shared: tuple[Workspace, Writer], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Recording an existing digest (registering an artifact) stores nothing, so leaves
    # no mark: only reading the records again at the end of the sweep can save it.
    ws, writer = shared
    store = ws.artifacts
    digests = [store.put_bytes(payload(9, i).encode()).digest for i in range(6)]
    requests = {digests[i]: f"ref ref-{i}.txt {digests[i]}" for i in (0, 3)}
    racing = RacingBlobs(store.blobs, writer, dict(requests))
    monkeypatch.setattr(store, "blobs", racing)

    report = store.gc(ws.referenced_digests, dry_run=False, min_age=0)

    monkeypatch.setattr(store, "blobs", racing.inner)
    assert sorted(racing.raced) == sorted(requests)
    assert set(report.removed) == {digests[i] for i in (1, 2, 4, 5)}
    assert report.rescued == 2
    verified = store.verify(ws.referenced_digests())
    assert verified.ok, verified


def _runs(ws: Workspace) -> list[Any]:
    experiment = ws.tracking.get_experiment("writer")
    return [ws.tracking.get_run(r.id) for r in ws.tracking.search_runs([experiment.id]).items]
