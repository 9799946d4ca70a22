"""Identity and access: users, API tokens, permissions per resource, and the audit log.

:class:`TokenGuard` is the guard ``cairn server`` asks on every request;
:mod:`cairn.access.admin` holds what the ``cairn users``/``tokens``/``grant``/``audit``
commands call. Records live in the backend's :class:`~cairn.store.access.AccessStore`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.access.guard import TokenGuard
    from cairn.access.policy import AccessPolicy, load_policy

__all__ = ["AccessPolicy", "TokenGuard", "load_policy"]

_LAZY = {
    "TokenGuard": "cairn.access.guard",
    "AccessPolicy": "cairn.access.policy",
    "load_policy": "cairn.access.policy",
}


def __getattr__(name: str) -> Any:
    # Importing cairn.access (for its types) must not import SQL or the guard.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cairn.access' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
