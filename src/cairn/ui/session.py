"""Who is browsing, and whether a form post really came from a Cairn page.

Sign-in: the login page takes an API token (``cairn tokens create``), checks it with the
server's guard and keeps it in an HttpOnly, ``SameSite=Strict`` cookie, so page scripts
cannot read it and other sites' pages do not send it. Every request then authenticates
that token exactly as the JSON API authenticates ``Authorization: Bearer``; a revoked or
expired token signs the browser out on its next click.

Forgery: every POST must carry the ``csrf`` form field equal to the ``cairn_csrf``
cookie (a random value set with the first page), and, when the browser sends ``Origin``,
come from this server's own origin. A page on another site can make a browser post a
form to ``127.0.0.1`` but can neither read that cookie nor set it.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from cairn.access.types import ANONYMOUS, Guard, OpenGuard, Principal
from cairn.errors import PermissionDenied, Unauthenticated

SESSION_COOKIE = "cairn_session"
CSRF_COOKIE = "cairn_csrf"
CSRF_FIELD = "csrf"


def needs_login(guard: Guard) -> bool:
    """An open guard (``cairn ui``, a loopback server without users) lets everyone in."""
    return not isinstance(guard, OpenGuard)


def principal(request: Request, guard: Guard) -> Principal:
    """The signed-in principal; :class:`~cairn.errors.Unauthenticated` when the cookie is
    missing or its token no longer works."""
    if not needs_login(guard):
        return ANONYMOUS
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthenticated("sign in with an API token (create one with `cairn tokens create`)")
    return guard.authenticate(f"Bearer {token}")


def csrf_token(request: Request) -> str:
    """The request's CSRF value: the cookie's, or a new one that :func:`set_cookies` sets."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) == 43:  # token_urlsafe(32)
        return current
    token: str | None = getattr(request.state, "new_csrf", None)
    if token is None:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def set_cookies(request: Request, response: Response) -> None:
    """Set the CSRF cookie when this request created it."""
    token = getattr(request.state, "new_csrf", None)
    if token is not None:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


def set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def check_post(request: Request, form: dict[str, str]) -> None:
    """Refuse a POST that did not come from one of this server's pages (403)."""
    origin = request.headers.get("origin")
    # A sandboxed frame sends "Origin: null": foreign too.
    if origin is not None and urlsplit(origin).netloc != request.headers.get(
        "host", request.url.netloc
    ):
        raise PermissionDenied(
            f"form posted from {origin[:80]}, not from this server; use the page the server serves"
        )
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise PermissionDenied(
            "the form's security token is missing or stale (cookies off, or the page is "
            "old); reload the page and submit again"
        )


MAX_FORM = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An HTML form post (``application/x-www-form-urlencoded``), first value per field."""
    from urllib.parse import parse_qsl

    from cairn.errors import InvalidInput

    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise InvalidInput(
            f"expected a form post (application/x-www-form-urlencoded), got {kind[:60]!r}"
        )
    body = await request.body()
    if len(body) > MAX_FORM:
        raise InvalidInput(f"form is {len(body)} bytes; the limit is {MAX_FORM}")
    form: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        form.setdefault(key, value)
    return form
