"""Write an MLflow store with MLflow's own client (run in the MLflow tool environment).

    python mlflow_writer.py TRACKING_URI OUT.json

Three experiments, one of them deleted; runs with params, tags, metric histories (steps
and timestamps), file and folder artifacts, a nested run and a failed one; a registered
scikit-learn model with two versions, an alias and a stage. What was written is dumped
to OUT.json so the test compares the import with what MLflow itself recorded.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

import mlflow  # noqa: E402
import mlflow.sklearn  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


def main(uri: str, out: str) -> None:
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    written: dict = {"runs": {}, "models": {}}
    exp_a = client.create_experiment("churn", tags={"team": "growth"})
    exp_b = client.create_experiment("fraud")
    x = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.9, 0.1]]
    y = [0, 1, 0, 1]
    model_ids = []
    for i, exp in enumerate([exp_a, exp_a, exp_b]):
        run = client.create_run(exp, run_name=f"run-{i}", tags={"owner": "ana", "i": str(i)})
        rid = run.info.run_id
        base = 1_700_000_000_000 + i * 1000
        metrics = [Metric("loss", 1.0 / (s + 1), base + s, s) for s in range(5)]
        metrics += [Metric("auc", 0.8 + i / 100, base + 10, 0)]
        metrics += [Metric("loss", 0.5, base + 99, 2)]  # a second point at one step
        client.log_batch(
            rid,
            metrics=metrics,
            params=[Param("lr", str(0.1 * (i + 1))), Param("depth", "3")],
            tags=[RunTag("note", "first " * 3)],
        )
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "report.txt").write_text(f"report {i}\n")
            (Path(tmp) / "plots").mkdir()
            (Path(tmp) / "plots" / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
            client.log_artifact(rid, str(Path(tmp) / "report.txt"))
            client.log_artifacts(rid, str(Path(tmp) / "plots"), artifact_path="plots")
        if i < 2:
            with mlflow.start_run(run_id=rid):
                fitted = LogisticRegression(C=1.0 + i).fit(x, y)
                info = mlflow.sklearn.log_model(fitted, name="model")
                model_ids.append((rid, info.model_uri))
        status = "FAILED" if i == 2 else "FINISHED"
        end = run.info.start_time + 5000
        client.set_terminated(rid, status=status, end_time=end)
        written["runs"][rid] = {
            "experiment": "churn" if exp == exp_a else "fraud",
            "name": f"run-{i}",
            "status": status,
            "start_time": run.info.start_time,
            "end_time": end,
            "params": {"lr": str(0.1 * (i + 1)), "depth": "3"},
            "loss": [[m.step, m.timestamp, m.value] for m in metrics if m.key == "loss"],
        }
    parent = client.create_run(exp_b, run_name="parent")
    child = client.create_run(
        exp_b, run_name="child", tags={"mlflow.parentRunId": parent.info.run_id}
    )
    client.set_terminated(child.info.run_id)
    client.set_terminated(parent.info.run_id)
    written["parent"] = parent.info.run_id
    written["child"] = child.info.run_id
    # An experiment deleted in MLflow, with a description and a run (deleted with it).
    retired = client.create_experiment(
        "retired", tags={"mlflow.note.content": "old baseline", "team": "core"}
    )
    client.set_experiment_tag(retired, "why", "superseded")
    old = client.create_run(retired, run_name="baseline")
    client.log_batch(old.info.run_id, params=[Param("lr", "0.5")])
    client.set_terminated(old.info.run_id)
    client.delete_experiment(retired)
    written["retired"] = old.info.run_id

    client.create_registered_model("churn-model", description="churn classifier")
    for rid, model_uri in model_ids:
        mv = mlflow.register_model(model_uri, "churn-model")
        written["models"][mv.version] = rid
    client.set_registered_model_alias("churn-model", "champion", "1")
    client.transition_model_version_stage("churn-model", "2", "Staging")
    Path(out).write_text(json.dumps(written))


if __name__ == "__main__":
    os.chdir(Path(sys.argv[2]).parent)  # a default artifact root lands beside the output
    main(sys.argv[1], sys.argv[2])
