"""Cache keys: a digest of (step code, parameters, input digests), kept decodable.

The components are stored beside the key in each step record, so ``cairn pipeline
explain`` can say which of them changed since the step's previous run.
"""

from __future__ import annotations

import json
from typing import Any

from cairn.hashing import hash_bytes


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)


def key_of(
    step: str,
    code: str,
    params: dict[str, Any],
    inputs: dict[str, Any],
    upstream: list[str] | None = None,
) -> tuple[str, str]:
    """(cache key, components JSON) for one step execution.

    ``upstream`` (the keys of the steps feeding this one) is stored with the components
    for display (``cairn pipeline show`` draws the DAG from it) but is not part of the
    key: a renamed upstream step with the same output does not invalidate the cache.
    """
    hashed = {"step": step, "code": code, "params": params, "inputs": inputs}
    key = hash_bytes(canonical(hashed).encode("utf-8"))
    return key, canonical({**hashed, "upstream": upstream or []})


def explain(current: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    """Lines saying what differs between two components dicts (empty: nothing)."""
    if previous is None:
        return ["no earlier run of this step to compare with"]
    lines = []
    if current.get("code") != previous.get("code"):
        lines.append(
            f"code changed: {str(previous.get('code'))[:12]} -> {str(current.get('code'))[:12]}"
        )
    for part in ("params", "inputs"):
        now, before = current.get(part) or {}, previous.get(part) or {}
        for name in sorted(set(now) | set(before)):
            # Presence counts too: a parameter set to null differs from one not given.
            if (name in now) != (name in before) or now.get(name) != before.get(name):
                lines.append(
                    f"{part[:-1]} {name!r} changed: {_short(before, name)} -> {_short(now, name)}"
                )
    return lines


def _short(values: dict[str, Any], name: str) -> str:
    if name not in values:
        return "(absent)"
    value = values[name]
    text = canonical(value)
    if isinstance(value, str) and len(value) == 64:
        return value[:12]
    return text if len(text) <= 60 else text[:57] + "..."
