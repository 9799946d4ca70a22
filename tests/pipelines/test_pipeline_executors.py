"""The executors' contract (cairn.pipelines.executors.base), against real processes and
a real local Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from pathlib import Path

import pytest
from pipeline_helpers import load, states

import cairn.workspace
from cairn.errors import InvalidInput
from cairn.pipelines import run_pipeline
from cairn.pipelines.executors import (
    Executor,
    Resources,
    TaskTimeout,
    WorkerDied,
    open_executor,
)


def _wait_for_file(path: str, deadline: float = 60) -> bool:
    end = time.monotonic() + deadline
    while not os.path.exists(path):
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def rendezvous(me: str, other: str) -> str:
    """Succeeds only if the task naming ``other`` runs at the same time as this one."""
    Path(me).write_text(str(os.getpid()))
    if not _wait_for_file(other, deadline=30):
        raise AssertionError(f"{other} never appeared: the tasks did not run in parallel")
    return me


def write_pid_and_wait(pid_file: str, release: str) -> int:
    Path(pid_file).write_text(str(os.getpid()))
    _wait_for_file(release, deadline=60)
    return 1


def add(a: int, b: int) -> int:
    return a + b


def boom() -> None:
    raise KeyError("missing")


@pytest.fixture
def pool() -> Iterator[Executor]:
    executor = open_executor("process", max_cpus=2)
    yield executor
    executor.shutdown(cancel=True)


def test_the_pool_runs_independent_tasks_at_the_same_time(pool: Executor, tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    first = pool.submit(rendezvous, (a, b))
    second = pool.submit(rendezvous, (b, a))
    assert {first.result(timeout=60), second.result(timeout=60)} == {a, b}
    assert Path(a).read_text() != Path(b).read_text()  # two worker processes


def test_a_task_error_comes_back_as_its_own_exception(pool: Executor) -> None:
    assert pool.submit(add, (2, 3)).result(timeout=60) == 5
    with pytest.raises(KeyError, match="missing"):
        pool.submit(boom).result(timeout=60)


def test_a_killed_worker_fails_only_its_own_task(pool: Executor, tmp_path: Path) -> None:
    pid_file, release = str(tmp_path / "pid"), str(tmp_path / "release")
    doomed = pool.submit(write_pid_and_wait, (pid_file, release))
    assert _wait_for_file(pid_file)
    os.kill(int(Path(pid_file).read_text()), signal.SIGKILL)  # the attack: kill -9
    with pytest.raises(WorkerDied, match="signal 9"):
        doomed.result(timeout=60)
    assert pool.submit(add, (1, 1)).result(timeout=60) == 2


def test_a_task_past_its_timeout_is_killed(pool: Executor, tmp_path: Path) -> None:
    pid_file = str(tmp_path / "pid")
    future = pool.submit(write_pid_and_wait, (pid_file, str(tmp_path / "never")), timeout=5)
    assert _wait_for_file(pid_file)
    pid = int(Path(pid_file).read_text())
    with pytest.raises(TaskTimeout, match="timeout of 5 s"):
        future.result(timeout=60)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def where_am_i() -> tuple[str, str]:
    return os.getcwd(), os.environ.get("CAIRN_PIPELINE_TEST", "")


def test_tasks_run_in_the_callers_folder_and_environment_at_submit_time(
    pool: Executor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert pool.submit(add, (1, 1)).result(timeout=60) == 2  # the forkserver is up
    # The attack: the caller changes folder and environment after the pool started.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CAIRN_PIPELINE_TEST", "moved")
    assert pool.submit(where_am_i).result(timeout=60) == (str(tmp_path), "moved")


def test_a_task_asking_more_cpus_than_the_pool_has_is_refused(pool: Executor) -> None:
    with pytest.raises(InvalidInput, match="asks for 4 CPUs but the process pool has 2"):
        pool.submit(add, (1, 2), resources=Resources(cpus=4))


def test_shutdown_with_cancel_stops_running_tasks(tmp_path: Path) -> None:
    executor = open_executor("process", max_cpus=1)
    pid_file = str(tmp_path / "pid")
    running = executor.submit(write_pid_and_wait, (pid_file, str(tmp_path / "never")))
    queued = executor.submit(add, (1, 2))
    assert _wait_for_file(pid_file)
    executor.shutdown(cancel=True)
    with pytest.raises(CancelledError):
        running.result(timeout=10)
    assert queued.cancelled()


def test_unknown_executor_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="unknown executor 'dask'; choose one of: inprocess"):
        open_executor("dask")


def test_independent_branches_of_a_pipeline_run_in_parallel_on_the_pool(
    workspace: cairn.workspace.Workspace, project: Callable[..., Path]
) -> None:
    path = project(
        "flow.py",
        """
        import os, time

        def meet(me, other):
            open(me, "w").close()
            deadline = time.monotonic() + 30
            while not os.path.exists(other):
                if time.monotonic() > deadline:
                    raise TimeoutError("the branches did not run at the same time")
                time.sleep(0.01)

        @cairn.step
        def left(n: int) -> int:
            meet("left.ready", "right.ready")
            return n

        @cairn.step
        def right(n: int) -> int:
            meet("right.ready", "left.ready")
            return n + 1

        @cairn.step
        def join(a: int, b: int) -> int:
            return a + b

        @cairn.pipeline
        def flow(n: int = 1):
            join(left(n), right(n))
        """,
    )
    outcome = run_pipeline(load(path), {}, executor="process", executor_options={"max_cpus": 2})
    assert set(states(outcome).values()) == {"ran"}
    assert outcome.output("join") == 3


def _ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def ray_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a command that starts a local Ray: its home folder and temp
    folder (a short one: Ray's socket paths must stay under 108 bytes) are the test's,
    usage reporting is off. Ray runs in that command's process, never in pytest's."""
    import shutil
    import tempfile

    short = tempfile.mkdtemp(prefix="cr", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env |= {"HOME": str(tmp_path / "home"), "RAY_TMPDIR": short, "RAY_USAGE_STATS_ENABLED": "0"}
    yield env
    shutil.rmtree(short, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.skipif(not _ray_available(), reason="Ray is not installed (cairn-mlops[ray])")
def test_a_pipeline_fans_out_on_a_real_local_ray(
    workspace: cairn.workspace.Workspace,
    project: Callable[..., Path],
    ray_env: dict[str, str],
) -> None:
    project(
        "flow.py",
        """
        import os, time

        @cairn.step
        def square(x: int) -> int:
            return x * x

        @cairn.step(timeout=2)
        def stuck(x: int) -> int:
            while not os.path.exists("never"):
                time.sleep(0.05)
            return x

        @cairn.step
        def total(parts: list) -> int:
            return sum(parts)

        @cairn.pipeline
        def flow():
            total(square.map([1, 2, 3]))
            stuck(1)
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "pipeline", "run", "flow.py:flow", "--executor", "ray"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=300,
        env=ray_env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "step 'stuck' failed with TaskTimeout" in last, done.stderr
    run = workspace.metadata.pipelines.list_runs()[0]
    records = {r.step: r for r in workspace.metadata.pipelines.list_steps(run.run_id)}
    assert records["stuck"].state == "failed" and records["total"].state == "ran"
    assert run.executor == "ray"
    from cairn.pipelines.worker import OutputRef, load_output

    total = OutputRef.from_dict(json.loads(records["total"].outputs)[0])
    assert load_output(workspace.artifacts, total) == 14


def _ray_processes(marker: str) -> list[int]:
    """Live (not zombie) processes whose environment holds ``RAY_TMPDIR=marker``: every
    process of a local Ray started with that temp folder, and anything they started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if f"RAY_TMPDIR={marker}".encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not _ray_available(), reason="Ray is not installed (cairn-mlops[ray])")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_local_ray_and_what_its_steps_left_running_are_gone_when_the_run_ends(
    workspace: cairn.workspace.Workspace,
    project: Callable[..., Path],
    ray_env: dict[str, str],
) -> None:
    """The run stops the local Ray it started by killing its processes, not by Ray's
    graceful teardown: that must reach every one of them (GCS, raylet, dashboard,
    agents, workers) and what careless steps left running, in their own session too."""
    seen = workspace.root / "seen"
    project(
        "flow.py",
        f"""
        import os, subprocess
        from pathlib import Path

        @cairn.step
        def careless(i: int) -> int:
            # Helpers a step forgets to stop: one in its process group, one in a
            # session of its own.
            subprocess.Popen(["sleep", "600"])
            subprocess.Popen(["sleep", "600"], start_new_session=True)
            marker = "RAY_TMPDIR=" + os.environ["RAY_TMPDIR"]
            mine = [p for p in os.listdir("/proc") if p.isdigit()
                    and marker.encode() in _environ(p)]
            Path({str(seen)!r}, str(i)).write_text(str(len(mine)))
            return i

        def _environ(pid):
            try:
                return Path("/proc", pid, "environ").read_bytes().split(b"\\0")
            except OSError:
                return []

        @cairn.pipeline
        def flow():
            careless.map([1, 2])
        """,
    )
    seen.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "pipeline", "run", "flow.py:flow", "--executor", "ray"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=300,
        env=ray_env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # While the steps ran, the marker found Ray's processes and the helpers: GCS,
    # raylet, dashboard, log monitor, two agents, a worker, two helpers at the least.
    counts = [int(p.read_text()) for p in seen.iterdir()]
    assert len(counts) == 2 and min(counts) >= 9, counts
    # The command has returned: nothing of that Ray runs any more.
    assert _ray_processes(ray_env["RAY_TMPDIR"]) == []


@pytest.mark.skipif(not _ray_available(), reason="Ray is not installed (cairn-mlops[ray])")
def test_a_ray_address_where_nothing_listens_fails_at_once_and_records_nothing(
    workspace: cairn.workspace.Workspace,
    project: Callable[..., Path],
    ray_env: dict[str, str],
) -> None:
    """RAY_ADDRESS left pointing at a cluster that is gone: Ray alone would retry it for
    minutes; the run refuses it with one line that names the address and the fix."""
    import socket

    project(
        "flow.py",
        """
        @cairn.step
        def one() -> int:
            return 1

        @cairn.pipeline
        def flow():
            one()
        """,
    )
    with socket.socket() as sock:  # a port nothing listens on once it is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**ray_env, "RAY_ADDRESS": f"127.0.0.1:{port}"}
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "pipeline", "run", "flow.py:flow", "--executor", "ray"],
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in lines[0]
    assert "ray start --head" in lines[0] and "Traceback" not in done.stderr
    assert workspace.metadata.pipelines.list_runs() == []
