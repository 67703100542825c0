"""The one place where errors become HTTP responses: ``{"error": {"code", "message", "details"?}}``.

The ledger's error tree maps to status codes here; FastAPI's own validation errors and
Starlette's HTTP errors get the same body, so a client parses one shape. Input never causes a
5xx: anything unexpected is logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.middleware import BodyTooLarge
from ledger.errors import (
    AnchorError,
    ConfigError,
    ConflictError,
    InputError,
    LedgerError,
    MalformedRequest,
    NotAcceptable,
    NotFound,
    PermissionDenied,
    QueryError,
    Unauthenticated,
    Unavailable,
    VerificationError,
)
from ledger.service import StorageError, storage_fault

log = logging.getLogger("ocop.api")

# Most specific first.
STATUS: list[tuple[type[LedgerError], int]] = [
    (ConflictError, 409),
    (QueryError, 400),
    (MalformedRequest, 400),
    (NotAcceptable, 406),
    (InputError, 422),
    (NotFound, 404),
    (PermissionDenied, 403),
    (VerificationError, 422),
    (AnchorError, 503),
    (Unavailable, 503),
    (ConfigError, 500),
    (LedgerError, 500),
]
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
    503: "unavailable",
    507: "storage_full",
}


class Unauthorized(Unauthenticated):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"


class Forbidden(PermissionDenied):
    """``PermissionDenied`` with per-item details (e.g. which events of a batch were refused)."""

    def __init__(self, message: str, *, details: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if details:
        err["details"] = details
    return {"error": err}


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers or None)


def status_of(exc: LedgerError) -> int:
    if isinstance(exc, Unauthenticated):
        return 401
    return next(status for cls, status in STATUS if isinstance(exc, cls))


async def ledger_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LedgerError)
    status = status_of(exc)
    if status >= 500:
        log.error("server error %s: %s", type(exc).__name__, exc)
        message = str(exc) if isinstance(exc, (AnchorError, Unavailable)) else "internal error"
        return error_response(status, exc.code, message)
    details = list(getattr(exc, "details", []) or [])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    problem = getattr(exc, "problem_type", None)
    if problem:  # EPCIS 2.0 clients read the RFC 7807 fields; everyone else reads "error"
        body = error_body(exc.code, str(exc), details) | {"type": problem, "title": str(exc), "status": status}
        return JSONResponse(body, status_code=status, headers=headers or None)
    return error_response(status, exc.code, str(exc), details, headers)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        msg = next(str(e.get("ctx", {}).get("error", e.get("msg"))) for e in errors if e.get("type") == "json_invalid")
        return error_response(400, "malformed_json", f"request body is not valid JSON: {msg}")
    details = [{"field": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))} for e in errors]
    first = details[0] if details else {"field": "", "message": "invalid request"}
    return error_response(422, "invalid_input", f"{first['field']}: {first['message']}", details)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    if isinstance(exc.__cause__, BodyTooLarge):
        return error_response(413, "payload_too_large", "request body exceeds the size limit")
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        return error_response(400, "malformed_json", "request body is not valid JSON (or not UTF-8)")
    headers = dict(exc.headers or {})
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """The database is unreachable, dropped the connection, or is full: the transaction was rolled
    back, nothing of the request is stored, and the client may retry (503) or must wait for space (507)."""
    assert isinstance(exc, StorageError)
    fault = storage_fault(exc)
    if fault is None:
        return await unexpected_error(request, exc)
    if fault == "full":
        log.error("storage full on %s %s: %s", request.method, request.url.path, exc.orig)
        return error_response(507, "storage_full", "the ledger's storage is full; nothing of this request was stored")
    log.error("database unavailable on %s %s: %s", request.method, request.url.path, exc.orig)
    return error_response(
        503,
        "unavailable",
        "the database is unavailable; nothing of this request was stored, retry later",
        headers={"Retry-After": "1"},
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, ledger_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(StorageError, database_error)
    app.add_exception_handler(Exception, unexpected_error)
