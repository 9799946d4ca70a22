"""Web UI: Cairn's pages against the MLflow UI, in headless Chromium, same runs in both.

Both stores hold the same 10,000 runs (5 params, ``acc`` and ``loss``), made as the
tracking benchmark makes them: one run through each tool's own API, its rows copied in
SQL. Cairn's UI is ``cairn ui`` over the workspace, MLflow's is ``mlflow server`` over
its SQLite store, each in its own process. A Playwright worker in the project venv drives
Debian's chromium: every timed load is a fresh browser context (empty cache), timed from
navigation to the first rows of the runs table in the DOM, or to a table filtered by
``metrics.acc > 0.9`` given in the URL (both UIs keep the filter in the link), and counts
the bytes the page pulled. Then Cairn alone: the same pages at 100,000 runs, and a run
page with 10 metrics x 100,000 steps, timed until every chart is drawn, on a fresh
server (first visit) and again (the server keeps finished runs' series). Run alone with
``python benchmarks/bench_ui.py [--quick]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import (
    WORKERS,
    BenchmarkError,
    Result,
    Section,
    attempt,
    cairn_python,
    compare,
    log,
    main,
    median,
    package_version,
    peer_python,
    run_worker,
)

MLFLOW = ["mlflow==3.17.2"]
CAIRN_ROWS = "() => document.querySelectorAll('table#runs tbody tr[data-run]').length > 0"
MLFLOW_ROWS = "() => document.querySelectorAll('.ag-center-cols-container .ag-row').length > 0"
FILTER = "metrics.acc > 0.9"


@dataclass(frozen=True)
class Sizes:
    runs: int  # runs in both stores
    big: int  # runs in Cairn's large store
    metrics: int  # metrics of the long run
    steps: int  # steps per metric of the long run
    repeats: tuple[int, int]  # timed loads per page (Cairn, MLflow)
    cold: int  # first visits of the run page, each on a fresh server


FULL = Sizes(10_000, 100_000, 10, 100_000, (7, 5), 3)
QUICK = Sizes(2_000, 20_000, 10, 20_000, (3, 2), 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(cmd: list[str], cwd: Path, ready_url: str, what: str) -> Iterator[None]:
    """Run ``cmd`` until the block ends; waits (60 s at most) until ``ready_url`` answers."""
    out = open(cwd / f"{what}.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=os.environ)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                tail = (cwd / f"{what}.log").read_text(errors="replace").splitlines()[-3:]
                raise BenchmarkError(f"{what} exited {proc.returncode}: {' | '.join(tail)}")
            try:
                with urllib.request.urlopen(ready_url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"{what} did not answer {ready_url} in 60 s") from None
                time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def _cairn_server(root: Path) -> tuple[contextlib.AbstractContextManager[None], str]:
    port = _free_port()
    cmd = [str(cairn_python()), "-m", "cairn", "ui", "--port", str(port)]
    base = f"http://127.0.0.1:{port}"
    return _server(cmd, root, f"{base}/ui/static/cairn.css", f"cairn-{port}"), base


def _mlflow_server(root: Path, python: Path) -> tuple[contextlib.AbstractContextManager[None], str]:
    port = _free_port()
    cmd = [
        str(python.parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    return _server(cmd, root, f"{base}/health", f"mlflow-{port}"), base


def _browse(pages: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, list[float]]]:
    spec = tmp / f"spec-{time.monotonic_ns()}.json"
    spec.write_text(json.dumps(pages), encoding="utf-8")
    data = run_worker(cairn_python(), WORKERS / "ui_browser.py", [str(spec)], 3600)
    pages_out: dict[str, dict[str, list[float]]] = data["pages"]
    return pages_out


def _spread(xs: list[float], scale: float = 1.0, fmt: str = "{:.2f}") -> str:
    ys = sorted(x * scale for x in xs)
    return f"{fmt.format(ys[0])}-{fmt.format(ys[-1])}"


def _only_cairn(benchmark: str, metric: str, value: float, unit: str, target: str,
                passed: bool | None) -> Result:  # fmt: skip
    return Result(benchmark, metric, value, None, unit, None, target, passed)


class _Bench:
    def __init__(self, sizes: Sizes, tmp: Path, section: Section) -> None:
        self.sizes = sizes
        self.tmp = tmp
        self.section = section
        self.notes = section.notes
        self.mlflow = peer_python("mlflow", MLFLOW)
        self.cairn_root = tmp / "cairn"
        self.big_root = tmp / "cairn-big"
        self.mlflow_root = tmp / "mlflow"
        self.long_run = ""
        self.experiment_id = ""

    def populate(self) -> None:
        s = self.sizes
        for d in (self.cairn_root, self.big_root, self.mlflow_root):
            d.mkdir()
        log(f"ui: populating MLflow with {s.runs:,} runs")
        ml = run_worker(
            self.mlflow, WORKERS / "ui_populate_mlflow.py", [str(self.mlflow_root), str(s.runs)]
        )
        self.experiment_id = str(ml["experiment_id"])
        log(f"ui: populating Cairn with {s.runs:,} runs and {s.metrics} x {s.steps:,} steps")
        ca = run_worker(
            cairn_python(),
            WORKERS / "ui_populate_cairn.py",
            [str(self.cairn_root), str(s.runs), str(s.metrics), str(s.steps)],
            1800,
        )
        self.long_run = str(ca["long_run"])
        log(f"ui: populating Cairn with {s.big:,} runs")
        run_worker(
            cairn_python(), WORKERS / "ui_populate_cairn.py", [str(self.big_root), str(s.big)]
        )
        if ml["runs"] != s.runs:
            raise BenchmarkError(f"MLflow's store holds {ml['runs']} runs, not {s.runs}")

    def tables(self) -> None:
        """First rows and filtered table, both tools, same 10,000 runs."""
        s = self.sizes
        q = urllib.parse.quote(FILTER)
        server, base = _cairn_server(self.cairn_root)
        with server:
            log("ui: Cairn runs table in chromium")
            ours = _browse(
                [
                    {"name": "first", "url": f"{base}/ui/runs?experiment=bench",
                     "ready": CAIRN_ROWS, "repeats": s.repeats[0]},
                    {"name": "filtered", "url": f"{base}/ui/runs?experiment=bench&filter={q}",
                     "ready": CAIRN_ROWS, "repeats": s.repeats[0]},
                ],
                self.tmp,
            )  # fmt: skip
        server, base = _mlflow_server(self.mlflow_root, self.mlflow)
        runs = f"{base}/#/experiments/{self.experiment_id}/runs"
        with server:
            log("ui: MLflow runs table in chromium")
            theirs = _browse(
                [
                    {"name": "first", "url": runs, "ready": MLFLOW_ROWS, "repeats": s.repeats[1]},
                    {"name": "filtered", "url": f"{runs}?searchFilter={q}",
                     "response": ["runs/search", "metrics.acc"],
                     "ready": MLFLOW_ROWS, "repeats": s.repeats[1]},
                ],
                self.tmp,
            )  # fmt: skip
        n = f"{s.runs:,} runs"
        for name, label in (("first", "first rows"), ("filtered", f"table filtered `{FILTER}`")):
            o, t = ours[name], theirs[name]
            self.section.results.append(
                compare(
                    f"runs table, {n}: {label}", "time in chromium", median(o["seconds"]),
                    median(t["seconds"]), "s", higher_is_better=False,
                    target=">= 5x MLflow", check=lambda _c, r: r >= 5,
                )
            )  # fmt: skip
            self.notes.append(
                f"{label}, {n}: Cairn {len(o['seconds'])} loads {_spread(o['seconds'])} s, "
                f"MLflow {len(t['seconds'])} loads {_spread(t['seconds'])} s."
            )
        o, t = ours["first"], theirs["first"]
        self.section.results.append(
            compare(
                f"runs table, {n}: bytes for the first page", "transferred",
                median(o["bytes"]) / 1024, median(t["bytes"]) / 1024, "KiB",
                higher_is_better=False, target="<= 1/10 of MLflow's",
                check=lambda _c, r: r >= 10,
            )
        )  # fmt: skip

    def big(self) -> None:
        """Cairn alone at 100,000 runs."""
        s = self.sizes
        q = urllib.parse.quote(FILTER)
        server, base = _cairn_server(self.big_root)
        with server:
            log(f"ui: Cairn runs table at {s.big:,} runs")
            ours = _browse(
                [
                    {"name": "first", "url": f"{base}/ui/runs?experiment=bench",
                     "ready": CAIRN_ROWS, "repeats": s.repeats[0]},
                    {"name": "sorted", "url": f"{base}/ui/runs?experiment=bench&filter={q}"
                     "&sort=metrics.acc+desc", "ready": CAIRN_ROWS, "repeats": s.repeats[0]},
                ],
                self.tmp,
            )  # fmt: skip
        first = median(ours["first"]["seconds"])
        self.section.results.append(
            _only_cairn(f"runs table, {s.big:,} runs: first rows", "time in chromium", first,
                        "s", "<= 1 s", first <= 1.0)
        )  # fmt: skip
        sort = median(ours["sorted"]["seconds"])
        self.section.results.append(
            _only_cairn(f"runs table, {s.big:,} runs: filtered and sorted by metrics.acc",
                        "time in chromium", sort, "s", "", None)
        )  # fmt: skip

    def run_page(self) -> None:
        """The run page with long series: first visit on a fresh server, then again."""
        s = self.sizes
        ready = (
            "() => { const f = [...document.querySelectorAll('figure.chart')]; "
            f"return f.length === {s.metrics} && f.every(x => x.dataset.drawn === '1'); }}"
        )
        cold: list[float] = []
        for i in range(s.cold):
            server, base = _cairn_server(self.cairn_root)
            with server:
                log(f"ui: run page, first visit {i + 1}/{s.cold}")
                page = {"name": "run", "url": f"{base}/ui/runs/{self.long_run}",
                        "ready": ready, "repeats": 1, "warmup": False}  # fmt: skip
                cold += _browse([page], self.tmp)["run"]["seconds"]
                if i == s.cold - 1:
                    log("ui: run page, repeat visits")
                    page.update(repeats=s.repeats[0], warmup=True)
                    warm = _browse([page], self.tmp)["run"]
        label = f"run page, {s.metrics} metrics x {s.steps:,} steps: charts drawn"
        self.section.results.append(
            _only_cairn(f"{label} (first visit)", "time in chromium", median(cold), "s", "", None)
        )
        self.section.results.append(
            _only_cairn(f"{label} (again)", "time in chromium", median(warm["seconds"]), "s",
                        "", None)
        )  # fmt: skip
        self.notes.append(
            f"run page: first visits on a fresh server {_spread(cold)} s; repeat visits "
            f"{_spread(warm['seconds'])} s, {median(warm['bytes']) / 1024:.0f} KiB each. Each "
            "chart asks for its series thinned on the server to about twice its width in "
            "points (every bucket's lowest and highest point), not 100,000."
        )


def run(quick: bool) -> Section:
    """Populate both stores once, then measure the pages."""
    sizes = QUICK if quick else FULL
    mlflow = peer_python("mlflow", MLFLOW)
    section = Section(
        title="Web UI: Cairn vs the MLflow UI (headless Chromium, embedded SQLite)",
        peer="MLflow",
        versions={"MLflow": package_version(mlflow, "mlflow")},
    )
    with tempfile.TemporaryDirectory() as tmp:
        bench = _Bench(sizes, Path(tmp), section)
        bench.populate()
        attempt(section, "tables", lambda: _rows(bench.tables, section))
        attempt(section, "100,000 runs", lambda: _rows(bench.big, section))
        attempt(section, "run page", lambda: _rows(bench.run_page, section))
    section.notes.append(
        "Every timed load is a new browser context (nothing cached), after one untimed "
        "load per page and server; times run from navigation to the rows (or drawn charts) "
        "being in the page, as Playwright sees them. Bytes are the Resource Timing transfer "
        "sizes of the document and every request it made, by the later of that moment and "
        "the page's load event. MLflow's table counts as filtered once its search request "
        "carrying the filter has answered and rows are shown. Figures are medians."
    )
    return section


def _rows(step: Any, section: Section) -> Result:
    """Run one measuring step (it appends its own rows); :func:`attempt` wants a Result,
    so hand back the last row the step added and drop the duplicate."""
    before = len(section.results)
    step()
    if len(section.results) == before:
        raise BenchmarkError(f"{step.__name__} measured nothing")
    return section.results.pop()


if __name__ == "__main__":
    main(run)
