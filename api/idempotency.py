"""``Idempotency-Key`` on every write under ``/api/v1`` (POST, PUT, PATCH, DELETE).

Routers that hold writes are built with ``route_class=IdempotentRoute``, which wraps the handler of
each such route: with the header, the caller's organization
claims the key through ``Ledger.idempotent`` and the route runs inside the transaction that
stores the key's record, so the write and its first answer commit together (``Ledger.joined``).
A resend gets that answer back with ``Idempotent-Replayed: true``. Only successful answers are
kept: a refused write stored nothing, so its retry is simply checked again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from contextlib import ExitStack
from datetime import timedelta
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from api.services import Services
from ledger.service import Answer, Claim, Principal, fingerprint, parse_key

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FAULT_ENV = "LEDGER_TEST_FAULT"  # tests only: "exit-after-idempotent-commit" kills the server there
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class _Refused(Exception):
    """A non-2xx answer returned (not raised) by a route: roll its transaction back, then send it."""

    def __init__(self, response: Response) -> None:
        self.response = response


class IdempotentRoute(APIRoute):
    """The route class of every router with writes: a write under /api/v1 takes an Idempotency-Key."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self._guarded():
            extra = dict(self.openapi_extra or {})
            extra["parameters"] = [*extra.get("parameters", []), _HEADER_DOC]
            self.openapi_extra = extra

    def _guarded(self) -> bool:
        return self.path.startswith("/api/v1/") and bool((self.methods or set()) & WRITES)

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        own = getattr(self.endpoint, "handles_idempotency_key", False)  # the sequenced appends (api.sequenced)
        return idempotent(handler) if self._guarded() and not own else handler


_HEADER_DOC = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9\\-_.:~+/=]+$"},
    "description": "makes the write idempotent for 24 h (configurable): a resend with the same key and body "
    "gets the first answer (header Idempotent-Replayed: true) and stores nothing; the same key with another "
    "body gets 422, a resend while the first is in flight 409",
}


def idempotent(handler: Handler) -> Handler:
    async def route(request: Request) -> Response:
        raw = request.headers.get(HEADER)
        if raw is None:
            return await handler(request)
        key = parse_key(raw)
        svc: Services = request.app.state.services
        who = await run_in_threadpool(_caller, svc, request)
        if who is None:
            return await handler(request)  # the route answers 401
        body = await request.body()
        fp = fingerprint(request.method, request.url.path, request.url.query, body)
        retention = timedelta(hours=svc.settings.idempotency_retention_hours)
        with ExitStack() as stack:
            claim: Claim = await run_in_threadpool(
                stack.enter_context, svc.ledger.idempotent(who.org_id, key, fp, retention)
            )
            if claim.replay is not None:
                await run_in_threadpool(stack.close)
                return _replayed(claim.replay)
            try:
                with svc.ledger.joined(claim):
                    response = await handler(request)
                if not 200 <= response.status_code < 300:
                    raise _Refused(response)
                claim.complete(Answer(response.status_code, response.headers.get("content-type"), bytes(response.body)))
            except _Refused as refused:
                await run_in_threadpool(stack.__exit__, type(refused), refused, refused.__traceback__)
                return refused.response
            except BaseException as exc:
                await run_in_threadpool(stack.__exit__, type(exc), exc, exc.__traceback__)
                raise
            await run_in_threadpool(stack.close)  # commits the write and its record together
        _fault("exit-after-idempotent-commit")
        return response

    return route


def _caller(svc: Services, request: Request) -> Principal | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return svc.ledger.authenticate(token.strip())


def _replayed(answer: Answer) -> Response:
    headers = {REPLAYED: "true"}
    return Response(answer.body, status_code=answer.status_code, media_type=answer.content_type, headers=headers)


def _fault(point: str) -> None:
    """Tests only: die right here (after the commit, before the answer) when told to."""
    if os.environ.get(FAULT_ENV) == point:
        os._exit(86)
