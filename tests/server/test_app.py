"""The server's HTTP surface, attacked the way a careless or hostile client would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

from cairn.access.types import Action, Principal, Resource
from cairn.errors import AlreadyExists, NotFound, PermissionDenied, Unauthenticated
from cairn.hashing import hash_bytes
from cairn.store import open_metadata
from cairn.store.artifacts import ArtifactStore
from cairn.types import Metric
from server_harness import sqlite_server


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with sqlite_server(tmp_path, max_body=64 * 1024) as base:
        yield base


def test_not_found_over_http_is_the_same_exception_and_message(url: str) -> None:
    backend = open_metadata(url)
    with pytest.raises(NotFound, match="no run with id 'ghost'"):
        backend.tracking.get_run("ghost")
    backend.tracking.create_experiment("churn")
    with pytest.raises(AlreadyExists, match="churn"):
        backend.tracking.create_experiment("churn")
    backend.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/api/tracking/experiments", b"{not json", 422),
        ("POST", "/api/tracking/experiments", b'{"name": 5}', 422),
        ("POST", "/api/tracking/runs/log-batch", b'{"run_id": "x", "metrics": "lots"}', 422),
        ("GET", "/api/tracking/run", b"", 422),
        ("GET", "/api/nowhere", b"", 404),
        ("DELETE", "/api/tracking/experiments", b"", 405),
    ],
)
def test_malformed_requests_get_a_json_error_never_a_500(
    url: str, method: str, path: str, body: bytes, status: int
) -> None:
    response = httpx.request(
        method, url + path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] and error["message"] and "\n" not in error["message"]


def test_a_json_body_over_the_limit_is_refused_and_nothing_is_recorded(url: str) -> None:
    backend = open_metadata(url)
    run = backend.tracking.create_run(backend.tracking.create_experiment("e").id)
    huge = [Metric(f"m{i}", float(i), i) for i in range(3000)]
    with pytest.raises(Exception, match="over 65536 bytes"):
        backend.tracking.log_batch(run.id, huge)
    assert backend.tracking.get_run(run.id).metrics == {}
    # Chunked, without a Content-Length: counted as it arrives.
    chunks = iter([b'{"run_id": "' + run.id.encode() + b'", "metrics": [', b" " * 70000, b"]}"])
    response = httpx.post(url + "/api/tracking/runs/log-batch", content=chunks)
    assert response.status_code == 413 and response.json()["error"]["code"] == "TOO_LARGE"
    backend.close()


def test_an_upload_whose_bytes_do_not_match_its_digest_is_refused_and_not_stored(
    url: str, tmp_path: Path
) -> None:
    claimed = hash_bytes(b"what the key says")
    key = f"objects/{claimed[:2]}/{claimed[2:]}"
    response = httpx.put(f"{url}/api/artifacts/blobs/{key}", content=b"something else")
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "IntegrityError"
    assert httpx.head(f"{url}/api/artifacts/blobs/{key}").status_code == 404
    stored = tmp_path / "artifacts" / "objects"
    assert not stored.exists() or not any(p.is_file() for p in stored.rglob("*"))
    assert not any((tmp_path / "artifacts" / "tmp").iterdir())  # no temp file left behind


@pytest.mark.parametrize(
    "path",
    [
        "objects/../../server.db",
        "objects/%2e%2e/%2e%2e/server.db",
        "%2Fetc%2Fpasswd",
        "objects/ab/..%2F..%2F..%2Fserver.db",
        "tmp/x.tmp",
        "objects/ab/" + "c" * 62 + "/../../x",
    ],
)
def test_artifact_paths_outside_the_object_shapes_are_refused(url: str, path: str) -> None:
    for method in ("GET", "PUT"):
        response = httpx.request(method, f"{url}/api/artifacts/blobs/{path}", content=b"x")
        assert response.status_code in (400, 404), (method, path, response.status_code)
        assert response.json()["error"]["message"]
        assert b"CREATE TABLE" not in response.content


def test_range_reads_return_exactly_the_requested_bytes(url: str) -> None:
    data = bytes(range(256)) * 40
    store = ArtifactStore(url)
    info = store.put_bytes(data)
    key = f"{url}/api/artifacts/blobs/objects/{info.digest[:2]}/{info.digest[2:]}"
    part = httpx.get(key, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    assert httpx.get(key, headers={"Range": "bytes=-10"}).content == data[-10:]
    assert httpx.get(key, headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    with store.open(info.digest) as f:  # the client seeks with ranged GETs
        f.seek(5000)
        assert f.read(17) == data[5000:5017]
    assert store.read_bytes(info.digest, verify=True) == data


def _put_count(url: str) -> float:
    text = httpx.get(url + "/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("cairn_server_requests_total")
        and 'method="PUT"' in line
        and "objects" not in line
        and "/api/artifacts/blobs/{key:path}" in line
    )


def test_a_file_the_server_has_is_not_uploaded_again(url: str, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    source.write_bytes(b"z" * 300_000)
    store = ArtifactStore(url)
    first = store.put_file(source)
    puts = _put_count(url)
    again = store.put_file(source)
    assert again == first
    # The second put sent only its mark (an empty PUT), not the 300 kB object.
    assert _put_count(url) - puts == 1


class _Guard:
    """Denies writes to experiment 'secret' and callers without a token."""

    def __init__(self) -> None:
        self.mutations: list[tuple[str, str, Resource]] = []

    def authenticate(self, authorization: str | None) -> Principal:
        if authorization != "Bearer good":
            raise Unauthenticated("no valid token; pass CAIRN_TRACKING_TOKEN")
        return Principal(user="alice")

    def record(
        self,
        principal: Principal,
        address: str,
        operation: str,
        resource: Resource,
        result: str,
        detail: str = "",
    ) -> None:
        self.mutations.append((principal.user, operation, resource))

    def known(self, authorization: str | None) -> Principal | None:
        return None

    def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        if resource == Resource("experiment", "secret") and action != "read":
            raise PermissionDenied(f"{principal.user} may not {action} experiment secret")

    def allowed(self, principal: Principal, action: Action, resource: Resource) -> bool:
        return resource != Resource("experiment", "secret") or action == "read"

    def action_for_alias(self, alias: str) -> Action:
        return "edit"

    def mutation(
        self, principal: Principal, address: str, operation: str, resource: Resource
    ) -> AbstractContextManager[None]:
        @contextmanager
        def scope() -> Iterator[None]:
            self.mutations.append((principal.user, operation, resource))
            yield

        return scope()


def test_the_guard_decides_every_request_and_sees_names_not_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = _Guard()
    with sqlite_server(tmp_path, guard=guard) as base:
        anonymous = open_metadata(base)
        with pytest.raises(Unauthenticated, match="no valid token"):
            anonymous.tracking.list_experiments()
        anonymous.close()
        monkeypatch.setenv("CAIRN_TRACKING_TOKEN", "good")
        backend = open_metadata(base)
        # Made on the server's own database: creating it over HTTP is an edit too.
        direct = open_metadata(f"sqlite:///{tmp_path / 'server.db'}")
        secret = direct.tracking.create_experiment("secret")
        direct.close()
        open_run = backend.tracking.create_run(backend.tracking.create_experiment("open").id)
        with pytest.raises(PermissionDenied, match="may not edit experiment secret"):
            backend.tracking.create_run(secret.id)  # by id: resolved to the name
        backend.tracking.log_batch(open_run.id, [Metric("m", 1.0)])
        assert backend.tracking.search_runs([secret.id]).items == ()
        deletion = backend.tracking.delete_run(open_run.id, actor="mallory")
        backend.close()
    assert deletion.deleted_by == "alice"  # the authenticated user, not the claimed actor
    assert ("alice", "tracking.log_batch", Resource("experiment", "open")) in guard.mutations
    assert not any(op == "tracking.search_runs" for _, op, _ in guard.mutations)
