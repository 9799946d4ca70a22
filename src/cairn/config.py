"""Where a workspace lives and where its stores point.

Precedence: command-line flags > ``CAIRN_*`` environment variables > ``cairn.toml`` >
defaults. A workspace is the nearest directory, from the current one upward, holding
``cairn.toml``; ``CAIRN_WORKSPACE`` names one explicitly.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import ConfigError

CONFIG_FILE = "cairn.toml"
STATE_DIR = ".cairn"
DEFAULT_TRACKING_URI = f"sqlite:///{STATE_DIR}/cairn.db"
DEFAULT_ARTIFACT_URI = f"{STATE_DIR}/artifacts"

ENV_WORKSPACE = "CAIRN_WORKSPACE"
ENV_TRACKING_URI = "CAIRN_TRACKING_URI"
ENV_ARTIFACT_URI = "CAIRN_ARTIFACT_URI"
ENV_METRIC_BUFFER = "CAIRN_METRIC_BUFFER"
ENV_METRIC_FLUSH_SECONDS = "CAIRN_METRIC_FLUSH_SECONDS"
DEFAULT_METRIC_BUFFER = 20_000
DEFAULT_METRIC_FLUSH_SECONDS = 0.5


@dataclass(frozen=True)
class Settings:
    """Resolved configuration: absolute local paths, URIs ready for the store factory."""

    root: Path | None
    tracking_uri: str
    artifact_uri: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    user: str | None = None
    artifact_fsync: bool = False
    metric_buffer: int = DEFAULT_METRIC_BUFFER
    metric_flush_seconds: float = DEFAULT_METRIC_FLUSH_SECONDS


def find_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``cairn.toml``."""
    explicit = os.environ.get(ENV_WORKSPACE)
    if explicit:
        root = Path(explicit).expanduser().resolve()
        if not (root / CONFIG_FILE).is_file():
            raise ConfigError(
                f"{ENV_WORKSPACE}={explicit} has no {CONFIG_FILE}; run `cairn init` there"
            )
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def load_settings(start: Path | None = None, **overrides: str | None) -> Settings:
    """Settings for the workspace around ``start`` (default: the current directory).

    Works without a workspace when both ``CAIRN_TRACKING_URI`` and ``CAIRN_ARTIFACT_URI``
    are set (a CI job talking to shared stores, for example).
    """
    root = find_root(start)
    data: dict[str, Any] = {}
    if root is not None:
        path = root / CONFIG_FILE
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    tracking = _section(data, "tracking")
    artifacts = _section(data, "artifacts")

    tracking_uri = (
        overrides.get("tracking_uri")
        or os.environ.get(ENV_TRACKING_URI)
        or tracking.get("uri")
        or (DEFAULT_TRACKING_URI if root else None)
    )
    artifact_uri = (
        overrides.get("artifact_uri")
        or os.environ.get(ENV_ARTIFACT_URI)
        or artifacts.get("uri")
        or (DEFAULT_ARTIFACT_URI if root else None)
    )
    if tracking_uri is None or artifact_uri is None:
        raise ConfigError(
            f"no Cairn workspace in {start or Path.cwd()} or its parents; run `cairn init` "
            f"or set {ENV_TRACKING_URI} and {ENV_ARTIFACT_URI}"
        )
    options = artifacts.get("storage_options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"[artifacts] storage_options in {CONFIG_FILE} must be a table")
    return Settings(
        root=root,
        tracking_uri=resolve_tracking_uri(str(tracking_uri), root),
        artifact_uri=resolve_artifact_uri(str(artifact_uri), root),
        storage_options=dict(options),
        user=os.environ.get("CAIRN_USER") or None,
        artifact_fsync=_flag(os.environ.get("CAIRN_ARTIFACT_FSYNC"), artifacts.get("fsync", False)),
        metric_buffer=int(
            _number(ENV_METRIC_BUFFER, tracking, "metric_buffer", DEFAULT_METRIC_BUFFER, 1, 10**7)
        ),
        metric_flush_seconds=_number(
            ENV_METRIC_FLUSH_SECONDS,
            tracking,
            "metric_flush_seconds",
            DEFAULT_METRIC_FLUSH_SECONDS,
            0.01,
            3600,
        ),
    )


def _flag(env: str | None, configured: object) -> bool:
    """A boolean setting: the environment variable wins over cairn.toml."""
    if env is not None:
        return env.strip().lower() in ("1", "true", "yes", "on")
    if not isinstance(configured, bool):
        raise ConfigError(f"[artifacts] fsync in {CONFIG_FILE} must be true or false")
    return configured


def _number(
    env: str, section: dict[str, Any], key: str, default: float, low: float, high: float
) -> float:
    """A numeric ``[tracking]`` setting: the environment variable wins over cairn.toml.

    A whole-number default makes the setting a whole number (``metric_buffer = 20000``).
    """
    whole = isinstance(default, int)
    raw: object = os.environ.get(env, section.get(key, default))
    where = f"{env}={raw}" if env in os.environ else f"[tracking] {key} = {raw!r} in {CONFIG_FILE}"
    try:
        if isinstance(raw, bool) or (whole and isinstance(raw, float)):
            raise ValueError
        value = float(int(raw) if whole else float(raw))  # type: ignore[call-overload,arg-type]
    except (TypeError, ValueError, OverflowError):
        value = float("nan")
    if not low <= value <= high:  # NaN fails too
        kind = "a whole number" if whole else "a number"
        raise ConfigError(
            f"{where} must be {kind} from {low:g} to {high:g}; unset it for the default {default:g}"
        )
    return value


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] in {CONFIG_FILE} must be a table")
    return value


def resolve_tracking_uri(uri: str, root: Path | None) -> str:
    """Make a relative ``sqlite:///rel/path`` absolute against the workspace root."""
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri.startswith(prefix + "/") and uri != "sqlite:///:memory:":
        rel = uri[len(prefix) :]
        base = root or Path.cwd()
        return prefix + str((base / rel).resolve())
    return uri


def resolve_artifact_uri(uri: str, root: Path | None) -> str:
    """Make a relative local folder absolute against the workspace root; URLs pass through."""
    if "://" in uri:
        if uri.startswith("file://"):
            return str(Path(uri[len("file://") :]).resolve())
        return uri
    path = Path(uri).expanduser()
    if not path.is_absolute():
        path = (root or Path.cwd()) / path
    return str(path.resolve())


def write_default_config(
    root: Path, tracking_uri: str | None = None, artifact_uri: str | None = None
) -> Path:
    """Write ``cairn.toml`` for a new workspace; refuses to overwrite one."""
    path = root / CONFIG_FILE
    if path.exists():
        raise ConfigError(f"{path} already exists")
    path.write_text(
        "# Cairn workspace. CAIRN_TRACKING_URI / CAIRN_ARTIFACT_URI override these.\n"
        "[tracking]\n"
        f'uri = "{tracking_uri or DEFAULT_TRACKING_URI}"\n\n'
        "[artifacts]\n"
        f'uri = "{artifact_uri or DEFAULT_ARTIFACT_URI}"\n'
        "# [artifacts.storage_options]  # passed to fsspec, e.g. endpoint_url for S3\n",
        encoding="utf-8",
    )
    return path
