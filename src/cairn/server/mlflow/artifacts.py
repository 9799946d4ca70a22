"""MLflow's proxied artifact routes (``/api/2.0/mlflow-artifacts/artifacts``).

An upload is stored by digest in Cairn's artifact store (hashed while it is written to
a temp file, published under its digest once complete) and only then recorded on its
run, so an interrupted upload leaves no record and no partial object. Downloads read
the stored object, checked against its digest.
"""

from __future__ import annotations

import posixpath
import tempfile
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from cairn import errors
from cairn.access.types import Resource
from cairn.server.mlflow import convert
from cairn.server.mlflow.files import Place, files, parse_path, under
from cairn.server.mlflow.wire import Context, error_response
from cairn.types import RunIO

_SPOOL = 8 * 1024 * 1024  # uploads up to this size stay in memory
#: Where MLflow's client sends artifact bytes.
PREFIXES = ("/api/2.0/mlflow-artifacts/", "/ajax-api/2.0/mlflow-artifacts/")


def _resource(ctx: Context, place: Place) -> Resource:
    if place.kind == "version":
        return Resource("model", place.owner.split("/")[0])
    run_id = place.owner if place.kind == "run" else place.owner[2:34]
    return ctx.experiment_of_run(run_id)


def upload(ctx: Context, path: str, body: Any) -> dict[str, Any]:
    place = parse_path(path)
    if place.kind == "version" or not place.rel:
        raise errors.InvalidInput(
            f"cannot upload to {path!r}: upload a file under a run's or a logged model's artifacts"
        )
    run_id = place.owner if place.kind == "run" else place.owner[2:34]
    with ctx.change("log_artifact", ctx.experiment_of_run(run_id)):
        run = ctx.backend.tracking.get_run(run_id)
        if run.is_deleted:
            raise errors.InvalidInput(f"run {run_id} is deleted; restore it to log artifacts")
        info = ctx.artifacts.put_stream(body)
        if place.kind == "run":
            edge = RunIO("output", "artifact", place.rel, info.digest, "file", info.size)
        else:
            name = f"{place.owner}/{place.rel}"
            edge = RunIO("output", convert.MODEL_FILE_ROLE, name, info.digest, "file", info.size)
        ctx.backend.tracking.log_io(run_id, [edge])
    return {}


def listing(ctx: Context, path: str) -> dict[str, Any]:
    place = parse_path(path)
    ctx.allow("read", _resource(ctx, place))
    entries = files(ctx, place)
    if place.rel in entries:  # a file: MLflow answers the file itself
        entry = entries[place.rel]
        return {
            "files": [
                {"path": posixpath.basename(place.rel), "is_dir": False, "file_size": entry.size}
            ]
        }
    children: dict[str, dict[str, Any]] = {}
    for sub, entry in under(entries, place.rel).items():
        head, _, rest = sub.partition("/")
        if rest:
            children[head] = {"path": head, "is_dir": True}
        else:
            children[head] = {"path": head, "is_dir": False, "file_size": entry.size}
    return {"files": [children[k] for k in sorted(children)]}


def download(ctx: Context, path: str) -> Any:
    place = parse_path(path)
    ctx.allow("read", _resource(ctx, place))
    entry = files(ctx, place).get(place.rel)
    if entry is None:
        raise errors.NotFound(f"no artifact {path!r} on this server")
    return ctx.artifacts.open(entry, verify=True)


def _chunks(f: Any) -> Any:
    with f:
        while chunk := f.read(1024 * 1024):
            yield chunk


def add_routes(app: Any, base: Context, prefixes: tuple[str, ...]) -> None:
    async def context(request: Request) -> Context:
        principal = base.guard.authenticate(request.headers.get("authorization"))
        host = request.client.host if request.client else ""
        return Context(base.backend, base.artifacts, base.guard, principal, host)

    async def put(request: Request) -> Response:
        try:
            ctx = await context(request)
            spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL)  # noqa: SIM115
            with spool:
                async for chunk in request.stream():
                    await run_in_threadpool(spool.write, chunk)
                spool.seek(0)
                await run_in_threadpool(upload, ctx, request.path_params["path"], spool)
        except errors.CairnError as exc:
            return error_response(exc)
        return Response("{}", media_type="application/json")

    async def get(request: Request) -> Response:
        try:
            ctx = await context(request)
            f = await run_in_threadpool(download, ctx, request.path_params["path"])
        except errors.CairnError as exc:
            return error_response(exc)
        return StreamingResponse(_chunks(f), media_type="application/octet-stream")

    async def ls(request: Request) -> Response:
        try:
            ctx = await context(request)
            out = await run_in_threadpool(listing, ctx, request.query_params.get("path", ""))
        except errors.CairnError as exc:
            return error_response(exc)
        import json

        return Response(json.dumps(out), media_type="application/json")

    for prefix in prefixes:
        root = f"{prefix}/mlflow-artifacts/artifacts"
        app.add_route(root, ls, methods=["GET"], include_in_schema=False)
        app.add_route(root + "/{path:path}", put, methods=["PUT"], include_in_schema=False)
        app.add_route(root + "/{path:path}", get, methods=["GET"], include_in_schema=False)
