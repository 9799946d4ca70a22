"""The loop, end to end: production traffic drifts, monitoring notices, a rule retrains,
the gate lets the new version through, the alias moves, and the running server swaps.

Runs after the serving step (``breast-cancer@production`` is version 1, a logistic
regression trained on ``breast-cancer@v1``; ``data/breast_cancer.csv`` holds its rows).

The story, with what the user sees at each heading:

1. ``cairn serve breast-cancer@production`` runs in the background; new cases arrive
   from a scanner that reads two measurements, ``mean_texture`` and
   ``worst_smoothness``, 4 standard deviations higher. The other 28 are untouched.
2. ``cairn monitor check`` flags exactly those two features (and the predictions they
   move), with an exit code a cron job or CI can act on.
3. The lab's confirmed diagnoses of the new cases arrive as ``breast-cancer@v2``.
4. ``cairn monitor run --once`` evaluates ``monitor.yaml``: the drift rule fires one
   alert, whose ``retrain`` action runs ``examples/pipelines/retrain.py`` on the newest
   data, gates the new version against production on held-out recent cases, and moves
   the alias (``auto_promote: true``).
5. The server, which follows the alias, answers with the new version without a
   restart. A second cycle checks the new version against the data it was trained on,
   which the traffic now matches: the drift alert resolves.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from steps import Context, StepFailed, heading
from steps.serving import _free_port, _start

MODEL = "breast-cancer"
#: The two measurements the new scanner reads higher, and by how many std.
DRIFTED = ("mean_texture", "worst_smoothness")
SHIFT_STD = 4.0
PIPELINE = Path(__file__).resolve().parents[2] / "pipelines" / "retrain.py"
MONITOR = f"""\
model: {MODEL}@production
window: 1h
interval: 5m
retention: 30d
rules:
  - name: drift
    when: {{drift_share: {{above: 0.05}}}}   # more than 1 feature in 20
    cooldown: 6h
    actions: [log, retrain]
  - name: errors
    when: {{error_rate: {{above: 0.05}}}}
    actions: [log]
actions:
  log: {{log: {{level: warning}}}}
  retrain:
    pipeline:
      target: pipelines/retrain.py:retrain_pipeline   # next to monitor.yaml
      params: {{data: {MODEL}, model: {MODEL}}}
      model: {MODEL}
      alias: production
      gates: gates-retrain.yaml
      auto_promote: true
"""
#: Gated on recent cases the new version was not trained on: the champion is judged on
#: the data it now sees in production.
GATES = """\
data: recent-gate.csv
target: target
rules:
  - {metric: roc_auc, min: 0.95}
  - {metric: accuracy, min: 0.90}
  - {metric: accuracy, no_worse_than: production}
  - {signature_compatible_with: production}
"""


def _drifted_cases(ctx: Context) -> Any:
    """The new cases: the known rows, two measurements shifted (labels kept apart)."""
    import pandas as pd

    frame = pd.read_csv(ctx.workspace / "data" / "breast_cancer.csv")
    for column in DRIFTED:
        frame[column] = frame[column] + SHIFT_STD * frame[column].std()
    return frame


def _send(client: Any, features: Any, tag: str, size: int = 50) -> int:
    """POST the rows to /invocations in requests of ``size`` rows; the number sent."""
    columns = list(features.columns)
    for start in range(0, len(features), size):
        part = features.iloc[start : start + size]
        body = {"dataframe_split": {"columns": columns, "data": part.values.tolist()}}
        headers = {"X-Request-ID": f"{tag}-{start // size}"}
        client.post("/invocations", json=body, headers=headers).raise_for_status()
    return len(features)


def _wait_logged(tag: str, rows: int, deadline_s: float = 60) -> None:
    """Wait until the prediction log holds ``rows`` rows of requests ``tag-*``."""
    import cairn.serving

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        log = cairn.serving.read_log(MODEL)
        if len(log) and int(log["request_id"].str.startswith(f"{tag}-").sum()) >= rows:
            return
        time.sleep(0.3)
    raise StepFailed(f"the prediction log did not show the {rows} rows of {tag} in time")


def _served_version(client: Any) -> str:
    return str(client.get(f"/v2/models/{MODEL}").json()["version"])


def _wait_swap(client: Any, version: str, deadline_s: float = 90) -> float:
    """Wait until the server answers with ``version``; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        if _served_version(client) == version:
            return time.monotonic() - started
        time.sleep(0.2)
    raise StepFailed(f"the server still serves version {_served_version(client)}, not {version}")


def _check_json(ctx: Context, *args: str) -> dict[str, Any]:
    return dict(json.loads(ctx.cairn("monitor", "check", *args, "--json", ok=(0, 3), echo=False)))


def run(ctx: Context) -> None:
    import httpx

    import cairn.data
    import cairn.registry

    cases = _drifted_cases(ctx)
    target = str(ctx.results.get("target", "target"))
    features = cases.drop(columns=[target])
    heading("the production model, served in the background")
    port = _free_port()
    proc = _start(ctx, port, "--poll", "0.5")  # how often it asks where the alias points
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            before = _served_version(client)
            print(f"GET /v2/models/{MODEL}: version {before}")

            heading(f"production traffic drifts: {' and '.join(DRIFTED)} read higher")
            sent = _send(client, features, "drifted")
            print(
                f"sent {sent} new cases; {', '.join(DRIFTED)} shifted by {SHIFT_STD:g} std, "
                f"the other {len(features.columns) - len(DRIFTED)} measurements untouched"
            )
            _wait_logged("drifted", sent)

            heading("cairn monitor check flags those two features, and the predictions")
            ctx.cairn("monitor", "check", f"{MODEL}@production", "--window", "1h", ok=(3,))
            report = _check_json(ctx, f"{MODEL}@production", "--window", "1h")
            flagged = sorted(f["feature"] for f in report["features"] if f["drifted"])
            print(f"drifted features in the JSON report: {', '.join(flagged)}")
            if flagged != sorted(DRIFTED):
                raise StepFailed(f"expected exactly {sorted(DRIFTED)} to drift, got {flagged}")

            heading("the lab's diagnoses of the new cases arrive: breast-cancer@v2")
            recent = ctx.workspace / "data" / "recent.csv"
            cases.to_csv(recent, index=False)
            ctx.cairn("data", "add", "data/recent.csv", "--name", MODEL, "-m", "new scanner")
            _, gate_rows = cairn.data.split(cases, 0.3, stratify=target, seed=42)
            gate_rows.to_csv(ctx.workspace / "recent-gate.csv", index=False)
            (ctx.workspace / "gates-retrain.yaml").write_text(GATES, encoding="utf-8")
            (ctx.workspace / "monitor.yaml").write_text(MONITOR, encoding="utf-8")
            (ctx.workspace / "pipelines").mkdir(exist_ok=True)
            shutil.copy(PIPELINE, ctx.workspace / "pipelines" / "retrain.py")
            print(f"monitor.yaml:\n{MONITOR}\ngates-retrain.yaml:\n{GATES}")
            print(f"pipelines/retrain.py: a copy of examples/pipelines/{PIPELINE.name}")

            heading("the rule fires: retrain on the newest data, gate, promote")
            ctx.cairn("monitor", "run", "--once")
            ctx.cairn("models", "history", MODEL)
            new = str(cairn.registry.resolve_alias(MODEL, "production"))
            if new == before:
                raise StepFailed(f"the alias did not move: production is still version {new}")

            heading(f"the running server swaps to version {new}")
            took = _wait_swap(client, new)
            print(f"GET /v2/models/{MODEL}: version {new} (was {before}; swapped in {took:.1f}s)")
            head = features.head(5)
            split = {"columns": list(head.columns), "data": head.values.tolist()}
            resp = client.post("/invocations", json={"dataframe_split": split})
            print(
                f"POST /invocations (5 new cases): {resp.json()['predictions']} "
                f"[model version {resp.headers['x-model-version']}]"
            )
            sent = _send(client, features, "after")
            print(f"sent the {sent} new cases again: version {new} answers them")
            _wait_logged("after", sent)

        # Version N is compared with the data it was trained on, which the new traffic
        # matches: the drift rule stops holding, and its alert is resolved.
        heading(f"a second cycle: version {new} is healthy, the drift alert resolves")
        ctx.cairn("monitor", "run", "--once")
    finally:
        proc.send_signal(signal.SIGTERM)  # graceful: the prediction log is flushed
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    ctx.results["loop_version"] = new
