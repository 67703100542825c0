"""GS1-Conformant Resolver behaviour of the Digital Link routes, and the product and party pages.

- ``/.well-known/gs1resolver``: the resolver description document.
- ``/01/{gtin}/10/{lot}``, ``/01/{gtin}``, ``/414/{gln}``: ``?linkType=linkset`` (or ``all``) or
  ``Accept: application/linkset+json`` gives the RFC 9264 linkset; ``?linkType=gs1:xyz`` (or its
  full URI) redirects (307) to that link in the caller's language, 404 JSON if there is none; every
  other request gets the page (HTML, or JSON for ``Accept: application/json``), with every link in
  the ``Link`` header. The lot page itself is ``api.routes.resolver``'s, unchanged.
- A malformed key (bad check digit, wrong length) is 400; CORS is open (``*``) on all of them.

Language negotiation and its fallback are in ``api/linkset.py``.
"""

from __future__ import annotations

import html
import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from api import linkset as ls
from api.deps import Svc
from api.i18n import pick_lang
from api.negotiation import wants_json
from api.schemas import page_errors
from ledger.core import gs1
from ledger.errors import InputError, MalformedRequest, NotFound

router = APIRouter(tags=["digital link"])
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Link"}
PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}, "application/json": {}, ls.LINKSET: {}}, "description": "page or linkset"},
    307: {"description": "?linkType=: redirect to that link"},
    **page_errors(400, 404, 422, 429),
}
Lang = Annotated[str | None, Query(max_length=10, description="vi (default) or en")]


def root(svc: Svc) -> str:
    return str(svc.settings.public_url).rstrip("/")


@router.get("/.well-known/gs1resolver")
def description(svc: Svc) -> JSONResponse:
    """The GS1-Conformant Resolver description document."""
    body = {
        "name": "OCOP Ledger resolver",
        "resolverRoot": root(svc),
        "supportedLinkType": [{"namespace": ls.GS1_VOC, "prefix": "gs1:"}],
        "supportedPrimaryKeys": ["01", "414"],
        "linkTypeDefaultCanBeLinkset": True,
        "linkTypeDefaultCanBeAll": True,
        "supportedLanguages": ["vi", "en"],
        "languageFallback": "no Accept-Language: vi; neither vi nor en accepted: en",
        "linkTypes": sorted(ls.LINK_TYPES),
    }
    return JSONResponse(body, headers=CORS)


def lot_links(base: str, gtin: str, code: str) -> list[ls.Link]:
    lot_id = f"{gtin}.{code}"
    page = f"{base}/01/{gtin}/10/{quote(code, safe='')}"
    enc = quote(lot_id, safe=".")
    dl = f"https://id.gs1.org/01/{gtin}/10/{quote(code, safe='')}"
    return [
        ls.Link("gs1:pip", f"{page}?lang=vi", "text/html", ("vi",)),
        ls.Link("gs1:pip", f"{page}?lang=en", "text/html", ("en",)),
        ls.Link("gs1:traceability", f"{base}/api/v1/lots/{enc}/epcis", "application/ld+json", ("vi", "en")),
        ls.Link("gs1:epcis", f"{base}/epcis/events?MATCH_anyEPCClass={quote(dl, safe='')}", "application/json", ()),
        ls.Link("gs1:verificationService", f"{base}/api/v1/lots/{enc}/verify", "application/json", ()),
        ls.Link("gs1:certificationInfo", f"{base}/api/v1/lots/{enc}/certificate.pdf", "application/pdf", ("vi", "en")),
    ]


def _page_links(page: str) -> list[ls.Link]:
    return [ls.Link("gs1:pip", f"{page}?lang={x}", "text/html", (x,)) for x in ("vi", "en")]


def answer(request: Request, anchor: str, links: list[ls.Link], lang: str) -> Response | None:
    """The linkset or a redirect when the request asks for one; None when it wants the page."""
    link_type = request.query_params.get("linkType")
    accept = (request.headers.get("accept") or "").lower()
    headers = CORS | {"Link": ls.header(links, lang, f"{anchor}?linkType=linkset"), "Vary": "Accept, Accept-Language"}
    if link_type in ("linkset", "all") or (link_type is None and ls.LINKSET in accept):
        body = json.dumps(ls.linkset(anchor, links, lang), ensure_ascii=False)
        return Response(body, media_type=ls.LINKSET, headers=headers)
    if link_type is None:
        return None
    target = ls.default(links, lang) if ls.compact(link_type) == "gs1:defaultLink" else ls.pick(links, link_type, lang)
    if target is None:
        offered = sorted({x.link_type for x in links})
        raise NotFound(f"no link of type {link_type!r} for {anchor}: expected one of {offered}, linkset or all")
    return RedirectResponse(target.href, status_code=307, headers=headers)


def link_header(links: list[ls.Link], lang: str, anchor: str) -> dict[str, str]:
    return CORS | {"Link": ls.header(links, lang, f"{anchor}?linkType=linkset")}


def _key(check: Any, value: str) -> str:
    try:
        return str(check(value))
    except InputError as exc:
        raise MalformedRequest(str(exc), field=exc.field) from exc


@router.get("/01/{gtin}", responses=PAGE_RESPONSES)
def product(gtin: str, request: Request, svc: Svc, lang: Lang = None) -> Response:
    """Product-level Digital Link: the product page, its linkset, or a redirect to one of its links."""
    gtin14 = _key(gs1.normalize_gtin, gtin)
    chosen = pick_lang(lang, request.headers.get("accept-language"))
    page = f"{root(svc)}/01/{gtin14}"
    data = svc.ledger.product_page(gtin14)
    links = _page_links(page)
    early = answer(request, page, links, chosen)
    if early is not None:
        return early
    headers = link_header(links, chosen, page) | {"Vary": "Accept, Accept-Language"}
    if wants_json(request.headers.get("accept")):
        return JSONResponse(json.loads(json.dumps(data, default=str)), headers=headers)
    return HTMLResponse(_product_html(data, chosen), headers=headers | {"Content-Language": chosen})


@router.get("/414/{gln}", responses=PAGE_RESPONSES)
def party(gln: str, request: Request, svc: Svc, lang: Lang = None) -> Response:
    """Party (GLN) Digital Link: the producer's page, its linkset, or a redirect."""
    gln13 = _key(gs1.validate_gln, gln)
    chosen = pick_lang(lang, request.headers.get("accept-language"))
    page = f"{root(svc)}/414/{gln13}"
    data = svc.ledger.party_page(gln13)
    links = _page_links(page)
    early = answer(request, page, links, chosen)
    if early is not None:
        return early
    headers = link_header(links, chosen, page) | {"Vary": "Accept, Accept-Language"}
    if wants_json(request.headers.get("accept")):
        return JSONResponse(data, headers=headers)
    return HTMLResponse(_party_html(data, chosen), headers=headers | {"Content-Language": chosen})


def _doc(lang: str, title: str, body: str) -> str:
    other = "en" if lang == "vi" else "vi"
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f'</head><body><main><h1>{html.escape(title)}</h1>{body}<p><a href="?lang={other}">{other.upper()}</a></p>'
        "</main></body></html>"
    )


def _product_html(p: dict[str, Any], lang: str) -> str:
    name = (p.get("name_en") if lang == "en" else None) or p["name_vi"]
    label = {"vi": ("Nhà sản xuất", "Các lô", "sao OCOP"), "en": ("Producer", "Lots", "OCOP stars")}[lang]
    lots = "".join(
        f'<li><a href="/01/{p["gtin"]}/10/{quote(x["code"], safe="")}?lang={lang}">{html.escape(x["code"])}</a></li>'
        for x in p["lots"]
    )
    stars = f"<p>{p['ocop_stars']} {label[2]}</p>" if p.get("ocop_stars") else ""
    producer = html.escape(str(p["producer"]["name"]))
    body = f"<p>GTIN {p['gtin']}</p>{stars}<p>{label[0]}: {producer}</p><h2>{label[1]}</h2><ul>{lots}</ul>"
    return _doc(lang, str(name), body)


def _party_html(o: dict[str, Any], lang: str) -> str:
    label = {"vi": ("Tỉnh", "Sản phẩm"), "en": ("Province", "Products")}[lang]
    items = "".join(
        f'<li><a href="/01/{x["gtin"]}?lang={lang}">'
        f"{html.escape(str((x['name_en'] if lang == 'en' else None) or x['name_vi']))}</a></li>"
        for x in o["products"]
    )
    province = html.escape(str(o.get("province") or "-"))
    return _doc(
        lang, str(o["name"]), f"<p>GLN {o['gln']}</p><p>{label[0]}: {province}</p><h2>{label[1]}</h2><ul>{items}</ul>"
    )


def _lot_key(gtin: str, lot: str) -> tuple[str, str]:
    from urllib.parse import unquote

    return _key(gs1.normalize_gtin, gtin), _key(gs1.validate_lot_code, unquote(lot))


def lot_answer(request: Request, svc: Svc, gtin: str, lot: str, lang: str | None) -> Response | None:
    """The linkset or redirect of a lot's Digital Link, when asked for; None for the lot page."""
    if "linkType" not in request.query_params and ls.LINKSET not in (request.headers.get("accept") or "").lower():
        return None
    gtin14, code = _lot_key(gtin, lot)
    svc.ledger.get_lot(f"{gtin14}.{code}")  # NotFound for a lot the ledger does not hold
    base = root(svc)
    anchor = f"{base}/01/{gtin14}/10/{quote(code, safe='')}"
    return answer(
        request, anchor, lot_links(base, gtin14, code), pick_lang(lang, request.headers.get("accept-language"))
    )


def add_lot_links(response: Response, request: Request, svc: Svc, gtin: str, lot: str, lang: str | None) -> None:
    """Every GS1 link of the lot in the page's ``Link`` header (after the ledger's own verify/bundle links)."""
    if response.status_code != 200:
        return
    try:
        gtin14, code = _lot_key(gtin, lot)
    except InputError:
        return
    base = root(svc)
    anchor = f"{base}/01/{gtin14}/10/{quote(code, safe='')}"
    chosen = pick_lang(lang, request.headers.get("accept-language"))
    extra = link_header(lot_links(base, gtin14, code), chosen, anchor)
    own = response.headers.get("Link")
    response.headers["Link"] = f"{own}, {extra['Link']}" if own else extra["Link"]
    for k, v in CORS.items():
        response.headers[k] = v


# HEAD and OPTIONS, which a conformant resolver answers too (CORS preflight included)
_PATHS = ("/01/{gtin}/10/{lot:path}", "/01/{gtin}", "/414/{gln}")
ALLOW = "GET, HEAD, OPTIONS"


def bodiless(res: Response) -> Response:
    headers = {k: v for k, v in res.headers.items() if k.lower() != "content-length"}
    return Response(status_code=res.status_code, headers=headers)


@router.head(_PATHS[1], include_in_schema=False)
def product_head(gtin: str, request: Request, svc: Svc, lang: Lang = None) -> Response:
    return bodiless(product(gtin, request, svc, lang))


@router.head(_PATHS[2], include_in_schema=False)
def party_head(gln: str, request: Request, svc: Svc, lang: Lang = None) -> Response:
    return bodiless(party(gln, request, svc, lang))


def _options() -> Response:
    preflight = {
        "Allow": ALLOW,
        "Access-Control-Allow-Methods": ALLOW,
        "Access-Control-Allow-Headers": "Accept, Accept-Language",
        "Access-Control-Max-Age": "86400",
    }
    return Response(status_code=204, headers=CORS | preflight)


for _path in _PATHS:
    router.add_api_route(_path, _options, methods=["OPTIONS"], include_in_schema=False)
