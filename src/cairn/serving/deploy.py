"""Deployment artifacts: a Docker build context and Kubernetes manifests.

``cairn build churn@production -o build/`` resolves the alias to one version and writes
a self-contained context: the model directory (verified against its manifest), pinned
requirements from the model's recorded environment plus the serving stack, and a
Dockerfile on a slim Python base that runs ``cairn serve`` on that directory as a
non-root user, with a ``HEALTHCHECK`` on ``/v2/health/ready``. The image serves one
immutable version: promotion means building and rolling out a new image (or running
``cairn serve`` against a shared workspace, which follows the alias).

``cairn deploy k8s churn@production -o k8s/`` writes a Deployment (readiness and
liveness probes on the v2 health endpoints, Prometheus scrape annotations, non-root
security context), a Service and a HorizontalPodAutoscaler.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.serving.reload import ModelRef, resolve_alias

DEFAULT_BASE_IMAGE = f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
PORT = 8080
MODEL_DIR = "/srv/cairn/model"
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


def _resolve(model: str) -> tuple[ModelRef, str]:
    ref = ModelRef.parse(model)
    if ref.uri:
        raise InvalidInput(
            f"{model!r}: build and deploy take a registered model (NAME@ALIAS or NAME/VERSION)"
        )
    version = resolve_alias(ref.name, ref.alias) if ref.alias else str(ref.version)
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

    ``cairn_requirement`` is how the image installs Cairn itself (default
    ``cairn[serve]==<this version>``; a path to a wheel copied into the context works).

    Example:
        >>> ctx = write_build_context("churn@production", "build/")
        >>> # docker build -t cairn-churn:3 build/
    """
    import cairn.workspace
    from cairn.models.manifest import read_manifest

    ref, version = _resolve(model)
    ws = cairn.workspace.current()
    mv = ws.registry.get_version(ref.name, int(version))
    outdir = Path(out)
    if outdir.exists() and any(outdir.iterdir()) and not overwrite:
        raise InvalidInput(f"{outdir} is not empty; choose another -o or pass --force")
    outdir.mkdir(parents=True, exist_ok=True)
    model_dir = ws.artifacts.checkout(mv.digest, outdir / "model", verify=True, overwrite=True)
    manifest = read_manifest(model_dir)

    wheel_line, extra_copy = _cairn_install(cairn_requirement, outdir)
    requirements = _requirements(manifest.requirements())
    (outdir / "requirements.txt").write_text(
        f"# Pinned from {ref.name}/{version}'s recorded environment and the serving stack.\n"
        + "\n".join(requirements)
        + "\n",
        encoding="utf-8",
    )
    dockerfile = _dockerfile(ref.name, version, base_image, wheel_line, extra_copy, workers)
    (outdir / "Dockerfile").write_text(dockerfile, encoding="utf-8")
    (outdir / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n", encoding="utf-8")
    files = tuple(sorted(p for p in outdir.rglob("*") if p.is_file()))
    return BuildContext(outdir, ref.name, version, default_image(ref.name, version), files)


def _requirements(model_pins: list[str]) -> list[str]:
    pinned = {_dist(line): line for line in model_pins}
    for dist in SERVING_PACKAGES:
        if _norm(dist) in pinned:
            continue
        try:
            pinned[_norm(dist)] = f"{dist}=={metadata.version(dist)}"
        except metadata.PackageNotFoundError:
            continue
    return sorted(pinned.values(), key=str.lower)


def _dist(line: str) -> str:
    return _norm(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _cairn_install(requirement: str | None, outdir: Path) -> tuple[str, str]:
    if requirement and Path(requirement).is_file():
        wheel = Path(requirement)
        (outdir / wheel.name).write_bytes(wheel.read_bytes())
        return f"/tmp/{wheel.name}[serve]", f"COPY {wheel.name} /tmp/{wheel.name}\n"
    if requirement:
        return requirement, ""
    try:
        version = metadata.version("cairn")
    except metadata.PackageNotFoundError:
        version = "0.1.0"
    return f"cairn[serve]=={version}", ""


def _dockerfile(
    name: str, version: str, base: str, cairn_req: str, extra_copy: str, workers: int
) -> str:
    health = (
        "import sys, urllib.request; "
        f"url = 'http://127.0.0.1:{PORT}/v2/health/ready'; "
        "sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)"
    )
    image = default_image(name, version)
    return f"""# Serves {name} version {version}. Build: docker build -t {image} .
FROM {base}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    CAIRN_PREDICTIONS_URI=/srv/cairn/predictions

RUN groupadd --system --gid 10001 cairn \\
 && useradd --system --uid 10001 --gid cairn --home-dir /srv/cairn --create-home cairn

WORKDIR /srv/cairn
COPY requirements.txt /tmp/requirements.txt
{extra_copy}RUN pip install -r /tmp/requirements.txt "{cairn_req}"

COPY --chown=cairn:cairn model/ {MODEL_DIR}/
RUN mkdir -p /srv/cairn/predictions && chown cairn:cairn /srv/cairn/predictions

USER cairn
EXPOSE {PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \\
  CMD ["python", "-c", "{health}"]

ENTRYPOINT ["cairn", "serve", "{MODEL_DIR}", "--name", "{name}", "--model-version", "{version}", \\
            "--host", "0.0.0.0", "--port", "{PORT}", "--workers", "{workers}"]
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
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
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
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": False,
                            },
                        }
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
