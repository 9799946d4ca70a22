"""The web UI's routes, mounted under ``/ui`` by :func:`add_ui_routes`.

Every page handler builds one JSON-ready dict from domain calls and answers it either
as HTML (a Jinja2 template) or, for ``?format=json`` or ``Accept: application/json``,
as that same dict. Errors follow the JSON API: a :class:`~cairn.errors.CairnError`
becomes its 4xx status with the message, shown on the page (or in the JSON error body).
"""

from __future__ import annotations

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
from cairn.ui import artifacts as artifact_views
from cairn.ui import compare as compare_views
from cairn.ui import datasets as dataset_views
from cairn.ui import models as model_views
from cairn.ui import monitoring as monitoring_views
from cairn.ui import pipelines as pipeline_views
from cairn.ui import runs as run_views
from cairn.ui import session
from cairn.ui.downsample import DEFAULT_BUCKETS
from cairn.ui.links import PREFIX
from cairn.ui.links import sort_links as _sort_links
from cairn.ui.links import table_links as _table_links
from cairn.ui.render import Renderer, wants_json
from cairn.ui.workspace import workspace_for

HERE = Path(__file__).parent


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
            (f"{p}/runs/{{run_id}}/artifacts", "GET", self.artifact),
            (f"{p}/runs/{{run_id}}/artifacts/raw", "GET", self.artifact_raw),
            (f"{p}/compare", "GET", self.compare),
            (f"{p}/compare/series", "GET", self.compare_series),
            (f"{p}/datasets", "GET", self.datasets),
            (f"{p}/datasets/{{name}}", "GET", self.dataset),
            (f"{p}/datasets/{{name}}/diff", "GET", self.dataset_diff),
            (f"{p}/pipelines", "GET", self.pipelines),
            (f"{p}/pipelines/{{run_id}}", "GET", self.pipeline),
            (f"{p}/pipelines/{{run_id}}/dag", "GET", self.pipeline_dag),
            (f"{p}/monitoring", "GET", self.monitoring),
            (f"{p}/monitoring/{{model:path}}", "GET", self.monitoring_model),
            (f"{p}/models", "GET", self.models),
            (f"{p}/models/{{name}}", "GET", self.model),
            (f"{p}/models/{{name}}/card/{{version}}", "GET", self.card),
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

    def _readable_run(self, who: Principal, run_id: str) -> Any:
        tracking = self.backend.tracking
        run = tracking.get_run(run_id)
        name = tracking.get_experiment(run.experiment_id).name
        self.guard.authorize(who, "read", Resource("experiment", name))
        return run

    def artifact(self, request: Request, run_id: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            run = self._readable_run(who, run_id)
            q = request.query_params
            data = artifact_views.browse(self.artifacts, run, q.get("name", ""), q.get("path", ""))
            data["run_name"] = run.name
            return data

        return self._page(request, "artifact.html", build)

    def artifact_raw(self, request: Request, run_id: str) -> Response:
        """The bytes of an artifact file: inline for a raster image, else a download."""
        try:
            run = self._readable_run(session.principal(request, self.guard), run_id)
            q = request.query_params
            body, mime, inline = artifact_views.raw(
                self.artifacts, run, q.get("name", ""), q.get("path", "")
            )
        except CairnError as exc:
            status, _ = status_and_code(exc)
            return JSONResponse(error_body(exc), status_code=status)
        filename = (q.get("path") or q.get("name", "")).rsplit("/", 1)[-1] or "artifact"
        disposition = "inline" if inline else "attachment"
        disposition += f"; filename*=UTF-8''{quote(filename, safe='')}"
        return Response(
            body,
            media_type=mime,
            headers={
                "Content-Disposition": disposition,
                "X-Content-Type-Options": "nosniff",
                # Whatever the bytes are, they run nothing and load nothing.
                "Content-Security-Policy": "default-src 'none'; sandbox",
                "Cache-Control": "private, max-age=3600",
            },
        )

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

    def _compared(self, request: Request, who: Principal) -> tuple[Any, list[Any], dict[str, str]]:
        """The compare page's query, its runs, and their experiments' names (each one
        checked readable by ``who``)."""
        q = request.query_params
        query = compare_views.CompareQuery.parse(dict(q), q.getlist("run"))
        tracking = self.backend.tracking
        if query.experiment:
            name = tracking.get_experiment(query.experiment).name
            self.guard.authorize(who, "read", Resource("experiment", name))
        runs = compare_views.select_runs(tracking, query)
        names = {e: tracking.get_experiment(e).name for e in {r.experiment_id for r in runs}}
        for name in sorted(names.values()):
            self.guard.authorize(who, "read", Resource("experiment", name))
        return query, runs, names

    def compare(self, request: Request) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            query, runs, names = self._compared(request, who)
            data = compare_views.compare_view(runs, query, names)
            data["series_url"] = f"{PREFIX}/compare/series?" + urlencode(query.params())
            toggle = {**query.params(), **({} if query.all_params else {"all_params": "1"})}
            data["toggle_url"] = f"{PREFIX}/compare?" + urlencode(toggle)
            return data

        return self._page(request, "compare.html", build)

    def compare_series(self, request: Request) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            _, runs, _ = self._compared(request, who)
            points = _int(request.query_params.get("points"), "points")
            return compare_views.compare_series(
                self.backend.tracking,
                runs,
                request.query_params.get("key", ""),
                _default(points, compare_views.DEFAULT_CHART_POINTS),
            )

        return self._json(request, build)

    def _json(self, request: Request, build: Callable[[Principal], dict[str, Any]]) -> Response:
        """A data-only route: JSON whatever the Accept header says."""
        try:
            return JSONResponse(build(session.principal(request, self.guard)))
        except CairnError as exc:
            status, _ = status_and_code(exc)
            return JSONResponse(error_body(exc), status_code=status)

    def datasets(self, request: Request) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("dataset", None))
            data = dataset_views.datasets_list(self._ws(who))
            data["datasets"] = [
                d
                for d in data["datasets"]
                if self._may(who, "read", Resource("dataset", d["name"]))
            ]
            return data

        return self._page(request, "datasets.html", build)

    def dataset(self, request: Request, name: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("dataset", name))
            version = request.query_params.get("version")
            return dataset_views.dataset_detail(self._ws(who), name, version)

        return self._page(request, "dataset.html", build)

    def dataset_diff(self, request: Request, name: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("dataset", name))
            q = request.query_params
            return dataset_views.dataset_diff(
                self._ws(who), name, q.get("old", ""), q.get("new", "")
            )

        return self._page(request, "dataset_diff.html", build)

    def pipelines(self, request: Request) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            q = request.query_params
            name = q.get("pipeline", "")
            self.guard.authorize(who, "read", Resource("pipeline", name or None))
            data = pipeline_views.pipelines_list(self._ws(who), name, q.get("limit", ""))
            data["runs"] = [
                r
                for r in data["runs"]
                if self._may(who, "read", Resource("pipeline", r["pipeline"]))
            ]
            return data

        return self._page(request, "pipelines.html", build)

    def _pipeline_run(self, who: Principal, run_id: str) -> dict[str, Any]:
        data = pipeline_views.pipeline_run(self._ws(who), run_id)
        self.guard.authorize(who, "read", Resource("pipeline", data["pipeline"]))
        return data

    def pipeline(self, request: Request, run_id: str) -> Response:
        return self._page(request, "pipeline.html", lambda who: self._pipeline_run(who, run_id))

    def pipeline_dag(self, request: Request, run_id: str) -> Response:
        """The DAG fragment the run page polls while the run is running."""
        return self._page(request, "pipeline_dag.html", lambda who: self._pipeline_run(who, run_id))

    def monitoring(self, request: Request) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("model", None))
            data = monitoring_views.overview(self._ws(who))
            readable = {
                m["name"]
                for m in data["models"]
                if self._may(who, "read", Resource("model", m["name"]))
            }
            data["models"] = [m for m in data["models"] if m["name"] in readable]
            data["alerts"] = [a for a in data["alerts"] if _model_name(a["model"]) in readable]
            return data

        return self._page(request, "monitoring.html", build)

    def monitoring_model(self, request: Request, model: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("model", _model_name(model)))
            q = request.query_params
            return monitoring_views.model_monitoring(
                self._ws(who), model, q.get("window", ""), q.get("periods", "")
            )

        return self._page(request, "monitoring_model.html", build)

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

    def card(self, request: Request, name: str, version: str) -> Response:
        def build(who: Principal) -> dict[str, Any]:
            self.guard.authorize(who, "read", Resource("model", name))
            return model_views.model_card(self._ws(who), name, version)

        return self._page(request, "model_card.html", build)

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


def _model_name(ref: str) -> str:
    """The registered model a reference (``churn@production``, ``churn/3``) names."""
    return ref.split("@")[0].split("/")[0]


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
