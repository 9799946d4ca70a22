"""MLflow's unmodified client against ``cairn server``: a training script with
autologging, a search, registration with an alias, loading the model back; then the
endpoints one by one with ``MlflowClient``; then Cairn's own commands on the same store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow_harness import cairn_server, run_mlflow

TRAIN = """
import json, mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("iris")
mlflow.autolog()
X, y = load_iris(return_X_y=True)
with mlflow.start_run(run_name="lr") as run:
    model = LogisticRegression(max_iter=300, C=0.5).fit(X, y)
with mlflow.start_run(run_name="weak"):
    LogisticRegression(max_iter=5, C=0.001).fit(X, y)
found = mlflow.search_runs(
    filter_string="params.C = '0.5' and metrics.training_score > 0.5",
    order_by=["metrics.training_score DESC"],
    output_format="list",
)
ordered = mlflow.search_runs(order_by=["metrics.training_score DESC"], output_format="list")
version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "iris-lr")
mlflow.MlflowClient().set_registered_model_alias("iris-lr", "champion", version.version)
loaded = mlflow.pyfunc.load_model("models:/iris-lr@champion")
print(json.dumps({
    "run": run.info.run_id,
    "found": [r.info.run_id for r in found],
    "ordered": [r.data.tags["mlflow.runName"] for r in ordered],
    "version": version.version,
    "pred": loaded.predict(X[:20]).tolist(),
    "expected": model.predict(X[:20]).tolist(),
}))
"""


def test_autologged_training_is_searchable_registered_and_loads_back(tmp_path: Path) -> None:
    with cairn_server(tmp_path) as server:
        out = run_mlflow(TRAIN, server.url, tmp_path)
        assert out["found"] == [out["run"]]
        assert out["ordered"] == ["lr", "weak"]
        assert out["version"] == "1"
        assert out["pred"] == out["expected"]

        # Ordinary Cairn records: `cairn runs ls` and the registry see them.
        listed = server.cairn("runs", "ls", "--json", "--filter", "params.C = '0.5'")
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert row["id"] == out["run"]
        assert row["experiment"] == "iris"
        assert row["params"]["max_iter"] == "300"
        assert row["metrics"]["training_score"] > 0.5
        shown = server.cairn("models", "ls", "iris-lr", "--json")
        assert shown.returncode == 0, shown.stderr
        (version,) = json.loads(shown.stdout)
        assert version["run_id"] == out["run"]
        assert version["aliases"] == ["champion"]
        assert version["flavor"] == "mlflow"


ENDPOINTS = """
import json, math, os, tempfile
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.data import from_numpy
import numpy as np

c = MlflowClient()
out = {}
exp_id = c.create_experiment("one-by-one")
out["get"] = c.get_experiment(exp_id).name
out["by_name"] = c.get_experiment_by_name("one-by-one").experiment_id == exp_id
out["missing_by_name"] = c.get_experiment_by_name("no-such") is None
out["search_exp"] = [e.name for e in c.search_experiments(filter_string="name LIKE 'one-%'")]

run = c.create_run(exp_id, run_name="r1", tags={"team": "a"})
rid = run.info.run_id
c.log_param(rid, "lr", "0.1")
c.set_tag(rid, "stage", "dev")
c.log_metric(rid, "loss", 1.0, step=0)
c.log_metric(rid, "loss", float("nan"), step=1)
c.log_batch(rid, metrics=[Metric("loss", 0.25, 1700000000000, 2)],
            params=[Param("epochs", "3")], tags=[RunTag("team", "b")])
try:
    c.log_param(rid, "lr", "0.2")
except MlflowException as exc:
    out["param_conflict"] = exc.error_code
ds = from_numpy(np.arange(12).reshape(4, 3), name="train-set")
import mlflow
c.log_inputs(rid, [mlflow.entities.DatasetInput(ds._to_mlflow_entity(), [])])
history = c.get_metric_history(rid, "loss")
out["history"] = [(m.step, None if math.isnan(m.value) else m.value) for m in history]

folder = tempfile.mkdtemp()
with open(os.path.join(folder, "notes.txt"), "w") as f:
    f.write("hello")
os.makedirs(os.path.join(folder, "plots"))
with open(os.path.join(folder, "plots", "a.csv"), "w") as f:
    f.write("x,y\\n1,2\\n")
c.log_artifact(rid, os.path.join(folder, "notes.txt"))
c.log_artifacts(rid, folder, artifact_path="all")
out["ls_root"] = sorted((a.path, a.is_dir) for a in c.list_artifacts(rid))
out["ls_all"] = sorted(a.path for a in c.list_artifacts(rid, "all"))
got = c.download_artifacts(rid, "all/plots/a.csv", tempfile.mkdtemp())
out["downloaded"] = open(got).read()

c.set_terminated(rid, "FINISHED")
r = c.get_run(rid)
out["run"] = {
    "status": r.info.status, "name": r.info.run_name, "params": r.data.params,
    "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")},
    "loss": r.data.metrics["loss"],
    "datasets": [d.dataset.name for d in r.inputs.dataset_inputs],
}
c.delete_run(rid)
out["deleted_hidden"] = [x.info.run_id for x in c.search_runs([exp_id])] == []
out["deleted_view"] = [x.info.run_id for x in c.search_runs([exp_id], run_view_type=2)] == [rid]
c.restore_run(rid)
out["restored"] = c.get_run(rid).info.lifecycle_stage

c.create_registered_model("reg", tags={"owner": "ml"}, description="d")
c.set_registered_model_tag("reg", "tier", "1")
mv = c.create_model_version("reg", f"runs:/{rid}/all", run_id=rid)
c.set_model_version_tag("reg", mv.version, "checked", "yes")
c.set_registered_model_alias("reg", "prod", mv.version)
out["alias"] = c.get_model_version_by_alias("reg", "prod").version
out["reg_tags"] = c.get_registered_model("reg").tags
out["mv_tags"] = c.get_model_version("reg", mv.version).tags
out["search_mv"] = [v.version for v in c.search_model_versions("name='reg'")]
out["search_rm"] = [m.name for m in c.search_registered_models("name LIKE 're%'")]
local = mlflow.artifacts.download_artifacts("models:/reg@prod")
out["mv_files"] = sorted(open(os.path.join(p, f)).read() for p, _, fs in os.walk(local) for f in fs)
c.delete_registered_model_alias("reg", "prod")
try:
    c.get_model_version_by_alias("reg", "prod")
except MlflowException as exc:
    out["alias_gone"] = exc.error_code
for name, call in [
    ("rename_experiment", lambda: c.rename_experiment(exp_id, "renamed")),
    ("transition", lambda: c.transition_model_version_stage("reg", "1", "Production")),
]:
    try:
        call()
    except MlflowException as exc:
        out[name] = [exc.error_code, exc.message]
print(json.dumps(out))
"""


def test_mlflow_client_endpoints_one_by_one(tmp_path: Path) -> None:
    with cairn_server(tmp_path) as server:
        out = run_mlflow(ENDPOINTS, server.url, tmp_path)
    assert out["get"] == "one-by-one" and out["by_name"] and out["missing_by_name"]
    assert out["search_exp"] == ["one-by-one"]
    assert out["param_conflict"] == "INVALID_PARAMETER_VALUE"
    assert out["history"] == [[0, 1.0], [1, None], [2, 0.25]]
    assert out["ls_root"] == [["all", True], ["notes.txt", False]]
    assert out["ls_all"] == ["all/notes.txt", "all/plots"]
    assert out["downloaded"] == "x,y\n1,2\n"
    assert out["run"] == {
        "status": "FINISHED",
        "name": "r1",
        "params": {"lr": "0.1", "epochs": "3"},
        "tags": {"team": "b", "stage": "dev"},
        "loss": 0.25,
        "datasets": ["train-set"],
    }
    assert out["deleted_hidden"] and out["deleted_view"]
    assert out["restored"] == "active"
    assert out["alias"] == "1"
    assert out["reg_tags"] == {"owner": "ml", "tier": "1"}
    assert out["mv_tags"] == {"checked": "yes"}
    assert out["search_mv"] == ["1"] and out["search_rm"] == ["reg"]
    assert out["mv_files"] == ["hello", "x,y\n1,2\n"]
    assert out["alias_gone"] == "RESOURCE_DOES_NOT_EXIST"
    for name in ("rename_experiment", "transition"):
        code, message = out[name]
        assert code == "NOT_IMPLEMENTED"
        assert "not supported by Cairn" in message


LIFECYCLE = """
import json, mlflow
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

c = MlflowClient()
out = {}
exp_id = c.create_experiment("old", tags={"team": "risk", "mlflow.note.content": "notes"})
c.set_experiment_tag(exp_id, "owner", "ana")
out["tags"] = c.get_experiment(exp_id).tags
mlflow.set_experiment("old")
with mlflow.start_run(run_name="kept") as run:
    mlflow.log_metric("auc", 0.9)
rid = run.info.run_id

c.delete_experiment(exp_id)
got = c.get_experiment(exp_id)
out["stage"] = got.lifecycle_stage
out["active"] = [e.name for e in c.search_experiments()]
out["deleted"] = [e.name for e in c.search_experiments(view_type=ViewType.DELETED_ONLY)]
out["all"] = sorted(e.name for e in c.search_experiments(view_type=ViewType.ALL))
out["runs_active"] = [r.info.run_id for r in c.search_runs([exp_id])]
out["runs_deleted"] = [
    r.info.run_id for r in c.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)
]
try:
    c.create_run(exp_id, run_name="late")
except MlflowException as exc:
    out["late"] = [exc.error_code, exc.message]
try:
    mlflow.set_experiment("old")
except MlflowException as exc:
    out["set_deleted"] = exc.message
try:
    c.delete_experiment(exp_id)
except MlflowException as exc:
    out["twice"] = exc.error_code

c.restore_experiment(exp_id)
out["restored"] = c.get_experiment(exp_id).lifecycle_stage
out["runs_back"] = [r.info.run_id for r in c.search_runs([exp_id])]
out["rid"] = rid
print(json.dumps(out))
"""


def test_experiment_tags_delete_and_restore_through_mlflows_client(tmp_path: Path) -> None:
    with cairn_server(tmp_path) as server:
        out = run_mlflow(LIFECYCLE, server.url, tmp_path)
        assert out["tags"] == {"team": "risk", "owner": "ana", "mlflow.note.content": "notes"}
        assert out["stage"] == "deleted"
        assert "old" not in out["active"] and out["deleted"] == ["old"]
        assert "old" in out["all"]
        assert out["runs_active"] == [] and out["runs_deleted"] == [out["rid"]]
        code, message = out["late"]
        assert code == "INVALID_PARAMETER_VALUE"
        assert "'old' is deleted and takes no new runs" in message
        assert "deleted experiment" in out["set_deleted"]  # MLflow's own client check
        assert out["twice"] == "INVALID_PARAMETER_VALUE"
        assert out["restored"] == "active" and out["runs_back"] == [out["rid"]]

        # The same record for Cairn's own commands: tags, description, restored state.
        listed = server.cairn("experiments", "ls", "--json")
        assert listed.returncode == 0, listed.stderr
        (old,) = [e for e in json.loads(listed.stdout) if e["name"] == "old"]
        assert old["tags"] == {"team": "risk", "owner": "ana"}
        assert old["description"] == "notes" and old["deleted_at"] is None


@pytest.fixture(autouse=True)
def _quiet_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
