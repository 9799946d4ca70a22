"""Cairn side of the pipelines benchmark; runs in the project venv.

Usage: ``python pipelines_cairn.py MODE ARGS``:

- ``linear N REPEATS``: a pipeline of N trivial steps in a chain; wall time of the whole
  command ``cairn pipeline run`` on a fresh workspace (first run) and again with nothing
  changed (every step cached), a fresh workspace per repeat.
- ``hit N REPEATS``: the same chain run in-process through the Python API once, then
  timed fully cached: time per step of the whole cached run (keys, cache lookups, the
  run and step records), and of the cache decision alone (key + lookup + object check).
- ``parallel EXECUTOR TASKS SECONDS``: TASKS independent steps that each sleep SECONDS, on
  ``process`` (2 slots) or ``ray`` (2 CPUs, start-up included); wall time of the run, and
  for Ray (medians of 3 fresh processes) its start-up, the run on the started Ray and its
  shutdown, next to bare Ray's import, ``ray.init``, first two tasks and
  ``ray.shutdown()`` measured in alternation with it.

Prints one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def chain(n: int) -> str:
    lines = ["import cairn", ""]
    for i in range(n):
        lines += ["@cairn.step", f"def s{i}(x: int) -> int:", "    return x + 1", ""]
    lines += ["@cairn.pipeline", "def flow(start: int = 0):", "    x = start"]
    lines += [f"    x = s{i}(x)" for i in range(n)]
    return "\n".join(lines) + "\n"


def fanout(tasks: int, seconds: float) -> str:
    lines = ["import time", "import cairn", "", "@cairn.step", "def nap(i: int) -> int:"]
    lines += [f"    time.sleep({seconds})", "    return i", "", "@cairn.pipeline", "def flow():"]
    lines += [f"    nap.map(list(range({tasks})))"]
    return "\n".join(lines) + "\n"


def workspace(source: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix="cairn-bench-pl-"))
    subprocess.run([sys.executable, "-m", "cairn", "init", str(root)], check=True,
                   capture_output=True)  # fmt: skip
    (root / "flow.py").write_text(source, encoding="utf-8")
    return root


def timed_cli(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cairn", "pipeline", "run", "flow.py:flow", *args],
                   cwd=root, check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def linear(n: int, repeats: int) -> dict[str, object]:
    first, cached = [], []
    for _ in range(repeats):
        root = workspace(chain(n))
        try:
            first.append(timed_cli(root))
            cached.append(timed_cli(root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return {"first": first, "cached": cached, "steps": n}


def hit(n: int, repeats: int) -> dict[str, object]:
    root = workspace(chain(n))
    os.chdir(root)
    from cairn.pipelines import runner
    from cairn.pipelines.loader import load_target

    pipe, target = load_target("flow.py:flow")
    runner.run_pipeline(pipe, target=target)
    decide: list[float] = []
    original = runner._Runner._start

    def timed_start(self, node, record, running):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        original(self, node, record, running)
        decide.append(time.perf_counter() - start)

    runner._Runner._start = timed_start  # type: ignore[method-assign]
    whole, decisions = [], []
    for _ in range(repeats):
        decide.clear()
        start = time.perf_counter()
        outcome = runner.run_pipeline(pipe, target=target)
        whole.append((time.perf_counter() - start) / n)
        decisions.append(sum(decide) / n)
        assert all(r.state == "cached" for r in outcome.steps.values())
    shutil.rmtree(root, ignore_errors=True)
    return {"per_step_run": whole, "per_step_decision": decisions, "steps": n}


def parallel(executor: str, tasks: int, seconds: float) -> dict[str, object]:
    """Wall time of the whole run (process pool), or for Ray see :func:`ray_parallel`."""
    if executor == "ray":
        return ray_parallel(tasks, seconds)
    root = workspace(fanout(tasks, seconds))
    os.chdir(root)
    from cairn.pipelines import run_pipeline
    from cairn.pipelines.loader import load_target

    pipe, target = load_target("flow.py:flow")
    options = {"max_cpus": 2}
    start = time.perf_counter()
    run_pipeline(pipe, target=target, executor=executor, executor_options=options)
    wall = time.perf_counter() - start
    os.chdir(tempfile.gettempdir())
    shutil.rmtree(root, ignore_errors=True)
    return {"wall": wall, "ideal": tasks * seconds / 2}


BARE_RAY = """
import json, os, time
t0 = time.perf_counter()
import ray
t1 = time.perf_counter()
ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
t2 = time.perf_counter()
@ray.remote(num_cpus=1)
def one():
    return os.getpid()
ray.get([one.remote() for _ in range(2)])
t3 = time.perf_counter()
ray.shutdown()
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "init": t2 - t1, "first_tasks": t3 - t2,
                  "shutdown": t4 - t3}))
"""


BARE_PARTS = ("import", "init", "first_tasks", "shutdown")


def bare_ray() -> dict[str, float]:
    """Ray alone, in a fresh interpreter: import, ``ray.init`` (2 CPUs, no dashboard),
    two trivial tasks (the workers' start), ``ray.shutdown()``."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    done = subprocess.run([sys.executable, "-c", BARE_RAY], capture_output=True, text=True,
                          check=True, env=env, cwd=tempfile.gettempdir())  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def ray_once(tasks: int, seconds: float) -> dict[str, float]:
    """One fresh process: Cairn on a local Ray, with its parts timed: opening the
    executor (import Ray, start the local Ray), the run on it (the workers' start, the
    steps, their records), stopping it. The run finds Ray started and leaves it, so the
    three add up to what ``run_pipeline(..., executor="ray")`` takes from cold."""
    root = workspace(fanout(tasks, seconds))
    os.chdir(root)
    from cairn.pipelines import run_pipeline
    from cairn.pipelines.executors import open_executor
    from cairn.pipelines.loader import load_target

    pipe, target = load_target("flow.py:flow")
    options = {"num_cpus": 2}
    start = time.perf_counter()
    ray = open_executor("ray", **options)
    startup = time.perf_counter() - start
    run_pipeline(pipe, target=target, executor="ray", executor_options=options)
    run = time.perf_counter() - start - startup
    ray.shutdown()
    wall = time.perf_counter() - start
    os.chdir(tempfile.gettempdir())
    shutil.rmtree(root, ignore_errors=True)
    return {"wall": wall, "startup": startup, "run": run, "shutdown": wall - startup - run}


def ray_parallel(tasks: int, seconds: float, repeats: int = 3) -> dict[str, object]:
    """``repeats`` rounds, each a fresh process for Cairn on Ray and one for bare Ray, so
    both see the same load; medians of each part."""
    ours: list[dict[str, float]] = []
    bare: list[dict[str, float]] = []
    here = str(Path(__file__).resolve())
    for _ in range(repeats):
        done = subprocess.run([sys.executable, here, "ray-once", str(tasks), str(seconds)],
                              capture_output=True, text=True, check=True)  # fmt: skip
        ours.append(json.loads(done.stdout.strip().splitlines()[-1]))
        bare.append(bare_ray())

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    return {
        "ideal": tasks * seconds / 2,
        **{key: med(ours, key) for key in ("wall", "startup", "run", "shutdown")},
        **{f"bare_{key}": med(bare, key) for key in BARE_PARTS},
        "repeats": repeats,
        "walls": [r["wall"] for r in ours],
    }


def compile_cairn() -> None:
    """Byte-compile Cairn's modules, as installing the package does: the benchmark runs
    with PYTHONDONTWRITEBYTECODE set, so a source checkout would otherwise be compiled
    again by every command it times (the peer tools are installed, hence compiled)."""
    import compileall

    import cairn

    compileall.compile_dir(str(Path(cairn.__file__).parent), quiet=1)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    compile_cairn()
    if mode == "linear":
        result = linear(int(args[0]), int(args[1]))
    elif mode == "hit":
        result = hit(int(args[0]), int(args[1]))
    elif mode == "parallel":
        result = parallel(args[0], int(args[1]), float(args[2]))
    elif mode == "ray-once":
        result = ray_once(int(args[0]), float(args[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))
