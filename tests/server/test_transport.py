"""The REST client's transport: store calls over http.client, httpx through a proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.errors import NotFound, StoreError
from cairn.store.rest.http import Session
from ports import free_port
from server_harness import sqlite_server


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with sqlite_server(tmp_path) as base:
        yield base


def test_store_calls_keep_one_connection_and_raise_the_servers_errors(url: str) -> None:
    session = Session(url, None)
    try:
        assert session.call("GET", "/api/tracking/experiments") == b"[]"
        first = session._local.conn[1]
        body = b'{"name": "churn", "description": "", "tags": null}'
        created = session.call("POST", "/api/tracking/experiments", body=body, key="k" * 16)
        assert json.loads(created)["name"] == "churn"
        # The same key again is the same answer, not a second experiment.
        again = session.call("POST", "/api/tracking/experiments", body=body, key="k" * 16)
        assert again == created
        assert session._local.conn[1] is first  # kept alive across calls
        with pytest.raises(NotFound, match="'nope'"):
            session.call("GET", "/api/tracking/experiment", params={"id_or_name": "nope"})
    finally:
        session.close()


def test_a_proxy_in_the_environment_is_honoured(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # a proxy nobody listens on
    monkeypatch.setenv("HTTP_PROXY", dead)
    monkeypatch.setenv("CAIRN_HTTP_RETRY_SECONDS", "0.3")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    through_proxy = Session(url, None)
    try:
        with pytest.raises(StoreError, match="cannot reach"):
            through_proxy.call("GET", "/api/tracking/experiments")
    finally:
        through_proxy.close()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    direct = Session(url, None)
    try:
        assert direct.call("GET", "/api/tracking/experiments") == b"[]"
    finally:
        direct.close()


def test_a_server_that_is_gone_is_retried_then_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_HTTP_RETRY_SECONDS", "0.3")
    session = Session(f"http://127.0.0.1:{free_port()}", None)
    try:
        with pytest.raises(StoreError, match=r"cannot reach the Cairn server at .* after retrying"):
            session.call("GET", "/api/tracking/experiments")
    finally:
        session.close()
