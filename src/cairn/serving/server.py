"""Assemble the serving app from model references, and run it under uvicorn.

``cairn serve`` calls :func:`serve`. With ``workers > 1`` uvicorn starts that many
processes, each importing :func:`app_from_env`, which rebuilds the same app from the
JSON options in ``CAIRN_SERVE_OPTIONS``: every worker loads the model, follows the
alias and writes its own prediction log files; their metrics meet in a shared folder, so
``/metrics`` answers for the whole server (see :mod:`cairn.serving.metrics`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cairn.serving.app import DEFAULT_MAX_BODY, ServeOptions, ServingApp
from cairn.serving.metrics import MULTIPROC_ENV
from cairn.serving.predlog import PredictionLog, default_root
from cairn.serving.privacy import LogPrivacy, workspace_key
from cairn.serving.reload import Loader, ModelRef, ModelSlot, Resolver, load_model, resolve_alias
from cairn.serving.routing import Router, parse_canary

if TYPE_CHECKING:
    from cairn.workspace import Workspace

ENV_OPTIONS = "CAIRN_SERVE_OPTIONS"
ENV_PREDICTIONS_URI = "CAIRN_PREDICTIONS_URI"


@dataclass(frozen=True)
class ServeConfig:
    """Everything ``cairn serve`` needs; JSON-serializable for worker processes."""

    model: str
    name: str | None = None
    model_version: str | None = None
    canary: str | None = None
    shadow: str | None = None
    poll_interval: float = 2.0
    log_predictions: bool = True
    log_uri: str | None = None
    log_queue: int = 10_000
    log_flush_interval: float = 2.0
    max_body_bytes: int = DEFAULT_MAX_BODY
    #: Input columns the prediction log drops / keeps as keyed digests.
    log_exclude: tuple[str, ...] = ()
    log_hash: tuple[str, ...] = ()


def build_app(
    config: ServeConfig,
    *,
    loader: Loader = load_model,
    resolver: Resolver | None = resolve_alias,
    workspace: Workspace | None = None,
) -> ServingApp:
    """Load the model(s) named in ``config`` and return the app (not yet started).

    A model server process serves one workspace: ``workspace``, when given, becomes the
    process's workspace (:func:`cairn.workspace.use`), so the alias polling thread, the
    child processes that try new versions and the prediction log all use it.

    Example:
        >>> app = build_app(ServeConfig("churn@production", canary="churn@staging:10"))
    """
    if workspace is not None:
        import cairn.workspace

        cairn.workspace.use(workspace)
    primary_ref = ModelRef.parse(config.model)

    def slot(ref: ModelRef) -> ModelSlot:
        return ModelSlot.open(ref, loader=loader, resolver=resolver, interval=config.poll_interval)

    primary = ModelSlot.open(
        primary_ref,
        loader=loader,
        resolver=resolver,
        interval=config.poll_interval,
        name=config.name,
        version_label=config.model_version,
    )
    canary = canary_pct = None
    if config.canary:
        canary_ref, canary_pct = parse_canary(config.canary)
        canary = slot(canary_ref)
    shadow = slot(ModelRef.parse(config.shadow)) if config.shadow else None
    router = Router(primary, canary, canary_pct or 0.0, shadow)
    predlog = None
    if config.log_predictions:
        options: dict[str, Any] = {}
        root = config.log_uri or os.environ.get(ENV_PREDICTIONS_URI)
        if root is None:
            import cairn.workspace

            root = default_root()
            options = cairn.workspace.current().settings.storage_options
        predlog = PredictionLog(
            root,
            maxsize=config.log_queue,
            flush_interval=config.log_flush_interval,
            storage_options=options,
            privacy=_privacy(config),
        )
    return ServingApp(router, predlog, ServeOptions(max_body_bytes=config.max_body_bytes))


def _privacy(config: ServeConfig) -> dict[str, LogPrivacy]:
    """The log policy of every model served: made (and the key read) at start-up, so the
    writer thread never waits on the metadata store."""
    if not config.log_exclude and not config.log_hash:
        return {}
    key = workspace_key() if config.log_hash else b""
    return {"*": LogPrivacy.of(config.log_exclude, config.log_hash, key)}


def app_from_env() -> ServingApp:
    """The app described by ``CAIRN_SERVE_OPTIONS`` (uvicorn's factory for workers)."""
    raw = os.environ.get(ENV_OPTIONS)
    if not raw:
        from cairn.errors import ConfigError

        raise ConfigError(f"{ENV_OPTIONS} is not set; start the server with `cairn serve`")
    app = build_app(ServeConfig(**json.loads(raw)))
    _freeze_heap()
    return app


def serve(
    config: ServeConfig,
    host: str = "127.0.0.1",
    port: int = 8080,
    workers: int = 1,
    log_level: str = "warning",
    ready: Callable[[str], None] | None = None,
    workspace: Workspace | None = None,
) -> None:
    """Run the server in the foreground until interrupted (SIGINT/SIGTERM flush the log).

    ``workspace`` (default: the process's, see :func:`cairn.workspace.resolve`) is the
    one every worker process serves from: with ``workers > 1`` its folder is handed to
    them as ``CAIRN_WORKSPACE``.

    The model is loaded first, then the address is bound, and only then is ``ready``
    called with the server's URL: a model that does not load or an address in use
    raises a :class:`~cairn.errors.CairnError` (one line) and nothing claims to serve.
    Connections made after ``ready`` wait in the socket's queue until uvicorn accepts
    them.
    """
    import uvicorn

    kwargs: dict[str, Any] = {
        "log_level": log_level,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 30,
    }
    # Load before binding, so a bad model fails fast with one line.
    app = build_app(config, workspace=workspace)
    with _bound(host, port) as sock:
        url = f"http://{_url_host(host)}:{sock.getsockname()[1]}"
        if workers > 1:
            os.environ[ENV_OPTIONS] = json.dumps(asdict(config))
            _pin_workspace_for_workers()
            with _shared_metrics_dir():
                if ready is not None:
                    ready(url)
                uvicorn.run(
                    "cairn.serving.server:app_from_env",
                    factory=True,
                    workers=workers,
                    fd=sock.fileno(),
                    **kwargs,
                )
            return
        _freeze_heap()
        if ready is not None:
            ready(url)
        uvicorn.Server(uvicorn.Config(app, **kwargs)).run(sockets=[sock])


def _pin_workspace_for_workers() -> None:
    """Worker processes start afresh: hand them the folder of the workspace this process
    uses (``cairn.use``/``cairn.init`` included), not only the current directory."""
    import cairn.workspace
    from cairn.config import ENV_WORKSPACE
    from cairn.errors import CairnError

    try:
        root = cairn.workspace.current().root
    except CairnError:  # a model directory served without a workspace
        return
    if root is not None:
        os.environ[ENV_WORKSPACE] = str(root)


@contextlib.contextmanager
def _bound(host: str, port: int) -> Iterator[socket.socket]:
    """A listening socket on ``host:port``; an address in use or not ours is one line."""
    from cairn.errors import ConfigError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot bind to host {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use by another process; "
                "stop it or pick another with --port"
            ) from None
        raise ConfigError(f"cannot bind to {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)  # worker processes inherit it
    try:
        yield sock
    finally:
        sock.close()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@contextlib.contextmanager
def _shared_metrics_dir() -> Iterator[None]:
    """A folder where every server process writes its metrics, so that ``/metrics``
    sums them (prometheus_client's multiprocess mode); removed when the server stops.
    A folder the environment already names (``PROMETHEUS_MULTIPROC_DIR``) is used as it
    is and kept."""
    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    folder = tempfile.mkdtemp(prefix="cairn-metrics-")
    os.environ[MULTIPROC_ENV] = folder
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(folder, ignore_errors=True)


def _freeze_heap() -> None:
    """Exempt everything loaded so far (libraries, the model) from garbage collection.

    Records waiting in the prediction log queue live long enough to reach the oldest
    generation, and each full collection then walks every object of scikit-learn,
    pandas and the model: tens of milliseconds that land on some request's latency.
    Frozen objects are skipped by the collector.
    """
    import gc

    gc.collect()
    gc.freeze()
