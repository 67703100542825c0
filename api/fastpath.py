"""The single-event append route as plain ASGI, ahead of FastAPI's routing and dependencies.

``POST /api/v1/lots/{lot_id}/events`` carries nearly all of the write load (a phone or a scanner
posting one event at a time). Through FastAPI each such request paid about 0.7 ms of CPU on the
event loop, twice what the sequencer spends appending it: the exception, exit-stack and body-limit
middlewares, routing, dependency solving and body validation. This middleware answers the common
case itself, with the same steps and the same answers as the route (``api.routes.write.record_event``):

- it sits inside ``PathMiddleware``, ``ObserveMiddleware`` and ``LimitMiddleware``, so encoded
  slashes, the size and depth limits, logs, metrics and security headers apply as before, and the
  route object is put in the scope so metrics carry the route's own label;
- it takes a request only when its API key is in the process's ``KeyCache`` (verified within
  ``auth_cache_ttl``; the sequencer checks it again at commit), its ``Content-Type`` is
  ``application/json`` and its body parses as a JSON object;
- it hands the events to ``api.sequenced.record_items``, the route's own path to the sequencer,
  with its ``Idempotency-Key`` handling; ledger errors become the app's own error answers.

Everything else (no key or an unknown one, another media type, malformed JSON, a body that is not
an object) goes on to FastAPI with the same body, where the route and its error handlers answer.
Tests run every append case through both ways (``tests/api/test_fastpath.py``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api import sequenced
from api.middleware import replay_body
from api.routes.write import event_item, ingest_router
from api.services import KeyCache, Services
from ledger.errors import LedgerError
from ledger.service import StorageError

PATH = "/api/v1/lots/{lot_id:path}/events"


class AppendFastPath:
    """Answers ``POST /api/v1/lots/{lot_id}/events`` without FastAPI's routing (module doc)."""

    def __init__(self, app: ASGIApp, fastapi_app: Any) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self._route: Any = None
        self._regex: re.Pattern[str] | None = None

    def _match(self, path: str) -> re.Match[str] | None:
        if self._regex is None:
            self._route = next(r for r in ingest_router.routes if getattr(r, "path", None) == PATH)
            self._regex = self._route.path_regex
        return self._regex.match(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope.get("root_path")
            or not scope["path"].endswith("/events")
            or (match := self._match(scope["path"])) is None
        ):
            await self.app(scope, receive, send)
            return
        auth = ctype = idem = None
        for name, value in scope["headers"]:
            if name == b"authorization" and auth is None:
                auth = value
            elif name == b"content-type" and ctype is None:
                ctype = value
            elif name == b"idempotency-key" and idem is None:
                idem = value
        svc: Services = self.fastapi_app.state.services
        who = _cached_caller(svc, auth)
        if who is None or ctype is None or ctype.split(b";", 1)[0].strip().lower() != b"application/json":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        try:
            data = json.loads(body)
        except ValueError:  # FastAPI answers malformed JSON in its own words
            data = None
        if not isinstance(data, dict):
            await self.app(scope, replay_body(body, receive), send)
            return
        scope["route"] = self._route  # the route's metrics label (``ObserveMiddleware``)
        try:
            response = await _append(self.fastapi_app, svc, scope, who, match["lot_id"], data, body, idem)
        except (LedgerError, StorageError) as exc:
            response = await _error_response(self.fastapi_app, scope, receive, exc)
        await response(scope, receive, send)


def _cached_caller(svc: Services, header: bytes | None) -> Any:
    """The caller of a verified, cached API key (``api.deps.writer``'s cache hit), else None."""
    if header is None:
        return None
    scheme, _, token = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return svc.keys.get(KeyCache.digest(token.strip()))


async def _append(
    app: Any, svc: Services, scope: Scope, who: Any, raw_lot: str, data: dict[str, Any], body: bytes, idem: bytes | None
) -> Any:
    item = event_item(raw_lot, data)  # the route's own shaping (and lot id check)
    if idem is None:
        request = sequenced.Incoming("POST", scope["path"], "", body, None)
    else:  # the fingerprint of the key's first request, taken as the route takes it
        url = Request(scope).url
        request = sequenced.Incoming("POST", url.path, url.query, body, idem.decode("latin-1"))
    return await sequenced.record_items(app, svc, who, request, [item], lambda rec: rec[0])


async def _error_response(app: Any, scope: Scope, receive: Receive, exc: Exception) -> Any:
    """The answer the app's exception handlers give for ``exc`` (``api.errors``)."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return await handlers[cls](Request(scope, receive), exc)
    raise exc


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return None
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body"):
            return b"".join(chunks)
