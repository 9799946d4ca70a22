"""Read a live MLflow tracking server through its REST API, without MLflow.

Records come from ``/api/2.0/mlflow/...`` (searches page through ``next_page_token``;
full metric histories from ``metrics/get-history``); artifacts stored behind the
server (``mlflow-artifacts:/`` URIs) are downloaded through
``/api/2.0/mlflow-artifacts/artifacts`` into a temporary folder, one tree at a time.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from cairn.errors import InvalidInput, StoreError
from cairn.imports.common import (
    SourceExperiment,
    SourceLoggedModel,
    SourceModel,
    SourceRun,
    SourceVersion,
)
from cairn.imports.local import local_tree
from cairn.imports.mlflow_status import run_status
from cairn.types import Metric

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


class MlflowRestSource:
    """The MLflow server at ``url`` (``http://mlflow-host:5000``)."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(base_url=self.url, timeout=timeout)
        try:
            self._post("experiments/search", {"max_results": 1})
        except BaseException:
            self.client.close()
            raise

    def describe(self) -> str:
        return self.url

    def close(self) -> None:
        self.client.close()

    # -- HTTP ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise InvalidInput(
                f"cannot reach the MLflow server at {self.url} ({exc}); check the URL and "
                "that `mlflow server` is running"
            ) from None
        if response.status_code == 404 and path.startswith(API):
            raise InvalidInput(
                f"{self.url} does not answer MLflow's REST API ({path} gave 404); give the "
                "address of an MLflow tracking server"
            )
        if response.status_code >= 400:
            raise StoreError(
                f"the MLflow server at {self.url} refused {method} {path}: "
                f"{response.status_code} {response.text[:200]}"
            )
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._request(method, f"{API}/{path}", **kwargs)
        try:
            data = response.json()
        except ValueError:
            raise InvalidInput(
                f"{self.url} answered {path} with something that is not JSON; is it an "
                "MLflow tracking server?"
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{self.url} answered {path} with {str(data)[:80]!r}")
        return data

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", path, json=body)

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        return self._json("GET", path, params=params)

    def _pages(self, fetch: Any, key: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            data = fetch(token)
            yield from data.get(key, [])
            token = data.get("next_page_token")
            if not token:
                return

    # -- records -------------------------------------------------------------------------

    def experiments(self) -> list[SourceExperiment]:
        def fetch(token: str | None) -> dict[str, Any]:
            body: dict[str, Any] = {"max_results": 1000, "view_type": "ALL"}
            if token:
                body["page_token"] = token
            return self._post("experiments/search", body)

        found = [
            SourceExperiment.from_tags(
                str(e["experiment_id"]),
                e["name"],
                e["lifecycle_stage"] == "deleted",
                {t["key"]: t.get("value", "") for t in e.get("tags") or []},
            )
            for e in self._pages(fetch, "experiments")
        ]
        return sorted(found, key=lambda e: (len(e.id), e.id))

    def runs(self, experiment_id: str) -> Iterator[SourceRun]:
        def fetch(token: str | None) -> dict[str, Any]:
            body: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "max_results": 1000,
                "run_view_type": "ALL",
                "order_by": ["attributes.start_time ASC"],
            }
            if token:
                body["page_token"] = token
            return self._post("runs/search", body)

        for item in self._pages(fetch, "runs"):
            info, data = item["info"], item.get("data", {})
            rid = info["run_id"]
            keys = {m["key"] for m in data.get("metrics", [])}
            yield SourceRun(
                id=rid,
                experiment_id=experiment_id,
                name=info.get("run_name", ""),
                status=run_status(info.get("status")),
                start_time=int(info.get("start_time") or 0),
                end_time=None if info.get("end_time") is None else int(info["end_time"]),
                deleted=info.get("lifecycle_stage") == "deleted",
                params={p["key"]: p.get("value", "") for p in data.get("params", [])},
                tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
                metrics=tuple(p for key in sorted(keys) for p in self._history(rid, key)),
                artifact_uri=info.get("artifact_uri", ""),
            )

    def _history(self, run_id: str, key: str) -> Iterator[Metric]:
        def fetch(token: str | None) -> dict[str, Any]:
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": 25000}
            if token:
                params["page_token"] = token
            return self._get("metrics/get-history", **params)

        for m in self._pages(fetch, "metrics"):
            value = m.get("value")
            number = float("nan") if value in (None, "NaN") else float(value)
            yield Metric(key, number, int(m.get("step") or 0), int(m.get("timestamp") or 0))

    def logged_models(self, run: SourceRun) -> list[SourceLoggedModel]:
        body = {
            "experiment_ids": [run.experiment_id],
            "filter": f"source_run_id = '{run.id}'",
            "max_results": 100,
        }
        try:
            data = self._post("logged-models/search", body)
        except InvalidInput:  # an MLflow 2 server has no logged models
            return []
        return [
            SourceLoggedModel(m["info"]["model_id"], m["info"]["name"], m["info"]["artifact_uri"])
            for m in data.get("models", [])
        ]

    def logged_model_uri(self, model_id: str) -> str | None:
        try:
            return str(self._get(f"logged-models/{model_id}")["model"]["info"]["artifact_uri"])
        except (InvalidInput, StoreError, KeyError):
            return None

    def models(self) -> list[SourceModel]:
        def fetch(token: str | None) -> dict[str, Any]:
            params: dict[str, Any] = {"max_results": 1000}
            if token:
                params["page_token"] = token
            return self._get("registered-models/search", **params)

        found = []
        for m in self._pages(fetch, "registered_models"):
            name = m["name"]

            def versions(token: str | None, name: str = name) -> dict[str, Any]:
                escaped = name.replace("'", "\\'")
                params: dict[str, Any] = {"filter": f"name='{escaped}'", "max_results": 1000}
                if token:
                    params["page_token"] = token
                return self._get("model-versions/search", **params)

            found.append(
                SourceModel(
                    name=name,
                    description=m.get("description", "") or "",
                    tags={t["key"]: t.get("value", "") for t in m.get("tags", [])},
                    aliases={a["alias"]: int(a["version"]) for a in m.get("aliases", [])},
                    versions=tuple(
                        sorted(
                            (_version(v) for v in self._pages(versions, "model_versions")),
                            key=lambda v: v.version,
                        )
                    ),
                )
            )
        return found

    # -- artifacts -----------------------------------------------------------------------

    @contextlib.contextmanager
    def open_tree(self, uri: str) -> Iterator[Path | None]:
        """The tree at ``uri`` as a local folder: downloaded from the server for
        ``mlflow-artifacts:`` URIs (an empty folder when nothing was logged), read in
        place for local ones; None for a location this machine cannot read."""
        if not uri.startswith("mlflow-artifacts:"):
            with local_tree(uri) as path:
                yield path
            return
        root = uri.removeprefix("mlflow-artifacts:").lstrip("/")
        if "//" in root:  # mlflow-artifacts://host:port/path
            root = root.split("/", 2)[-1] if root.startswith("/") else root.split("/", 1)[-1]
        with tempfile.TemporaryDirectory(prefix="cairn-mlflow-") as tmp:
            self._download(root, Path(tmp))
            yield Path(tmp)

    def _download(self, remote: str, into: Path) -> int:
        listing = self._request("GET", ARTIFACTS, params={"path": remote}).json()
        count = 0
        for entry in listing.get("files", []):
            name = entry["path"].rsplit("/", 1)[-1]
            if name in ("", ".", "..") or "/" in name:
                raise StoreError(f"the MLflow server listed an unsafe artifact name {name!r}")
            if entry.get("is_dir"):
                (into / name).mkdir()
                count += self._download(f"{remote}/{name}", into / name)
                continue
            with (
                (into / name).open("wb") as out,
                self.client.stream("GET", f"{ARTIFACTS}/{remote}/{name}") as response,
            ):
                if response.status_code >= 400:
                    raise StoreError(
                        f"cannot download artifact {remote}/{name} from {self.url}: "
                        f"{response.status_code}"
                    )
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
            count += 1
        return count


def _version(v: dict[str, Any]) -> SourceVersion:
    return SourceVersion(
        name=v["name"],
        version=int(v["version"]),
        source=v.get("source", "") or "",
        run_id=v.get("run_id") or None,
        stage=v.get("current_stage") or "None",
        description=v.get("description", "") or "",
        tags={t["key"]: t.get("value", "") for t in v.get("tags", [])},
        created_at=int(v.get("creation_timestamp") or 0),
        user=v.get("user_id", "") or "",
        storage_location=v.get("storage_location", "") or "",
    )
