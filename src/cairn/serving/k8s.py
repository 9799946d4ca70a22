"""Kubernetes manifests for one model version, within the "restricted" Pod Security profile.

``cairn deploy k8s`` writes a Deployment, a Service, a HorizontalPodAutoscaler and, with
``--network-policy``, a NetworkPolicy. The pods meet every rule of the Pod Security
Standards' *restricted* profile (kubernetes.io, "Pod Security Standards"): a numeric
non-root user, no privilege escalation, every capability dropped, the runtime's default
seccomp profile, only ``emptyDir`` and ``persistentVolumeClaim`` volumes, nothing from
the host. Beyond the profile: a read-only root file system, no service-account token,
CPU and memory requests and limits, startup, readiness and liveness probes.

Every value a user passes is checked here, before anything is written: names against
Kubernetes' DNS-1123 rules, quantities against its quantity syntax (and against each
other: a request above its limit is refused), the image for a pinned tag or digest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cairn.errors import InvalidInput
from cairn.serving.deploy import PORT, PREDICTIONS_DIR, UID, slug

#: the files written, in the order ``kubectl apply -f`` reads them
FILES = ("deployment", "service", "hpa", "networkpolicy")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(rf"{_LABEL.pattern}(\.{_LABEL.pattern})*")
_QUANTITY = re.compile(
    r"(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?"
)
_SCALE = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
#: below this a memory quantity is a typo (``512m`` is 0.512 bytes), not a setting
_MIN_MEMORY = Decimal(16 * 2**20)


@dataclass(frozen=True)
class K8sOptions:
    """What ``cairn deploy k8s`` lets a user choose; :meth:`check` refuses bad values."""

    namespace: str | None = None
    replicas: int = 2
    min_replicas: int = 2
    max_replicas: int = 10
    cpu_target: int = 70
    cpu_request: str = "500m"
    cpu_limit: str = "2"
    memory_request: str = "512Mi"
    memory_limit: str = "1Gi"
    #: an existing claim for the prediction log (else an emptyDir, lost with the pod)
    predictions_pvc: str | None = None
    network_policy: bool = False
    #: None: Always for a tag, IfNotPresent for a digest (which cannot change)
    image_pull_policy: str | None = None

    def check(self) -> None:
        """Raise :class:`InvalidInput` naming the first bad value and the fix."""
        if self.namespace is not None:
            dns_label("--namespace", self.namespace)
        if self.predictions_pvc is not None:
            dns_subdomain("--predictions-pvc", self.predictions_pvc)
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise InvalidInput(
                f"replicas: need 1 <= --min-replicas ({self.min_replicas}) "
                f"<= --max-replicas ({self.max_replicas})"
            )
        if self.replicas < 1:
            raise InvalidInput(f"--replicas {self.replicas}: need at least 1")
        if not 1 <= self.cpu_target <= 100:
            raise InvalidInput(f"--cpu-target {self.cpu_target}: need a percent from 1 to 100")
        if self.image_pull_policy not in (None, *PULL_POLICIES):
            raise InvalidInput(
                f"--image-pull-policy {self.image_pull_policy!r}: use one of "
                + ", ".join(PULL_POLICIES)
            )
        for kind in ("cpu", "memory"):
            request = quantity(f"--{kind}-request", getattr(self, f"{kind}_request"), kind)
            limit = quantity(f"--{kind}-limit", getattr(self, f"{kind}_limit"), kind)
            if request > limit:
                raise InvalidInput(
                    f"--{kind}-request {getattr(self, f'{kind}_request')} is above "
                    f"--{kind}-limit {getattr(self, f'{kind}_limit')}; Kubernetes refuses "
                    "such a pod: lower the request or raise the limit"
                )


def dns_label(option: str, value: str) -> str:
    """``value`` if it is a DNS-1123 label (namespaces, Service names), else refuse."""
    if len(value) > 63 or not _LABEL.fullmatch(value):
        raise InvalidInput(
            f"{option} {value!r} is not a DNS-1123 label: at most 63 characters of "
            "a-z, 0-9 and '-', starting and ending with a letter or digit (e.g. 'ml-serving')"
        )
    return value


def dns_subdomain(option: str, value: str) -> str:
    """``value`` if it is a DNS-1123 subdomain (most object names), else refuse."""
    if len(value) > 253 or not _SUBDOMAIN.fullmatch(value):
        raise InvalidInput(
            f"{option} {value!r} is not a valid Kubernetes name: at most 253 characters "
            "of a-z, 0-9, '-' and '.', starting and ending with a letter or digit "
            "(e.g. 'churn-predictions')"
        )
    return value


def quantity(option: str, text: str, kind: str) -> Decimal:
    """Parse a Kubernetes quantity (``500m``, ``2``, ``512Mi``) into its value."""
    match = _QUANTITY.fullmatch(text)
    example = "500m or 2" if kind == "cpu" else "512Mi or 2Gi"
    if match is None:
        raise InvalidInput(f"{option} {text!r} is not a Kubernetes quantity; write e.g. {example}")
    suffix = match["suffix"] or ""
    try:
        number = Decimal(match["number"])
        value = number * (
            Decimal(10) ** int(suffix[1:]) if suffix[:1] in ("e", "E") else _SCALE[suffix]
        )
    except (InvalidOperation, ValueError) as exc:  # an exponent too large for Decimal
        raise InvalidInput(f"{option} {text!r} is out of range; write e.g. {example}") from exc
    if value <= 0:
        raise InvalidInput(f"{option} {text!r} must be more than zero; write e.g. {example}")
    if kind == "memory" and value < _MIN_MEMORY:
        hint = f"; 'm' means milli, did you mean {match['number']}Mi?" if suffix == "m" else ""
        raise InvalidInput(
            f"{option} {text!r} is {value.normalize():f} bytes, too little to load a model"
            f"{hint} (write e.g. {example})"
        )
    return value


def check_image(image: str) -> str:
    """Refuse an image the cluster would resolve to something else than one build.

    Without a tag (or with ``:latest``) every pull may fetch a different image, while
    the manifest's labels claim one model version.
    """
    if not image or any(ch.isspace() or not ch.isprintable() for ch in image):
        raise InvalidInput(f"--image {image!r} is not an image reference")
    if "@" in image:
        if not re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", image):
            raise InvalidInput(
                f"--image {image!r}: a digest reference is NAME@sha256:<64 hex digits>"
            )
        return image
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    if tag in ("", "latest"):
        raise InvalidInput(
            f"--image {image!r} has no fixed tag, so each pull may run another build; "
            f"pin a tag or digest (e.g. {image.rsplit(':', 1)[0] if tag else image}:3 "
            "or NAME@sha256:...)"
        )
    return image


def app_name(model: str) -> str:
    """``cairn-<model slug>``: a DNS-1035 label, as Service names must be."""
    return dns_label("model name", f"cairn-{slug(model)}")


def manifests(
    name: str, version: str, image: str, options: K8sOptions | None = None
) -> dict[str, dict[str, Any]]:
    """The manifests as dicts keyed by file stem (see :data:`FILES`)."""
    o = options or K8sOptions()
    o.check()
    check_image(image)
    app = app_name(name)
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": "cairn"}
    pod_labels = {**labels, "cairn/model-version": _label_value(version)}
    meta: dict[str, Any] = {"name": app, "labels": labels}
    if o.namespace:
        meta["namespace"] = o.namespace
    pull = o.image_pull_policy or ("IfNotPresent" if "@" in image else "Always")
    predictions: dict[str, Any] = (
        {"persistentVolumeClaim": {"claimName": o.predictions_pvc}}
        if o.predictions_pvc
        else {"emptyDir": {}}
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {**meta, "labels": pod_labels},
        "spec": {
            "replicas": o.replicas,
            "selector": {"matchLabels": labels},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": prometheus_annotations(PORT),
                },
                "spec": {
                    # The server calls no Kubernetes API: a mounted token would only be
                    # something for an attacker in the pod to use.
                    "automountServiceAccountToken": False,
                    "securityContext": restricted_pod_security(),
                    "terminationGracePeriodSeconds": 40,
                    "containers": [_container(image, pull, o)],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {}},
                        {"name": "predictions", **predictions},
                    ],
                },
            },
        },
    }
    docs: dict[str, dict[str, Any]] = {
        "deployment": deployment,
        "service": {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": labels,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                "type": "ClusterIP",
            },
        },
        "hpa": {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta,
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
                "minReplicas": o.min_replicas,
                "maxReplicas": o.max_replicas,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": o.cpu_target},
                        },
                    }
                ],
            },
        },
    }
    if o.network_policy:
        docs["networkpolicy"] = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta,
            "spec": {
                "podSelector": {"matchLabels": labels},
                # Ingress only: egress stays open, the log may go to an object store.
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": PORT}]}],
            },
        }
    return docs


def restricted_container_security() -> dict[str, Any]:
    """A container's securityContext under the restricted Pod Security profile: no root,
    no privilege escalation, no capabilities, a read-only root filesystem."""
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_pod_security() -> dict[str, Any]:
    """The pod's securityContext matching :func:`restricted_container_security`."""
    return {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def prometheus_annotations(port: int) -> dict[str, str]:
    """Pod annotations that let a Prometheus scrape ``/metrics`` on ``port``."""
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port),
        "prometheus.io/path": "/metrics",
    }


def _container(image: str, pull: str, o: K8sOptions) -> dict[str, Any]:
    def probe(path: str, **timing: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "timeoutSeconds": 2, **timing}

    return {
        "name": "model",
        "image": image,
        "imagePullPolicy": pull,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        # Loading a large model may take minutes: liveness starts once this passes.
        "startupProbe": probe("/v2/health/live", periodSeconds=5, failureThreshold=60),
        "readinessProbe": probe("/v2/health/ready", periodSeconds=5, failureThreshold=3),
        "livenessProbe": probe("/v2/health/live", periodSeconds=10, failureThreshold=3),
        "resources": {
            "requests": {"cpu": o.cpu_request, "memory": o.memory_request},
            "limits": {"cpu": o.cpu_limit, "memory": o.memory_limit},
        },
        # The image needs no writable root: /tmp and the prediction log are the only
        # paths written (tests/serving/test_docker_image.py runs it this way).
        "securityContext": restricted_container_security(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "predictions", "mountPath": PREDICTIONS_DIR},
        ],
    }


def _label_value(value: str) -> str:
    if len(value) > 63 or not re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?", value):
        raise InvalidInput(f"model version {value!r} cannot be a Kubernetes label value")
    return value
