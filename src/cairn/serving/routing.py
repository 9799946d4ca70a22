"""Which model answers a request: production, a canary share, and a silent shadow.

The canary share is picked by a hash of the request id, not at random, so a caller
that retries with the same ``X-Request-ID`` lands on the same model. A shadow model
scores every request on a background thread after the answer has gone out; its
predictions are only logged. When the shadow falls behind, requests are skipped and
counted rather than queued without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

from cairn.errors import InvalidInput
from cairn.serving.codec import Batch
from cairn.serving.predictor import Predictor
from cairn.serving.reload import ModelRef, ModelSlot

log = logging.getLogger("cairn.serving")

PRIMARY, CANARY, SHADOW = "primary", "canary", "shadow"


def parse_canary(text: str) -> tuple[ModelRef, float]:
    """``churn@staging:10`` -> (ref, 10.0): the model and the percent of traffic.

    Example:
        >>> parse_canary("churn@staging:10")[1]
        10.0
    """
    ref_text, sep, pct_text = text.rpartition(":")
    if not sep or ref_text.endswith("runs"):
        raise InvalidInput(
            f"--canary {text!r} needs a share: MODEL@ALIAS:PERCENT, e.g. churn@staging:10"
        )
    try:
        pct = float(pct_text)
    except ValueError:
        raise InvalidInput(f"--canary share {pct_text!r} is not a number; use 0-100") from None
    if not 0 <= pct <= 100:
        raise InvalidInput(f"--canary share {pct} is outside 0-100")
    return ModelRef.parse(ref_text), pct


def bucket(request_id: str) -> float:
    """A stable position in [0, 100) for a request id."""
    return (zlib.crc32(request_id.encode("utf-8", "replace")) % 10_000) / 100.0


class Router:
    """Picks the predictor for each request and runs the shadow."""

    def __init__(
        self,
        primary: ModelSlot,
        canary: ModelSlot | None = None,
        canary_percent: float = 0.0,
        shadow: ModelSlot | None = None,
    ) -> None:
        self.primary = primary
        self.canary = canary
        self.canary_percent = canary_percent if canary is not None else 0.0
        self.shadow = shadow
        self._shadow_runner: ShadowRunner | None = None

    @property
    def name(self) -> str:
        return self.primary.current.spec.name

    def slots(self) -> list[tuple[str, ModelSlot]]:
        out = [(PRIMARY, self.primary)]
        if self.canary is not None:
            out.append((CANARY, self.canary))
        if self.shadow is not None:
            out.append((SHADOW, self.shadow))
        return out

    def pick(self, request_id: str) -> tuple[Predictor, str]:
        """The predictor that answers ``request_id`` and its role."""
        if self.canary is not None and bucket(request_id) < self.canary_percent:
            return self.canary.current, CANARY
        return self.primary.current, PRIMARY

    def by_version(self, version: str) -> tuple[Predictor, str] | None:
        """The served predictor of that exact version (``/versions/{v}/infer``)."""
        for role, slot in self.slots():
            if role != SHADOW and slot.current.version == version:
                return slot.current, role
        return None

    def versions(self) -> list[str]:
        return [slot.current.version for role, slot in self.slots() if role != SHADOW]

    def start(self, on_shadow: Callable[[Predictor, Batch, Any, str, int], None]) -> None:
        for _, slot in self.slots():
            slot.start()
        if self.shadow is not None:
            self._shadow_runner = ShadowRunner(self.shadow, on_shadow)
            self._shadow_runner.start()

    def stop(self) -> None:
        for _, slot in self.slots():
            slot.stop()
        if self._shadow_runner is not None:
            self._shadow_runner.stop()
            self._shadow_runner = None

    def submit_shadow(self, batch: Batch, request_id: str, when_ms: int) -> None:
        if self._shadow_runner is not None:
            self._shadow_runner.submit(batch, request_id, when_ms)

    @property
    def shadow_dropped(self) -> int:
        return self._shadow_runner.dropped if self._shadow_runner else 0


class ShadowRunner:
    """A bounded queue of batches the shadow model scores after the response."""

    def __init__(
        self,
        slot: ModelSlot,
        on_result: Callable[[Predictor, Batch, Any, str, int], None],
        maxsize: int = 1000,
    ) -> None:
        self.slot = slot
        self.on_result = on_result
        self.dropped = 0
        self.errors = 0
        self._queue: queue.Queue[tuple[Batch, str, int] | None] = queue.Queue(maxsize)
        self._thread = threading.Thread(target=self._run, name="cairn-shadow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, batch: Batch, request_id: str, when_ms: int) -> None:
        try:
            self._queue.put_nowait((batch, request_id, when_ms))
        except queue.Full:
            self.dropped += 1

    def stop(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join(timeout=max(deadline - time.monotonic(), 0.1))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch, request_id, when_ms = item
            predictor = self.slot.current
            try:
                arr, _ = predictor.predict(batch)
            except Exception as exc:  # the shadow must never affect serving
                self.errors += 1
                log.debug("shadow %s failed on %s: %s", predictor.version, request_id, exc)
                continue
            self.on_result(predictor, batch, arr, request_id, when_ms)
