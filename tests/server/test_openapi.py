"""/openapi.json describes what the routes answer, and fuzzing finds no server error."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cairn.store.rest.routes import STORE_ROUTES
from server_harness import sqlite_server


def test_every_store_route_is_in_the_openapi_document(tmp_path: Path) -> None:
    with sqlite_server(tmp_path) as url:
        paths = httpx.get(f"{url}/openapi.json").json()["paths"]
    for route in STORE_ROUTES:
        operation = paths[route.path][route.verb.lower()]
        assert operation["operationId"] == route.name.replace(".", "_")
        assert {"200", "400", "404", "422"} <= set(operation["responses"])


def test_fuzzed_requests_get_no_5xx_and_answers_match_their_schema(tmp_path: Path) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.skip("schemathesis is not installed")
    with sqlite_server(tmp_path) as url:
        result = subprocess.run(
            [
                st,
                "run",
                f"{url}/openapi.json",
                "--max-examples",
                "5",
                "--phases",
                "examples,fuzzing",
                "--generation-deterministic",
                "--checks",
                "not_a_server_error,response_schema_conformance",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,  # schemathesis writes its example database there
        )
    assert result.returncode == 0, result.stdout[-4000:]
