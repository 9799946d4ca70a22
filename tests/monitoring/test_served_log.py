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
