"""Artifact routes: the content-addressed store's objects over HTTP.

Keys are checked against the only shapes the store uses (``objects/ab/<62 hex>`` and a
put's mark ``marks/ab/<62 hex>.<32 hex>``), so no ``..``, absolute, or encoded path can
reach the file system. An upload is streamed to a temp file while hashed and published
under its key only if its BLAKE3 digest is the one the key names; otherwise it is
refused (422) and nothing is stored. Downloads stream, with single ``Range`` requests
(206). Uploads are naturally idempotent: a key only ever holds one content.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cairn.access.types import Guard, Resource
from cairn.errors import IntegrityError, InvalidInput, NotFound
from cairn.hashing import new_hasher
from cairn.server.authn import principal_of
from cairn.server.schemas import error_responses
from cairn.store.artifacts import ArtifactStore
from cairn.store.blobs import LocalBlobs

PREFIX = "/api/artifacts/blobs/"
_OBJECT = re.compile(r"objects/([0-9a-f]{2})/([0-9a-f]{62})")
_MARK = re.compile(r"marks/([0-9a-f]{2})/([0-9a-f]{62})\.([0-9a-f]{32})")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHUNK = 1024 * 1024
MODIFIED_HEADER = "X-Cairn-Modified"
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
#: Objects are shared by every record that names their digest, so no one record's
#: grants can decide who reads them: any authenticated caller may read an object (its
#: 256-bit digest is learnt only from a record they may read), and any token that may
#: write may upload one (bytes no record names are inert, and ``cairn gc`` removes them).
_OBJECTS = Resource("artifact", None)
#: The action each route declares in /openapi.json (see cairn.server.rpc.ACTION_KEY).
_READ = {"x-cairn-action": "read", "x-cairn-resource": "artifact"}
_WRITE = {"x-cairn-action": "edit", "x-cairn-resource": "artifact"}


def check_key(key: str) -> str:
    """``key`` if it is an object or mark key; ``InvalidInput`` for anything else."""
    if _OBJECT.fullmatch(key) or _MARK.fullmatch(key):
        return key
    shown = key if len(key) <= 120 else key[:120] + "…"
    raise InvalidInput(
        f"invalid artifact key {shown!r}: use objects/<2 hex>/<62 hex> (a BLAKE3 digest); "
        "paths, '..' and other keys are refused"
    )


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single ``bytes=`` range; None when unsatisfiable."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        raise InvalidInput(f"unsupported Range {header!r}: send one range, bytes=START-END")
    first, last = match.groups()
    if first == "":
        length = int(last)
        return None if length == 0 or size == 0 else (max(0, size - length), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    return None if start >= size or end < start else (start, end)


def add_artifact_routes(app: FastAPI, store: ArtifactStore, guard: Guard) -> None:
    blobs = store.blobs

    def allow(request: Request, action: Any) -> None:
        principal = principal_of(request, guard)
        guard.authorize(principal, action, _OBJECTS)

    def stat(key: str) -> tuple[int, float | None]:
        size = blobs.size(key)
        if size is None:
            raise NotFound(f"artifact {key} is not on this server; upload it first")
        return size, blobs.modified(key)

    def headers(size: int, modified: float | None) -> dict[str, str]:
        out = {"Accept-Ranges": "bytes", "Content-Length": str(size)}
        if modified is not None:
            out[MODIFIED_HEADER] = repr(modified)
            out["Last-Modified"] = formatdate(modified, usegmt=True)
        return out

    @app.head(
        PREFIX + "{key:path}",
        name="artifacts.head",
        operation_id="artifacts_head",
        tags=["artifacts"],
        responses=error_responses(400, 401, 403, 404),
        openapi_extra=_READ,
    )
    async def head(key: str, request: Request) -> Response:
        allow(request, "read")
        size, modified = await run_in_threadpool(stat, check_key(key))
        return Response(headers=headers(size, modified))

    @app.get(
        PREFIX + "{key:path}",
        name="artifacts.get",
        operation_id="artifacts_get",
        tags=["artifacts"],
        response_class=Response,
        responses={
            200: {"content": _BINARY, "description": "the object's bytes"},
            206: {"content": _BINARY, "description": "the requested range"},
            416: {"description": "the range is outside the object"},
            **error_responses(400, 401, 403, 404),
        },
        openapi_extra=_READ,
    )
    async def get(key: str, request: Request) -> Response:
        allow(request, "read")
        check_key(key)
        size, modified = await run_in_threadpool(stat, key)
        start, end, status = 0, size - 1, 200
        wanted = request.headers.get("range")
        if wanted:
            span = _parse_range(wanted, size)
            if span is None:
                return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
            (start, end), status = span, 206
        out = headers(end - start + 1, modified)
        if status == 206:
            out["Content-Range"] = f"bytes {start}-{end}/{size}"
        try:
            f = await run_in_threadpool(blobs.open_read, key)
        except FileNotFoundError:
            raise NotFound(f"artifact {key} is not on this server; upload it first") from None
        return StreamingResponse(
            _chunks(f, start, end - start + 1),
            status_code=status,
            headers=out,
            media_type="application/octet-stream",
        )

    @app.put(
        PREFIX + "{key:path}",
        name="artifacts.put",
        operation_id="artifacts_put",
        tags=["artifacts"],
        status_code=201,
        responses=error_responses(400, 401, 403, 422),
        openapi_extra={"requestBody": {"content": _BINARY, "required": True}, **_WRITE},
    )
    async def put(key: str, request: Request) -> dict[str, Any]:
        allow(request, "edit")
        check_key(key)
        match = _OBJECT.fullmatch(key)

        async def audit(result: Any, detail: str) -> None:
            # An object published (or refused) is audited; a mark, or an object the
            # server had, changes nothing a reader sees and is not.
            principal = principal_of(request, guard)
            address = request.client.host if request.client else ""
            name = key if match is None else match.group(1) + match.group(2)
            resource = Resource("artifact", name)
            await run_in_threadpool(
                guard.record, principal, address, "artifacts.put", resource, result, detail
            )

        if match is None:  # a mark: an empty object whose time is what counts
            data = await request.body()
            if data:
                raise InvalidInput(f"a mark ({key}) holds no bytes; send an empty body")
            await run_in_threadpool(blobs.write_atomic, key, [b""])
            return {"key": key, "size": 0}
        digest = match.group(1) + match.group(2)
        tmp = _temp_path(blobs)
        try:
            hasher, size = new_hasher(), 0
            with open(tmp, "wb") as out:
                async for chunk in request.stream():
                    hasher.update(chunk)
                    size += len(chunk)
                    await run_in_threadpool(out.write, chunk)
            if hasher.hexdigest() != digest:
                await audit("error", f"{size} bytes that hash to {hasher.hexdigest()}")
                raise IntegrityError(
                    f"the uploaded bytes hash to {hasher.hexdigest()}, not {digest}: nothing "
                    "was stored; upload the object again"
                )
            if not blobs.exists(key):
                await run_in_threadpool(blobs.commit_file, tmp, key)
                await audit("ok", f"{size} bytes")
        finally:
            tmp.unlink(missing_ok=True)
        return {"key": key, "size": size}


def _temp_path(blobs: Any) -> Path:
    if isinstance(blobs, LocalBlobs):
        return blobs.new_temp()  # same file system as the objects: publishing is a rename
    fd, name = tempfile.mkstemp(prefix="cairn-upload-", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _chunks(f: Any, start: int, length: int) -> Iterator[bytes]:
    with f:
        if start:
            f.seek(start)
        while length > 0:
            chunk = f.read(min(CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
