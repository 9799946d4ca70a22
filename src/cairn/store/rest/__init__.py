"""The REST backend: the stores and the artifact blobs of a ``cairn server``, over HTTP.

``routes`` is the table both sides are built from, ``codec`` the JSON forms of the
protocol types, ``errors`` the error mapping, ``http`` the session (retries, TLS,
idempotency keys), ``client`` the :class:`MetadataBackend`, ``blobs`` the blob backend.
"""

from __future__ import annotations
