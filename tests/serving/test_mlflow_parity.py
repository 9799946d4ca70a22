"""``/invocations`` answers what ``mlflow models serve`` answers, for the same model.

The same scikit-learn models (same data, same estimator, same scikit-learn version) are
saved with MLflow (in its own venv) and with Cairn; both servers run as real processes
on 127.0.0.1, and one list of request bodies — some made by MLflow's own helpers — is
replayed against both. For every body the status class must agree; predictions must be
equal; Cairn's errors carry MLflow's ``error_code`` and ``message``. The forms where
Cairn deliberately answers and MLflow refuses are checked to still be exactly that.
"""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow_peer import start_mlflow, stop, wait_ready
from serving_helpers import IRIS_COLUMNS, free_port, iris_estimator, iris_frame

from tool_venv import tool_python

pytestmark = pytest.mark.slow

JSON = "application/json"
PARQUET = "application/vnd.apache.parquet"


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # "table", "array" or "proba": which pair of servers answers it
    body: bytes
    ctype: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def _json(name: str, model: str, doc: Any, **kw: Any) -> Case:
    return Case(name, model, json.dumps(doc).encode(), **kw)


def _cases(helper_bodies: dict[str, str]) -> tuple[list[Case], list[Case]]:
    """(bodies both must answer alike, bodies only Cairn accepts by design)."""
    X, _ = iris_frame()
    rows = X.iloc[::13]
    data = rows.values.tolist()
    text = [[str(v) for v in r] for r in data]
    records = [dict(zip(IRIS_COLUMNS, r, strict=True)) for r in data]
    arrays = X.to_numpy()[::13].tolist()
    split = {"columns": IRIS_COLUMNS, "data": data}
    parquet = io.BytesIO()
    rows.to_parquet(parquet)
    same = [
        Case("helper-split", "table", helper_bodies["table-helper"].encode()),
        _json("split", "table", {"dataframe_split": split}),
        _json("split-index", "table", {"dataframe_split": {**split, "index": list(range(12))}}),
        _json("records", "table", {"dataframe_records": records}),
        _json("instances-records", "table", {"instances": records}),
        _json("inputs-columns", "table", {"inputs": {c: rows[c].tolist() for c in IRIS_COLUMNS}}),
        _json("split-text", "table", {"dataframe_split": {**split, "data": text}}),
        _json(
            "records-text",
            "table",
            {"dataframe_records": [dict(zip(IRIS_COLUMNS, r, strict=True)) for r in text]},
        ),
        _json(
            "extra-column",
            "table",
            {"dataframe_split": {"columns": [*IRIS_COLUMNS, "x"], "data": [[*r, 1] for r in data]}},
        ),
        _json(
            "bool-in-number", "table", {"dataframe_split": {**split, "data": [[True, 3.5, 1, 0]]}}
        ),
        _json("params-ignored", "table", {"dataframe_split": split, "params": {"top_k": 3}}),
        _json("utf8-charset", "table", {"dataframe_split": split}, ctype=f"{JSON}; charset=utf-8"),
        Case("csv", "table", rows.to_csv(index=False).encode(), "text/csv"),
        Case("parquet", "table", parquet.getvalue(), PARQUET),
        Case("helper-rows", "array", helper_bodies["array-helper-rows"].encode()),
        Case("helper-frame", "array", helper_bodies["array-helper-frame"].encode()),
        _json(
            "split-int-columns",
            "array",
            {"dataframe_split": {"columns": [0, 1, 2, 3], "data": arrays}},
        ),
        _json("rows-text", "array", {"inputs": [[str(v) for v in r] for r in arrays]}),
        _json(
            "proba-split",
            "proba",
            {"dataframe_split": split, "params": {"method": "predict_proba"}},
        ),
        _json(
            "proba-records",
            "proba",
            {"dataframe_records": records, "params": {"method": "predict_proba"}},
        ),
        # bad bodies: both refuse
        _json(
            "missing-column",
            "table",
            {"dataframe_split": {"columns": IRIS_COLUMNS[:3], "data": [r[:3] for r in data]}},
        ),
        _json(
            "text-not-number",
            "table",
            {"dataframe_split": {**split, "data": [["abc", 3.5, 1.4, 0.2]]}},
        ),
        _json(
            "null-value", "table", {"dataframe_split": {**split, "data": [[None, 3.5, 1.4, 0.2]]}}
        ),
        _json("no-format-key", "table", {"rows": data}),
        _json("two-format-keys", "table", {"inputs": records, "instances": records}),
        _json("a-list", "table", data),
        Case("not-json", "table", b"{nope"),
        Case("csv-no-header", "table", b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n", "text/csv"),
        Case("xml", "table", b"<rows/>", "application/xml"),
        _json(
            "latin1-charset", "table", {"dataframe_split": split}, ctype=f"{JSON}; charset=latin-1"
        ),
        Case("parquet-garbage", "table", b"PAR1 nothing PAR1", PARQUET),
        _json("array-text-not-number", "array", {"inputs": [["x", "1", "2", "3"]]}),
    ]
    only_cairn = [
        Case(
            "gzip",
            "table",
            gzip.compress(json.dumps({"dataframe_split": split}).encode()),
            headers=(("Content-Encoding", "gzip"),),
        ),
        _json("empty-batch", "table", {"dataframe_split": {**split, "data": []}}),
        _json("rows-for-a-table", "table", {"inputs": data}),
    ]
    return same, only_cairn


def _post(port: int, case: Case) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(
            "POST",
            "/invocations",
            body=case.body,
            headers={"Content-Type": case.ctype, **dict(case.headers)},
        )
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw.decode("utf-8", "replace")


def _start_cairn(model: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "cairn", "serve", model, "--port", str(port), "--no-log"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


@dataclass(frozen=True)
class Servers:
    ports: dict[str, tuple[int, int]]  # model kind -> (mlflow port, cairn port)
    helper_bodies: dict[str, str]


@pytest.fixture(scope="session")
def mlflow_bin() -> Path:
    return tool_python("mlflow")  # skips (or fails under CAIRN_REQUIRE_VALIDATORS) without it


@pytest.fixture
def servers(mlflow_bin: Path, models: Any, tmp_path: Path) -> Iterator[Servers]:
    """Both servers for each model, all answering, and the bodies MLflow's helpers made."""
    from sklearn.linear_model import LogisticRegression

    worker = Path(__file__).with_name("mlflow_worker.py")
    saved = tmp_path / "mlflow"
    done = subprocess.run(
        [str(mlflow_bin), str(worker), str(saved)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    X, y = iris_frame()
    models.register("iris", iris_estimator(), X.iloc[:5])
    arrays = X.to_numpy()
    models.register("bare", LogisticRegression(max_iter=1000).fit(arrays, y), arrays[:5])
    procs: list[subprocess.Popen[bytes]] = []
    ports: dict[str, tuple[int, int]] = {}
    try:
        cairn_for = {
            "table": "iris@production",
            "array": "bare@production",
            "proba": "iris@production",
        }
        waits = []
        for kind in ("table", "array", "proba"):
            mport, cport = free_port(), free_port()
            procs.append(start_mlflow(mlflow_bin, saved / kind, mport))
            waits.append((procs[-1], mport, "/ping"))
            procs.append(_start_cairn(cairn_for[kind], cport))
            waits.append((procs[-1], cport, "/v2/health/ready"))
            ports[kind] = (mport, cport)
        deadline = time.monotonic() + 240  # three MLflow servers starting on two cores
        for proc, port, path in waits:
            wait_ready(proc, port, path, deadline)
        yield Servers(ports, json.loads((saved / "bodies.json").read_text()))
    finally:
        for proc in procs:
            stop(proc)


def _same_predictions(ours: Any, theirs: Any) -> bool:
    a, b = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-9, atol=0))


def test_invocations_answers_every_body_as_mlflow_does(servers: Servers) -> None:
    same, only_cairn = _cases(servers.helper_bodies)
    assert len(same) > 30
    mismatches: list[str] = []
    for case in same:
        mport, cport = servers.ports[case.model]
        m_status, m_body = _post(mport, case)
        c_status, c_body = _post(cport, case)
        if m_status // 100 != c_status // 100:
            theirs, ours = str(m_body)[:120], str(c_body)[:200]
            mismatches.append(f"{case.name}: mlflow {m_status} {theirs} / cairn {c_status} {ours}")
        elif m_status == 200:
            if not _same_predictions(c_body["predictions"], m_body["predictions"]):
                mismatches.append(f"{case.name}: predictions {c_body} != {m_body}")
        else:
            if m_status in (400, 415) and c_status != m_status:
                mismatches.append(f"{case.name}: status {c_status}, mlflow says {m_status}")
            if not (
                isinstance(c_body, dict) and c_body.get("error_code") and c_body.get("message")
            ):
                mismatches.append(f"{case.name}: error body without error_code/message: {c_body}")
    assert not mismatches, "\n".join(mismatches)
    for case in only_cairn:  # documented in docs/serving.md as deliberate differences
        mport, cport = servers.ports[case.model]
        m_status, _ = _post(mport, case)
        c_status, c_body = _post(cport, case)
        assert m_status == 400 and c_status == 200, (case.name, m_status, c_status, c_body)
