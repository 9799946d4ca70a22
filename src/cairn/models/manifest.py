"""The manifest at the root of every model directory: ``cairn-model.json``.

It says how to load the model (flavor and its options), what it takes and returns
(signature), what it needs (Python version and pinned package versions), where it came
from (run id), and what the directory holds (path, BLAKE3 digest and size of every
other file). Loading re-hashes the files against this list, so a file changed after
saving is refused, whether it comes from the artifact store or a local folder.

Every file a model reads is one of those hashed files: the manifest's file paths, its
``options.file`` and its ``input_example`` must be normalised relative paths inside the
folder (no ``/etc/passwd``, no ``../x``), the files the manifest names must be in its
list, and a folder holding symbolic links is refused. Flavors open files only through
:func:`model_file`. Otherwise a version's predictions could change while its digest,
and ``cairn verify``, stayed the same.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from cairn.errors import IntegrityError, InvalidInput, NotFound
from cairn.hashing import hash_file
from cairn.models.signature import Signature

MANIFEST_FILE = "cairn-model.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelFile:
    path: str  # POSIX, relative to the model directory
    digest: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """Everything needed to load, check, serve and rebuild the environment of a model."""

    flavor: str
    signature: Signature
    options: Mapping[str, Any] = field(default_factory=dict)  # flavor-specific
    python_version: str = ""
    packages: Mapping[str, str] = field(default_factory=dict)  # distribution -> version
    run_id: str | None = None
    created_at: int = 0
    files: tuple[ModelFile, ...] = ()
    input_example: str | None = None  # file name inside the directory
    description: str = ""

    def __post_init__(self) -> None:
        # Checked on construction, so a manifest that names a file outside the model,
        # or one that is not hashed, is refused both when saving and when reading.
        for f in self.files:
            check_relative(f.path, "files[].path")
        listed = {f.path for f in self.files}
        named = [("options.file", self.options.get("file")), ("input_example", self.input_example)]
        for field_name, value in named:
            if value is None:
                continue
            path = check_relative(value, field_name)
            if path not in listed:
                raise InvalidInput(
                    f"model manifest {field_name} {value!r} is not one of the model's hashed "
                    "files; a model may only read files it stores (save it again with "
                    "cairn.log_model)"
                )

    def requirements(self) -> list[str]:
        """Pinned requirement lines for the model's environment (``scikit-learn==1.5.0``).

        Example:
            >>> from cairn.models.signature import Signature
            >>> Manifest("sklearn", Signature(()), packages={"skops": "0.10"}).requirements()
            ['skops==0.10']
        """
        return [f"{name}=={version}" for name, version in sorted(self.packages.items())]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "flavor": self.flavor,
            "options": dict(self.options),
            "signature": self.signature.to_dict(),
            "environment": {"python": self.python_version, "packages": dict(self.packages)},
            "run_id": self.run_id,
            "created_at": self.created_at,
            "input_example": self.input_example,
            "description": self.description,
            "files": [{"path": f.path, "digest": f.digest, "size": f.size} for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise InvalidInput(
                f"model manifest format {version!r} is not supported by this Cairn "
                f"(it reads format {FORMAT_VERSION}); upgrade Cairn"
            )
        env = data.get("environment", {})
        return cls(
            flavor=str(data["flavor"]),
            signature=Signature.from_dict(data["signature"]),
            options=dict(data.get("options", {})),
            python_version=str(env.get("python", "")),
            packages=dict(env.get("packages", {})),
            run_id=data.get("run_id"),
            created_at=int(data.get("created_at", 0)),
            files=tuple(ModelFile(f["path"], f["digest"], int(f["size"])) for f in data["files"]),
            input_example=data.get("input_example"),
            description=str(data.get("description", "")),
        )

    def write(self, directory: Path) -> Path:
        path = directory / MANIFEST_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def read_manifest(directory: Path) -> Manifest:
    """The manifest of a model directory; ``NotFound`` if it is not a model directory."""
    path = directory / MANIFEST_FILE
    if not path.is_file():
        raise NotFound(f"{directory} is not a Cairn model directory (no {MANIFEST_FILE})")
    try:
        return Manifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a valid model manifest: {exc}") from None


def check_relative(value: Any, field_name: str) -> str:
    """``value`` if it is a normalised relative POSIX path inside a model folder.

    Raises:
        InvalidInput: naming the field and the path, for an absolute path, a ``..`` or
            ``.`` part, a backslash, an empty or non-string value.

    Example:
        >>> check_relative("model.skops", "options.file")
        'model.skops'
    """
    text = value if isinstance(value, str) else None
    problem = ""
    if not text:
        problem = "is not a file name"
    elif PurePosixPath(text).is_absolute() or PureWindowsPath(text).drive:
        problem = "is an absolute path"
    elif "\\" in text or "\0" in text:
        problem = "holds a backslash or NUL character"
    elif any(part in ("", ".", "..") for part in text.split("/")):
        problem = "is not a normalised path inside the model folder"
    if problem:
        raise InvalidInput(
            f"model manifest {field_name} {value!r} {problem}; a model may only read files "
            "inside its own folder, named by relative paths such as model.skops"
        )
    assert text is not None
    return text


def model_file(directory: Path, name: Any, field_name: str = "options.file") -> Path:
    """The path of the model file ``name`` inside ``directory``, for a flavor to open.

    ``name`` comes from the manifest; it must be a normalised relative path (see
    :func:`check_relative`) to a regular file inside ``directory``, reached through no
    symbolic link. Loading has already checked that the folder holds exactly the
    manifest's hashed files, so the returned file is one of them.

    Example:
        >>> path = model_file(directory, options.get("file", FILE))  # doctest: +SKIP
    """
    rel = check_relative(name, field_name)
    path = directory
    for part in rel.split("/"):
        path = path / part
        if path.is_symlink():
            raise IntegrityError(
                f"model manifest {field_name} {name!r}: {path} is a symbolic link; a model "
                "folder must hold its files, not links to elsewhere"
            )
    if not path.is_file():
        raise IntegrityError(f"model manifest {field_name} {name!r}: no such file in {directory}")
    return path


def list_files(directory: Path) -> tuple[ModelFile, ...]:
    """Digest every file under ``directory`` except the manifest, sorted by path.

    Raises:
        IntegrityError: the folder holds a symbolic link; its target could change after
            hashing, or lie outside the folder, so it is never followed.
    """
    files = []
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            raise IntegrityError(
                f"{path} is a symbolic link; a model folder must hold its files, not links "
                "to elsewhere (copy the file in and save the model again)"
            )
        if not path.is_file():
            continue
        rel = path.relative_to(directory).as_posix()
        if rel == MANIFEST_FILE:
            continue
        digest, size = hash_file(path)
        files.append(ModelFile(rel, digest, size))
    return tuple(files)


def verify_files(directory: Path, manifest: Manifest) -> None:
    """Raise ``IntegrityError`` if a listed file is missing, changed, or one was added."""
    actual = {f.path: f for f in list_files(directory)}
    for expected in manifest.files:
        found = actual.pop(expected.path, None)
        if found is None:
            raise IntegrityError(f"model file {expected.path} is missing from {directory}")
        if found.digest != expected.digest:
            raise IntegrityError(
                f"model file {expected.path} in {directory} does not match its digest in the "
                f"manifest (expected {expected.digest[:12]}, got {found.digest[:12]}): it was "
                "modified after saving; refusing to load it"
            )
    if actual:
        extra = ", ".join(sorted(actual))
        raise IntegrityError(
            f"{directory} holds files the manifest does not list ({extra}); refusing to load it"
        )


def pinned_packages(distributions: Iterable[str]) -> dict[str, str]:
    """Installed versions of ``distributions`` (those not installed are left out)."""
    found: dict[str, str] = {}
    for name in distributions:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def python_version() -> str:
    return platform.python_version()
