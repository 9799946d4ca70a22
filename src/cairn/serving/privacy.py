"""What the prediction log keeps of each request's columns: all, none, or a keyed hash.

A :class:`LogPrivacy` names the input columns a model's log drops (``exclude``) and the
ones it stores as keyed BLAKE3 digests (``hash``). The key is the workspace's own
(:func:`workspace_key`: 32 random bytes made once and kept in the metadata store, so
every replica and every restart hashes alike) and never written to the log, so a digest
cannot be reversed by hashing guesses without it; equal values still give equal digests,
which is what monitoring needs to compare a hashed column as categories.

The policy is applied on the writer thread, never on the request path. Each Parquet
file records which columns were hashed and dropped in its schema metadata
(``cairn.log.hashed``, ``cairn.log.excluded``), so readers know a hashed column when they
see one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cairn.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from cairn.workspace import Workspace

KEY_NAME = "prediction-log-hash-key"
DIGEST_BYTES = 16
HASHED_META = b"cairn.log.hashed"
EXCLUDED_META = b"cairn.log.excluded"


@dataclass(frozen=True, slots=True)
class LogPrivacy:
    exclude: frozenset[str] = frozenset()
    hash: frozenset[str] = frozenset()
    key: bytes = b""

    def __post_init__(self) -> None:
        both = self.exclude & self.hash
        if both:
            raise InvalidInput(
                f"column {sorted(both)[0]!r} is both excluded and hashed from the prediction "
                "log: pick one (--log-exclude drops it, --log-hash keeps a keyed digest)"
            )
        if self.hash and len(self.key) != 32:
            raise InvalidInput("hashing prediction-log columns needs the workspace's 32-byte key")

    @classmethod
    def of(
        cls, exclude: Iterable[str] = (), hash: Iterable[str] = (), key: bytes = b""
    ) -> LogPrivacy:
        return cls(frozenset(exclude), frozenset(hash), key)

    def __bool__(self) -> bool:
        return bool(self.exclude or self.hash)

    def apply(self, columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """``columns`` without the excluded ones and with the hashed ones as digests."""
        out = {}
        for name, col in columns.items():
            if name in self.exclude:
                continue
            out[name] = hash_array(col, self.key) if name in self.hash else col
        return out

    def metadata(self) -> dict[bytes, bytes]:
        return {
            HASHED_META: ",".join(sorted(self.hash)).encode(),
            EXCLUDED_META: ",".join(sorted(self.exclude)).encode(),
        }


def hash_value(value: object, key: bytes) -> str:
    """The hex keyed-BLAKE3 digest of ``str(value)``; the same for equal values."""
    from blake3 import blake3

    return blake3(str(value).encode("utf-8"), key=key).hexdigest(length=DIGEST_BYTES)


def hash_array(col: pa.Array, key: bytes) -> pa.Array:
    """A string column of digests; nulls stay null (a missing value is not a category)."""
    import pyarrow as pa

    values = col.to_pylist()
    return pa.array([None if v is None else hash_value(v, key) for v in values], pa.string())


def workspace_key(workspace: Workspace | None = None) -> bytes:
    """The workspace's hashing key, made by the first caller and shared by all."""
    import cairn.workspace

    ws = cairn.workspace.resolve(workspace)
    return ws.metadata.alerts.secret(KEY_NAME, os.urandom(32))
