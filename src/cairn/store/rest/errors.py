"""CairnError classes <-> HTTP status and JSON error bodies, both ways.

The server answers a :class:`~cairn.errors.CairnError` with
``{"error": {"code": "NOT_FOUND", "type": "NotFound", "message": "..."}}`` and the status
below; the client raises the same class with the same message, so code written against
the embedded store catches the same exceptions over HTTP.
"""

from __future__ import annotations

from typing import Any

from cairn import errors

#: Most specific first: the first class an error is an instance of decides.
ERRORS: tuple[tuple[type[errors.CairnError], int, str], ...] = (
    (errors.FilterSyntaxError, 400, "INVALID_FILTER"),
    (errors.InvalidInput, 400, "INVALID_INPUT"),
    (errors.NotFound, 404, "NOT_FOUND"),
    (errors.AlreadyExists, 409, "ALREADY_EXISTS"),
    (errors.InUse, 409, "IN_USE"),
    (errors.Unauthenticated, 401, "UNAUTHENTICATED"),
    (errors.PermissionDenied, 403, "PERMISSION_DENIED"),
    (errors.ConfigError, 400, "CONFIG_ERROR"),
    (errors.IntegrityError, 422, "INTEGRITY_ERROR"),
    (errors.StoreError, 503, "STORE_ERROR"),
    (errors.CairnError, 400, "ERROR"),
)
_BY_TYPE = {cls.__name__: cls for cls, _, _ in ERRORS}
_BY_CODE = {code: cls for cls, _, code in ERRORS}


def status_and_code(exc: errors.CairnError) -> tuple[int, str]:
    for cls, status, code in ERRORS:
        if isinstance(exc, cls):
            return status, code
    return 400, "ERROR"  # pragma: no cover - CairnError is last in ERRORS


def error_body(exc: errors.CairnError) -> dict[str, Any]:
    _, code = status_and_code(exc)
    cls = type(exc) if type(exc).__name__ in _BY_TYPE else _BY_CODE[code]
    body: dict[str, Any] = {"code": code, "type": cls.__name__, "message": str(exc)}
    if isinstance(exc, errors.InUse):
        body["dependents"] = list(exc.dependents)
    if isinstance(exc, errors.FilterSyntaxError):
        body["position"] = exc.position
    return {"error": body}


def plain_error(code: str, message: str, type: str = "CairnError") -> dict[str, Any]:
    """An error body for conditions that are not CairnErrors (no route, body too large)."""
    return {"error": {"code": code, "type": type, "message": message}}


def raise_for_body(status: int, body: Any, where: str) -> None:
    """Raise the CairnError an error body stands for (any 4xx/5xx response)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        if status in (502, 503, 504):
            raise errors.StoreError(f"{where} answered HTTP {status}; try again later")
        if status == 404:  # a HEAD answer has no body
            raise errors.NotFound(f"{where} has no such object")
        raise errors.StoreError(
            f"{where} answered HTTP {status} without a Cairn error body; check that the "
            "tracking URI points at `cairn server`"
        )
    message: str = error["message"]
    cls = _BY_TYPE.get(str(error.get("type"))) or _BY_CODE.get(str(error.get("code")))
    if cls is None:
        cls = errors.CairnError
    if cls is errors.InUse:
        raise errors.InUse(message, tuple(error.get("dependents") or ()))
    if cls is errors.FilterSyntaxError:
        filter_error = errors.FilterSyntaxError(message)  # the message has the excerpt
        position = error.get("position")
        filter_error.position = position if isinstance(position, int) else -1
        raise filter_error
    raise cls(message)
