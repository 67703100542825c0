"""A shipment's GS1 Digital Link ``/00/{sscc}``: the shipment page for browsers, JSON on request;
and its proof bundle ``/api/v1/shipments/{sscc}/bundle``.

Mounted before ``api.routes.exports`` (which also answers ``/00/{sscc}`` with JSON when used on
its own), so that the app negotiates. Which lots a shipment holds comes from the signed
AggregationEvents (``ledger.store.shipments``); each lot's verdict is the cached per-lot verdict.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from api.deps import Svc
from api.errors import error_response
from api.headers import attachment
from api.i18n import TEXT, pick_lang
from api.page import Pages, shipment_view, verdict_view
from api.routes.resolver import wants_json
from api.schemas import errors
from api.services import Services
from ledger.core import gs1
from ledger.errors import InputError, NotFound

router = APIRouter(tags=["digital link"])


def _page_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Error responses of a route that answers browsers with an HTML page and others with JSON."""
    out = errors(*codes)
    for entry in out.values():
        entry["content"] = {"application/json": {}, "text/html": {}}
    return out


def overall_verdict(verdicts: list[str]) -> str:
    """``tampered`` if any lot is, ``verified`` only if every lot is (and there is one), ``unverifiable``
    if the chain could not be asked for any lot, else ``pending``."""
    if "tampered" in verdicts:
        return "tampered"
    if "unverifiable" in verdicts:
        return "unverifiable"
    if verdicts and all(v == "verified" for v in verdicts):
        return "verified"
    return "pending"


def shipment_data(svc: Services, sscc: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The shipment JSON (as ``/api/v1/shipments/{sscc}``) and each lot's verification report."""
    data = svc.ledger.shipment(sscc)
    reports = {m["lot"]: svc.report(m["lot"])[0] for m in data["lots"]}
    verdicts = [r.verdict for r in reports.values()]
    data["verdict"] = overall_verdict(verdicts)
    data["lot_verdicts"] = {lot: r.verdict for lot, r in reports.items()}
    return data, reports


@router.get(
    "/00/{sscc}",
    responses={
        200: {
            "content": {"text/html": {}, "application/json": {"example": {"sscc": "089300000000000017"}}},
            "description": "the shipment page for browsers; the shipment with its lots' verdicts for JSON",
        },
        **_page_errors(400, 404, 429),
    },
)
def resolve_sscc(
    sscc: str,
    request: Request,
    svc: Svc,
    lang: Annotated[str | None, Query(max_length=10, description="page language: vi (default) or en")] = None,
) -> Response:
    """Resolve a GS1 Digital Link of a logistic unit (AI 00, SSCC) to the shipment's page or JSON."""
    as_json = wants_json(request.headers.get("accept"))
    try:
        gs1.validate_sscc(sscc)
    except InputError as exc:
        if as_json:
            return error_response(400, "invalid_sscc", str(exc))
        return _page(svc, request, lang, None, {}, "invalid", status=400, message=str(exc))
    try:
        data, reports = shipment_data(svc, sscc)
    except NotFound:
        if as_json:
            raise
        return _page(svc, request, lang, None, {}, "not_found", status=404)
    if as_json:
        body = json.dumps(data, ensure_ascii=False, default=str).encode()
        return Response(
            body,
            media_type="application/json",
            headers={"Vary": "Accept, Accept-Language", "Link": f'</api/v1/shipments/{sscc}/bundle>; rel="bundle"'},
        )
    return _page(svc, request, lang, data, reports, str(data["verdict"]))


def _page(
    svc: Services,
    request: Request,
    lang_param: str | None,
    data: dict[str, Any] | None,
    reports: dict[str, Any],
    verdict: str,
    *,
    status: int = 200,
    message: str | None = None,
) -> HTMLResponse:
    pages: Pages = request.app.state.pages
    lang = pick_lang(lang_param, request.headers.get("accept-language"))
    t = TEXT[lang]
    view = shipment_view(svc, data, reports, lang) if data is not None else None
    newest = max(reports.values(), key=lambda r: (r.anchor or {}).get("tree_size") or 0, default=None)
    v = verdict_view(svc, newest, "not_found" if verdict == "invalid" else verdict, lang)
    v.pop("failure", None)  # per lot, shown in the list
    v["text"] = t[f"ship_{verdict}_long"] if f"ship_{verdict}_long" in t else v["text"]
    if verdict == "invalid":
        v.update(verdict="invalid", title=t["invalid"], text=message or "")
    links = None
    if data is not None:
        sscc = data["sscc"]
        links = {"json": f"/api/v1/shipments/{sscc}", "bundle": f"/api/v1/shipments/{sscc}/bundle"}
    html = pages.render(
        "shipment.html", lang=lang, other_lang="en" if lang == "vi" else "vi", t=t, view=view, verdict=v, links=links
    )
    return HTMLResponse(html, status_code=status, headers=pages.headers(lang))


@router.get(
    "/api/v1/shipments/{sscc}/bundle",
    tags=["lots"],
    responses={
        200: {"description": "proof bundle, format ocop-ledger-bundle version 2, kind shipment (docs/bundle.md)"},
        **errors(404, 409, 422),
    },
)
def shipment_bundle(sscc: str, svc: Svc) -> JSONResponse:
    """One self-contained proof bundle of every lot in the shipment and every lot they were made from,
    all proven to one anchored tree head. 409 until every lot's newest entry is anchored."""
    gs1.validate_sscc(sscc)
    return JSONResponse(svc.shipment_bundle(sscc), headers=attachment(f"bundle-{sscc}.json"))
