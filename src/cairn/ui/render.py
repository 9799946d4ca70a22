"""HTML or JSON: one Jinja2 environment for the UI's templates, and the content choice."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from cairn.access.types import Principal
from cairn.ui import session


def wants_json(request: Request) -> bool:
    """``?format=json``, or an Accept header that prefers JSON to HTML."""
    if request.query_params.get("format") == "json":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def _when(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class Renderer:
    def __init__(self, templates: Path, prefix: str) -> None:
        self.prefix = prefix
        self.env = Environment(
            loader=FileSystemLoader(templates),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            when=_when,
            duration=_duration,
            value=_value,
            q=lambda s: quote(str(s), safe=""),
            tojson_attr=lambda v: json.dumps(v),
        )

    def page(
        self,
        request: Request,
        template: str,
        data: dict[str, Any],
        who: Principal | None,
        login: bool,
        *,
        status: int = 200,
    ) -> Response:
        html = self.env.get_template(template).render(
            data=data,
            prefix=self.prefix,
            who=who if login else None,
            csrf=session.csrf_token(request),
            request=request,
        )
        response = HTMLResponse(html, status_code=status)
        # Pages carry the CSRF value and user data: not for shared caches, not framable.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "frame-ancestors 'none'"
        )
        session.set_cookies(request, response)
        return response
