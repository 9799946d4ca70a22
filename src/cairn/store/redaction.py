"""Secret-looking params and tags are stored as ``***``.

A training script that logs its whole configuration logs ``db_password`` and
``openai_api_key`` with it. Every store write path passes params and tags through
:func:`redact_secrets`, so the value never reaches the database, a listing, a search
result, an export or the server's responses.

A key is secret when one of its words (split at ``_``, ``-``, ``.``, spaces and camel
case) is a secret word, or two neighbouring words are a secret pair: ``db_password``,
``hfToken``, ``openai.api_key`` and ``AWS_SECRET_ACCESS_KEY`` are; ``max_tokens``,
``tokenizer`` and ``key_column`` are not.

Example:
    >>> redact_secrets({"lr": "0.1", "db_password": "hunter2", "max_tokens": "512"})
    {'lr': '0.1', 'db_password': '***', 'max_tokens': '512'}
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping

REDACTED = "***"

_WORDS = frozenset(
    {"password", "passwd", "passphrase", "secret", "token", "credential", "credentials", "apikey"}
)
_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("secret", "key"),
        ("auth", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("client", "secret"),
        ("connection", "string"),
    }
)
_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def looks_secret(key: str) -> bool:
    """True when ``key`` names a secret (see the module docstring)."""
    words = [w.lower() for part in _SPLIT.split(key) for w in _CAMEL.split(part) if w]
    if any(w in _WORDS for w in words):
        return True
    return any(pair in _PAIRS for pair in itertools.pairwise(words))


def redact_secrets(values: Mapping[str, str]) -> dict[str, str]:
    """``values`` with the value of every secret-looking key replaced by ``***``."""
    return {k: (REDACTED if looks_secret(k) and v else v) for k, v in values.items()}
