"""The image `cairn build` describes, built and run for real by a Docker engine.

The container runs the way a careful operator runs it (and the way a hostile workload
is contained): read-only root, every capability dropped, no new privileges, a numeric
non-root user. It must still pass its own health check, answer predictions identical to
the model's, and write its prediction log to the one writable path it is given.

Needs a running Docker engine and (for the first run) debootstrap as root; the base
image is made from Debian's packages by ``docker_env`` and reused across runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker_env import docker, engine_problem, ensure_base_image
from serving_helpers import AsgiClient, free_port, iris_frame

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(1500)]

UID = 10001
DEADLINE_SECONDS = 180.0


@pytest.fixture(scope="session")
def base_image() -> str:
    problem = engine_problem()
    if problem and os.environ.get("CAIRN_REQUIRE_DOCKER"):
        pytest.fail(f"CAIRN_REQUIRE_DOCKER is set but {problem}")
    if problem:
        pytest.skip(problem)
    return ensure_base_image()


@pytest.fixture
def container_name() -> Iterator[str]:
    """A unique container name, removed (with whatever image it ran) after the test."""
    name = f"cairn-test-{uuid.uuid4().hex[:10]}"
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60, check=False)


def wait_for(what: str, check: Callable[[], Any], name: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the container's logs."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if docker("inspect", "-f", "{{.State.Running}}", name).strip() != "true":
            break
        time.sleep(0.5)
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True, check=False)
    pytest.fail(f"{what} did not happen; container logs:\n{logs.stdout}\n{logs.stderr}"[-5000:])


def test_built_image_serves_predictions_read_only_unprivileged_and_logs_them(
    iris: Any, tmp_path: Path, base_image: str, container_name: str
) -> None:
    import cairn
    from cairn.serving.predlog import read_log
    from cairn.serving.server import ServeConfig, build_app

    context = tmp_path / "context"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn",
            "build",
            "iris@production",
            "-o",
            str(context),
            "--base-image",
            base_image,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    tag = f"cairn-test-iris:{uuid.uuid4().hex[:10]}"
    # No bridge network on the test engine: the build's pip reaches the index via the host.
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    build = subprocess.run(
        ["docker", "build", "--network", "host", "-t", tag, str(context)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        check=False,
    )
    try:
        assert build.returncode == 0, (build.stdout + build.stderr)[-5000:]
        config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", tag))
        assert config["User"] == f"{UID}:{UID}"
        assert config["Healthcheck"]["Test"][0] == "CMD"
        served = _run_and_check(tag, container_name, tmp_path, cairn.__version__)
        # Same predictions as the model loaded in this process from the same directory.
        local = AsgiClient(
            build_app(ServeConfig(str(context / "model"), name="iris", log_predictions=False))
        )
        X, _ = iris_frame()
        expected = local.post("/invocations", json={"instances": X.iloc[:3].to_dict("records")})
        assert served == expected.json()["predictions"]
        logged = read_log("iris", root=str(tmp_path / "predictions"))
        assert len(logged) == 3 and set(logged["version"].astype(str)) == {"1"}
    finally:
        subprocess.run(["docker", "rm", "-f", container_name], capture_output=True, check=False)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120, check=False)


def _run_and_check(tag: str, name: str, tmp_path: Path, version: str) -> list[Any]:
    """Run ``tag`` locked down; check health, what is installed, a prediction, the log."""
    from cairn.serving.predlog import read_log

    predictions = tmp_path / "predictions"
    predictions.mkdir()
    try:
        os.chown(predictions, UID, UID)  # the container's user owns only this folder
    except PermissionError:  # not root: let any user write it
        predictions.chmod(0o777)
    port = free_port()
    docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-e",
        "CAIRN_HOST=127.0.0.1",
        "-e",
        f"CAIRN_PORT={port}",
        "-v",
        f"{predictions}:/srv/cairn/predictions",
        tag,
    )
    wait_for(
        "the image's HEALTHCHECK reporting healthy",
        lambda: docker("inspect", "-f", "{{.State.Health.Status}}", name).strip() == "healthy",
        name,
    )
    # What is installed in the image is this Cairn, under its own name, and no `cairn`.
    probe = (
        "import importlib.metadata as m, os\n"
        "try:\n    m.distribution('cairn'); bare = 'present'\n"
        "except m.PackageNotFoundError:\n    bare = 'absent'\n"
        "print(m.version('cairn-mlops'), bare, os.getuid())"
    )
    assert docker("exec", name, "python", "-c", probe).split() == [version, "absent", str(UID)]
    # The root file system is read-only to the server, even where it runs.
    touch = subprocess.run(
        ["docker", "exec", name, "touch", "/srv/cairn/model/planted"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert touch.returncode != 0 and "Read-only file system" in touch.stderr

    url = f"http://127.0.0.1:{port}"
    X, _ = iris_frame()
    resp = httpx.post(
        f"{url}/invocations", json={"instances": X.iloc[:3].to_dict("records")}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-model-version"] == "1"
    served: list[Any] = resp.json()["predictions"]
    assert len(served) == 3
    assert httpx.get(f"{url}/v2/health/ready", timeout=10).status_code == 200

    wait_for(
        "three logged predictions in the mounted prediction log",
        lambda: len(read_log("iris", root=str(predictions))) == 3,
        name,
    )
    return served
