"""Pipelines: a 10-step chain against `dvc repro` and Metaflow's `run`, the in-process
cache hit per step (Hamilton's figure for reference), and 8 independent 2-second steps on
the process pool and on Ray.

Run only this section: ``.venv/bin/python benchmarks/bench_pipelines.py [--quick]``
(prints Markdown; ``benchmarks/run.py`` runs every section and rewrites RESULTS.md).
"""

from __future__ import annotations

from typing import Any

from common import (
    WORKERS,
    Result,
    Section,
    attempt,
    cairn_python,
    compare,
    main,
    median,
    package_version,
    peer_python,
    run_worker,
)

DVC = ["dvc==3.67.1"]
METAFLOW = ["metaflow>=2.19,<2.20"]
STEPS = 10
#: Hamilton 1.90's cache hit per node in-process, measured on this machine (PEERS.md).
HAMILTON_HIT_MS = 0.27


def _linear(quick: bool, section: Section) -> list[Result]:
    repeats = 2 if quick else 5
    ours = run_worker(cairn_python(), WORKERS / "pipelines_cairn.py", ["linear", str(STEPS),
                      str(repeats)], timeout=1800)  # fmt: skip
    dvc = run_worker(peer_python("dvc", DVC), WORKERS / "pipelines_dvc.py",
                     [str(STEPS), str(repeats)], timeout=1800)  # fmt: skip
    section.notes.append(
        f"{STEPS}-step chain of trivial steps, whole commands, median of {repeats} fresh "
        f"workspaces: `cairn pipeline run` first {median(ours['first']):.2f} s, all cached "
        f"{median(ours['cached']):.2f} s; `dvc repro` first {median(dvc['first']):.2f} s, "
        f"no-op {median(dvc['noop']):.2f} s."
    )
    rows = [
        compare(f"{STEPS}-step chain, first run", "wall", median(ours["first"]),
                median(dvc["first"]), "s", higher_is_better=False, target=">= 3x DVC",
                check=lambda c, r: r >= 3),
        compare(f"{STEPS}-step chain, fully cached re-run", "wall", median(ours["cached"]),
                median(dvc["noop"]), "s", higher_is_better=False,
                target=">= 5x DVC no-op repro", check=lambda c, r: r >= 5),
    ]  # fmt: skip
    try:
        flow = run_worker(peer_python("metaflow", METAFLOW), WORKERS / "pipelines_metaflow.py",
                          [str(STEPS), str(repeats)], timeout=1800)  # fmt: skip
        rows.append(
            compare(f"{STEPS}-step chain, first run vs Metaflow `run`", "wall",
                    median(ours["first"]), median(flow["run"]), "s", higher_is_better=False,
                    target=">= 5x Metaflow", check=lambda c, r: r >= 5)
        )  # fmt: skip
    except Exception as exc:  # reported; the DVC rows stand
        section.error = f"Metaflow: {type(exc).__name__}: {exc}"
    return rows


def _hit(quick: bool, section: Section) -> list[Result]:
    ours = run_worker(cairn_python(), WORKERS / "pipelines_cairn.py",
                      ["hit", str(STEPS), "3" if quick else "20"], timeout=600)  # fmt: skip
    run_ms = median(ours["per_step_run"]) * 1000
    decide_ms = median(ours["per_step_decision"]) * 1000
    section.notes.append(
        f"In-process cache hit per step: {decide_ms:.3f} ms for the decision (cache key from "
        f"code digest, canonical params and input digests; one indexed lookup; a check that "
        f"the output object is still stored); {run_ms:.2f} ms per step for the whole cached "
        f"run, which also opens the pipeline's tracking run and writes every step's record "
        f"(Hamilton's in-memory cache records nothing). Hamilton: {HAMILTON_HIT_MS} ms per "
        f"node, from PEERS.md (not re-measured here)."
    )
    return [
        compare("cache hit per step (decision)", "time", decide_ms, HAMILTON_HIT_MS, "ms",
                higher_is_better=False, target="<= 0.2 ms", check=lambda c, r: c <= 0.2),
        compare("cache hit per step (whole cached run)", "time", run_ms, HAMILTON_HIT_MS, "ms",
                higher_is_better=False, target="-"),
    ]  # fmt: skip


def _parallel(executor: str, section: Section, target: float) -> Result:
    ours = run_worker(cairn_python(), WORKERS / "pipelines_cairn.py",
                      ["parallel", executor, "8", "2"], timeout=900)  # fmt: skip
    return compare(f"8 x 2 s steps, {executor}", "wall", ours["wall"], ours["ideal"], "s",
                   higher_is_better=False, target=f"<= {target}x ideal (8 s on 2 cores)",
                   check=lambda c, r: c <= target * ours["ideal"])  # fmt: skip


def _ray(section: Section, target: float) -> list[Result]:
    """Ray with its start-up and shutdown, and the run alone on the started Ray."""
    ours = run_worker(cairn_python(), WORKERS / "pipelines_cairn.py",
                      ["parallel", "ray", "8", "2"], timeout=900)  # fmt: skip
    before_work = ours["bare_import"] + ours["bare_init"] + ours["bare_first_tasks"]
    section.notes.append(
        f"Ray, 8 x 2 s steps, medians of {ours['repeats']} fresh processes: importing Ray "
        f"and starting a local Ray (2 CPUs) took {ours['startup']:.1f} s, the run on it "
        f"{ours['run']:.1f} s (the workers' start, the steps, their records), stopping it "
        f"{ours['shutdown']:.2f} s ({ours['wall']:.1f} s in all). Bare Ray in alternation "
        f"with it, same load: import {ours['bare_import']:.1f} s, `ray.init` "
        f"{ours['bare_init']:.1f} s, two trivial tasks {ours['bare_first_tasks']:.1f} s "
        f"(the workers' start), `ray.shutdown()` {ours['bare_shutdown']:.1f} s. Ray alone "
        f"needs {before_work:.1f} s before a first task has run, against the "
        f"{target * ours['ideal'] - ours['ideal']:.1f} s the target leaves over the ideal "
        f"{ours['ideal']:.0f} s: out of reach with a local Ray started for the run on 2 "
        "cores. Cairn stops the Ray it started by killing its processes at once instead of "
        "Ray's one-by-one graceful teardown."
    )
    return [
        compare("8 x 2 s steps, ray (start-up and shutdown included)", "wall", ours["wall"],
                ours["ideal"], "s", higher_is_better=False,
                target=f"<= {target}x ideal (8 s on 2 cores)",
                check=lambda c, r: c <= target * ours["ideal"]),
        compare("8 x 2 s steps, ray (Ray already running)", "wall", ours["run"],
                ours["ideal"], "s", higher_is_better=False,
                target=f"<= {target}x ideal (8 s on 2 cores)",
                check=lambda c, r: c <= target * ours["ideal"]),
    ]  # fmt: skip


def run(quick: bool) -> Section:
    section = Section(title="Pipelines: Cairn vs DVC, Metaflow, Hamilton", peer="peer")
    try:
        section.versions = {"DVC": package_version(peer_python("dvc", DVC), "dvc")}
        section.versions["Metaflow"] = package_version(peer_python("metaflow", METAFLOW),
                                                       "metaflow")  # fmt: skip
    except Exception as exc:
        section.error = f"installing peers: {exc}"

    def many(fn: Any) -> Any:
        def measure() -> Result:
            rows = fn()
            section.results.extend(rows[:-1])
            return rows[-1]

        return measure

    attempt(section, "chain", many(lambda: _linear(quick, section)))
    attempt(section, "cache hit", many(lambda: _hit(quick, section)))
    attempt(section, "process pool", lambda: _parallel("process", section, 1.15))
    attempt(section, "ray", many(lambda: _ray(section, 1.3)))
    section.notes.append(
        "For the 8 x 2 s rows the peer column is the ideal (8 tasks x 2 s on 2 slots = 8 s); "
        "Ray's first row includes starting and stopping a local Ray. Each step's worker process "
        "(process pool) is forked from a forkserver that has Cairn imported, so a step's "
        "start costs milliseconds."
    )
    return section


if __name__ == "__main__":
    main(run)
