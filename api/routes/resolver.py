"""The GS1 Digital Link resolver: ``/01/{gtin}/10/{lot}`` — the consumer page, or JSON on request.

The GTIN's check digit is validated and the lot (GS1 AI 10) is percent-decoded; a lot code
containing '/' must arrive as ``%2F``. Browsers get HTML (Vietnamese unless Accept-Language or
``?lang=en`` asks for English); ``Accept: application/json`` gets the lot and its verdict.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote, unquote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import Svc
from api.i18n import TEXT, name_lang, pick_lang
from api.negotiation import wants_json
from api.page import Pages, lot_view, verdict_view
from api.routes import gs1_resolver
from api.schemas import page_errors
from ledger.core import gs1
from ledger.errors import InputError, NotFound

__all__ = ["resolve", "router", "wants_json"]

router = APIRouter(tags=["digital link"])


@router.get(
    "/01/{gtin}/10/{lot:path}",
    responses={
        200: {
            "content": {"text/html": {}, "application/json": {"example": {"lot_id": "08930000045676.PH-2026-07"}}},
            "description": "HTML page for browsers; the lot with its verdict for Accept: application/json",
        },
        **page_errors(400, 404, 422, 429),
    },
)
async def resolve(
    gtin: str,
    lot: str,
    request: Request,
    svc: Svc,
    lang: Annotated[
        str | None,
        Query(
            max_length=10,
            description="page language: vi (default) or en; zh or ja: an English page with the product's signed "
            "Chinese or Japanese name",
        ),
    ] = None,
) -> Response:
    """Resolve a GS1 Digital Link (AI 01 GTIN, AI 10 lot) to the lot's page or JSON; ``?linkType=``
    and ``Accept: application/linkset+json`` as a GS1-Conformant Resolver (api/routes/gs1_resolver.py)."""
    linked = gs1_resolver.lot_answer(request, svc, gtin, lot, lang)
    if linked is not None:
        return linked
    response = await _resolve(gtin, lot, request, svc, lang)
    gs1_resolver.add_lot_links(response, request, svc, gtin, lot, lang)
    return response


async def _resolve(gtin: str, lot: str, request: Request, svc: Svc, lang: str | None) -> Response:
    as_json = wants_json(request.headers.get("accept"))
    try:
        gtin14 = gs1.normalize_gtin(gtin)
        code = gs1.validate_lot_code(unquote(lot))
    except InputError as exc:
        if as_json:
            raise
        return await run_in_threadpool(_page, svc, request, lang, None, "invalid", status=400, message=str(exc))
    lot_id = f"{gtin14}.{code}"
    report, body = await svc.report_async(lot_id)
    if as_json:
        if report.verdict == "not_found":
            raise NotFound(f"no lot {lot_id!r}")
        data = {**await run_in_threadpool(svc.lot_json, lot_id), "verification": json.loads(body)}
        return Response(
            json.dumps(data, ensure_ascii=False, default=str).encode(),
            media_type="application/json",
            headers={"Vary": "Accept, Accept-Language", "Link": _links(lot_id)},
        )
    status = 404 if report.verdict == "not_found" else 200
    hit = _cached_page(request, lot_id, report, lang)
    if hit is not None:
        return hit
    return await run_in_threadpool(_page, svc, request, lang, lot_id, report.verdict, report=report, status=status)


def _page_key(request: Request, lot_id: str, report: Any, lang_param: str | None) -> tuple[Any, ...]:
    lang = pick_lang(lang_param, request.headers.get("accept-language"))
    names = name_lang(lang_param, request.headers.get("accept-language"))
    return (lot_id, report.tree_size, (report.anchor or {}).get("tree_size") or 0, report.verdict, names, lang)


def _cached_page(request: Request, lot_id: str, report: Any, lang_param: str | None) -> HTMLResponse | None:
    key = _page_key(request, lot_id, report, lang_param)
    hit = request.app.state.page_cache.get(key)
    if hit is None:
        return None
    status = 404 if report.verdict == "not_found" else 200
    return HTMLResponse(hit, status_code=status, headers=request.app.state.pages.headers(key[-1]))


def _links(lot_id: str) -> str:
    enc = quote(lot_id, safe=".")
    return f'</api/v1/lots/{enc}/verify>; rel="verify", </api/v1/lots/{enc}/bundle>; rel="bundle"'


def _page(
    svc: Svc,
    request: Request,
    lang_param: str | None,
    lot_id: str | None,
    verdict: str,
    *,
    report: Any = None,
    status: int = 200,
    message: str | None = None,
) -> HTMLResponse:
    pages: Pages = request.app.state.pages
    lang = pick_lang(lang_param, request.headers.get("accept-language"))
    key = _page_key(request, lot_id, report, lang_param) if lot_id is not None and report is not None else None
    t = TEXT[lang]
    names = name_lang(lang_param, request.headers.get("accept-language"))
    view = lot_view(svc, lot_id, report, lang, names) if lot_id and verdict != "not_found" else None
    v = verdict_view(
        svc,
        report,
        verdict if verdict in ("verified", "pending", "unverifiable", "tampered", "not_found") else "not_found",
        lang,
    )
    if verdict == "invalid":
        v.update(verdict="invalid", title=t["invalid"], text=message or "")
    links = None
    if lot_id and view:
        enc = quote(lot_id, safe=".")
        links = {"verify": f"/api/v1/lots/{enc}/verify", "bundle": f"/api/v1/lots/{enc}/bundle"}
    html = pages.render(
        "lot.html", lang=lang, other_lang="en" if lang == "vi" else "vi", t=t, view=view, verdict=v, links=links
    )
    if key is not None:
        request.app.state.page_cache.put(key, html)
    return HTMLResponse(html, status_code=status, headers=pages.headers(lang))


@router.head("/01/{gtin}/10/{lot:path}", include_in_schema=False)
async def lot_head(gtin: str, lot: str, request: Request, svc: Svc, lang: gs1_resolver.Lang = None) -> Response:
    """HEAD of the lot's Digital Link: the GET's status and headers, no body (a conformant resolver answers it)."""
    return gs1_resolver.bodiless(await resolve(gtin, lot, request, svc, lang))
