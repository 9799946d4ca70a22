"""JSON error answers: CairnErrors, invalid requests, unknown routes. Never a 500 for
bad input: each answer names the problem the way the CLI would."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cairn.errors import CairnError
from cairn.store.rest.errors import error_body, plain_error, status_and_code

log = logging.getLogger("cairn.server")

_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE"}


def _cairn_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CairnError)
    status, _ = status_and_code(exc)
    return JSONResponse(error_body(exc), status_code=status)


def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {error.get('msg', 'invalid')}")
    message = f"invalid request to {request.url.path}: " + "; ".join(problems)
    return JSONResponse(
        {"error": {"code": "INVALID_INPUT", "type": "InvalidInput", "message": message}},
        status_code=422,
    )


def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "ERROR")
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}; see /openapi.json"
    elif exc.status_code == 405:
        message = f"{request.url.path} does not take {request.method}; see /openapi.json"
    else:
        message = str(exc.detail)
    kind = "NotFound" if exc.status_code == 404 else "InvalidInput"
    return JSONResponse(plain_error(code, message, kind), status_code=exc.status_code)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    message = (
        f"the server failed on {request.method} {request.url.path} "
        f"({type(exc).__name__}); see the server log"
    )
    return JSONResponse(plain_error("INTERNAL", message), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(CairnError, _cairn_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
