"""The error body every route documents in /openapi.json."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    type: str
    message: str
    dependents: list[str] | None = None
    position: int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": "a Cairn error"} for s in statuses}


#: What a store route can answer besides 200.
STORE_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 503)
