"""The web UI's routes, mounted under ``/ui`` by :func:`add_ui_routes`.

Every page handler builds one JSON-ready dict from domain calls and answers it either
as HTML (a Jinja2 template) or, for ``?format=json`` or ``Accept: application/json``,
as that same dict. Errors follow the JSON API: a :class:`~cairn.errors.CairnError`
becomes its 4xx status with the message, shown on the page (or in the JSON error body).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from cairn.access.types import ANONYMOUS, Guard, Principal, Resource
from cairn.errors import CairnError, PermissionDenied, Unauthenticated
from cairn.store.artifacts import ArtifactStore
from cairn.store.base import MetadataBackend
from cairn.store.rest.errors import error_body, status_and_code
from cairn.ui import models as model_views
from cairn.ui import runs as run_views
from cairn.ui import session
from cairn.ui.downsample import DEFAULT_BUCKETS
from cairn.ui.render import Renderer, wants_json
from cairn.ui.workspace import workspace_for

HERE = Path(__file__).parent
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./-]+")
PREFIX = "/ui"


def add_ui_routes(
    app: FastAPI, backend: MetadataBackend, artifacts: ArtifactStore, guard: Guard
) -> None:
    """Serve the UI's pages, their JSON twins and its static files under ``/ui``."""
    ui = _Ui(backend, artifacts, guard, Renderer(HERE / "templates", PREFIX))
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    for path, method, handler in ui.routes():
        app.add_api_route(path, handler, methods=[method], include_in_schema=False)


class _Ui:
    def __init__(
        self, backend: MetadataBackend, artifacts: ArtifactStore, guard: Guard, render: Renderer
    ) -> None:
        self.backend = backend
        self.artifacts = artifacts
        self.guard = guard
        self.render = render

    def routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        p = PREFIX
        return [
            (p, "GET", self.home),
            (f"{p}/", "GET", self.home),
            (f"{p}/login", "GET", self.login_page),
            (f"{p}/login", "POST", self.login),
            (f"{p}/logout", "POST", self.logout),
            (f"{p}/runs", "GET", self.runs),
            (f"{p}/runs/{{run_id}}", "GET", self.run),
            (f"{p}/runs/{{run_id}}/metric", "GET", self.metric),
            (f"{p}/models", "GET", self.models),
            (f"{p}/models/{{name}}", "GET", self.model),
            (f"{p}/models/{{name}}/promote", "POST", self.promote),
            (f"{p}/models/{{name}}/rollback", "POST", self.rollback),
        ]

    # -- plumbing -------------------------------------------------------------------------

    def _page(
        self, request: Request, template: str, build: Callable[[Principal], dict[str, Any]]
    ) -> Response:
        """Authenticate, build the page's data, answer it as JSON or HTML."""
        try:
            who = session.principal(request, self.guard)
            data = build(who)
        except Unauthenticated as exc:
            if wants_json(request):
                return JSONResponse(error_body(exc), status_code=401)
            target = f"{PREFIX}/login?" + urlencode({"next": _here(request)})
            return RedirectResponse(target, status_code=303)
        except CairnError as exc:
            return self._error(request, exc)
        if wants_json(request):
            return JSONResponse(data)
        return self.render.page(request, template, data, who, session.needs_login(self.guard))

    def _error(self, request: Request, exc: CairnError) -> Response:
        status, _ = status_and_code(exc)
        if wants_json(request):
            return JSONResponse(error_body(exc), status_code=status)
        return self.render.page(
            request,
            "error.html",
            {"message": str(exc), "status": status},
            None,
            session.needs_login(self.guard),
            status=status,
        )

    def _may(self, who: Principal, action: Any, resource: Resource) -> bool:
        try:
            self.guard.authorize(who, action, resource)
        except PermissionDenied:
            return False
        return True

    # -- pages ----------------------------------------------------------------------------

    def home(self) -> Response:
        return RedirectResponse(f"{PREFIX}/runs", status_code=303)

    def runs(self, request: Request) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            query = run_views.TableQuery.parse(dict(request.query_params))
            tracking = self.backend.tracking
            experiment = run_views.pick_experiment(tracking, query.experiment)
            self.guard.authorize(
                who, "read", Resource("experiment", experiment.name if experiment else None)
            )
            data = run_views.runs_table(tracking, query, experiment)
            data["links"] = _table_links(query, data)
            data["sort_links"], data["arrows"] = _sort_links(query, data.get("columns", []))
            return data

        return self._page(request, "runs.html", build)

    def run(self, request: Request, run_id: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            data = run_views.run_detail(self.backend.tracking, run_id)
            self.guard.authorize(who, "read", Resource("experiment", data["experiment"]))
            return data

        return self._page(request, "run.html", build)

    def metric(self, request: Request, run_id: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            q = request.query_params
            tracking = self.backend.tracking
            run = tracking.get_run(run_id)
            name = tracking.get_experiment(run.experiment_id).name
            self.guard.authorize(who, "read", Resource("experiment", name))
            return run_views.metric_series(
                tracking,
                run_id,
                q.get("key", ""),
                start=_int(q.get("from"), "from"),
                end=_int(q.get("to"), "to"),
                buckets=_default(_int(q.get("points"), "points"), DEFAULT_BUCKETS),
            )

        return self._json(request, build)

    def _json(self, request: Request, build: Callable[[Principal], dict[str, Any]]) -> Response:
        """A data-only route: JSON whatever the Accept header says."""
        try:
            return JSONResponse(build(session.principal(request, self.guard)))
        except CairnError as exc:
            status, _ = status_and_code(exc)
            return JSONResponse(error_body(exc), status_code=status)

    def models(self, request: Request) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("model", None))
            return model_views.models_list(self._ws(who))

        return self._page(request, "models.html", build)

    def model(self, request: Request, name: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("model", name))
            data = model_views.model_detail(self._ws(who), name)
            data["can_edit"] = self._may(who, "edit", Resource("model", name))
            data["notice"] = request.query_params.get("done", "")
            return data

        return self._page(request, "model.html", build)

    async def promote(self, request: Request, name: str) -> Response:
        return await self._alias_move(request, name, model_views.promote)

    async def rollback(self, request: Request, name: str) -> Response:
        return await self._alias_move(request, name, model_views.rollback)

    async def _alias_move(self, request: Request, name: str, move: Callable[..., Any]) -> Response:
        try:
            form = await session.read_form(request)
            session.check_post(request, form)
            who = session.principal(request, self.guard)
            resource = Resource("model", name)
            self.guard.authorize(who, "edit", resource)
            address = request.client.host if request.client else ""
            with self.guard.mutation(who, address, "registry.set_alias", resource):
                event = move(self._ws(who), name, form)
        except CairnError as exc:
            return self._error(request, exc)
        if wants_json(request):
            return JSONResponse(event.to_dict())
        done = f"{event.alias} -> {event.to_version}"
        target = f"{PREFIX}/models/{quote(name, safe='')}?" + urlencode({"done": done})
        return RedirectResponse(target, status_code=303)

    def _ws(self, who: Principal) -> Any:
        return workspace_for(self.backend, self.artifacts, None if who == ANONYMOUS else who.user)

    # -- signing in -----------------------------------------------------------------------

    def login_page(self, request: Request) -> Response:
        data = {"next": _safe_next(request.query_params.get("next", "")), "message": ""}
        return self.render.page(request, "login.html", data, None, True)

    async def login(self, request: Request) -> Response:
        form: dict[str, str] = {}
        try:
            form = await session.read_form(request)
            session.check_post(request, form)
            token = form.get("token", "").strip()
            if session.needs_login(self.guard):
                self.guard.authenticate(f"Bearer {token}")
        except CairnError as exc:
            status, _ = status_and_code(exc)
            data = {"next": _safe_next(form.get("next", "")), "message": str(exc)}
            return self.render.page(request, "login.html", data, None, True, status=status)
        response = RedirectResponse(_safe_next(form.get("next", "")), status_code=303)
        session.set_session(request, response, token)
        return response

    async def logout(self, request: Request) -> Response:
        try:
            session.check_post(request, await session.read_form(request))
        except CairnError as exc:
            return self._error(request, exc)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        response.delete_cookie(session.SESSION_COOKIE, path="/")
        return response


def _int(text: str | None, what: str) -> int | None:
    from cairn.errors import InvalidInput

    if text is None or text == "":
        return None
    try:
        return int(float(text))
    except ValueError:
        raise InvalidInput(f"{what}={text[:30]!r} is not a number") from None


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _safe_next(target: str) -> str:
    """Only a path of this UI: a login link must not send a browser to another site."""
    if target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/runs"


def _sort_links(
    query: run_views.TableQuery, columns: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """For each sortable column, the URL sorting by it (a second click flips the
    direction), and the arrow of the column sorted now."""
    current = query.sort.strip().lower()
    links: dict[str, str] = {}
    arrows: dict[str, str] = {}
    for column in ["attributes.name", "attributes.start_time", *columns]:
        kind, _, name = column.partition(".")
        key = column if _PLAIN_KEY.fullmatch(name) else f"{kind}.`{name}`"
        descending = current == f"{key.lower()} desc"
        ascending = current in (key.lower(), f"{key.lower()} asc")
        order = f"{key} asc" if descending else f"{key} desc"
        links[column] = f"{PREFIX}/runs?" + urlencode(query.params(sort=order, token="", back=""))
        if descending or ascending:
            arrows[column] = " ▼" if descending else " ▲"
    return links, arrows


def _table_links(query: run_views.TableQuery, data: dict[str, Any]) -> dict[str, str | None]:
    """Next, previous and first page of the table, as URL queries."""

    def url(**changes: Any) -> str:
        return f"{PREFIX}/runs?" + urlencode(query.params(**changes))

    next_token = data.get("next_token")
    links: dict[str, str | None] = {"first": url(token="", back=""), "next": None, "prev": None}
    if next_token:
        back = [*query.back, query.token or "-"][-run_views.MAX_BACK :]
        links["next"] = url(token=next_token, back=",".join(back))
    if query.token:
        previous = list(query.back)
        token = previous.pop() if previous else "-"
        links["prev"] = url(token="" if token == "-" else token, back=",".join(previous))
    return links
