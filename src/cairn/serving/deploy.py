"""Deployment artifacts: a Docker build context and Kubernetes manifests.

``cairn build churn@production -o build/`` resolves the alias to one version and writes
a self-contained context: the model directory (verified against its manifest), pinned
requirements from the model's recorded environment plus the serving stack, a wheel of
the running Cairn (distribution ``cairn-mlops``), and a Dockerfile on a slim Python base
that installs them into a virtual environment and runs ``cairn serve`` on that directory
as user 10001, with a ``HEALTHCHECK`` on ``/v2/health/ready``. The image serves one
immutable version: promotion means building and rolling out a new image (or running
``cairn serve`` against a shared workspace, which follows the alias).

``cairn deploy k8s churn@production -o k8s/`` writes a Deployment (readiness and
liveness probes on the v2 health endpoints, Prometheus scrape annotations, non-root
read-only security context with every capability dropped), a Service and a
HorizontalPodAutoscaler.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cairn import distribution
from cairn.errors import InvalidInput
from cairn.serving.reload import ModelRef, pin

DEFAULT_BASE_IMAGE = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
PORT = 8080
MODEL_DIR = "/srv/cairn/model"
PREDICTIONS_DIR = "/srv/cairn/predictions"
VENV = "/opt/cairn"
#: where the context's wheels are while the image installs them (removed after)
WHEEL_DIR = "/tmp/cairn-build/wheels"
UID = 10001  # numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd
SERVING_PACKAGES = (
    "starlette",
    "uvicorn",
    "httptools",
    "uvloop",
    "prometheus-client",
    "pyarrow",
    "pandas",
    "numpy",
    "fsspec",
)


@dataclass(frozen=True)
class BuildContext:
    """What ``cairn build`` wrote."""

    directory: Path
    name: str
    version: str
    image: str
    files: tuple[Path, ...]
    #: the requirement line that installs Cairn in the image
    cairn: str


def _resolve(model: str) -> tuple[ModelRef, str]:
    ref = ModelRef.parse(model)
    if ref.uri:
        raise InvalidInput(
            f"{model!r}: build and deploy take a registered model (NAME@ALIAS, NAME/VERSION "
            "or NAME for the latest version)"
        )
    version = pin(ref)
    assert version is not None  # a registered model always pins to a number
    return ref, version


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return slug[:50] or "model"


def default_image(name: str, version: str) -> str:
    return f"cairn-{_slug(name)}:{version}"


def write_build_context(
    model: str,
    out: str | Path,
    *,
    base_image: str = DEFAULT_BASE_IMAGE,
    cairn_requirement: str | None = None,
    workers: int = 1,
    overwrite: bool = False,
) -> BuildContext:
    """Write a Docker build context for ``model`` into ``out``.

    By default the image gets the running Cairn: a wheel of it is written into the
    context (see :mod:`cairn.distribution`). ``cairn_requirement`` replaces that
    with a ``cairn-mlops`` requirement (``cairn-mlops[serve]==0.1.0``) or a path to a
    ``cairn-mlops`` wheel; anything else is refused. The context is assembled in a
    temporary folder and moved into ``out`` only when complete.

    Example:
        >>> ctx = write_build_context("churn@production", "build/")
        >>> # docker build -t cairn-churn:3 build/
    """
    import cairn.workspace
    from cairn.models.manifest import read_manifest

    ref, version = _resolve(model)
    if cairn_requirement and not Path(cairn_requirement).is_file():
        distribution.check_requirement(cairn_requirement)
    ws = cairn.workspace.current()
    mv = ws.registry.get_version(ref.name, int(version))
    outdir = Path(out)
    if outdir.exists() and any(outdir.iterdir()) and not overwrite:
        raise InvalidInput(f"{outdir} is not empty; choose another -o or pass --force")
    outdir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{outdir.name}.", dir=outdir.parent) as tmp:
        stage = Path(tmp)
        model_dir = ws.artifacts.checkout(mv.digest, stage / "model", verify=True, overwrite=True)
        manifest = read_manifest(model_dir)
        cairn_line = _cairn_install(cairn_requirement, stage)
        requirements = image_requirements(manifest.requirements())
        (stage / "requirements.txt").write_text(
            f"# Pinned from {ref.name}/{version}'s recorded environment and the serving stack.\n"
            + "\n".join(requirements)
            + f"\n# Cairn itself ({distribution.DISTRIBUTION}).\n{cairn_line}\n",
            encoding="utf-8",
        )
        dockerfile = _dockerfile(ref.name, version, base_image, workers)
        (stage / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        (stage / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n", encoding="utf-8")
        _move_into(stage, outdir)
    files = tuple(sorted(p for p in outdir.rglob("*") if p.is_file()))
    return BuildContext(
        outdir, ref.name, version, default_image(ref.name, version), files, cairn_line
    )


def _move_into(stage: Path, outdir: Path) -> None:
    """Move the finished context into ``outdir``, replacing entries of the same name."""
    outdir.mkdir(parents=True, exist_ok=True)
    for entry in sorted(stage.iterdir()):
        target = outdir / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        entry.replace(target)


def image_requirements(model_pins: list[str]) -> list[str]:
    """The model's pins plus the serving stack at this process's versions, never Cairn."""
    # Cairn comes from its own line; a pin of it (or of the unrelated index project
    # named ``cairn``) recorded in an older model's environment is dropped.
    own = {distribution.DISTRIBUTION, distribution.IMPORT_PACKAGE}
    pinned = {
        distribution.requirement_name(line): line
        for line in model_pins
        if distribution.requirement_name(line) not in own
    }
    for dist in SERVING_PACKAGES:
        if distribution.norm(dist) in pinned:
            continue
        try:
            pinned[distribution.norm(dist)] = f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return sorted(pinned.values(), key=str.lower)


def _cairn_install(requirement: str | None, stage: Path) -> str:
    """The requirement line for Cairn; a wheel is copied into the context's ``wheels/``."""
    wheels = stage / "wheels"
    wheels.mkdir()  # the Dockerfile copies it, so it exists even when empty
    if requirement and not Path(requirement).is_file():
        return requirement
    if requirement:
        distribution.check_wheel(Path(requirement))
        wheel = wheels / Path(requirement).name
        shutil.copyfile(requirement, wheel)
    else:
        wheel = distribution.running_wheel(wheels)
    return f"{distribution.DISTRIBUTION}[serve] @ file://{WHEEL_DIR}/{wheel.name}"


def _dockerfile(name: str, version: str, base: str, workers: int) -> str:
    # Probes the address the server binds (loopback when it binds every interface).
    health = (
        "import os, sys, urllib.request; "
        "host = os.environ['CAIRN_HOST'].replace('0.0.0.0', '127.0.0.1'); "
        "url = 'http://' + host + ':' + os.environ['CAIRN_PORT'] + '/v2/health/ready'; "
        "sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)"
    )
    serve = " ".join(
        [
            "exec cairn serve",
            MODEL_DIR,
            "--name",
            shlex.quote(name),
            "--model-version",
            shlex.quote(version),
            '--host "$CAIRN_HOST" --port "$CAIRN_PORT"',
            f"--workers {workers}",
        ]
    )
    image = default_image(name, version)
    return f"""# Serves {name} version {version}. Build: docker build -t {image} .
# Run with a read-only root: the prediction log is the only path written, mount it:
#   docker run --read-only --tmpfs /tmp -v PATH:{PREDICTIONS_DIR} -p 8080:8080 {image}
FROM {base}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    CAIRN_PREDICTIONS_URI={PREDICTIONS_DIR} \\
    CAIRN_HOST=0.0.0.0 \\
    CAIRN_PORT={PORT}

RUN groupadd --system --gid {UID} cairn \\
 && useradd --system --uid {UID} --gid cairn --home-dir /srv/cairn --create-home cairn

# Cairn and the model's pinned packages go into their own virtual environment, so the
# base image's Python (which may be managed by the OS) is left alone.
WORKDIR /srv/cairn
COPY requirements.txt /tmp/cairn-build/requirements.txt
COPY wheels/ {WHEEL_DIR}/
RUN python3 -m venv {VENV} \\
 && {VENV}/bin/pip install --no-cache-dir -r /tmp/cairn-build/requirements.txt \\
 && rm -rf /tmp/cairn-build {WHEEL_DIR}
ENV PATH={VENV}/bin:$PATH

COPY --chown={UID}:{UID} model/ {MODEL_DIR}/
RUN mkdir -p {PREDICTIONS_DIR} && chown {UID}:{UID} {PREDICTIONS_DIR}

USER {UID}:{UID}
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \\
  CMD ["python", "-c", {json.dumps(health)}]

ENTRYPOINT ["/bin/sh", "-c", {json.dumps(serve)}]
"""


# -- Kubernetes ----------------------------------------------------------------------------


def k8s_manifests(
    name: str,
    version: str,
    image: str,
    *,
    namespace: str | None = None,
    replicas: int = 2,
    min_replicas: int = 2,
    max_replicas: int = 10,
    cpu_target: int = 70,
    cpu_request: str = "500m",
    memory_request: str = "512Mi",
    memory_limit: str = "1Gi",
) -> dict[str, dict[str, Any]]:
    """The three manifests as dicts: ``deployment``, ``service``, ``hpa``."""
    if not 1 <= min_replicas <= max_replicas:
        raise InvalidInput(
            f"replicas: need 1 <= --min-replicas ({min_replicas}) "
            f"<= --max-replicas ({max_replicas})"
        )
    app = f"cairn-{_slug(name)}"
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "cairn"}
    meta: dict[str, Any] = {"name": app, "labels": {**labels, "cairn/model-version": str(version)}}
    if namespace:
        meta["namespace"] = namespace
    probe = {
        "httpGet": {"path": "/v2/health/ready", "port": "http"},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": {**labels, "cairn/model-version": str(version)},
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(PORT),
                        "prometheus.io/path": "/metrics",
                    },
                },
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "fsGroup": UID,
                    },
                    "terminationGracePeriodSeconds": 40,
                    "containers": [
                        {
                            "name": "model",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": PORT}],
                            "readinessProbe": {**probe, "initialDelaySeconds": 3},
                            "livenessProbe": {
                                "httpGet": {"path": "/v2/health/live", "port": "http"},
                                "initialDelaySeconds": 10,
                                "periodSeconds": 10,
                                "timeoutSeconds": 2,
                                "failureThreshold": 3,
                            },
                            "resources": {
                                "requests": {"cpu": cpu_request, "memory": memory_request},
                                "limits": {"memory": memory_limit},
                            },
                            # The image needs no writable root: /tmp and the prediction
                            # log are the only paths written (tests/serving/
                            # test_docker_image.py runs it this way).
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "predictions", "mountPath": PREDICTIONS_DIR},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "predictions", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {k: v for k, v in meta.items() if k != "labels"} | {"labels": labels},
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            "type": "ClusterIP",
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {k: v for k, v in meta.items() if k != "labels"} | {"labels": labels},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": cpu_target},
                    },
                }
            ],
        },
    }
    return {"deployment": deployment, "service": service, "hpa": hpa}


def write_k8s_manifests(
    model: str,
    out: str | Path,
    *,
    image: str | None = None,
    **options: Any,
) -> list[Path]:
    """Write ``deployment.yaml``, ``service.yaml`` and ``hpa.yaml`` for ``model``.

    Example:
        >>> write_k8s_manifests("churn@production", "k8s/", image="registry.example/churn:3")
    """
    import yaml

    ref, version = _resolve(model)
    docs = k8s_manifests(ref.name, version, image or default_image(ref.name, version), **options)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, doc in docs.items():
        path = outdir / f"{key}.yaml"
        path.write_text(
            f"# cairn deploy k8s {ref.name}@{ref.alias or version} (version {version})\n"
            + yaml.safe_dump(doc, sort_keys=False),
            encoding="utf-8",
        )
        written.append(path)
    return written
