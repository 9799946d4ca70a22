"""``cairn deploy k8s``: manifests a hardened cluster admits, judged by outside rules.

Three judges, none of them the code under test: the Pod Security Standards' restricted
profile (tests/serving/pod_security.py, from the profile's text), the Kubernetes OpenAPI
schemas (``kubernetes-validate --strict``) and checkov's Kubernetes and Dockerfile
checks. The validators run from their own cached environments (tests/tool_venv.py).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pod_security import violations

from tool_venv import run_tool

DOCS = Path(__file__).resolve().parents[2] / "docs"
DIGEST_IMAGE = "registry.example.com/iris@sha256:" + "ab" * 32
#: option sets a user may pick; every one must meet the restricted profile
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "pvc": {"namespace": "ml-serving", "predictions_pvc": "iris-predictions"},
    "hardened": {
        "namespace": "ml-serving",
        "network_policy": True,
        "image": DIGEST_IMAGE,
        "cpu_request": "250m",
        "cpu_limit": "1",
        "memory_request": "256Mi",
        "memory_limit": "768Mi",
    },
}
#: checkov checks a variant may fail, each explained in docs/serving.md
CHECKOV_ALLOWED: dict[str, set[str]] = {
    # image by tag, no namespace (kubectl's current one), no NetworkPolicy
    "default": {"CKV_K8S_43", "CKV_K8S_21", "CKV2_K8S_6"},
    "pvc": {"CKV_K8S_43", "CKV2_K8S_6"},
    "hardened": set(),
}


def _cairn(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cairn", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(out: Path, variant: str) -> dict[str, dict[str, Any]]:
    from cairn.serving.deploy import write_k8s_manifests
    from cairn.serving.k8s import K8sOptions

    options = dict(VARIANTS[variant])
    image = options.pop("image", "registry.example.com/iris:1")
    paths = write_k8s_manifests("iris@production", out, image=image, options=K8sOptions(**options))
    return {p.stem: yaml.safe_load(p.read_text()) for p in paths}


@pytest.fixture
def manifests(iris: Any, tmp_path: Path) -> Callable[[str], dict[str, dict[str, Any]]]:
    return lambda variant: write(tmp_path / variant, variant)


def test_k8s_manifests_parse_with_probes_and_scrape_annotations(
    manifests: Callable[[str], dict[str, dict[str, Any]]],
) -> None:
    docs = manifests("default")
    assert set(docs) == {"deployment", "service", "hpa"}
    dep = docs["deployment"]
    assert dep["kind"] == "Deployment" and dep["apiVersion"] == "apps/v1"
    pod = dep["spec"]["template"]
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example.com/iris:1"
    assert container["imagePullPolicy"] == "Always"
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/live"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert set(mounts) == {"/tmp", "/srv/cairn/predictions"}
    assert volumes[mounts["/srv/cairn/predictions"]] == {"name": "predictions", "emptyDir": {}}
    labels = dep["spec"]["selector"]["matchLabels"]
    assert docs["service"]["spec"]["selector"] == labels
    assert docs["hpa"]["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert docs["hpa"]["apiVersion"] == "autoscaling/v2"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pods_meet_the_restricted_pod_security_profile(
    manifests: Callable[[str], dict[str, dict[str, Any]]], variant: str
) -> None:
    docs = manifests(variant)
    pod = docs["deployment"]["spec"]["template"]["spec"]
    assert violations(pod) == []
    # Beyond the profile: nothing for an intruder to use, nothing unbounded.
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert isinstance(pod["securityContext"]["runAsUser"], int)
    assert pod["securityContext"]["runAsUser"] == sc["runAsUser"] >= 10000
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    if variant == "pvc":
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["predictions"]["persistentVolumeClaim"] == {"claimName": "iris-predictions"}
        assert all(d["metadata"]["namespace"] == "ml-serving" for d in docs.values())
    if variant == "hardened":
        assert container["imagePullPolicy"] == "IfNotPresent"  # a digest cannot change
        policy = docs["networkpolicy"]["spec"]
        assert (
            policy["podSelector"]["matchLabels"]
            == docs["deployment"]["spec"]["selector"]["matchLabels"]
        )
        assert policy["policyTypes"] == ["Ingress"]
        assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]


def _good_pod() -> dict[str, Any]:
    from cairn.serving.k8s import manifests

    pod: dict[str, Any] = manifests("iris", "1", "r/iris:1")["deployment"]["spec"]["template"][
        "spec"
    ]
    return pod


def _container_sc(pod: dict[str, Any]) -> dict[str, Any]:
    sc: dict[str, Any] = pod["containers"][0]["securityContext"]
    return sc


MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "host-network": lambda p: p.update(hostNetwork=True),
    "host-path": lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "privileged": lambda p: _container_sc(p).update(privileged=True),
    "escalation": lambda p: _container_sc(p).update(allowPrivilegeEscalation=True),
    "keeps-capabilities": lambda p: _container_sc(p).update(capabilities={"drop": ["NET_RAW"]}),
    "adds-sys-admin": lambda p: _container_sc(p)["capabilities"].update(add=["SYS_ADMIN"]),
    "root-allowed": lambda p: (
        p["securityContext"].pop("runAsNonRoot"),
        _container_sc(p).pop("runAsNonRoot"),
    ),
    "uid-0": lambda p: _container_sc(p).update(runAsUser=0),
    "no-seccomp": lambda p: (
        p["securityContext"].pop("seccompProfile"),
        _container_sc(p).pop("seccompProfile"),
    ),
    "unconfined": lambda p: _container_sc(p).update(seccompProfile={"type": "Unconfined"}),
    "host-port": lambda p: p["containers"][0]["ports"][0].update(hostPort=8080),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_the_pod_security_judge_catches_each_broken_rule(mutation: str) -> None:
    """The judge above is only worth its verdict if it refuses a pod that breaks a rule."""
    pod = copy.deepcopy(_good_pod())
    assert violations(pod) == []
    MUTATIONS[mutation](pod)
    assert violations(pod) != []


def _all_variants(root: Path) -> dict[str, Path]:
    for variant in VARIANTS:
        write(root / variant, variant)
    return {variant: root / variant for variant in VARIANTS}


@pytest.mark.timeout(900)
def test_manifests_validate_against_the_kubernetes_schemas(iris: Any, tmp_path: Path) -> None:
    dirs = _all_variants(tmp_path)
    files = sorted(str(p) for d in dirs.values() for p in d.glob("*.yaml"))
    assert len(files) == 3 + 3 + 4
    for version in ("1.25.0", "1.37.0"):
        proc = run_tool(
            "kubernetes-validate", ["kubernetes-validate", "--strict", "-k", version, *files]
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.count(" passed for resource ") == len(files)
    # The validator is strict: a misspelt field (as a hand edit might leave) fails it.
    typo = tmp_path / "typo.yaml"
    typo.write_text(
        (dirs["default"] / "deployment.yaml")
        .read_text()
        .replace("readOnlyRootFilesystem", "readOnlyRootFileSystem")
    )
    bad = run_tool("kubernetes-validate", ["kubernetes-validate", "--strict", str(typo)])
    assert bad.returncode != 0 and "readOnlyRootFileSystem" in bad.stdout + bad.stderr


def _checkov(folder: Path) -> list[dict[str, Any]]:
    proc = run_tool(
        "checkov",
        [
            "checkov",
            "-d",
            str(folder),
            "--framework",
            "kubernetes",
            "dockerfile",
            "--compact",
            "--quiet",
            "--skip-download",  # no network: checks ship with the package
            "-o",
            "json",
        ],
        timeout=600,
    )
    # checkov exits 1 when a check fails; anything else is a crash.
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    reports = json.loads(proc.stdout)
    return reports if isinstance(reports, list) else [reports]


@pytest.mark.timeout(1200)
def test_checkov_passes_every_kubernetes_and_dockerfile_check_but_the_documented_ones(
    iris: Any, tmp_path: Path
) -> None:
    from cairn.serving.deploy import write_build_context

    dirs = _all_variants(tmp_path / "k8s")
    # The Dockerfile `cairn build` writes is judged beside the hardened manifests.
    build = write_build_context("iris@production", tmp_path / "build").directory
    (dirs["hardened"] / "Dockerfile").write_text((build / "Dockerfile").read_text())
    docs = (DOCS / "serving.md").read_text()
    for variant, folder in dirs.items():
        reports = {r["check_type"]: r for r in _checkov(folder)}
        expected = {"kubernetes", "dockerfile"} if variant == "hardened" else {"kubernetes"}
        assert set(reports) == expected, variant
        for kind, report in reports.items():
            summary = report["summary"]
            assert summary["parsing_errors"] == 0 and summary["passed"] > 20, (variant, summary)
            failed = {c["check_id"] for c in report["results"]["failed_checks"]}
            assert failed <= CHECKOV_ALLOWED[variant], (variant, kind, failed)
        for check in CHECKOV_ALLOWED[variant]:
            assert re.search(rf"`{check}`", docs), f"{check} is not explained in serving.md"
    assert all(CHECKOV_ALLOWED[v] for v in ("default", "pvc"))


BAD_OPTIONS = [
    (["--namespace", "ML_Serving"], "--namespace 'ML_Serving' is not a DNS-1123 label"),
    (["--namespace", "a" * 64], "is not a DNS-1123 label: at most 63 characters"),
    (
        ["--predictions-pvc", "../logs"],
        "--predictions-pvc '../logs' is not a valid Kubernetes name",
    ),
    (["--memory-limit", "512m"], "'m' means milli, did you mean 512Mi?"),
    (["--memory-request", "2Gi", "--memory-limit", "1Gi"], "--memory-request 2Gi is above"),
    (["--cpu-request", "4", "--cpu-limit", "500m"], "--cpu-request 4 is above --cpu-limit 500m"),
    (["--cpu-limit", "two"], "--cpu-limit 'two' is not a Kubernetes quantity"),
    (["--cpu-request", "0"], "--cpu-request '0' must be more than zero"),
    (["--image", "registry.example.com/iris"], "has no fixed tag"),
    (["--image", "registry.example.com/iris:latest"], "has no fixed tag"),
    (["--image", "iris@sha256:1234"], "a digest reference is NAME@sha256:<64 hex digits>"),
    (["--image-pull-policy", "Sometimes"], "use one of Always, IfNotPresent, Never"),
    (["--min-replicas", "5", "--max-replicas", "2"], "need 1 <= --min-replicas (5)"),
]


@pytest.mark.parametrize(
    ("args", "message"), BAD_OPTIONS, ids=[" ".join(a)[:32] for a, _ in BAD_OPTIONS]
)
def test_deploy_refuses_a_bad_value_with_one_line_and_writes_nothing(
    iris: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "k8s"
    proc = _cairn("deploy", "k8s", "iris@production", "-o", str(out), *args)
    assert proc.returncode == 1, proc.stdout
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("replicas", 0, "--replicas 0: need at least 1"),
        ("cpu_target", 250, "--cpu-target 250: need a percent from 1 to 100"),
        ("namespace", "default ", "--namespace 'default ' is not a DNS-1123 label"),
    ],
)
def test_the_python_api_refuses_what_the_command_line_refuses(
    field: str, value: Any, message: str
) -> None:
    """The command line stops some values as usage errors; a caller of the library
    function gets the same refusal from the domain."""
    from cairn.errors import InvalidInput
    from cairn.serving.k8s import K8sOptions, manifests

    with pytest.raises(InvalidInput, match=re.escape(message)):
        manifests("iris", "1", "r/iris:1", K8sOptions(**{field: value}))


def test_a_model_name_cut_at_a_hyphen_still_makes_valid_names() -> None:
    """The name is cut to 50 characters; a hyphen at the cut made an invalid name."""
    from cairn.serving.k8s import manifests

    name = "a" * 49 + "-model"
    docs = manifests(name, "1", "r/x:1")
    app = docs["service"]["metadata"]["name"]
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", app) and len(app) <= 63


def test_a_rerun_without_network_policy_removes_the_policy_file_it_wrote(
    iris: Any, tmp_path: Path
) -> None:
    """`kubectl apply -f k8s/` must not apply a policy the last run no longer asked for;
    a file the user wrote there is left alone."""
    out = tmp_path / "k8s"
    first = _cairn("deploy", "k8s", "iris@production", "-o", str(out), "--network-policy")
    assert first.returncode == 0, first.stderr
    assert (out / "networkpolicy.yaml").is_file()
    again = _cairn("deploy", "k8s", "iris@production", "-o", str(out))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["deployment.yaml", "hpa.yaml", "service.yaml"]
    (out / "networkpolicy.yaml").write_text("# the team's own policy\nkind: NetworkPolicy\n")
    assert _cairn("deploy", "k8s", "iris@production", "-o", str(out)).returncode == 0
    assert (out / "networkpolicy.yaml").read_text().startswith("# the team's own policy")
