"""uvicorn's HTTP protocols, answering malformed or oversized requests with the JSON error body.

uvicorn answers a request its parser refuses (e.g. a ~100 KB request line) with a ``text/plain``
400 written straight to the socket, before any ASGI middleware runs. These subclasses write
``{"error": {"code", "message"}}`` instead: 414 when the request target is too long, else 400.
``ocop-ledger serve`` hands uvicorn the import string ``api.protocol:HttpProtocol``.
"""

from __future__ import annotations

import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_TARGET = 8192
"""Longest request target (path and query) the error answer calls acceptable."""

_REASONS = {400: b"Bad Request", 414: b"URI Too Long"}


def error_response(status: int, code: str, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying the JSON error body; the connection closes."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status])
    headers = (
        b"content-type: application/json\r\n"
        b"content-length: %d\r\n"
        b"x-content-type-options: nosniff\r\n"
        b"connection: close\r\n\r\n" % len(body)
    )
    return head + headers + body


def _refusal(target_length: int) -> bytes:
    if target_length > MAX_TARGET:
        return error_response(
            414, "uri_too_long", f"request target is too long: expected at most {MAX_TARGET} bytes, got {target_length}"
        )
    return error_response(400, "bad_request", "malformed HTTP request (request line or headers)")


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        buffered = len(getattr(self.conn, "_receive_buffer", b""))
        self.transport.write(_refusal(buffered if buffered > MAX_TARGET else 0))
        self.transport.close()


HttpProtocol: Any = JsonErrorH11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a pinned dependency
    pass
else:

    class JsonErrorHttpToolsProtocol(HttpToolsProtocol):
        def send_400_response(self, msg: str) -> None:
            self.transport.write(_refusal(len(getattr(self, "url", b""))))
            self.transport.close()

    HttpProtocol = JsonErrorHttpToolsProtocol
