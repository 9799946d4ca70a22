"""Secrets kept out of ``cairn.toml``, and the one way a URI is shown to anyone.

``cairn.toml`` is meant to be committed, so it never holds a password or a key. Secrets
come from the environment (``CAIRN_TRACKING_PASSWORD``, a full ``CAIRN_TRACKING_URI``,
``PGPASSWORD`` and ``~/.pgpass`` through libpq, the usual ``AWS_*`` variables) or from a
user-only credentials file, ``~/.config/cairn/credentials.toml`` by default::

    [tracking."postgresql://ml@db.internal:5432"]
    password = "..."

    [artifacts."s3://ml-artifacts/cairn"]
    key = "..."
    secret = "..."

    [servers."https://cairn.internal:5050"]
    token = "cairn_..."     # written by `cairn login`; sent as Authorization: Bearer

The file is created with mode 0600 and replaced atomically; like ssh with a private key,
Cairn refuses to read one that its group or other users can read. Secrets are merged
into the settings in memory only.

:func:`mask_uri` is the only way a URI reaches a message, a log line or the terminal;
:func:`redact` applies it to free text (the CLI passes every error through it).

Example:
    >>> mask_uri("postgresql://ml:s3cret@db/cairn")
    'postgresql://ml:***@db/cairn'
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tomllib
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from cairn.errors import ConfigError

ENV_CREDENTIALS_FILE = "CAIRN_CREDENTIALS_FILE"
ENV_TRACKING_PASSWORD = "CAIRN_TRACKING_PASSWORD"
#: An API token for ``cairn server``; wins over the one ``cairn login`` saved.
ENV_TOKEN = "CAIRN_TRACKING_TOKEN"
#: The same, under a shorter name (read when ``CAIRN_TRACKING_TOKEN`` is unset).
ENV_TOKEN_ALIAS = "CAIRN_TOKEN"
MASK = "***"

#: Query parameters of a URI whose value is a secret (libpq's ``password=`` and friends).
SECRET_QUERY_KEYS = frozenset(
    {"password", "passwd", "pwd", "secret", "token", "access_token", "api_key", "sig"}
)
#: fsspec storage options that hold a secret on any file system (s3fs, gcsfs, adlfs).
SECRET_OPTIONS = frozenset(
    {
        "password",
        "secret",
        "secret_access_key",
        "aws_secret_access_key",
        "session_token",
        "aws_session_token",
        "account_key",
        "sas_token",
        "connection_string",
        "client_secret",
    }
)
#: For S3 (s3fs), ``key`` and ``token`` are the access key id and the session token.
S3_SECRET_OPTIONS = frozenset({"key", "token"})

# scheme://user:password@ in free text. The password runs to the last '@' before a '/',
# a quote or white space, as urlsplit reads it: an unescaped '@' in it is masked too.
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@'\"]*):(?P<pw>[^\s/'\"]*)@")
_QUERY_SECRET = re.compile(
    r"(?P<head>[?&](?:" + "|".join(sorted(SECRET_QUERY_KEYS)) + r")=)(?P<value>[^&\s'\"]*)",
    re.IGNORECASE,
)


def mask_uri(uri: str) -> str:
    """``uri`` with any password (in the user part or the query) replaced by ``***``."""
    return redact(str(uri))


def redact(text: str) -> str:
    """``text`` with the password of every URI in it masked (for messages and logs)."""
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@" if m["pw"] else m[0], text)
    return _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}" if m["value"] else m[0], text)


def split_password(uri: str) -> tuple[str, str | None]:
    """``(uri without its password, the password or None)``; the password is decoded.

    A password in the user part (``postgresql://ml:pw@host/db``) or in a ``password``
    query parameter (``...?password=pw``) is taken out; the rest is kept as written.
    """
    if "://" not in uri:
        return uri, None
    parts = urlsplit(uri)
    password: str | None = None
    netloc = parts.netloc
    userinfo, at, hostport = netloc.rpartition("@")
    if at and ":" in userinfo:
        user, _, raw = userinfo.partition(":")
        password = unquote(raw)
        netloc = f"{user}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if k.lower() != "password"]
        if len(kept) != len(pairs):
            password = password or next(v for k, v in pairs if k.lower() == "password")
            query = urlencode(kept)
    if password is None:
        return uri, None
    return urlunsplit(parts._replace(netloc=netloc, query=query)), password


def with_password(uri: str, password: str) -> str:
    """``uri`` (which holds no password) with ``password`` put in its user part."""
    parts = urlsplit(uri)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        hostport = parts.netloc
    netloc = f"{userinfo}:{quote(password, safe='')}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def tracking_key(uri: str) -> str:
    """The credentials-file key of a metadata store: ``scheme://user@host[:port]``.

    Keyed by server and user, not database, as ``~/.pgpass`` can be: one password serves
    every database that user reaches on that server.
    """
    parts = urlsplit(split_password(uri)[0])
    scheme = parts.scheme.lower().split("+", 1)[0]
    scheme = "postgresql" if scheme == "postgres" else scheme
    user = unquote(parts.username or "")
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{scheme}://{user}@{host}{port}"


def artifact_key(uri: str) -> str:
    """The credentials-file key of an artifact store: its URI without a trailing ``/``."""
    return uri.rstrip("/")


def secret_options(protocol: str, options: Mapping[str, Any]) -> list[str]:
    """The names among ``options`` that hold secrets (which ``cairn.toml`` must not)."""
    secret = SECRET_OPTIONS | (S3_SECRET_OPTIONS if protocol in ("s3", "s3a") else frozenset())
    found = [k for k in options if k.lower() in secret]
    nested = options.get("client_kwargs")
    if isinstance(nested, Mapping):
        found += [
            f"client_kwargs.{k}" for k in nested if k.lower() in secret | {"aws_access_key_id"}
        ]
    return found


def credentials_path() -> Path:
    """``$CAIRN_CREDENTIALS_FILE``, else ``$XDG_CONFIG_HOME/cairn/credentials.toml``
    (``~/.config/cairn/credentials.toml``): outside every workspace, so never committed."""
    explicit = os.environ.get(ENV_CREDENTIALS_FILE)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "cairn" / "credentials.toml"


def load_credentials(path: Path | None = None) -> dict[str, Any]:
    """The parsed credentials file (empty when there is none).

    Raises:
        ConfigError: the file can be read by its group or others, belongs to another
            user, or is not valid TOML.
    """
    path = path or credentials_path()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the credentials file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        # Checked on the open file, so the file read is the file checked.
        _check_private(path, os.fstat(f.fileno()))
        raw = f.read()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the credentials file {path} is not valid TOML: {exc}") from None
    return data


def _check_private(path: Path, st: os.stat_result) -> None:
    if os.name != "posix":  # pragma: no cover - Windows keeps access in ACLs, not mode bits
        return
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"the credentials file {path} has mode {mode:04o}, readable by other users; "
            f"Cairn refuses to use it: run `chmod 600 {path}` (and change the secrets in it "
            "if others may have read them)"
        )
    if st.st_uid != os.getuid():
        raise ConfigError(
            f"the credentials file {path} belongs to user id {st.st_uid}, not you; "
            "Cairn refuses to use it: remove it or take ownership of it"
        )


def tracking_password(uri: str, credentials: Mapping[str, Any]) -> str | None:
    """The password the credentials file holds for the metadata store ``uri``."""
    key = tracking_key(uri)
    entry = _table(credentials, "tracking").get(key)
    if entry is None:
        return None
    password = entry.get("password") if isinstance(entry, dict) else None
    if not isinstance(password, str):
        raise ConfigError(f'[tracking."{key}"] in {credentials_path()} must have password = "..."')
    return password


def artifact_options(uri: str, credentials: Mapping[str, Any]) -> dict[str, Any]:
    """The storage options (keys, tokens) the credentials file holds for ``uri``."""
    entry = _table(credentials, "artifacts").get(artifact_key(uri), {})
    if not isinstance(entry, dict):
        raise ConfigError(
            f'[artifacts."{artifact_key(uri)}"] in {credentials_path()} must be a table'
        )
    return dict(entry)


def _table(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] in the credentials file {credentials_path()} must be a table")
    return value


def save_tracking_password(uri: str, password: str) -> Path:
    """Remember ``password`` for the metadata store ``uri`` in the credentials file.

    Other entries are kept. The new file is written under a temporary name created with
    mode 0600 (never made private after the fact) and renamed over the old one, under a
    lock, so two concurrent ``cairn init`` runs do not drop each other's entry.
    """
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(path):
        data = load_credentials(path)
        tracking = _table(data, "tracking")
        tracking[tracking_key(uri)] = {"password": password}
        data["tracking"] = tracking
        _write_private(path, _dump(data))
    return path


def server_key(url: str) -> str:
    """The credentials-file key of a ``cairn server``: ``scheme://host[:port][/path]``,
    lower-cased, without a trailing ``/``; anything else in ``url`` is refused."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"invalid server URL {mask_uri(url)!r}: use http(s)://HOST[:PORT], as in "
            "https://cairn.internal:5050"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            f"invalid server URL {mask_uri(url)!r}: give only http(s)://HOST[:PORT][/PATH]; "
            "the token goes to `cairn login --token-stdin`, never into the URL"
        )
    port = f":{parts.port}" if parts.port else ""
    return f"{scheme}://{parts.hostname.lower()}{port}{parts.path.rstrip('/')}"


def server_token(url: str, credentials: Mapping[str, Any] | None = None) -> str | None:
    """The API token for the server at ``url``: ``$CAIRN_TRACKING_TOKEN`` (or its alias
    ``$CAIRN_TOKEN``), else the one ``cairn login`` saved, else None. The REST client
    sends it as a bearer token."""
    for name in (ENV_TOKEN, ENV_TOKEN_ALIAS):
        env = os.environ.get(name, "").strip()
        if env:
            return env
    try:
        key = server_key(url)
    except ConfigError:  # a URL `cairn login` could not have saved a token for
        return None
    data = load_credentials() if credentials is None else credentials
    entry = _table(data, "servers").get(key)
    token = entry.get("token") if isinstance(entry, dict) else None
    return token if isinstance(token, str) and token else None


def save_server_token(url: str, token: str) -> Path:
    """Remember ``token`` for the server at ``url`` (private file, atomic, locked, as
    :func:`save_tracking_password`)."""
    key = server_key(url)
    path = credentials_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(path):
        data = load_credentials(path)
        servers = _table(data, "servers")
        servers[key] = {"token": token}
        data["servers"] = servers
        _write_private(path, _dump(data))
    return path


def remove_server_token(url: str) -> bool:
    """Forget the token saved for ``url``; False when there was none."""
    key = server_key(url)
    path = credentials_path()
    if not path.exists():
        return False
    with _locked(path):
        data = load_credentials(path)
        servers = _table(data, "servers")
        if servers.pop(key, None) is None:
            return False
        data["servers"] = servers
        _write_private(path, _dump(data))
    return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (quotes, backslashes and control characters escaped)."""
    # JSON's escapes are valid TOML; JSON leaves DEL raw, which TOML forbids.
    return json.dumps(value, ensure_ascii=True).replace("\x7f", "\\u007f")


def _dump(data: Mapping[str, Any]) -> str:
    lines = [
        "# Cairn credentials: secrets kept out of cairn.toml. Keep this file private (0600);",
        "# never commit it. `cairn init` (given a password) and `cairn login` rewrite it.",
    ]
    for section in ("tracking", "artifacts", "servers"):
        for key, entry in sorted(_table(data, section).items()):
            if not isinstance(entry, dict):
                continue
            lines += ["", f"[{section}.{toml_string(key)}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{toml_string(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return toml_string(str(value))
