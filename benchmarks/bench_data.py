"""Data versioning: Cairn vs DVC (add a 1 GiB file, add and re-check 10,000 small files),
and the cost of profiling a 1,000,000-row x 20-column Parquet file."""

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


MISSES = (
    "Why targets are missed, from profiles of the same commands on this machine: (1) "
    "start-up. Before `cairn data add` or `status` does any work, about 0.25 s goes to "
    "importing Typer and every command module (`cairn --help` takes about 0.14 s) and to "
    "Typer 0.29 importing pydantic to coerce any non-flag parameter (about 0.1 s); Cairn's "
    "own work in a no-change re-add or status of 10,000 files is about 0.1 s, nearly all "
    "of it one `stat` per file: a fifth of `dvc status` leaves no room for the start-up. "
    "(2) Two cores. Storing a file means copying it (kernel time, like `cp`) and hashing "
    "it (BLAKE3 on every core); on 2 logical cores the copy takes one of the cores the "
    "hash would use, so the hash cannot reach 70% of its solo speed while they overlap, "
    "even though `put_file` as a whole runs close to `cp` (figures above); "
    "the whole command adds the start-up above, opening the metadata database (SQLAlchemy, "
    "on a thread during the copy, but competing for the same cores) and the write. "
    "(3) Folders: the artifact store walks and stats the tree again after the stat-cache "
    "scan, and encodes "
    "the 10,000-entry manifest with `json.dumps(sort_keys=True)` (about 0.1 s); both live in "
    "`cairn.store`."
)


def _dvc() -> Any:
    return peer_python("dvc", DVC)


def _file(quick: bool, section: Section, cache: dict[str, Any]) -> list[Result]:
    mib = 64 if quick else 1024
    ours = run_worker(cairn_python(), WORKERS / "data_cairn.py", ["file", str(mib)], timeout=1800)
    theirs = run_worker(_dvc(), WORKERS / "data_dvc.py", ["file", str(mib)], timeout=1800)
    cache["file"] = (ours, theirs)
    add, cp, put = median(ours["add"]), median(ours["cp"]), median(ours["put_file"])
    gib = ours["bytes"] / 2**30
    raw_rate, phase_rate = gib / median(ours["blake3"]), gib / median(ours["hash_phase"])
    section.notes.append(
        f"add {mib} MiB file (median of {len(ours['add'])}; DVC {len(theirs['add'])}): "
        f"`cairn data add` (whole command, fresh workspace) {add:.2f} s, of which the "
        f"artifact store's `put_file` (measured in-process) {put:.2f} s; `cp` {cp:.2f} s "
        f"(add/cp {add / cp:.2f}, put_file/cp {put / cp:.2f}); raw multithreaded BLAKE3 "
        f"{raw_rate:.2f} GiB/s; the store's hashing call, timed inside `put_file` while the "
        f"kernel copies the file, {phase_rate:.2f} GiB/s ({100 * phase_rate / raw_rate:.0f}%)."
    )
    bar = bool(ours["progress_bar"])
    return [
        compare(
            f"add {mib} MiB file",
            "wall time",
            add,
            median(theirs["add"]),
            "s",
            higher_is_better=False,
            target=">= 5x faster than dvc add",
            check=lambda _c, r: r >= 5,
        ),
        compare(
            f"add {mib} MiB file vs cp",
            "wall time",
            add,
            cp,
            "s",
            higher_is_better=False,
            target="within 1.5x of cp",
            check=lambda _c, r: r >= 1 / 1.5,
        ),
        compare(
            "hashing phase vs raw BLAKE3",
            "throughput",
            phase_rate,
            raw_rate,
            "GiB/s",
            higher_is_better=True,
            target=">= 70% of raw BLAKE3",
            check=lambda _c, r: r >= 0.7,
        ),
        Result(
            f"progress bar on a terminal (add {mib} MiB)",
            "shown (1 = yes)",
            1.0 if bar else 0.0,
            None,
            "",
            None,
            "shown",
            bar,
        ),
    ]


def _dir(quick: bool, section: Section, cache: dict[str, Any]) -> list[Result]:
    count = 1000 if quick else 10_000
    ours = run_worker(cairn_python(), WORKERS / "data_cairn.py", ["dir", str(count)], timeout=1800)
    theirs = run_worker(_dvc(), WORKERS / "data_dvc.py", ["dir", str(count)], timeout=1800)
    cache["dir"] = (ours, theirs)
    section.notes.append(
        f"{count:,} x 4 KiB files (median of {len(ours['add'])}; DVC {len(theirs['add'])}): "
        f"`cairn data add` {median(ours['add']):.2f} s, unchanged re-add "
        f"{median(ours['readd']):.2f} s, `cairn data status` {median(ours['status']):.2f} s; "
        f"`dvc add` {median(theirs['add']):.2f} s, `dvc status` {median(theirs['status']):.2f} s."
    )
    status = median(theirs["status"])
    return [
        compare(
            f"add {count:,} x 4 KiB files",
            "wall time",
            median(ours["add"]),
            median(theirs["add"]),
            "s",
            higher_is_better=False,
            target=">= 10x faster than dvc add",
            check=lambda _c, r: r >= 10,
        ),
        compare(
            f"unchanged re-add vs dvc status ({count:,} files)",
            "wall time",
            median(ours["readd"]),
            status,
            "s",
            higher_is_better=False,
            target=">= 5x faster",
            check=lambda _c, r: r >= 5,
        ),
        compare(
            f"cairn data status vs dvc status ({count:,} files)",
            "wall time",
            median(ours["status"]),
            status,
            "s",
            higher_is_better=False,
            target=">= 5x faster",
            check=lambda _c, r: r >= 5,
        ),
    ]


def _profile(quick: bool, section: Section) -> list[Result]:
    rows = 100_000 if quick else 1_000_000
    ours = run_worker(
        cairn_python(), WORKERS / "data_cairn.py", ["profile", str(rows)], timeout=1800
    )
    seconds, peak, base = (
        median(ours["seconds"]),
        median(ours["peak_rss_mib"]),
        ours["baseline_rss_mib"][0],
    )
    section.notes.append(
        f"profile: {rows:,} rows x 20 columns (10 float, 5 int, 5 string), Parquet "
        f"{ours['file_mib']:.0f} MiB in row groups of 131,072 rows; peak RSS {peak:.0f} MiB "
        f"of which {base:.0f} MiB is the interpreter with numpy, pandas and pyarrow loaded. "
        "No DVC equivalent: DVC does not profile data."
    )
    return [
        Result(f"profile {rows:,} x 20 Parquet", "wall time", seconds, None, "s", None, "-", None),
        Result(f"profile {rows:,} x 20 Parquet", "peak RSS", peak, None, "MiB", None, "-", None),
    ]


def run(quick: bool) -> Section:
    section = Section(title="Data versioning: Cairn vs DVC", peer="DVC")
    cache: dict[str, Any] = {}
    try:
        section.versions = {"DVC": package_version(_dvc(), "dvc")}
    except Exception as exc:  # reported in the section; the profile rows still run
        section.error = f"installing DVC: {exc}"

    def many(fn: Any) -> Any:
        def measure() -> Result:
            rows = fn()
            section.results.extend(rows[:-1])
            return rows[-1]

        return measure

    if section.error is None:
        attempt(section, "add file", many(lambda: _file(quick, section, cache)))
        attempt(section, "add folder", many(lambda: _dir(quick, section, cache)))
        if any(r.passed is False for r in section.results):
            section.notes.append(MISSES)
    attempt(section, "profile", many(lambda: _profile(quick, section)))
    section.notes.append(
        "Wall times of whole commands (`cairn data add`, `cairn data status`, `dvc add`, "
        "`dvc status`), interpreter start-up included (Cairn: about 0.15 s for Python, Typer "
        "and the command modules before any work); a fresh workspace or repository per "
        "repeat; both tools' bytecode is compiled once beforehand, as in an installed "
        "package. A no-change re-add and `status` answer from Cairn's stat cache (size, "
        "mtime, ctime and inode of every file) without reading data or loading the SQL "
        "layer; see docs/data.md."
    )
    return section


if __name__ == "__main__":
    main(run)
