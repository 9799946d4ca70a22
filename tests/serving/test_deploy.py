"""``cairn build`` and ``cairn deploy k8s``: the files a deployment is made from.

These tests check what the files say and install, and that they parse; the model
directory in the build context is loaded and served for real. test_docker_image.py
builds and runs the image itself."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from serving_helpers import IRIS_COLUMNS, AsgiClient, iris_frame

from cairn.distribution import requirement_name, wheel_metadata


def _cairn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args], capture_output=True, text=True, check=False
    )


def test_build_context_has_dockerfile_requirements_and_model(iris: Any, tmp_path: Path) -> None:
    from cairn.serving.deploy import write_build_context

    ctx = write_build_context("iris@production", tmp_path / "build")
    assert ctx.version == "1" and ctx.image == "cairn-iris:1"
    docker = (ctx.directory / "Dockerfile").read_text()
    lines = [line.strip() for line in docker.splitlines()]
    base = next(line for line in lines if line.startswith("FROM "))
    assert base.startswith("FROM python:3.") and base.endswith("-slim")
    assert "USER 10001:10001" in lines
    assert "useradd --system --uid 10001" in docker
    assert "HEALTHCHECK" in docker and "/v2/health/ready" in docker
    entry = next(line for line in docker.splitlines() if line.startswith("ENTRYPOINT"))
    command = json.loads(entry.removeprefix("ENTRYPOINT"))[-1]
    assert shlex.split(command)[:7] == [
        "exec",
        "cairn",
        "serve",
        "/srv/cairn/model",
        "--name",
        "iris",
        "--model-version",
    ]
    reqs = [r for r in (ctx.directory / "requirements.txt").read_text().splitlines()]
    reqs = [r for r in reqs if r and not r.startswith("#")]
    assert all("==" in r or " @ file://" in r for r in reqs)
    names = {requirement_name(r) for r in reqs}
    assert {"scikit-learn", "skops", "uvicorn", "starlette", "prometheus-client"} <= names
    manifest = json.loads((ctx.directory / "model" / "cairn-model.json").read_text())
    model_pins = manifest["environment"]["packages"]
    assert f"scikit-learn=={model_pins['scikit-learn']}" in reqs


def test_build_context_installs_this_cairn_by_name_and_version_never_bare_cairn(
    iris: Any, tmp_path: Path
) -> None:
    """`cairn` on the package index is another project: the image must get this one."""
    import cairn
    from cairn.serving.deploy import WHEEL_DIR, write_build_context

    ctx = write_build_context("iris@production", tmp_path / "build")
    reqs = [
        line
        for line in (ctx.directory / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert "cairn" not in {requirement_name(r) for r in reqs}
    (cairn_line,) = [r for r in reqs if requirement_name(r) == "cairn-mlops"]
    assert cairn_line == ctx.cairn
    assert cairn_line.startswith("cairn-mlops[serve] @ file://")
    in_image = cairn_line.split(" @ file://", 1)[1]
    assert in_image.startswith(f"{WHEEL_DIR}/")
    wheel = ctx.directory / "wheels" / Path(in_image).name
    assert wheel_metadata(wheel) == ("cairn-mlops", cairn.__version__)
    # The wheel holds the code this process runs, file for file.
    with zipfile.ZipFile(wheel) as zf:
        packaged = zf.read("cairn/serving/deploy.py")
    assert packaged == Path(cairn.__file__).with_name("serving").joinpath("deploy.py").read_bytes()
    docker = (ctx.directory / "Dockerfile").read_text()
    assert f"COPY wheels/ {WHEEL_DIR}/" in docker
    assert "pip install --no-cache-dir -r /tmp/cairn-build/requirements.txt" in docker


def test_an_old_model_pin_of_cairn_never_reaches_the_image_requirements() -> None:
    """A model saved when the distribution was called `cairn` recorded `cairn==0.1.0`."""
    from cairn.serving.deploy import image_requirements

    reqs = image_requirements(["cairn==0.1.0", "Cairn_MLOps==0.0.9", "scikit-learn==1.5.0"])
    assert "scikit-learn==1.5.0" in reqs
    assert not {requirement_name(r) for r in reqs} & {"cairn", "cairn-mlops"}


@pytest.mark.parametrize(
    "requirement",
    ["cairn==0.1.0", "cairn[serve]>=0.1", "Cairn", "someone-else==1.0"],
    ids=["pinned", "extras", "bare", "other"],
)
def test_build_refuses_a_cairn_requirement_that_is_not_cairn_mlops(
    iris: Any, tmp_path: Path, requirement: str
) -> None:
    proc = _cairn("build", "iris@production", "-o", str(tmp_path / "b"), "--cairn", requirement)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "cairn-mlops" in proc.stderr and repr(requirement) in proc.stderr
    if requirement_name(requirement) == "cairn":
        assert "unrelated project" in proc.stderr
    assert not (tmp_path / "b").exists()


def test_build_refuses_a_wheel_of_another_distribution(iris: Any, tmp_path: Path) -> None:
    """A wheel named like Cairn's whose metadata says it is the index's `cairn`."""
    fake = tmp_path / "cairn_mlops-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr("cairn/__init__.py", "")
        zf.writestr("cairn-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: cairn\n")
    proc = _cairn("build", "iris@production", "-o", str(tmp_path / "b"), "--cairn", str(fake))
    assert proc.returncode == 1
    assert "is a wheel of 'cairn', not of 'cairn-mlops'" in proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "b").exists()


def test_build_with_an_index_requirement_pins_cairn_mlops(iris: Any, tmp_path: Path) -> None:
    from cairn.serving.deploy import write_build_context

    ctx = write_build_context(
        "iris@production", tmp_path / "b", cairn_requirement="cairn-mlops[serve]==0.1.0"
    )
    text = (ctx.directory / "requirements.txt").read_text()
    assert text.splitlines()[-1] == "cairn-mlops[serve]==0.1.0"
    assert list((ctx.directory / "wheels").iterdir()) == []


def test_ci_init_installs_cairn_mlops_at_this_version() -> None:
    import cairn
    from cairn.registry.ci import render

    for provider in ("github", "gitlab", "jenkins"):
        text = render(provider)
        installs = [line.strip(" -") for line in text.splitlines() if "pip install" in line]
        assert installs
        for line in installs:
            requirement = shlex.split(line)[-1]
            assert requirement_name(requirement) == "cairn-mlops"
            assert requirement.endswith(f"=={cairn.__version__}")


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


def test_build_and_deploy_commands_write_files_and_refuse_unknown_models(
    iris: Any, tmp_path: Path
) -> None:
    cairn = _cairn
    ok = cairn("build", "iris@production", "-o", str(tmp_path / "b"))
    assert ok.returncode == 0, ok.stderr
    assert "docker build -t cairn-iris:1" in ok.stdout
    again = cairn("build", "iris@production", "-o", str(tmp_path / "b"))
    assert again.returncode == 1 and "not empty" in again.stderr
    assert again.stderr.startswith("error: ") and "Traceback" not in again.stderr
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


def test_an_installed_cairn_is_packed_back_into_the_wheel_it_was_installed_from(
    tmp_path: Path,
) -> None:
    """A user who installed a cairn-mlops wheel (not a source tree) builds an image: the
    image gets those installed files, not whatever the index serves under a name."""
    import cairn
    from cairn.distribution import running_wheel

    original = running_wheel(tmp_path / "original")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--no-deps", "--no-index", str(original)],
        check=True,
        timeout=300,
        env=env,
    )
    script = (
        "import sys; from pathlib import Path; import cairn.distribution as d; "
        "assert d.source_tree() is None, d.source_tree(); "
        "print(d.running_wheel(Path(sys.argv[1])))"
    )
    proc = subprocess.run(
        [str(venv / "bin/python"), "-c", script, str(tmp_path / "repacked")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    repacked = Path(proc.stdout.strip())
    assert repacked.name == original.name
    assert wheel_metadata(repacked) == ("cairn-mlops", cairn.__version__)

    def contents(wheel: Path) -> dict[str, bytes]:
        with zipfile.ZipFile(wheel) as zf:
            return {n: zf.read(n) for n in zf.namelist() if not n.endswith(".dist-info/RECORD")}

    assert contents(repacked) == contents(original)
    # And pip accepts it: it installs and imports as Cairn at the same version.
    target = tmp_path / "target"
    subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", "--no-deps", "--target", str(target), repacked],
        check=True,
        timeout=300,
        env=env,
    )
    assert (target / "cairn" / "serving" / "deploy.py").is_file()
