"""Authority pages (issues 11 and 14): issue attestations about a product, lot or plot, revoke its
own; the product page and the "who vouches" lines that producers and exporters see.

Attestations go through ``ConsoleTools.attest_as`` / ``revoke_own`` (the facade's ``attest`` and
``revoke_attestation``). The vouching lines use the scan page's own wording (``api.page``), so a
producer reads in the console exactly what a buyer reads on the package's page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from api.console.attest_form import ABOUT_TYPES, CLAIM_TYPES, attestation_from_form
from api.console.forms import text
from api.console.web import PREFIX, Web, account_of, guarded, lang_of, render, to_signin, web
from api.i18n import TEXT as PAGE_TEXT
from api.page import attested_view, signed_product
from ledger.errors import InputError, LedgerError, NotFound, PermissionDenied
from ledger.service.console import Account

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _attest_page(
    request: Request, who: Account, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    try:
        mine = web(request).console.my_attestations(who)
    except PermissionDenied as exc:
        return render(request, "error.html", 403, who=who, message=str(exc), code=exc.code)
    ctx: dict[str, Any] = {"about_types": ABOUT_TYPES, "claim_types": CLAIM_TYPES, "mine": mine}
    ctx |= {"done": request.query_params.get("done"), "revoked": request.query_params.get("revoked")}
    return render(request, "attest.html", status, who=who, form=form, errors=errors, **ctx)


@router.get("/attest")
def attest_page(request: Request) -> Response:
    """An authority's attestations, and the form for a new one (``?type=&id=`` fill in the subject)."""
    who = account_of(request)
    if who is None:
        return to_signin(request)
    q = request.query_params
    form = {"about_type": q.get("type", "product")[:10], "about_id": q.get("id", "")[:100], "claim_type": ""}
    return _attest_page(request, who, form, {})


@router.post("/attest")
async def attest(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        console = web(request).console
        console.require_authority(who)  # a producer or exporter attests nothing (403), whatever it sends
        values, about, claim, errors = attestation_from_form(form)
        if about is not None and claim is not None:
            try:
                done = console.attest_as(who, about, claim)
            except InputError as exc:
                errors = {exc.field if exc.field in ("about_id",) else "form": str(exc)}
            else:
                return RedirectResponse(f"{PREFIX}/attest?done={quote(done['subject'], safe='')}", status_code=303)
        return _attest_page(request, who, values, errors, 422)

    return await guarded(request, handle)


@router.post("/attest/revoke")
async def revoke(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        subject = text(form, "subject", 200)
        web(request).console.revoke_own(who, subject)  # another authority's: 404; already revoked: 409
        return RedirectResponse(f"{PREFIX}/attest?revoked={quote(subject, safe='')}", status_code=303)

    return await guarded(request, handle)


# --- who vouches for what: producers and exporters ------------------------------------------


def vouch_lines(w: Web, lot_id: str, lang: str) -> list[dict[str, str]]:
    """Each fact about the lot and who vouches for it, in the scan page's words and from the same
    sources: "attested by X" for what an authority signed; the product's stars and certificates as
    signed at the lot's commissioning, "declared by the producer" (or by the operator's migration)."""
    report, _ = w.svc.report(lot_id)
    product, declared_by = signed_product(w.console.ledger.get_product(lot_id[:14]), report, lang)
    rated = w.console.rating_vouched(lot_id, product)
    return attested_view(w.svc, lot_id, lang) + _declared(product, declared_by, rated_by=rated["by"])


def _declared(product: dict[str, Any], by: str | None, rated_by: str | None) -> list[dict[str, str]]:
    """The producer's own stars (unless an authority rated it) and certificates, with who declared them."""
    if by is None:
        return []
    lines = []
    if product.get("ocop_stars") and rated_by is None:
        year = f" ({product['ocop_year']})" if product.get("ocop_year") else ""
        lines.append({"fact": f"OCOP {product['ocop_stars']}★{year}", "by": by})
    for c in product.get("certifications") or []:
        number = f" {c['certificate_no']}" if c.get("certificate_no") else ""
        lines.append({"fact": f"{c.get('scheme', '')}{number}", "by": by})
    return lines


def product_facts(w: Web, product: dict[str, Any], lang: str) -> dict[str, Any]:
    """Who vouches for a product's facts (its newest version in the log, else its row), and its versions."""
    t = PAGE_TEXT[lang]
    gtin = str(product["gtin"])
    found = w.console.product_attestations(gtin)
    attested = [
        {
            "fact": t[f"claim_{a['claim']['type']}"].format(**a["claim"]),
            "by": f"{t['attested_by']} {a['authority_name']}",
        }
        for a in found
    ]
    versions = w.console.product_versions(gtin)
    current = versions[0] if versions else product
    by = t["declared_by_operator" if current.get("migrated") else "declared_by_producer"]
    rated = next((a["authority_name"] for a in found if a["claim"]["type"] == "ocop_rating"), None)
    return {"vouch": attested + _declared(current, by, rated), "versions": versions}


@router.get("/product")
def product_page(request: Request) -> Response:
    """One of the organization's products: who vouches for its facts, and its master data versions."""
    who = account_of(request)
    if who is None:
        return to_signin(request)
    w = web(request)
    gtin = request.query_params.get("gtin", "")[:14]
    try:
        product = w.console.own_product(who, gtin)
    except (NotFound, PermissionDenied, InputError) as exc:
        return render(request, "error.html", 404, who=who, message=f"no product {gtin!r} in {who.org_name}",
                      code=getattr(exc, "code", "not_found"))  # fmt: skip
    facts = product_facts(w, product, lang_of(request))
    return render(request, "product.html", who=who, product=product, vid="product", **facts)


def lot_vouching(request: Request, w: Web, lot_id: str) -> dict[str, Any]:
    """For a lot page: who vouches for each fact, and its product's versions."""
    try:
        vouch = vouch_lines(w, lot_id, lang_of(request))
    except LedgerError:  # no such lot or product: nothing vouched for
        return {"vouch": [], "versions": []}
    return {"vouch": vouch, "versions": w.console.product_versions(lot_id[:14])}
