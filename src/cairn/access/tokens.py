"""API tokens: how they are made, shown, parsed and stored.

A token reads ``cairn_<id>_<secret>``: ``id`` is 12 hex characters, shown in listings
and used to revoke; ``secret`` is 256 bits from :mod:`secrets`. The store keeps the id
and the SHA-256 digest of the whole token. A fast hash is right here, unlike for
passwords: nobody can guess 256 random bits, so there is nothing for a slow hash to
slow down, and checking a request's token costs one digest.

Example:
    >>> issued = new_token()
    >>> parse_token(issued.secret) == issued.id
    True
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field

from cairn.errors import InvalidInput

PREFIX = "cairn"
_ID_BYTES = 6
_SECRET_BYTES = 32  # 256 bits
_TOKEN = re.compile(r"cairn_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_DURATION = re.compile(r"(\d{1,6})\s*([mhdw])")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as created: ``secret`` is shown once and never stored."""

    id: str
    secret: str = field(repr=False)


def new_token() -> IssuedToken:
    token_id = secrets.token_hex(_ID_BYTES)
    return IssuedToken(token_id, f"{PREFIX}_{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}")


def parse_token(text: str) -> str | None:
    """The id of a well-formed token, or ``None`` (never an error that could echo it)."""
    match = _TOKEN.fullmatch(text.strip())
    return match.group(1) if match else None


def digest(token: str) -> str:
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def parse_expiry(text: str | None, now_ms: int | None = None) -> int | None:
    """``30d``, ``12h``, ``90m``, ``2w`` from now (ms since the epoch); ``never``/None
    for no expiry.

    Example:
        >>> parse_expiry("1d", now_ms=0)
        86400000
    """
    if text is None or text.strip().lower() in ("", "never", "none"):
        return None
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or int(match.group(1)) == 0:
        raise InvalidInput(
            f"invalid expiry {text!r}: use a positive number and a unit, m (minutes), "
            "h (hours), d (days) or w (weeks), as in 30d; or `never`"
        )
    start = int(time.time() * 1000) if now_ms is None else now_ms
    return start + int(match.group(1)) * _UNIT_MS[match.group(2)]
