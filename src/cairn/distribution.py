"""The running Cairn as a wheel, so a container image installs exactly this Cairn.

Cairn's distribution on the package index is ``cairn-mlops``; the name ``cairn`` there
belongs to an unrelated project, so nothing Cairn generates may ask for a bare ``cairn``.

:func:`running_wheel` writes a wheel of the code this process imported:

- from a source tree (an editable install, or ``src/`` on ``PYTHONPATH``): the tree's
  ``pyproject.toml`` must name ``cairn-mlops``; the wheel is built by its build backend
  (hatchling in this process when importable, else ``pip wheel``);
- from an installed distribution (a wheel or the index): the installed files are packed
  back into a wheel. That is chosen over pinning ``cairn-mlops==<version>`` because the
  files are what runs, the build needs no index, and an install from a private index or
  ``--find-links`` looks the same as one from the public index.

:func:`check_requirement` guards a user-supplied requirement or wheel the same way.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
import tempfile
import zipfile
from email.parser import HeaderParser
from importlib import metadata
from pathlib import Path

from cairn.errors import ConfigError, InvalidInput

DISTRIBUTION = "cairn-mlops"
IMPORT_PACKAGE = "cairn"
#: dist-info files that describe one installation, not the distribution
_INSTALL_ONLY = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_BUILD_TIMEOUT = 600.0


def norm(name: str) -> str:
    """A distribution name in its normalized form (PEP 503): ``Cairn_MLOps`` -> ``cairn-mlops``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    """The normalized distribution name a requirement line asks for."""
    return norm(re.split(r"[<>=!~\[;@ (]", line.strip(), maxsplit=1)[0])


def running_version() -> str:
    """The version of the running Cairn's distribution."""
    tree = source_tree()
    if tree is not None:
        return _pyproject(tree)["version"]
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ConfigError(_not_installed()) from None


def source_tree() -> Path | None:
    """The source tree the running ``cairn`` package was imported from, if any."""
    import cairn

    package = Path(cairn.__file__).resolve().parent
    root = package.parent.parent  # <root>/src/cairn/__init__.py
    if package.parent.name != "src" or not (root / "pyproject.toml").is_file():
        return None
    if norm(str(_pyproject(root).get("name", ""))) != DISTRIBUTION:
        return None
    return root


def running_wheel(dest: Path) -> Path:
    """Write a wheel of the running Cairn into ``dest`` and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    tree = source_tree()
    wheel = _wheel_from_source(tree, dest) if tree else _wheel_from_installed(dest)
    check_wheel(wheel)
    return wheel


def wheel_metadata(wheel: Path) -> tuple[str, str]:
    """(normalized Name, Version) from a wheel's METADATA."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            meta = next(
                (n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)), None
            )
            if meta is None:
                raise InvalidInput(f"{wheel} has no .dist-info/METADATA; it is not a wheel")
            headers = HeaderParser().parsestr(zf.read(meta).decode("utf-8"))
    except zipfile.BadZipFile:
        raise InvalidInput(f"{wheel} is not a wheel (not a zip file)") from None
    return norm(headers.get("Name", "")), headers.get("Version", "")


def check_wheel(wheel: Path) -> None:
    """Refuse a wheel that is not a ``cairn-mlops`` distribution."""
    name, _version = wheel_metadata(wheel)
    if name != DISTRIBUTION:
        raise InvalidInput(
            f"{wheel} is a wheel of {name!r}, not of {DISTRIBUTION!r}; pass a Cairn wheel "
            "(pip wheel --no-deps <cairn source tree>) or leave --cairn out"
        )


def check_requirement(requirement: str) -> None:
    """Refuse a requirement line that would install something other than ``cairn-mlops``."""
    name = requirement_name(requirement)
    if name == DISTRIBUTION:
        return
    hint = (
        "'cairn' on the package index is an unrelated project; " if name == IMPORT_PACKAGE else ""
    )
    raise InvalidInput(
        f"--cairn {requirement!r} installs {name!r}: {hint}Cairn is distributed as "
        f"{DISTRIBUTION!r}, e.g. --cairn '{DISTRIBUTION}[serve]=={running_version()}', "
        "or leave --cairn out to install the running Cairn"
    )


def _pyproject(root: Path) -> dict[str, str]:
    import tomllib

    with (root / "pyproject.toml").open("rb") as fh:
        project = tomllib.load(fh).get("project", {})
    return {k: v for k, v in project.items() if isinstance(v, str)}


def _not_installed() -> str:
    return (
        f"the running Cairn is neither a {DISTRIBUTION} source tree nor an installed "
        f"{DISTRIBUTION} distribution; install it (pip install {DISTRIBUTION}) or pass "
        "--cairn with a wheel file"
    )


def _wheel_from_source(tree: Path, dest: Path) -> Path:
    """Build with the project's backend; the tree's own files, not an index release."""
    # Absolute: the build runs in the tree's folder, so a relative -w would land there.
    with tempfile.TemporaryDirectory(prefix=".cairn-wheel-", dir=dest.resolve()) as tmp:
        try:
            import hatchling  # noqa: F401  (the backend pyproject.toml names)

            cmd = [
                sys.executable,
                "-c",
                "import sys; from hatchling.build import build_wheel; "
                "print(build_wheel(sys.argv[1]))",
                tmp,
            ]
        except ImportError:
            cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp, str(tree)]
        done = subprocess.run(
            cmd, cwd=tree, capture_output=True, text=True, timeout=_BUILD_TIMEOUT, check=False
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel written"]
            raise ConfigError(
                f"could not build a wheel of the Cairn source tree {tree}: {tail[0]}; "
                "fix the build or pass --cairn with a wheel file"
            )
        return wheels[0].replace(dest / wheels[0].name)


def _wheel_from_installed(dest: Path) -> Path:
    """Pack the installed files of ``cairn-mlops`` back into a wheel."""
    import cairn

    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ConfigError(_not_installed()) from None
    running = Path(cairn.__file__).resolve()
    installed = Path(str(dist.locate_file(f"{IMPORT_PACKAGE}/__init__.py"))).resolve()
    if installed != running:
        raise ConfigError(
            f"the running Cairn ({running.parent}) is not the installed {DISTRIBUTION} "
            f"({installed.parent}); run from one installation or pass --cairn with a wheel file"
        )
    version = dist.version
    info = f"{norm(DISTRIBUTION).replace('-', '_')}-{version}.dist-info"
    entries: list[tuple[str, bytes]] = []
    for file in dist.files or ():
        parts = file.parts
        if parts[0] == IMPORT_PACKAGE and "__pycache__" not in parts:
            name = "/".join(parts)
        elif parts[0].endswith(".dist-info") and parts[-1] not in _INSTALL_ONLY:
            name = "/".join((info, *parts[1:]))  # the installed folder's name may differ
        else:  # scripts (rebuilt by pip from entry_points.txt), caches, install records
            continue
        entries.append((name, Path(str(file.locate())).read_bytes()))
    wheel_info = next((data for name, data in entries if name == f"{info}/WHEEL"), b"")
    tags = [
        line.split(":", 1)[1].strip()
        for line in wheel_info.decode("utf-8", "replace").splitlines()
        if line.startswith("Tag:")
    ] or ["py3-none-any"]
    target = dest / f"{info.removesuffix('.dist-info')}-{tags[0]}.whl"
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in entries]
    record.append(f"{info}/RECORD,,")
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
        zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return tmp.replace(target)


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
