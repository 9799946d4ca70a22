"""The one exception family Cairn raises.

    CairnError                     anything Cairn reports to a user
    ├── NotFound                   an experiment, run, dataset, model or object that does not exist
    ├── AlreadyExists              a name that must be unique is taken
    ├── InUse                      other records depend on what was to be deleted (lists them)
    ├── InvalidInput               a value the user passed is malformed or out of range
    │   └── FilterSyntaxError      a search filter that does not parse (points at the token)
    ├── ConfigError                no workspace, a bad cairn.toml, an unknown URI scheme
    ├── StoreError                 the metadata store failed (busy, schema out of date)
    └── IntegrityError             stored bytes do not match their digest

The CLI prints ``str(error)`` on one line and exits 1; the servers answer 4xx with it.
"""

from __future__ import annotations


class CairnError(Exception):
    """Base class: the message says what was wrong and what to do about it."""

    exit_code = 1


class NotFound(CairnError, LookupError):
    """The named thing does not exist."""


class AlreadyExists(CairnError):
    """A unique name is already taken."""


class InUse(CairnError):
    """Deleting this would break records that depend on it; ``dependents`` names them all
    (the message, one line, names the first few)."""

    def __init__(self, message: str, dependents: tuple[str, ...] = ()) -> None:
        self.dependents = dependents
        super().__init__(message)


class InvalidInput(CairnError, ValueError):
    """A value passed by the user is malformed."""


class FilterSyntaxError(InvalidInput):
    """A search filter does not parse; ``position`` is the offending token's offset."""

    def __init__(self, message: str, text: str = "", position: int = -1) -> None:
        self.text = text
        self.position = position
        if text and position >= 0:
            message = f"{message} at position {position}: {_excerpt(text, position)}"
        super().__init__(message)


def _excerpt(text: str, position: int, width: int = 40) -> str:
    """``text`` around ``position`` with » before it, on one line and at most ~80 chars:
    a megabyte-long filter must not come back in its own error message."""
    start, end = max(0, position - width), min(len(text), position + width)
    before = ("…" if start else "") + text[start:position]
    after = text[position:end] + ("…" if end < len(text) else "")
    return f"{before}»{after}".translate(_ONE_LINE)


# Every character str.splitlines() breaks on, and tabs, become spaces (same positions).
_ONE_LINE = {ord(c): " " for c in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


class ConfigError(CairnError):
    """Workspace or configuration problem."""


class StoreError(CairnError):
    """The metadata store could not complete an operation."""


class IntegrityError(CairnError):
    """Stored bytes do not hash to the digest they are stored under."""


class Unauthenticated(CairnError):
    """No credentials, or credentials that are unknown, expired or revoked (HTTP 401).

    The message never contains the token or password that was offered."""


class PermissionDenied(CairnError):
    """The caller is known but may not do this to this resource (HTTP 403)."""
