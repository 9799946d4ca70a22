"""``cairn build`` and ``cairn deploy k8s``: the files a deployment is made from.

No container engine runs here, so the tests check what the files say and that they
parse; the model directory in the build context is loaded and served for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from serving_helpers import IRIS_COLUMNS, AsgiClient, iris_frame


def test_build_context_has_dockerfile_requirements_and_model(iris: Any, tmp_path: Path) -> None:
    from cairn.serving.deploy import write_build_context

    ctx = write_build_context("iris@production", tmp_path / "build")
    assert ctx.version == "1" and ctx.image == "cairn-iris:1"
    docker = (ctx.directory / "Dockerfile").read_text()
    lines = [line.strip() for line in docker.splitlines()]
    assert lines[1].startswith("FROM python:3.") and lines[1].endswith("-slim")
    assert any(line.startswith("USER cairn") for line in lines)
    assert "useradd --system --uid 10001" in docker
    assert "HEALTHCHECK" in docker and "/v2/health/ready" in docker
    entry = next(line for line in docker.splitlines() if line.startswith("ENTRYPOINT"))
    assert '"cairn", "serve", "/srv/cairn/model", "--name", "iris", "--model-version", "1"' in entry
    reqs = (ctx.directory / "requirements.txt").read_text().splitlines()[1:]
    assert all("==" in r for r in reqs)
    names = {r.split("==")[0].lower() for r in reqs}
    assert {"scikit-learn", "skops", "uvicorn", "starlette", "prometheus-client"} <= names
    manifest = json.loads((ctx.directory / "model" / "cairn-model.json").read_text())
    model_pins = manifest["environment"]["packages"]
    assert f"scikit-learn=={model_pins['scikit-learn']}" in reqs


def test_the_built_model_directory_serves_under_its_name_and_version(
    iris: Any, tmp_path: Path
) -> None:
    from cairn.serving.deploy import write_build_context
    from cairn.serving.server import ServeConfig, build_app

    ctx = write_build_context("iris@production", tmp_path / "build")
    config = ServeConfig(
        str(ctx.directory / "model"), name="iris", model_version="1", log_predictions=False
    )
    app = build_app(config)
    client = AsgiClient(app)
    X, _ = iris_frame()
    resp = client.post("/invocations", json={"instances": X.iloc[:3].to_dict("records")})
    assert resp.status_code == 200 and resp.headers["x-model-version"] == "1"
    assert client.get("/v2/models/iris").json()["inputs"][0]["name"] == IRIS_COLUMNS[0]
    assert not app.router.primary.follows_alias


def test_k8s_manifests_parse_with_probes_and_scrape_annotations(iris: Any, tmp_path: Path) -> None:
    from cairn.serving.deploy import write_k8s_manifests

    paths = write_k8s_manifests("iris@production", tmp_path / "k8s", image="reg.example/iris:1")
    docs = {p.stem: yaml.safe_load(p.read_text()) for p in paths}
    assert set(docs) == {"deployment", "service", "hpa"}
    dep = docs["deployment"]
    assert dep["kind"] == "Deployment" and dep["apiVersion"] == "apps/v1"
    pod = dep["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "reg.example/iris:1"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    labels = dep["spec"]["selector"]["matchLabels"]
    assert docs["service"]["spec"]["selector"] == labels
    assert docs["hpa"]["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert docs["hpa"]["apiVersion"] == "autoscaling/v2"


def test_build_and_deploy_commands_write_files_and_refuse_unknown_models(
    iris: Any, tmp_path: Path
) -> None:
    def cairn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cairn", *args], capture_output=True, text=True, check=False
        )

    ok = cairn("build", "iris@production", "-o", str(tmp_path / "b"))
    assert ok.returncode == 0, ok.stderr
    assert "docker build -t cairn-iris:1" in ok.stdout
    again = cairn("build", "iris@production", "-o", str(tmp_path / "b"))
    assert again.returncode == 1 and "not empty" in again.stderr
    k8s = cairn("deploy", "k8s", "iris/1", "-o", str(tmp_path / "k"))
    assert k8s.returncode == 0, k8s.stderr
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == [
        "deployment.yaml",
        "hpa.yaml",
        "service.yaml",
    ]
    unknown = cairn("deploy", "k8s", "nope@production", "-o", str(tmp_path / "x"))
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: ") and len(unknown.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()
