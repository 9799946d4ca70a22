"""What a careless or hostile MLflow caller sends to ``cairn server``: each answer is
MLflow's error format, never a 500, and nothing half-done is left behind."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
from mlflow_harness import Server, cairn_server

from cairn.access.types import Action, Principal, Resource
from cairn.errors import PermissionDenied, Unauthenticated

API = "/api/2.0/mlflow"


def _run(server: Server) -> tuple[str, str]:
    exp = httpx.post(f"{server.url}{API}/experiments/create", json={"name": "e"}).json()
    body = {"experiment_id": exp["experiment_id"], "run_name": "r"}
    run = httpx.post(f"{server.url}{API}/runs/create", json=body).json()["run"]["info"]
    return exp["experiment_id"], run["run_id"]


def test_artifact_path_escaping_the_run_is_refused_and_records_nothing(tmp_path: Path) -> None:
    with cairn_server(tmp_path) as server:
        exp, run = _run(server)
        url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/%2E%2E/x"
        answer = httpx.put(url, content=b"payload")
        assert answer.status_code == 400
        assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "not a safe relative path" in answer.json()["message"]
        got = httpx.get(f"{server.url}{API}/runs/get", params={"run_id": run}).json()
        assert got["run"]["outputs"]["model_outputs"] == []
        listed = httpx.get(
            f"{server.url}/api/2.0/mlflow-artifacts/artifacts",
            params={"path": f"{exp}/{run}/artifacts"},
        )
        assert listed.json() == {"files": []}


def test_registered_version_keeps_its_bytes_when_the_source_is_overwritten(
    tmp_path: Path,
) -> None:
    with cairn_server(tmp_path) as server:
        exp, run = _run(server)
        art = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{run}/artifacts/model"
        assert httpx.put(f"{art}/MLmodel", content=b"flavors: {}\n").status_code == 200
        assert httpx.put(f"{art}/weights.bin", content=b"v1").status_code == 200
        httpx.post(f"{server.url}{API}/registered-models/create", json={"name": "m"})
        created = httpx.post(
            f"{server.url}{API}/model-versions/create",
            json={"name": "m", "source": f"runs:/{run}/model", "run_id": run},
        )
        assert created.status_code == 200, created.text
        # A writer re-uploads the same path afterwards: the run now shows the new bytes,
        # the registered version still serves what was registered.
        assert httpx.put(f"{art}/weights.bin", content=b"v2-tampered").status_code == 200
        uri = httpx.get(
            f"{server.url}{API}/model-versions/get-download-uri",
            params={"name": "m", "version": "1"},
        ).json()["artifact_uri"]
        path = uri.removeprefix("mlflow-artifacts:/")
        base = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"
        assert httpx.get(f"{base}/{path}/weights.bin").content == b"v1"
        assert httpx.get(f"{art}/weights.bin").content == b"v2-tampered"


def test_registering_a_source_not_on_this_server_creates_nothing(tmp_path: Path) -> None:
    with cairn_server(tmp_path) as server:
        _, run = _run(server)
        for source in ("s3://elsewhere/model", f"runs:/{run}/no-such-folder"):
            answer = httpx.post(
                f"{server.url}{API}/model-versions/create", json={"name": "m", "source": source}
            )
            assert answer.status_code == 400, answer.text
            assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE"
            assert source.split("/")[-1] in answer.json()["message"]
        missing = httpx.get(f"{server.url}{API}/registered-models/get", params={"name": "m"})
        assert missing.status_code == 404
        assert missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_bad_input_answers_mlflow_errors_not_500(tmp_path: Path) -> None:
    with cairn_server(tmp_path) as server:
        exp, run = _run(server)
        bad_metric = [{"key": "a", "value": "x"}]
        cases = [
            ("POST", "runs/search", {"experiment_ids": [exp], "filter": "metrics.auc >"}, 400),
            ("POST", "runs/search", {"experiment_ids": [exp], "filter": "datasets.x = 'x'"}, 400),
            ("POST", "runs/log-batch", {"run_id": run, "metrics": bad_metric}, 400),
            ("POST", "runs/log-metric", {"run_id": "0" * 32, "key": "a", "value": 1}, 404),
            ("GET", "runs/get", {"run_id": "nope"}, 404),
            ("POST", "runs/update", {"run_id": run, "status": "DONE"}, 400),
            ("POST", "experiments/create", {"name": "e"}, 400),
            ("GET", "experiments/get", {"experiment_id": "e"}, 400),
        ]
        for method, path, args, status in cases:
            if method == "GET":
                answer = httpx.get(f"{server.url}{API}/{path}", params=args)
            else:
                answer = httpx.post(f"{server.url}{API}/{path}", json=args)
            assert answer.status_code == status, (path, answer.text)
            body = answer.json()
            assert set(body) == {"error_code", "message"}, body
            assert body["message"]
        bad_json = httpx.post(f"{server.url}{API}/runs/create", content=b"{not json")
        assert bad_json.status_code == 400
        assert "not valid JSON" in bad_json.json()["message"]


def test_unserved_mlflow_endpoints_say_not_supported_by_cairn(tmp_path: Path) -> None:
    with cairn_server(tmp_path) as server:
        for method, path in [
            ("POST", f"{API}/experiments/update"),
            ("POST", f"{API}/traces"),
            ("GET", "/api/3.0/mlflow/traces/search"),
            ("DELETE", f"{API}/registered-models/delete"),
            ("POST", "/ajax-api/2.0/mlflow/runs/delete-tag"),
        ]:
            answer = httpx.request(method, f"{server.url}{path}", json={})
            assert answer.status_code == 501, path
            assert answer.json()["error_code"] == "NOT_IMPLEMENTED"
            assert "not supported by Cairn" in answer.json()["message"]


class _Guard:
    """Knows one token (alice's); alice may read but not edit experiment 'secret'."""

    def __init__(self) -> None:
        self.mutations: list[tuple[str, str, Resource]] = []

    def authenticate(self, authorization: str | None) -> Principal:
        if authorization != "Bearer good":
            raise Unauthenticated("no valid token; set MLFLOW_TRACKING_TOKEN")
        return Principal(user="alice")

    def record(
        self,
        principal: Principal,
        address: str,
        operation: str,
        resource: Resource,
        result: str,
        detail: str = "",
    ) -> None:
        self.mutations.append((principal.user, operation, resource))

    def known(self, authorization: str | None) -> Principal | None:
        return None

    def authorize(self, principal: Principal, action: Action, resource: Resource) -> None:
        if resource == Resource("experiment", "secret") and action != "read":
            raise PermissionDenied(f"{principal.user} may not {action} experiment secret")

    def mutation(
        self, principal: Principal, address: str, operation: str, resource: Resource
    ) -> AbstractContextManager[None]:
        @contextmanager
        def scope() -> Iterator[None]:
            self.mutations.append((principal.user, operation, resource))
            yield

        return scope()


def test_the_mlflow_token_is_checked_by_the_servers_guard(tmp_path: Path) -> None:
    guard = _Guard()
    with cairn_server(tmp_path, guard=guard) as server:
        good = {"Authorization": "Bearer good"}
        exp = httpx.post(
            f"{server.url}{API}/experiments/create", json={"name": "secret"}, headers=good
        ).json()["experiment_id"]
        stolen = httpx.post(
            f"{server.url}{API}/runs/create",
            json={"experiment_id": exp},
            headers={"Authorization": "Bearer guessed"},
        )
        assert stolen.status_code == 401
        assert stolen.json() == {
            "error_code": "UNAUTHENTICATED",
            "message": "no valid token; set MLFLOW_TRACKING_TOKEN",
        }
        denied = httpx.post(
            f"{server.url}{API}/runs/create", json={"experiment_id": exp}, headers=good
        )
        assert denied.status_code == 403
        assert denied.json()["error_code"] == "PERMISSION_DENIED"
        upload = httpx.put(
            f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{exp}/{'a' * 32}/artifacts/x",
            content=b"x",
        )
        assert upload.status_code == 401
        found = httpx.post(
            f"{server.url}{API}/runs/search", json={"experiment_ids": [exp]}, headers=good
        )
        assert found.json() == {"runs": []}
        assert guard.mutations == [("alice", "mlflow.create_experiment", Resource("experiment"))]
