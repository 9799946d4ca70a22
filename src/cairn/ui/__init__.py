"""The web UI: server-rendered pages over the same domain calls as the JSON API.

Served under ``/ui`` by ``cairn server`` (signed in with an API token) and by
``cairn ui`` (the current workspace on 127.0.0.1, no sign-in). Every page answers JSON
for ``?format=json``. Charts use uPlot and navigation htmx, both served from
``static/vendor`` with their licenses: a page loads nothing from another host.
"""

from __future__ import annotations

__all__ = ["add_ui_routes"]


def __getattr__(name: str) -> object:
    # FastAPI and Jinja2 load only when a server mounts the UI.
    if name == "add_ui_routes":
        from cairn.ui.routes import add_ui_routes

        return add_ui_routes
    raise AttributeError(name)
