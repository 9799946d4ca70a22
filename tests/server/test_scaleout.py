"""Scale-out: two ``cairn server`` processes (one of them with ``--workers 2``) on one
PostgreSQL database, artifacts on S3 (moto's server). Clients spread over both see one
store; a model logged through one server is served through the other, and from the
stores directly, and serving follows the alias when it moves."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from load_support import (
    check_counts,
    create_schema,
    server_process,
    start_clients,
    wait_clients,
    wait_up,
)

import cairn
import cairn.workspace
from ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow, pytest.mark.timeout(600)]

COLUMNS = ["a", "b", "c", "d"]


@pytest.fixture
def two_servers(
    postgres_uri: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, str, str]]:
    """``(url A, url B, store URI, artifact URI)``: A one process, B ``--workers 2``;
    ``CAIRN_TRACKING_TOKEN`` holds an admin's token for both."""
    artifacts = f"{s3_bucket}/cairn"
    monkeypatch.setenv("CAIRN_TRACKING_TOKEN", create_schema(postgres_uri))
    with ExitStack() as stack:
        urls = []
        for name, extra in (("a", ()), ("b", ("--workers", "2"))):
            port = free_port()
            url, log = f"http://127.0.0.1:{port}", tmp_path / f"server-{name}.log"
            proc = stack.enter_context(server_process(postgres_uri, artifacts, port, log, *extra))
            wait_up(proc, url, log)
            urls.append(url)
        yield urls[0], urls[1], postgres_uri, artifacts


def test_clients_spread_over_two_servers_share_one_store(
    two_servers: tuple[str, str, str, str], tmp_path: Path
) -> None:
    a, b, store, _ = two_servers
    clients = start_clients([a, b], 4, 40, 2, 3, tmp_path)
    wait_clients(clients, tmp_path, timeout=400)
    check_counts(store, 4, 40, 2, 3)


def _model(kind: str) -> tuple[Any, Any]:
    """Two models that answer the same rows differently: one always says 0, one 1."""
    import numpy as np
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    X = pd.DataFrame(np.arange(40, dtype=float).reshape(10, 4), columns=COLUMNS)
    y = np.array([0, 1] * 5)
    constant = 0 if kind == "zero" else 1
    return DummyClassifier(strategy="constant", constant=constant).fit(X, y), X


def _register(url: str, kind: str, alias: str) -> int:
    """Log and register a model through the server at ``url``; point ``alias`` at it."""
    from cairn.store.registry import NewModelVersion

    os.environ["CAIRN_TRACKING_URI"] = url
    cairn.workspace.reset()
    ws = cairn.workspace.current()
    model, X = _model(kind)
    with cairn.start_run(experiment="scaleout"):
        info = cairn.models.log_model(model, input_example=X.head(3))
    version = ws.registry.create_version(
        NewModelVersion(
            name="scaled",
            digest=info.digest,
            flavor=info.manifest.flavor,
            source=info.uri,
            run_id=info.run_id,
            size=info.size,
        )
    ).version
    ws.registry.set_alias("scaled", alias, version, actor="tester", reason="scale-out test")
    return version


def _get(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


@contextmanager
def _serving(env: dict[str, str], log: Path) -> Iterator[int]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cairn",
                "serve",
                "scaled@production",
                "--port",
                str(port),
                "--poll",
                "0.5",
                "--no-log",
            ],
            env={**os.environ, "PYTHONWARNINGS": "ignore", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _until(lambda: _ready(proc, port, log), "cairn serve did not become ready")
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)


def _ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> bool:
    assert proc.poll() is None, f"cairn serve exited:\n{log.read_text(errors='replace')}"
    try:
        return _get(port, "GET", "/v2/health/ready")[0] == 200
    except OSError:
        return False


def _until(condition: Callable[[], bool], message: str, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def _predict(port: int) -> tuple[str, list[Any]]:
    records = [dict(zip(COLUMNS, [1.0, 2.0, 3.0, 4.0], strict=True))] * 3
    status, answer = _get(port, "POST", "/invocations", {"dataframe_records": records})
    assert status == 200, answer
    status, meta = _get(port, "GET", "/v2/models/scaled")
    assert status == 200, meta
    return str(meta["version"]), list(answer["predictions"])


@pytest.mark.parametrize("through", ["other server", "store URIs"])
def test_a_model_logged_through_one_server_is_served_through_the_other_and_follows_its_alias(
    two_servers: tuple[str, str, str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    through: str,
) -> None:
    a, b, store, artifacts = two_servers
    monkeypatch.setenv("CAIRN_TRACKING_URI", a)  # restored (and the cache reset) after
    first = _register(a, "zero", "production")
    if through == "other server":
        env = {"CAIRN_TRACKING_URI": b}
    else:
        env = {"CAIRN_TRACKING_URI": store, "CAIRN_ARTIFACT_URI": artifacts}
    with _serving(env, tmp_path / "serve.log") as port:
        assert _predict(port) == (str(first), [0, 0, 0])
        second = _register(a, "one", "production")  # the alias moves, through server A
        _until(lambda: _predict(port)[0] == str(second), "serving did not follow the alias")
        assert _predict(port) == (str(second), [1, 1, 1])
    cairn.workspace.reset()
