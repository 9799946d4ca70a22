"""Kubernetes manifests for ``cairn server`` (``cairn deploy k8s --server``).

A Deployment of N replicas (they share the database, as ``--workers`` do), a Service,
and a NetworkPolicy admitting the server's port only. The store URI (which holds the
database password) is never written into a manifest: the pods read it from a Secret
the operator creates (``kubectl create secret generic NAME --from-literal=uri=...``),
named here by reference. The artifact URI is no secret (credentials for it come from the
pod's identity or another Secret). Pods meet the same "restricted" Pod Security profile
as the model server's (:mod:`cairn.serving.k8s`); readiness is ``GET /health``, which
answers 503 while the database does not, and liveness only checks the port is open, so
a database outage takes pods out of the Service instead of restarting them in a loop.

Example:
    >>> docs = server_manifests(ServerDeploy(image="registry.example/cairn:1.4",
    ...     store_secret="cairn-store", artifacts="s3://ml/cairn"))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.serving.k8s import (
    check_image,
    dns_label,
    dns_subdomain,
    prometheus_annotations,
    quantity,
    restricted_container_security,
    restricted_pod_security,
)

SERVER_FILES = ("server-deployment", "server-service", "server-networkpolicy")
SERVER_PORT = 5050
SECRET_KEY = "uri"
_HEADER = "# cairn deploy k8s --server\n"


@dataclass(frozen=True)
class ServerDeploy:
    """What ``cairn deploy k8s --server`` lets a user choose; checked by :meth:`check`."""

    image: str
    store_secret: str
    artifacts: str
    name: str = "cairn-server"
    namespace: str | None = None
    replicas: int = 2
    cpu_request: str = "250m"
    cpu_limit: str = "2"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"

    def check(self) -> None:
        """Raise :class:`InvalidInput` naming the first bad value and the fix."""
        check_image(self.image)
        if "://" in self.store_secret or "@" in self.store_secret:
            raise InvalidInput(
                "--store-secret names a Kubernetes Secret, not the store URI: a URI there "
                "would put the database password into the manifests; create the Secret "
                f"with `kubectl create secret generic cairn-store --from-literal={SECRET_KEY}"
                "=postgresql://...` and pass --store-secret cairn-store"
            )
        dns_subdomain("--store-secret", self.store_secret)
        dns_label("--name", self.name)
        if self.namespace is not None:
            dns_label("--namespace", self.namespace)
        if self.replicas < 1:
            raise InvalidInput(f"--replicas {self.replicas}: need at least 1")
        if (
            not self.artifacts
            or self.artifacts.startswith(("/", "."))
            or "://" not in (self.artifacts)
        ):
            raise InvalidInput(
                f"--artifacts {self.artifacts!r}: replicas need a store they all reach, as "
                "s3://bucket/prefix (gs://, az://); a folder would be one pod's own"
            )
        for kind in ("cpu", "memory"):
            request = quantity(f"--{kind}-request", getattr(self, f"{kind}_request"), kind)
            limit = quantity(f"--{kind}-limit", getattr(self, f"{kind}_limit"), kind)
            if request > limit:
                raise InvalidInput(
                    f"--{kind}-request is above --{kind}-limit; lower the request or raise "
                    "the limit"
                )


def server_manifests(o: ServerDeploy) -> dict[str, dict[str, Any]]:
    """The manifests as dicts keyed by file stem (see :data:`SERVER_FILES`)."""
    o.check()
    labels = {"app.kubernetes.io/name": o.name, "app.kubernetes.io/part-of": "cairn"}
    meta: dict[str, Any] = {"name": o.name, "labels": labels}
    if o.namespace:
        meta["namespace"] = o.namespace
    container = {
        "name": "server",
        "image": o.image,
        "imagePullPolicy": "IfNotPresent" if "@" in o.image else "Always",
        "args": ["server", "--host", "0.0.0.0", "--port", str(SERVER_PORT)],
        "env": [
            {
                "name": "CAIRN_TRACKING_URI",
                "valueFrom": {"secretKeyRef": {"name": o.store_secret, "key": SECRET_KEY}},
            },
            {"name": "CAIRN_ARTIFACT_URI", "value": o.artifacts},
        ],
        "ports": [{"name": "http", "containerPort": SERVER_PORT, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            "tcpSocket": {"port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": o.cpu_request, "memory": o.memory_request},
            "limits": {"cpu": o.cpu_limit, "memory": o.memory_limit},
        },
        "securityContext": restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # uploads are staged there
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": o.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": prometheus_annotations(SERVER_PORT),
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": restricted_pod_security(),
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }
    return {
        "server-deployment": deployment,
        "server-service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": labels,
                "ports": [
                    {"name": "http", "port": SERVER_PORT, "targetPort": "http", "protocol": "TCP"}
                ],
                "type": "ClusterIP",
            },
        },
        "server-networkpolicy": {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": {
                "podSelector": {"matchLabels": labels},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": SERVER_PORT}]}],
            },
        },
    }


def write_server_manifests(options: ServerDeploy, out: str | Path) -> list[Path]:
    """Check every option, then write each manifest (temp name, then rename)."""
    import yaml

    docs = server_manifests(options)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for key, doc in docs.items():
        path = outdir / f"{key}.yaml"
        tmp = outdir / f".{key}.yaml.tmp"
        tmp.write_text(_HEADER + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
