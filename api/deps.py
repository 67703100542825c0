"""Dependencies of the routes: services, the caller's API key, lot ids from paths.

``Caller`` checks the API key against the database on every request (revocation takes effect on
the next request). ``Writer``, for the append routes that go through the sequencer, takes a key
verified in the last ``auth_cache_ttl`` seconds from the process's ``KeyCache`` without a
query or a thread hop; the sequencer checks that key again inside the batch's transaction
(``ledger.store.group_append``), so a revoked key still gets nothing acknowledged, and a key
revoked through this process's admin route is dropped from the cache at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import Unauthorized
from api.services import KeyCache, Services
from ledger.core import gs1
from ledger.errors import InputError, PermissionDenied
from ledger.service import Principal


async def services(request: Request) -> Services:  # async: FastAPI runs a plain def in a thread
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]


# Declares the bearer scheme in the OpenAPI document (so /docs has "Authorize"); the header is
# still read and checked below, with this API's own 401 messages.
bearer = HTTPBearer(auto_error=False, scheme_name="apiKey", description="an API key: `Authorization: Bearer ocop_…`")


def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send 'Authorization: Bearer <api key>'")
    return token.strip()


def principal(
    request: Request, svc: Svc, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None
) -> Principal:
    """The caller of an authenticated route; 401 without a valid, unrevoked key."""
    who = svc.ledger.authenticate(_token(request))
    if who is None:
        raise Unauthorized("invalid or revoked API key")
    return who


Caller = Annotated[Principal, Depends(principal)]


async def writer(
    request: Request, svc: Svc, _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)] = None
) -> Principal:
    """The caller of an append route (see the module doc): from the key cache, else the database."""
    token = _token(request)
    digest = KeyCache.digest(token)
    who = svc.keys.get(digest)
    if who is None:
        who = await run_in_threadpool(svc.ledger.authenticate, token)
        if who is None:
            raise Unauthorized("invalid or revoked API key")
        svc.keys.put(digest, who)
    return who


Writer = Annotated[Principal, Depends(writer)]


def require(who: Principal, *roles: str) -> None:
    if who.role not in roles:
        raise PermissionDenied(f"this needs an API key with role {' or '.join(roles)}, got {who.role}")


def admin(who: Caller) -> Principal:
    require(who, "admin")
    return who


Admin = Annotated[Principal, Depends(admin)]


def role_dependency(*roles: str) -> Callable[..., Principal]:
    """A dependency yielding the caller when its key has one of ``roles`` (for routers built elsewhere)."""

    def dep(who: Caller) -> Principal:
        require(who, *roles)
        return who

    return dep


def ledger_dep(svc: Svc) -> Any:
    return svc.ledger


def anchor_check_dep(svc: Svc) -> Any:
    return svc.anchor_check()


def lot_param(lot_id: str) -> str:
    """A lot id from a path segment (percent-decoded; '/' inside a lot code arrives as %2F)."""
    value = unquote(lot_id)
    gtin, code = gs1.split_lot_id(value)
    return f"{gtin}.{code}"


def lot_or_input_error(value: str) -> str:
    try:
        return lot_param(value)
    except InputError as exc:
        raise InputError(f"bad lot id: {exc}", field="lot_id") from exc
