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
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput
from cairn.serving.predictor import Predictor, make_predictor
from cairn.serving.probe import ChildProbe
from cairn.serving.spec import Servable

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


_REF = re.compile(
    r"^(?:models:/)?(?P<name>[A-Za-z0-9_.\-]+)(?:@(?P<alias>[A-Za-z0-9_.\-]+)|/(?P<version>\d+))?$"
)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """What to serve: ``churn@production``, ``churn/3``, a ``runs:/`` URI or a model directory."""

    name: str
    alias: str | None = None
    version: str | None = None
    uri: str | None = None  # a runs:/ URI, served as is

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse a model reference; a bare name means its ``production`` alias.

        Example:
            >>> ModelRef.parse("churn@staging")
            ModelRef(name='churn', alias='staging', version=None, uri=None)
        """
        text = text.strip()
        if text.startswith("file://") or text.startswith((".", "/")) or Path(text).is_dir():
            path = Path(text.removeprefix("file://")).expanduser()
            if not path.is_dir():
                raise InvalidInput(f"model directory {path} does not exist")
            return cls(name=path.resolve().name, uri=str(path.resolve()))
        if text.startswith("runs:/"):
            parts = [p for p in text[len("runs:/") :].split("/") if p]
            if len(parts) < 2:
                raise InvalidInput(f"{text!r} is not a run model URI; use runs:/<run-id>/model")
            return cls(name=parts[-1], uri=text)
        m = _REF.match(text)
        if not m:
            raise InvalidInput(
                f"{text!r} is not a model reference; use NAME@ALIAS (churn@production), "
                "NAME/VERSION (churn/3) or runs:/<run-id>/model"
            )
        alias = m["alias"] or (None if m["version"] else "production")
        return cls(name=m["name"], alias=alias, version=m["version"])

    def uri_for(self, version: str | None = None) -> str:
        """The ``cairn.models.load`` URI of this reference, or of one exact version."""
        if self.uri:
            return self.uri
        if version is not None:
            return f"models:/{self.name}/{version}"
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}@{self.alias}"

    def __str__(self) -> str:
        if self.uri:
            return self.uri
        return f"{self.name}@{self.alias}" if self.alias else f"{self.name}/{self.version}"


def load_model(uri: str) -> Servable:
    """Load through :func:`cairn.models.load` (the default loader)."""
    from cairn.models import load

    return load(uri)


def resolve_alias(name: str, alias: str) -> str:
    """The version ``name@alias`` points at now (one indexed lookup: cheap to poll)."""
    import cairn.workspace
    from cairn.errors import NotFound

    registry = cairn.workspace.current().registry
    version = registry.get_alias(name, alias)
    if version is None:
        registry.get_model(name)  # an unknown model is NotFound with its own message
        raise NotFound(
            f"model {name} has no alias {alias!r}; promote a version first: "
            f"cairn models promote {name} VERSION --to {alias}"
        )
    return str(version)


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
        version = None
        if ref.alias and resolver is not None:
            version = resolver(ref.name, ref.alias)
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
