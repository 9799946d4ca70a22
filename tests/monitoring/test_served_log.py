"""The model server logs what monitoring needs: status, latency and probabilities."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pandas as pd
from monitor_helpers import FEATURES, Monitored, make_frame

from cairn.monitoring.check import check


def _post(app: Any, body: dict[str, Any]) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://serving.test") as c:
            # json.dumps writes NaN as the token NaN, as pandas clients do.
            data = json.dumps(body)
            headers = {"content-type": "application/json"}
            return await c.post("/invocations", content=data, headers=headers)

    return asyncio.run(call())


def test_served_requests_and_model_failures_reach_the_check(monitored: Monitored) -> None:
    from cairn.serving.predlog import read_log
    from cairn.serving.server import ServeConfig, build_app

    app = build_app(ServeConfig("churn@production"), workspace=monitored.ws)
    app.start()
    try:
        frame = make_frame(40, 40)[FEATURES]
        for start in range(0, 40, 10):
            part = frame.iloc[start : start + 10]
            answer = _post(app, {"dataframe_split": part.to_dict(orient="split")})
            assert answer.status_code == 200, answer.text
        broken = frame.iloc[:5].copy()
        broken["x1"] = float("nan")  # the model refuses NaN: a 4xx the log must show
        answer = _post(app, {"dataframe_split": broken.to_dict(orient="split")})
        assert answer.status_code >= 400
    finally:
        app.close()
    logged = read_log("churn", workspace=monitored.ws)
    assert len(logged) == 45
    assert set(logged["status"]) == {200, 422}  # the model refused: 422 (MLflow answers 400)
    assert logged["latency_ms"].notna().all()
    ok = logged[logged["status"] == 200]
    assert ok["proba"].map(lambda p: abs(sum(p) - 1.0) < 1e-9).all()
    assert logged.loc[logged["status"] != 200, "prediction"].isna().all()
    report = check("churn", window="1h", workspace=monitored.ws)
    assert report.health is not None and report.health.requests == 5
    assert report.health.error_rate == 0.2
    assert isinstance(report.performance[0].estimated["accuracy"], float)
    assert not pd.isna(report.health.latency_p99_ms)


def test_probabilities_are_one_call_per_flush_and_a_refused_request_costs_only_its_own(
    monitored: Monitored,
) -> None:
    """Scoring probabilities request by request made the writer thread spend
    milliseconds per request; one joint call must give every request exactly its own
    probabilities, and a request the model refuses must not blank the others."""
    import numpy as np

    from cairn.serving.codec import table_batch
    from cairn.serving.predlog import LogRecord, PredictionLog, default_root, read_log

    predictor = monitored.predictor()
    calls: list[int] = []

    def proba(batch: Any) -> Any:
        calls.append(batch.rows)
        return predictor.predict_proba(batch)

    frame = make_frame(60, 41)[FEATURES]
    records, expected = [], {}
    start = 0
    for i, size in enumerate([1, 3, 2, 5, 1, 4, 2, 3]):
        part = frame.iloc[start : start + size]
        start += size
        batch = table_batch(predictor.spec, {c: part[c].to_numpy() for c in FEATURES})
        if i == 4:  # the model cannot score this one (NaN); its predictions came from elsewhere
            batch = table_batch(
                predictor.spec, {**{c: part[c].to_numpy() for c in FEATURES}, "x1": [np.nan]}
            )
            preds = np.zeros(1, dtype=np.int64)
        else:
            preds = predictor.predict(batch)[0]
            expected[f"q{i}"] = predictor.predict_proba(batch)[0]
        records.append(
            LogRecord(1_000 + i, f"q{i}", "churn", "1", "primary", True, batch, preds, 200,
                      1.0, proba)
        )  # fmt: skip
    plog = PredictionLog(default_root(monitored.ws))
    for record in records[:4]:
        plog.append(record)
    plog.flush()
    assert calls == [11]  # one call for the four requests' eleven rows
    for record in records[4:]:
        plog.append(record)
    plog.close()
    logged = read_log("churn", workspace=monitored.ws)
    assert len(logged) == 21
    for rid, probs in expected.items():
        got = np.array(logged.loc[logged["request_id"] == rid, "proba"].tolist())
        np.testing.assert_allclose(got, probs, rtol=0, atol=1e-12)
    assert logged.loc[logged["request_id"] == "q4", "proba"].isna().all()
