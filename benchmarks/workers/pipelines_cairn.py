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
  for Ray its start-up, the run on the started Ray, and its shutdown.

Prints one JSON object as the last line.
"""

from __future__ import annotations

import json
import os
import shutil
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
    """Wall time of the whole run; for Ray also its parts: starting the local Ray, the
    run on the running Ray, and stopping it (the run finds Ray started and leaves it)."""
    root = workspace(fanout(tasks, seconds))
    os.chdir(root)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from cairn.pipelines import run_pipeline
    from cairn.pipelines.executors import open_executor
    from cairn.pipelines.loader import load_target

    pipe, target = load_target("flow.py:flow")
    options = {"max_cpus": 2} if executor == "process" else {"num_cpus": 2}
    parts: dict[str, float] = {}
    start = time.perf_counter()
    if executor == "ray":
        ray = open_executor("ray", **options)
        parts["startup"] = time.perf_counter() - start
        run_pipeline(pipe, target=target, executor=executor, executor_options=options)
        parts["run"] = time.perf_counter() - start - parts["startup"]
        ray.shutdown()
        parts["shutdown"] = time.perf_counter() - start - parts["startup"] - parts["run"]
    else:
        run_pipeline(pipe, target=target, executor=executor, executor_options=options)
    wall = time.perf_counter() - start
    shutil.rmtree(root, ignore_errors=True)
    return {"wall": wall, "ideal": tasks * seconds / 2, **parts}


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
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps(result))
