"""``cairn server``: every metadata store and the artifact store over HTTP.

:func:`cairn.server.app.create_app` builds the ASGI app (FastAPI) from the route table
in :mod:`cairn.store.rest.routes`; the REST backend in :mod:`cairn.store.rest` is its
client. Every request passes the app's :class:`~cairn.access.types.Guard`.
"""

from __future__ import annotations
