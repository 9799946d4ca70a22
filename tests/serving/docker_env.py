"""A Docker engine and a base image for the container tests, made without a registry.

Base images cannot be pulled on machines without registry access, so the base is made
from Debian's packages: ``debootstrap --variant=minbase`` with the machine's own apt
mirror, Python and its venv module added, the machine's pip settings and CA bundle
copied in (so ``pip install`` inside ``docker build`` reaches the same package index the
machine does), then ``docker import``. The image is tagged and reused while it exists.

Run as a script to build (or find) the base image: ``python tests/serving/docker_env.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SUITE = "bookworm"  # Debian 12: Python 3.11, which meets requires-python
#: Bump the suffix when the recipe below changes, so a stale cached base is not reused.
BASE_TAG = f"cairn-test-base:{SUITE}-1"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PIP_FILES = ("/etc/pip.conf", "/etc/xdg/pip", "/root/.config/pip", "/root/.pip")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def docker(*args: str, timeout: float = 120, input: bytes | None = None) -> str:
    """Run the docker client; raise with its stderr when it fails."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, timeout=timeout, input=input, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args[:3])} failed ({done.returncode}): "
            + done.stderr.decode(errors="replace")[-3000:]
        )
    return done.stdout.decode(errors="replace")


def engine_problem() -> str | None:
    """Why the container tests cannot run here, or None when they can."""
    if shutil.which("docker") is None:
        return "no docker client on PATH (apt-get install docker.io)"
    try:
        docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return f"no running Docker engine (start dockerd): {exc}"[:300]
    if image_exists(BASE_TAG):
        return None
    if shutil.which("debootstrap") is None:
        return "no debootstrap to make the base image (apt-get install debootstrap)"
    if os.geteuid() != 0:
        return "making the base image with debootstrap needs root"
    return None


def image_exists(tag: str) -> bool:
    done = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0


def debian_mirror() -> str:
    """The machine's Debian mirror from its apt sources (deb822 or one-line format)."""
    sources = [Path("/etc/apt/sources.list")]
    folder = Path("/etc/apt/sources.list.d")
    if folder.is_dir():
        sources += sorted(p for p in folder.iterdir() if p.suffix in (".list", ".sources"))
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for stanza in re.split(r"\n\s*\n", text):
            if path.suffix == ".sources":
                uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
                if uris and suites and SUITE in suites.group(1).split():
                    return uris.group(1)
            else:
                for line in stanza.splitlines():
                    match = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
                    if match and match.group(2) == SUITE:
                        return match.group(1)
    return DEFAULT_MIRROR


def ensure_base_image(tag: str = BASE_TAG) -> str:
    """``tag`` once it exists: reused when present, else made with debootstrap."""
    if image_exists(tag):
        return tag
    with tempfile.TemporaryDirectory(prefix="cairn-base-") as tmp:
        root = Path(tmp) / "root"
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(root),
                debian_mirror(),
            ],
            capture_output=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                "debootstrap failed: " + done.stdout.decode(errors="replace")[-3000:]
            )
        _copy_pip_settings(root)
        for cache in (root / "var/cache/apt/archives").glob("*.deb"):
            cache.unlink()
        changes = [f"ENV {k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("PIP_")]
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        args = ["docker", "import"]
        for change in changes:
            args += ["--change", change]
        imported = subprocess.run(
            [*args, "-", tag], stdin=tar.stdout, capture_output=True, timeout=600, check=False
        )
        tar.stdout.close()
        tar.wait(timeout=60)
        if imported.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr.decode()[-2000:]}")
    return tag


def _copy_pip_settings(root: Path) -> None:
    """The machine's pip configuration files, constraint files and CA bundle, same paths."""
    for name in PIP_FILES:
        source = Path(name)
        if source.is_dir():
            shutil.copytree(source, root / name.lstrip("/"), dirs_exist_ok=True)
        elif source.is_file():
            (root / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name.lstrip("/"))
    bundles = {CA_BUNDLE, os.environ.get("PIP_CERT", ""), os.environ.get("SSL_CERT_FILE", "")}
    for bundle in filter(None, bundles):
        if Path(bundle).is_file():
            target = root / bundle.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # may be a symlink into the machine's store
            shutil.copyfile(bundle, target)


if __name__ == "__main__":
    problem = engine_problem()
    if problem:
        sys.exit(problem)
    print(ensure_base_image())
