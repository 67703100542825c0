"""Console sign-in and sign-out, invitations, people and the organization's API keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from api.console.forms import text
from api.console.i18n import TEXT
from api.console.web import (
    PREFIX,
    SESSION_COOKIE,
    account_of,
    guarded,
    is_https,
    lang_of,
    render,
    to_signin,
    web,
)
from ledger.errors import ConflictError, InputError, NotFound
from ledger.service.console import Account, AccountLocked, SignedIn, SignInRefused

router = APIRouter(prefix=PREFIX, include_in_schema=False)
KEY_ROLES = {"cooperative": ["producer"], "company": ["producer"], "exporter": ["exporter", "producer"],
             "inspector": ["inspector"], "operator": ["admin"], "authority": ["authority"]}  # fmt: skip


def _text(form: FormData, name: str, limit: int = 300) -> str:
    return text(form, name, limit)[:limit]


def _safe_next(target: str) -> str:
    """Only a path inside the console: never an open redirect to another site."""
    return target if target.startswith(PREFIX) and not target.startswith("//") and "\\" not in target else PREFIX


def _signed_in(request: Request, s: SignedIn, target: str) -> RedirectResponse:
    resp = RedirectResponse(_safe_next(target), status_code=303)
    resp.set_cookie(
        SESSION_COOKIE,
        s.token,
        max_age=14 * 86400,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        path=PREFIX,
    )
    return resp


@router.get("/signin")
def signin_page(request: Request) -> Response:
    if account_of(request) is not None:
        return RedirectResponse(PREFIX, status_code=303)
    return render(request, "signin.html", who=None, form={}, errors={}, next=request.query_params.get("next", ""))


@router.post("/signin")
async def signin(request: Request) -> Response:
    async def handle(form: FormData, _: Account | None) -> Response:
        t = TEXT[lang_of(request)]
        values = {"login": _text(form, "login", 254)}
        target = _text(form, "next", 500)
        client = request.client.host if request.client else "?"
        if not web(request).limiter.allow(client):
            return render(
                request, "signin.html", 429, who=None, form=values, errors={"form": t["too_many"]}, next=target
            )
        try:
            s = web(request).console.sign_in(values["login"], str(form.get("password") or "")[:300])
        except AccountLocked:
            return render(request, "signin.html", 429, who=None, form=values, errors={"form": t["locked"]}, next=target)
        except SignInRefused:
            return render(request, "signin.html", 401, who=None, form=values, errors={"form": t["wrong"]}, next=target)
        return _signed_in(request, s, target)

    return await guarded(request, handle, signed_in=False)


@router.post("/signout")
async def signout(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        web(request).console.sign_out(request.cookies.get(SESSION_COOKIE, ""))
        resp = RedirectResponse(f"{PREFIX}/signin", status_code=303)
        resp.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="lax", secure=is_https(request))
        return resp

    return await guarded(request, handle)


@router.get("/invite")
def invite_page(request: Request) -> Response:
    """The link's token is in the query string, which request logs leave out (paths are logged)."""
    token = request.query_params.get("token", "")[:100]
    try:
        info = web(request).console.invite_info(token)
    except NotFound as exc:
        return render(request, "error.html", 404, who=None, message=str(exc), code=exc.code)
    return render(request, "join.html", who=None, invite=info, token=token, form={}, errors={})


@router.post("/invite")
async def accept_invite(request: Request) -> Response:
    token = request.query_params.get("token", "")[:100]

    async def handle(form: FormData, _: Account | None) -> Response:
        info = web(request).console.invite_info(token)
        values = {"login": _text(form, "login", 254), "name": _text(form, "name", 250)}
        password = str(form.get("password") or "")[:300]
        if password != str(form.get("password2") or "")[:300]:
            return _join_errors(request, info, token, values, {"password2": ""})
        try:
            s = web(request).console.accept_invite(token, values["login"], password, values["name"] or None)
        except ConflictError as exc:
            if exc.field != "login":
                raise
            return _join_errors(request, info, token, values, {"login": str(exc)}, status=409)
        except InputError as exc:
            return _join_errors(request, info, token, values, {exc.field or "form": str(exc)})
        return _signed_in(request, s, PREFIX)

    return await guarded(request, handle, signed_in=False)


def _join_errors(
    request: Request,
    info: dict[str, Any],
    token: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 422,
) -> Response:
    return render(request, "join.html", status, who=None, invite=info, token=token, form=values, errors=errors)


@router.get("/people")
def people_page(request: Request) -> Response:
    who = account_of(request)
    if who is None:
        return to_signin(request)
    people = web(request).console.people(who.org_id)
    return render(request, "people.html", who=who, people=people, link=None)


@router.post("/people/invite")
async def invite(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        role = _text(form, "role", 10)
        token = web(request).console.invite(who, role)
        link = f"{str(request.base_url).rstrip('/')}{PREFIX}/invite?token={token}"
        people = web(request).console.people(who.org_id)
        return render(request, "people.html", 201, who=who, people=people, link=link)

    return await guarded(request, handle)


@router.get("/keys")
def keys_page(request: Request) -> Response:
    who = account_of(request)
    if who is None:
        return to_signin(request)
    return _keys(request, who)


def _keys(request: Request, who: Account, status: int = 200, **ctx: Any) -> Response:
    keys = web(request).console.api_keys(who)
    for k in keys:
        k["created"] = _day(k["created_at"])
    return render(request, "keys.html", status, who=who, keys=keys, roles=KEY_ROLES.get(who.org_kind, []), **ctx)


def _day(iso: str | None) -> str:
    if not iso:
        return ""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%d/%m/%Y")


@router.post("/keys")
async def create_key(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        values = {"label": _text(form, "label", 150), "role": _text(form, "role", 12)}
        try:
            key = web(request).console.create_api_key(who, values["role"], values["label"])
        except InputError as exc:
            return _keys(request, who, 422, errors={exc.field or "form": str(exc)}, form=values)
        return _keys(request, who, 201, created=key)

    return await guarded(request, handle)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        web(request).console.revoke_api_key(who, key_id)
        return RedirectResponse(f"{PREFIX}/keys", status_code=303)

    return await guarded(request, handle)
