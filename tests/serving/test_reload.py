"""The server follows its alias: a promote (or rollback) swaps the served version while
requests keep flowing, with no failed request and no return to the old version."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
from serving_helpers import (
    IRIS_COLUMNS,
    CrashOnLoad,
    HangOnLoad,
    free_port,
    iris_estimator,
    iris_frame,
    trusted_loader,
)


def _load(
    url: str, seconds: float, concurrency: int, body: dict[str, Any], until_version: str = ""
) -> list[tuple[float, float, int, str]]:
    """(sent, received, status, version) for every request of a closed-loop load, for
    ``seconds`` or, with ``until_version``, until that version answered 200 requests."""
    results: list[tuple[float, float, int, str]] = []
    answered_by_new = 0

    async def worker(client: httpx.AsyncClient, stop: float) -> None:
        nonlocal answered_by_new
        while time.monotonic() < stop and (not until_version or answered_by_new < 200):
            sent = time.monotonic()
            try:
                resp = await client.post("/invocations", json=body)
                version = resp.headers.get("x-model-version", "")
                answered_by_new += version == until_version
                results.append((sent, time.monotonic(), resp.status_code, version))
            except httpx.HTTPError as exc:
                results.append((sent, time.monotonic(), 0, type(exc).__name__))

    async def main() -> None:
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
            stop = time.monotonic() + seconds
            await asyncio.gather(*(worker(client, stop) for _ in range(concurrency)))

    asyncio.run(main())
    return results


def test_promote_under_load_swaps_version_without_failed_requests(
    iris: Any, threaded_server: Any
) -> None:
    from cairn.serving.server import ServeConfig, build_app

    X, _ = iris_frame()
    v2 = iris.register("iris", iris_estimator("tree"), X.iloc[:5], alias=None)
    app = build_app(ServeConfig("iris@production", poll_interval=0.1, log_predictions=False))
    body = {"dataframe_split": {"columns": IRIS_COLUMNS, "data": X.iloc[:20].values.tolist()}}
    with threaded_server(app, free_port()) as server:
        # The swap waits for a child process to load and try the version: the load runs
        # until the new version has answered 200 requests (or a minute passed).
        promote = threading.Timer(1.0, iris.promote, args=("iris", v2))
        promote.start()
        results = _load(server.url, 60.0, 8, body, until_version=str(v2))
        promote.join()
        meta = httpx.get(f"{server.url}/v2/models/iris").json()

    failed = [r for r in results if r[2] != 200]
    assert not failed, f"{len(failed)} of {len(results)} requests failed: {failed[:3]}"
    versions = [r[3] for r in results]
    assert set(versions) == {"1", str(v2)}, "the swap did not happen during the load"
    first_new = min(received for sent, received, _, v in results if v == str(v2))
    after = [v for sent, _, _, v in results if sent > first_new]
    assert after and all(v == str(v2) for v in after), "a request went back to the old version"
    assert meta["version"] == str(v2) and meta["versions"] == [str(v2)]
    assert app.router.primary.swaps == 1


def test_rollback_is_followed_too(iris: Any, serve_app: Any) -> None:
    X, _ = iris_frame()
    _app, client = serve_app("iris@production", poll_interval=0.05, log_predictions=False)
    v2 = iris.register("iris", iris_estimator("tree"), X.iloc[:5])
    assert _wait_for(lambda: client.get("/v2/models/iris").json()["version"] == str(v2))
    iris.promote("iris", 1)
    assert _wait_for(lambda: client.get("/v2/models/iris").json()["version"] == "1")
    text = client.get("/metrics").text
    assert "cairn_model_swaps_total 2.0" in text


def test_a_version_that_fails_to_load_keeps_the_old_one_serving(iris: Any, serve_app: Any) -> None:
    app, client = serve_app("iris@production", poll_interval=0.05, log_predictions=False)
    slot = app.router.primary
    slot.loader = _broken_loader
    X, _ = iris_frame()
    iris.register("iris", iris_estimator("tree"), X.iloc[:5])
    assert _wait_for(lambda: slot.reload_errors > 0)
    resp = client.post("/invocations", json={"dataframe_records": X.iloc[:2].to_dict("records")})
    assert resp.status_code == 200 and resp.headers["x-model-version"] == "1"
    assert "cairn_model_reload_errors_total" in client.get("/metrics").text


def test_trial_of_a_version_that_hangs_is_killed_at_its_timeout(iris: Any) -> None:
    import pytest

    from cairn.errors import InvalidInput
    from cairn.serving.probe import ChildProbe

    X, _ = iris_frame()
    version = iris.register("iris", HangOnLoad(), X.iloc[:5], alias=None)
    probe = ChildProbe(timeout=5)
    with pytest.raises(InvalidInput, match=r"iris/\d+ did not load and predict .* within 5s"):
        probe(trusted_loader, f"models:/iris/{version}")
    assert probe._child is None  # killed and reaped


def _broken_loader(uri: str) -> Any:
    from cairn.errors import IntegrityError

    raise IntegrityError(f"{uri}: digest mismatch")


def _wait_for(condition: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_version_that_crashes_its_loader_is_refused_and_the_server_keeps_answering(
    iris: Any, threaded_server: Any
) -> None:
    """The alias moves to a model whose loading kills the process (SIGSEGV): the server
    tries it in a child process only, keeps serving the old version, says why, does not
    try it again, and follows the alias to the next good version."""
    from cairn.serving.server import ServeConfig, build_app

    X, _ = iris_frame()
    config = ServeConfig("iris@production", poll_interval=0.05, log_predictions=False)
    app = build_app(config, loader=trusted_loader)
    slot = app.router.primary
    records = X.iloc[:3].to_dict("records")
    with threaded_server(app, free_port()) as server:
        crashing = iris.register("iris", CrashOnLoad(), X.iloc[:5])
        assert _wait_for(lambda: slot.refused is not None, timeout=120)
        answer = httpx.post(f"{server.url}/invocations", json={"dataframe_records": records})
        meta = httpx.get(f"{server.url}/v2/models/iris").json()
        assert answer.status_code == 200 and answer.headers["x-model-version"] == "1"
        assert meta["version"] == "1"
        [refusal] = meta["refused"]
        assert refusal["role"] == "primary" and refusal["version"] == str(crashing)
        assert "killed a test process with SIGSEGV" in refusal["reason"], refusal
        assert "cairn_model_reload_errors_total 1.0" in httpx.get(f"{server.url}/metrics").text

        # Not tried again while the alias stays there (a try would count another error).
        assert slot.check_now() is False and slot.reload_errors == 1

        good = iris.register("iris", iris_estimator("tree"), X.iloc[:5])
        assert _wait_for(lambda: slot.current.version == str(good), timeout=120)
        answer = httpx.post(f"{server.url}/invocations", json={"dataframe_records": records})
        assert answer.headers["x-model-version"] == str(good)
        assert "refused" not in httpx.get(f"{server.url}/v2/models/iris").json()


def test_version_that_fails_its_trial_is_named_with_the_childs_error(
    iris: Any, serve_app: Any
) -> None:
    """A trial that fails with an error (not a crash) quotes the error it printed."""
    from cairn.models.flavors.function import NAME

    app, client = serve_app("iris@production", poll_interval=0.05, log_predictions=False)
    X, _ = iris_frame()
    version = iris.register("iris", CrashOnLoad(), X.iloc[:5])  # function flavor: needs trust
    slot = app.router.primary
    assert _wait_for(lambda: slot.refused is not None, timeout=120)
    assert slot.refused is not None and slot.refused.version == str(version)
    assert f"uses the {NAME} flavor" in slot.refused.reason, slot.refused.reason
    assert "trust=True" in slot.refused.reason
    assert client.get("/v2/models/iris").json()["version"] == "1"
