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

from cairn import credentials
from cairn.credentials import mask_uri, toml_string
from cairn.errors import ConfigError

CONFIG_FILE = "cairn.toml"
STATE_DIR = ".cairn"
DEFAULT_TRACKING_URI = f"sqlite:///{STATE_DIR}/cairn.db"
DEFAULT_ARTIFACT_URI = f"{STATE_DIR}/artifacts"

ENV_WORKSPACE = "CAIRN_WORKSPACE"
ENV_TRACKING_URI = "CAIRN_TRACKING_URI"
ENV_ARTIFACT_URI = "CAIRN_ARTIFACT_URI"
ENV_ARTIFACT_FSYNC = "CAIRN_ARTIFACT_FSYNC"
ENV_METRIC_BUFFER = "CAIRN_METRIC_BUFFER"
#: A PEM file of the CA that signed a `cairn server`'s certificate (or [tracking] ca_bundle).
ENV_CA_BUNDLE = "CAIRN_CA_BUNDLE"
ENV_METRIC_FLUSH_SECONDS = "CAIRN_METRIC_FLUSH_SECONDS"
DEFAULT_METRIC_BUFFER = 20_000
DEFAULT_METRIC_FLUSH_SECONDS = 0.5
#: Against `cairn server`: how long a run's start may wait to go with another request.
ENV_RUN_START_DELAY = "CAIRN_RUN_START_DELAY"
DEFAULT_RUN_START_DELAY = 0.5

#: Spellings of a boolean setting, in cairn.toml (as strings) and in the environment.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


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
    #: CA bundle that verifies a `cairn server`'s TLS certificate (None: the system's).
    ca_bundle: str | None = None
    #: Seconds a run's start may wait to be sent with another request to a `cairn
    #: server` (0: at once); see cairn.store.rest.starts.
    run_start_delay: float = DEFAULT_RUN_START_DELAY

    def __repr__(self) -> str:
        # Settings hold secrets merged in from the environment or the credentials file;
        # a repr in a log or a traceback must not show them.
        return (
            f"Settings(root={self.root!r}, tracking_uri={mask_uri(self.tracking_uri)!r}, "
            f"artifact_uri={mask_uri(self.artifact_uri)!r}, "
            f"storage_options=<{len(self.storage_options)} options>, user={self.user!r}, "
            f"artifact_fsync={self.artifact_fsync!r})"
        )


def find_root(start: Path | None = None) -> Path | None:
    """The nearest directory at or above ``start`` that holds ``cairn.toml``.

    ``CAIRN_WORKSPACE`` stands in for the current directory: it names the workspace when
    no ``start`` is given. A ``start`` named in code (``cairn.use(path)``,
    ``cairn.init(path)``) wins over it, as flags win over variables everywhere.
    """
    explicit = os.environ.get(ENV_WORKSPACE) if start is None else None
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
    are set (a CI job talking to shared stores, for example). Secrets are merged in from
    the environment or the credentials file (see :mod:`cairn.credentials`).
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
    _refuse_committed_secrets(tracking, artifacts, root)

    tracking_uri = (
        overrides.get("tracking_uri")
        or os.environ.get(ENV_TRACKING_URI)
        or tracking.get("uri")
        or (DEFAULT_TRACKING_URI if root else None)
    )
    artifact_uri = overrides.get("artifact_uri") or os.environ.get(ENV_ARTIFACT_URI)
    if artifact_uri is None and is_server_uri(str(tracking_uri or "")):
        # A Cairn server keeps the artifacts next to the records: cairn.toml's local
        # folder would split them (records on the server, bytes on this machine).
        artifact_uri = str(tracking_uri)
    artifact_uri = artifact_uri or artifacts.get("uri") or (DEFAULT_ARTIFACT_URI if root else None)
    if tracking_uri is None or artifact_uri is None:
        raise ConfigError(
            f"no Cairn workspace in {start or Path.cwd()} or its parents; run `cairn init` "
            f"or set {ENV_TRACKING_URI} and {ENV_ARTIFACT_URI}"
        )
    options = artifacts.get("storage_options", {})
    if not isinstance(options, dict):
        raise ConfigError(f"[artifacts] storage_options in {CONFIG_FILE} must be a table")
    tracking_uri = resolve_tracking_uri(str(tracking_uri), root)
    artifact_uri = resolve_artifact_uri(str(artifact_uri), root)
    secrets = _Secrets()
    tracking_uri = _with_tracking_secret(tracking_uri, secrets)
    if "://" in artifact_uri:
        options = {**options, **credentials.artifact_options(artifact_uri, secrets.file())}
    ca_bundle = os.environ.get(ENV_CA_BUNDLE) or tracking.get("ca_bundle")
    if ca_bundle is not None and is_server_uri(artifact_uri):
        options = {**options, "ca_bundle": str(ca_bundle)}
    return Settings(
        root=root,
        ca_bundle=None if ca_bundle is None else str(ca_bundle),
        tracking_uri=tracking_uri,
        artifact_uri=artifact_uri,
        storage_options=dict(options),
        user=os.environ.get("CAIRN_USER") or None,
        artifact_fsync=_fsync_setting(artifacts),
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
        run_start_delay=_number(
            ENV_RUN_START_DELAY, tracking, "run_start_delay", DEFAULT_RUN_START_DELAY, 0, 60
        ),
    )


class _Secrets:
    """The credentials file, read at most once and only when a setting needs it."""

    def __init__(self) -> None:
        self._data: dict[str, Any] | None = None

    def file(self) -> dict[str, Any]:
        if self._data is None:
            self._data = credentials.load_credentials()
        return self._data


def _with_tracking_secret(uri: str, secrets: _Secrets) -> str:
    """``uri`` with its password: one already in it (flag or environment), else
    ``CAIRN_TRACKING_PASSWORD``, else the credentials file. Without any, libpq still
    reads ``PGPASSWORD`` and ``~/.pgpass`` itself."""
    if "://" not in uri or uri.startswith("sqlite:") or credentials.split_password(uri)[1]:
        return uri
    password = os.environ.get(credentials.ENV_TRACKING_PASSWORD)
    if not password:
        password = credentials.tracking_password(uri, secrets.file())
    return credentials.with_password(uri, password) if password else uri


def _refuse_committed_secrets(
    tracking: dict[str, Any], artifacts: dict[str, Any], root: Path | None
) -> None:
    """cairn.toml is meant to be committed: a secret in it is refused, with the way out."""
    where = root / CONFIG_FILE if root else CONFIG_FILE
    uri = tracking.get("uri")
    if isinstance(uri, str):
        plain, password = credentials.split_password(uri)
        if password is not None:
            key = credentials.tracking_key(plain)
            raise ConfigError(
                f"{where} holds a password in [tracking] uri ({mask_uri(uri)}), and "
                f'cairn.toml gets committed: write uri = "{plain}" there and put the '
                f'password in {credentials.credentials_path()} under [tracking."{key}"] '
                f"(mode 0600), or set {credentials.ENV_TRACKING_PASSWORD} or PGPASSWORD"
            )
    options = artifacts.get("storage_options")
    artifact_uri = artifacts.get("uri")
    if isinstance(options, dict):
        protocol = str(artifact_uri).partition("://")[0].lower() if artifact_uri else ""
        found = credentials.secret_options(protocol, options)
        if found:
            key = credentials.artifact_key(str(artifact_uri or ""))
            raise ConfigError(
                f"{where} holds secrets in [artifacts.storage_options] ({', '.join(found)}), "
                f"and cairn.toml gets committed: move them to {credentials.credentials_path()} "
                f'under [artifacts."{key}"] (mode 0600), or use the environment (AWS_* variables)'
            )


def parse_flag(value: object, source: str) -> bool:
    """A boolean setting from the environment or cairn.toml: one rule for both.

    TOML ``true``/``false``, or (in either place) ``1``/``0``, ``true``/``false``,
    ``yes``/``no``, ``on``/``off`` in any case. ``source`` names the setting in the error.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ConfigError(
        f"{source} = {value!r} is not a boolean; use true or false (or 1/0, yes/no, on/off)"
    )


def _fsync_setting(artifacts: dict[str, Any]) -> bool:
    """``artifacts.fsync``: the environment variable wins over cairn.toml."""
    env = os.environ.get(ENV_ARTIFACT_FSYNC)
    if env is not None:
        return parse_flag(env, ENV_ARTIFACT_FSYNC)
    return parse_flag(artifacts.get("fsync", False), f"[artifacts] fsync in {CONFIG_FILE}")


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


def is_server_uri(uri: str) -> bool:
    """Whether ``uri`` names a `cairn server` (``http://`` or ``https://``)."""
    return uri.lower().startswith(("http://", "https://"))


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
    """Write ``cairn.toml`` for a new workspace; refuses to overwrite one.

    A password in ``tracking_uri`` is never written: cairn.toml gets committed. The
    caller keeps it elsewhere (see :func:`cairn.credentials.save_tracking_password`).
    """
    path = root / CONFIG_FILE
    if path.exists():
        raise ConfigError(f"{path} already exists")
    tracking = credentials.split_password(tracking_uri or DEFAULT_TRACKING_URI)[0]
    path.write_text(
        "# Cairn workspace. CAIRN_TRACKING_URI / CAIRN_ARTIFACT_URI override these.\n"
        "# Commit this file; secrets never go here (see docs/configuration.md).\n"
        "[tracking]\n"
        f"uri = {toml_string(tracking)}\n\n"
        "[artifacts]\n"
        f"uri = {toml_string(artifact_uri or DEFAULT_ARTIFACT_URI)}\n"
        "# [artifacts.storage_options]  # passed to fsspec, e.g. endpoint_url for S3\n",
        encoding="utf-8",
    )
    return path
