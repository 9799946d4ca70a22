"""Shared pieces of the side-by-side benchmarks: peer venvs, workers, results, Markdown.

A benchmark module (``benchmarks/bench_<area>.py``) defines ``run(quick: bool) -> Section``.
Code that must run inside one tool's environment lives in ``benchmarks/workers/*.py``: a
script that imports only its own tool, does one measurement and prints one JSON object as
its last line of output. The module starts it with :func:`run_worker` under the right
interpreter (:func:`cairn_python` or :func:`peer_python`) and turns the numbers into
:class:`Result` rows.

Example::

    from common import Result, Section, cairn_python, peer_python, run_worker

    def run(quick: bool) -> Section:
        mlflow = peer_python("mlflow", ["mlflow==3.17.2"])
        theirs = run_worker(mlflow, WORKERS / "mlflow_tracking.py", ["log_metric"], 300)
        ...
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
WORKERS = BENCH_DIR / "workers"
VENVS = BENCH_DIR / ".venvs"


class BenchmarkError(RuntimeError):
    """A benchmark could not produce its figures (a worker failed, a venv did not install)."""


# --- interpreters -------------------------------------------------------------------


def cairn_python() -> Path:
    """The project's own interpreter (``.venv/bin/python``), where Cairn is installed."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        raise BenchmarkError(f"{python} not found; create the project venv first")
    return python


def peer_python(name: str, requirements: list[str]) -> Path:
    """The python of ``benchmarks/.venvs/<name>``, with ``requirements`` installed.

    The venv is made on first use and reused after; requirements it does not have yet
    (by their exact text, recorded in ``.requirements``) are pip-installed into it, so
    two modules may share one venv with different extras. pip runs with the machine's
    default configuration (index, constraints). The first install can take minutes; a
    lock file keeps two concurrent benchmark runs from building the same venv at once.

    Example::

        python = peer_python("mlflow", ["mlflow==3.17.2"])
    """
    import fcntl

    venv = VENVS / name
    python = venv / "bin" / "python"
    stamp = venv / ".requirements"
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        have = stamp.read_text(encoding="utf-8").split("\n") if stamp.exists() else []
        missing = [r for r in requirements if r not in have]
        if python.exists() and stamp.exists() and not missing:
            return python
        if not (python.exists() and stamp.exists()):
            base = getattr(sys, "_base_executable", sys.executable)
            _check([base, "-m", "venv", "--clear", str(venv)], f"creating venv {venv}")
            have = []
        log(f"installing {' '.join(missing)} into {venv} (one-time, may take minutes)")
        _check(
            [str(python), "-m", "pip", "install", "--quiet", *missing],
            f"pip install {' '.join(missing)} into {venv}",
        )
        stamp.write_text("\n".join([*filter(None, have), *missing]) + "\n", encoding="utf-8")
    return python


def package_version(python: Path, distribution: str) -> str:
    """The installed version of ``distribution`` under ``python`` (``"?"`` if missing)."""
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: print('?')"
    )
    proc = subprocess.run(
        [str(python), "-c", code, distribution], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "?"


def _check(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BenchmarkError(f"{what} failed: " + " | ".join(tail))


# --- workers ------------------------------------------------------------------------


def run_worker(
    python: Path,
    script: Path,
    args: Sequence[str] = (),
    timeout: float = 600,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Run ``python script *args`` and return the JSON object on its last stdout line.

    The worker's stderr is kept for the error message only. A non-zero exit, a timeout
    or output that does not end in a JSON object raises :class:`BenchmarkError`.
    """
    full_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    cmd = [str(python), str(script), *map(str, args)]
    what = " ".join([script.name, *map(str, args)])
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"{what} timed out after {timeout:.0f} s") from None
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise BenchmarkError(f"{what} exited {proc.returncode}: {tail or 'no output'}")
    try:
        data = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise BenchmarkError(f"{script.name} did not end with JSON: {lines[-1][:200]!r}") from None
    if not isinstance(data, dict):
        raise BenchmarkError(f"{script.name} printed {type(data).__name__}, expected an object")
    return data


def wall_times(cmd: Sequence[str], repeats: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall-clock seconds of ``repeats`` runs of ``cmd`` (output discarded; must exit 0)."""
    full_env = {**os.environ, **(env or {})}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run(list(cmd), capture_output=True, env=full_env, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise BenchmarkError(f"{' '.join(cmd)} exited {proc.returncode}: {err}")
    return times


def log(message: str) -> None:
    """Progress to stderr, so it never mixes with a worker's JSON."""
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


# --- results ------------------------------------------------------------------------


def median(xs: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    if not xs:
        raise BenchmarkError("median of no measurements")
    return float(statistics.median(xs))


@dataclass(frozen=True)
class Result:
    """One compared figure.

    ``ratio`` is how many times better Cairn is (``> 1`` means Cairn wins), whichever way
    the unit points: for rates ``cairn / peer``, for times ``peer / cairn``.
    ``passed`` is ``None`` when the row has no target.
    """

    benchmark: str
    metric: str
    cairn: float | None
    peer: float | None
    unit: str
    ratio: float | None
    target: str
    passed: bool | None


def compare(
    benchmark: str,
    metric: str,
    cairn: float,
    peer: float,
    unit: str,
    *,
    higher_is_better: bool,
    target: str = "",
    check: Callable[[float, float], bool] | None = None,
) -> Result:
    """Build a :class:`Result`, computing the ratio and applying ``check(cairn, ratio)``.

    Example::

        compare("log_metric", "calls/s", 60_000, 350, "calls/s", higher_is_better=True,
                target=">= 100x MLflow", check=lambda c, r: r >= 100)
    """
    if higher_is_better:
        ratio = cairn / peer if peer else float("inf")
    else:
        ratio = peer / cairn if cairn else float("inf")
    passed = check(cairn, ratio) if check else None
    return Result(benchmark, metric, cairn, peer, unit, ratio, target, passed)


@dataclass
class Section:
    """What a benchmark module returns: a titled table of results plus notes."""

    title: str
    peer: str = "peer"
    notes: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    error: str | None = None
    versions: dict[str, str] = field(default_factory=dict)  # e.g. {"MLflow": "3.17.2"}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == float("inf"):
        return "inf"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def render_section(section: Section) -> str:
    """The section as Markdown: heading, table (or the error), notes."""
    out = [f"## {section.title}", ""]
    if section.error:
        out += [
            "**Errors** (these figures are missing):",
            "",
            "```",
            section.error.strip(),
            "```",
            "",
        ]
    if section.results:
        out += [
            f"| benchmark | metric | Cairn | {section.peer} | unit "
            "| Cairn advantage | target | met |",
            "|---|---|---:|---:|---|---:|---|:-:|",
        ]
        for r in section.results:
            met = {True: "yes", False: "**no**", None: "-"}[r.passed]
            ratio = "-" if r.ratio is None else f"{_fmt(r.ratio)}x"
            out.append(
                f"| {r.benchmark} | {r.metric} | {_fmt(r.cairn)} | {_fmt(r.peer)} | {r.unit} "
                f"| {ratio} | {r.target or '-'} | {met} |"
            )
        out.append("")
    for note in section.notes:
        out.append(f"- {note}")
    if section.notes:
        out.append("")
    return "\n".join(out)


def attempt(section: Section, what: str, measure: Callable[[], Result]) -> None:
    """Append ``measure()`` to the section; on failure record the error and go on.

    One broken measurement (a peer that fails to install, a Cairn feature still
    missing) then costs only its own row, not the section's other figures.
    """
    try:
        section.results.append(measure())
    except Exception as exc:  # anything a measurement raises is reported, not fatal
        message = f"{what}: {type(exc).__name__}: {exc}"
        log(message)
        section.error = f"{section.error}\n{message}" if section.error else message


def main(run: Callable[[bool], Section]) -> None:
    """Command line of a benchmark module run alone: print its section as Markdown."""
    import argparse

    parser = argparse.ArgumentParser(description=(sys.modules["__main__"].__doc__ or "").strip())
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    section = run(args.quick)
    sys.stdout.write(render_section(section) + "\n")
    sys.exit(1 if section.error else 0)


# --- machine ------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or the platform's best guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: above the core count, figures are noisy."""
    try:
        return ", ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine_info(
    versions: dict[str, str] | None = None, load: str | None = None
) -> list[tuple[str, str]]:
    """(label, value) rows describing where the figures were taken.

    ``load`` is the load average when the run started (default: now).
    """
    python = cairn_python()
    py_version = subprocess.run(
        [str(python), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    # Each section's own line says when it ran, how busy the machine was and which peer
    # versions it measured; a run of some sections (--only) rewrites only theirs.
    del versions
    return [
        ("last written", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", f"{cpu_model()} ({os.cpu_count()} logical cores)"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("load average when last written (1, 5, 15 min)", load or load_average()),
        ("Python", py_version),
        ("Cairn", package_version(python, "cairn-mlops")),
    ]
