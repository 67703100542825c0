"""What every console page shares: templates, language, sessions, CSRF, and errors as pages.

Sessions: the ``ocop_session`` cookie (HttpOnly, SameSite=Lax, Secure over HTTPS, path /console)
holds a random token whose SHA-256 the ledger stores. CSRF: a signed-in form carries the
session's CSRF token; the sign-in and invitation forms, before any session exists, carry the
value of the ``ocop_csrf`` cookie (double submit). A mismatch is refused with 403 and nothing changes.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from api.console.i18n import FIELD_HELP, TEXT
from api.errors import error_body, status_of
from api.services import Services
from ledger.errors import InputError, LedgerError, Unavailable
from ledger.service.console import Account
from ledger.service.console_tools import ConsoleTools

PREFIX = "/console"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "console"
SESSION_COOKIE, CSRF_COOKIE, LANG_COOKIE = "ocop_session", "ocop_csrf", "ocop_lang"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "worker-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
Handler = Callable[[FormData, Account | None], Awaitable[Response]]


class CsrfRejected(LedgerError):
    code = "csrf_failed"


class SignInLimiter:
    """Sign-in attempts per client address: at most ``limit`` in ``window`` seconds (in memory)."""

    def __init__(self, limit: int = 20, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] > self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 10000:  # forget the quietest clients rather than grow without bound
                self._hits = {k: v for k, v in self._hits.items() if v}
            return True


class Web:
    """Built once per app, on first use: templates, the console facade, the sign-in limiter."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.console = ConsoleTools.open(svc.ledger, svc.settings, svc.photos())
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
        )
        self.limiter = SignInLimiter()


_build_lock = threading.Lock()


def web(request: Request) -> Web:
    state = request.app.state
    with _build_lock:
        if getattr(state, "console_web", None) is None:
            state.console_web = Web(state.services)
    w: Web = state.console_web
    return w


def lang_of(request: Request) -> str:
    explicit = request.query_params.get("lang")
    if explicit in TEXT:
        return str(explicit)
    cookie = request.cookies.get(LANG_COOKIE)
    return cookie if cookie in TEXT else "vi"


def account_of(request: Request) -> Account | None:
    token = request.cookies.get(SESSION_COOKIE, "")
    return web(request).console.account(token) if token else None


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = lang_of(request)
    who = ctx.pop("who", None)
    if who is None and "who" not in ctx:
        who = account_of(request)
    pre_csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    csrf = who.csrf if who is not None else pre_csrf
    other = "en" if lang == "vi" else "vi"
    body = (
        web(request)
        .env.get_template(name)
        .render(
            t=TEXT[lang],
            help=FIELD_HELP[lang],
            lang=lang,
            who=who,
            csrf=csrf,
            path=request.url.path,
            lang_url=f"{request.url.path}?{_with_lang(request, other)}",
            prefix=PREFIX,
            **ctx,
        )
    )
    resp = HTMLResponse(body, status_code=status, headers=headers(lang))
    if who is None and CSRF_COOKIE not in request.cookies:
        resp.set_cookie(CSRF_COOKIE, pre_csrf, httponly=True, samesite="strict", secure=is_https(request), path=PREFIX)
    if request.query_params.get("lang") in TEXT:
        resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=is_https(request), path="/")
    return resp


def _with_lang(request: Request, lang: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
    return "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params)


def headers(lang: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "Content-Language": lang,
        "Cache-Control": "private, no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }


def to_signin(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{PREFIX}/signin?next={quote(target, safe='')}", status_code=303)


def check_csrf(request: Request, form: FormData, who: Account | None) -> None:
    expected = who.csrf if who is not None else request.cookies.get(CSRF_COOKIE, "")
    given = form.get("csrf")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        raise CsrfRejected("the form's CSRF token is missing or does not match this session; reload the page")


async def guarded(request: Request, handler: Handler, *, signed_in: bool = True) -> Response:
    """Run a form handler: signed in (else to the sign-in page), CSRF checked, ledger errors as pages."""
    who = account_of(request)
    if signed_in and who is None:
        if wants_json(request):
            return JSONResponse(error_body("unauthorized", "not signed in to the console"), status_code=401)
        return to_signin(request)
    try:
        form = await request.form(max_files=10, max_fields=100)
    except Exception as exc:  # a malformed multipart body: the client's fault, never a 5xx
        return error_page(request, InputError(f"the form could not be read: {exc}"), who)
    try:
        check_csrf(request, form, who)
        return await handler(form, who)
    except CsrfRejected as exc:
        return error_page(request, exc, who, status=403, message=TEXT[lang_of(request)]["csrf"])
    except LedgerError as exc:
        return error_page(request, exc, who)
    finally:
        await form.close()  # uploaded files live in temporary files until closed


def error_page(
    request: Request, exc: LedgerError, who: Account | None, status: int | None = None, message: str | None = None
) -> Response:
    code = status or (status_of(exc) if not isinstance(exc, CsrfRejected) else 403)
    if code >= 500 and not isinstance(exc, Unavailable):
        raise exc
    retry = {"Retry-After": "5"} if code == 503 else None
    if isinstance(exc, Unavailable) and message is None:
        message = f"{TEXT[lang_of(request)]['unavailable']} ({exc})"
    if wants_json(request):
        return JSONResponse(error_body(exc.code, str(exc)), status_code=code, headers=retry)
    page = render(request, "error.html", status=code, who=who, message=message or str(exc), code=exc.code)
    page.headers.update(retry or {})
    return page
