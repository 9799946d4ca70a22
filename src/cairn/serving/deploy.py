"""Deployment artifacts: a Docker build context and Kubernetes manifests.

``cairn build churn@production -o build/`` resolves the alias to one version and writes
a self-contained context: the model directory (verified against its manifest), pinned
requirements from the model's recorded environment plus the serving stack, a wheel of
the running Cairn (distribution ``cairn-mlops``), and a Dockerfile on a slim Python base
that installs them into a virtual environment and runs ``cairn serve`` on that directory
as user 10001, with a ``HEALTHCHECK`` on ``/v2/health/ready``. The image serves one
immutable version: promotion means building and rolling out a new image (or running
``cairn serve`` against a shared workspace, which follows the alias).

``cairn deploy k8s churn@production -o k8s/`` writes a Deployment, a Service, a
HorizontalPodAutoscaler and optionally a NetworkPolicy (see :mod:`cairn.serving.k8s`):
pods within the "restricted" Pod Security profile, probes on the v2 health endpoints,
Prometheus scrape annotations, resource requests and limits.
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
from typing import TYPE_CHECKING

from cairn import distribution
from cairn.errors import InvalidInput
from cairn.serving.reload import ModelRef, pin

if TYPE_CHECKING:
    from cairn.serving.k8s import K8sOptions

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


def slug(text: str) -> str:
    """``text`` as lowercase letters, digits and single hyphens, at most 50 characters."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower())
    # Strip after cutting: a hyphen at the cut would make an invalid Kubernetes name.
    return cleaned.strip("-")[:50].strip("-") or "model"


def default_image(name: str, version: str) -> str:
    return f"cairn-{slug(name)}:{version}"


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


def write_k8s_manifests(
    model: str,
    out: str | Path,
    *,
    image: str | None = None,
    options: K8sOptions | None = None,
) -> list[Path]:
    """Write ``deployment.yaml``, ``service.yaml``, ``hpa.yaml`` (and with
    ``options.network_policy``, ``networkpolicy.yaml``) for ``model``.

    Every option is checked before anything is written. A ``networkpolicy.yaml`` that an
    earlier run wrote into ``out`` is removed when this run asks for none, so
    ``kubectl apply -f out`` applies exactly what was asked for.

    Example:
        >>> write_k8s_manifests("churn@production", "k8s/", image="registry.example/churn:3")
    """
    import yaml

    from cairn.serving import k8s

    ref, version = _resolve(model)
    docs = k8s.manifests(ref.name, version, image or default_image(ref.name, version), options)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    header = f"# cairn deploy k8s {ref.name}@{ref.alias or version} (version {version})\n"
    written = []
    for key, doc in docs.items():
        path = outdir / f"{key}.yaml"
        tmp = outdir / f".{key}.yaml.tmp"
        tmp.write_text(header + yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    for key in k8s.FILES:
        stale = outdir / f"{key}.yaml"
        if key not in docs and stale.is_file() and _written_by_cairn(stale):
            stale.unlink()
    return written


def _written_by_cairn(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as fh:
        return fh.readline().startswith("# cairn deploy k8s ")
