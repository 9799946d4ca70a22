"""Follow a registry alias: load the new version in the background, swap it in at once.

A :class:`ModelSlot` holds the :class:`~cairn.serving.predictor.Predictor` serving now.
Requests read ``slot.current`` once and keep that object for their whole life, so a
swap (one attribute assignment, atomic under the interpreter) never changes a model
under a request that is running. When the slot follows an alias, a daemon thread asks
the registry which version the alias points at every ``interval`` seconds; when it
moved (promote or rollback), the thread tries that exact version first in a child
process (:mod:`.probe`: load it and predict its input example), so a model that crashes
or hangs whatever loads it cannot take the server down. Only then does the thread load
it here, predict the example again, and swap — the request path neither fails nor
waits. A version that fails any of these steps is *refused*: the old version keeps
serving, ``reload_errors`` counts it, :attr:`ModelSlot.refused` says why (shown by
``GET /v2/models/{name}``), and it is not tried again until the alias moves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput
from cairn.serving.predictor import Predictor, make_predictor
from cairn.serving.probe import ChildProbe
from cairn.serving.spec import Servable

if TYPE_CHECKING:
    from cairn.workspace import Workspace

log = logging.getLogger("cairn.serving")

Loader = Callable[[str], Servable]
Resolver = Callable[[str, str], str]
Probe = Callable[[Loader, str], None]  # raises when the version must not be loaded here


@dataclass(frozen=True, slots=True)
class Refusal:
    """A version the alias pointed at that the slot would not swap to, and why."""

    version: str
    reason: str
    at_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "reason": self.reason, "at_ms": self.at_ms}


@dataclass(frozen=True, slots=True)
class ModelRef:
    """What to serve, parsed by :func:`cairn.refs.parse` (the same meanings everywhere).

    ``churn@production`` follows the alias; ``churn/3`` pins a version; a bare ``churn``
    (or ``churn/latest``) is the latest version when the server starts, pinned: it does
    not follow later registrations. ``uri`` holds a ``runs:/`` URI or a model directory,
    served as is.
    """

    name: str
    alias: str | None = None
    version: str | None = None
    uri: str | None = None  # a runs:/ URI or a model directory, served as is

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse a model reference; a bare name means its latest version.

        Example:
            >>> ModelRef.parse("churn@staging")
            ModelRef(name='churn', alias='staging', version=None, uri=None)
        """
        from cairn.refs import parse

        ref = parse(text)
        if ref.kind == "path":
            assert ref.path is not None
            if not ref.path.is_dir():
                raise InvalidInput(f"model directory {ref.path} does not exist")
            path = ref.path.resolve()
            return cls(name=path.name, uri=str(path))
        if ref.kind == "run":
            assert ref.artifact is not None
            return cls(name=ref.artifact, uri=ref.text)
        assert ref.name is not None
        version = str(ref.version) if ref.version is not None else None
        return cls(name=ref.name, alias=ref.alias, version=version)

    @property
    def latest(self) -> bool:
        """True for a bare name: the latest version, resolved when loaded."""
        return self.uri is None and self.alias is None and self.version is None

    def uri_for(self, version: str | None = None) -> str:
        """The ``cairn.models.load`` URI of this reference, or of one exact version."""
        if self.uri:
            return self.uri
        if version is not None:
            return f"models:/{self.name}/{version}"
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}"

    def __str__(self) -> str:
        if self.uri:
            return self.uri
        if self.alias:
            return f"{self.name}@{self.alias}"
        return f"{self.name}/{self.version}" if self.version else self.name


def load_model(uri: str) -> Servable:
    """Load through :func:`cairn.models.load` (the default loader)."""
    from cairn.models import load

    return load(uri)


def resolve_alias(name: str, alias: str) -> str:
    """The version ``name@alias`` points at now (one indexed lookup: cheap to poll)."""
    from cairn.refs import alias_target

    return str(alias_target(name, alias))


def pin(
    ref: ModelRef, resolver: Resolver | None = resolve_alias, workspace: Workspace | None = None
) -> str | None:
    """The exact version ``ref`` names now: the alias's target, the pinned number, the
    latest version for a bare name, or None for a ``runs:/`` URI or a folder.

    A bare name whose model has aliases elsewhere logs the hint of
    :func:`cairn.refs.resolve` (the user may have meant ``name@production``).
    """
    if ref.uri is not None:
        return None
    if ref.alias is not None:
        return resolver(ref.name, ref.alias) if resolver is not None else None
    if ref.version is not None:
        return ref.version
    from cairn.refs import resolve

    resolved = resolve(ref.name, workspace)
    if resolved.note:
        log.warning("%s", resolved.note)
    return str(resolved.version)


class ModelSlot:
    """The model version serving now, optionally following an alias.

    Example:
        >>> slot = ModelSlot.open(ModelRef.parse("churn@production"), interval=2.0)
        >>> slot.start()            # background alias polling
        >>> slot.current.version
        '3'
    """

    def __init__(
        self,
        ref: ModelRef,
        predictor: Predictor,
        *,
        loader: Loader = load_model,
        resolver: Resolver | None = resolve_alias,
        interval: float = 2.0,
        on_swap: Callable[[Predictor, Predictor], None] | None = None,
        probe: Probe | None = None,
    ) -> None:
        self.ref = ref
        self.current = predictor
        self.loader = loader
        self.resolver = resolver if ref.alias else None
        self.interval = interval
        self.on_swap = on_swap
        self.probe: Probe = probe if probe is not None else ChildProbe()
        self.reload_errors = 0
        self.swaps = 0
        self.refused: Refusal | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(
        cls,
        ref: ModelRef,
        *,
        loader: Loader = load_model,
        resolver: Resolver | None = resolve_alias,
        interval: float = 2.0,
        name: str | None = None,
        version_label: str | None = None,
    ) -> ModelSlot:
        """Load the version ``ref`` names now and return a slot serving it.

        ``name`` and ``version_label`` override what the model reports (a model
        directory served from a container has no registry to ask).
        """
        version = pin(ref, resolver)
        model = loader(ref.uri_for(version))
        predictor = make_predictor(model, name or ref.name, version_label or version)
        return cls(ref, predictor, loader=loader, resolver=resolver, interval=interval)

    @property
    def follows_alias(self) -> bool:
        return self.resolver is not None

    def start(self) -> None:
        """Start polling the alias (no-op for a pinned version or a run URI)."""
        if self.resolver is None or self._thread is not None:
            return
        self._stop.clear()
        resume = getattr(self.probe, "resume", None)
        if callable(resume):
            resume()
        self._thread = threading.Thread(
            target=self._poll, name=f"cairn-follow-{self.ref}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        cancel = getattr(self.probe, "cancel", None)
        if callable(cancel):  # do not wait for a child still trying a version
            cancel()
        if self._thread is not None:
            self._thread.join(timeout=max(self.interval, 1.0) + 30)
            self._thread = None

    def check_now(self) -> bool:
        """Resolve the alias once and swap if it moved; True when a swap happened.

        A version that fails in the child process, or here, is recorded in
        :attr:`refused` and not tried again while the alias stays on it.
        """
        if self.resolver is None or self.ref.alias is None:
            return False
        version = self.resolver(self.ref.name, self.ref.alias)
        if version == self.current.version:
            self.refused = None  # the alias came back: a later move is tried afresh
            return False
        if self.refused is not None and self.refused.version == version:
            return False
        uri = self.ref.uri_for(version)
        try:
            self.probe(self.loader, uri)
            model = self.loader(uri)
            _predict_example(model)
            fresh = make_predictor(model, self.current.spec.name, version)
        except Exception as exc:  # the old version keeps serving
            self.refused = Refusal(version, str(exc), time.time_ns() // 1_000_000)
            self.reload_errors += 1
            log.warning(
                "%s: not swapping to version %s, still serving %s: %s",
                self.ref,
                version,
                self.current.version,
                exc,
            )
            return False
        self.refused = None
        old, self.current = self.current, fresh
        self.swaps += 1
        log.info("%s: now serving version %s (was %s)", self.ref, fresh.version, old.version)
        if self.on_swap is not None:
            self.on_swap(old, fresh)
        return True

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception as exc:  # keep serving the old version; try again next tick
                self.reload_errors += 1
                log.warning("%s: could not follow the alias: %s", self.ref, exc)


def _predict_example(model: Servable) -> None:
    """Predict the model's saved input example (if any): the same test the child ran."""
    example_of = getattr(model, "input_example", None)
    example = example_of() if callable(example_of) else None
    if example is not None:
        model.predict(example)
