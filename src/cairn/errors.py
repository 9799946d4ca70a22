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
            message = f"{message} at position {position}: {text[:position]}»{text[position:]}"
        super().__init__(message)


class ConfigError(CairnError):
    """Workspace or configuration problem."""


class StoreError(CairnError):
    """The metadata store could not complete an operation."""


class IntegrityError(CairnError):
    """Stored bytes do not hash to the digest they are stored under."""
