"""Exporter and operator pages: shipments (pack, ship or receive, unpack) with their downloads, CSV
import with errors by row and column, a printable lot label, and the operator's overview."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData, UploadFile

from api.console.authority import lot_vouching
from api.console.forms import VN, text
from api.console.web import PREFIX, account_of, guarded, render, to_signin, web
from api.page import lot_path
from ledger.errors import InputError, NotFound, PermissionDenied
from ledger.service.console import Account

router = APIRouter(prefix=PREFIX, include_in_schema=False)
VN_OFFSET = "+07:00"


def _when(form: FormData, now: datetime) -> str:
    raw = text(form, "event_time", 40)
    if not raw:
        return now.astimezone(VN).replace(microsecond=0).isoformat()
    return raw + (":00" if len(raw) == 16 else "") + VN_OFFSET if re.fullmatch(r"[\d\-T:]{16,19}", raw) else raw


def _sscc(form: FormData) -> str:
    return re.sub(r"\s", "", text(form, "sscc", 40))


def downloads(sscc: str) -> list[tuple[str, str]]:
    q = quote(sscc, safe="")
    return [
        ("FSMA 204 (CSV)", f"/api/v1/exports/fsma204?sscc={q}&format=csv"),
        ("FSMA 204 (XLSX)", f"/api/v1/exports/fsma204?sscc={q}&format=xlsx"),
        ("EUDR (GeoJSON)", f"/api/v1/exports/eudr?sscc={q}"),
        ("EPCIS 2.0 (JSON-LD)", f"/api/v1/shipments/{q}/epcis"),
        ("Certificate / Chứng nhận (PDF)", f"/api/v1/shipments/{q}/certificate.pdf"),
        ("Proof bundle / Gói bằng chứng (JSON)", f"/api/v1/shipments/{q}/bundle"),
    ]


def _shipments(request: Request, who: Account, status: int = 200, **ctx: Any) -> Response:
    sscc = str(ctx.pop("sscc", None) or request.query_params.get("sscc", ""))[:40]
    shipment = None
    if sscc:
        try:
            shipment = web(request).console.shipment(sscc)
        except (NotFound, InputError) as exc:
            ctx.setdefault("errors", {"sscc": str(exc)})
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {"sscc": sscc})
    if shipment:  # each lot's facts and who vouches for them, as its scan page says
        for m in shipment["lots"]:
            m["vouch"] = _lot_vouch(request, str(m["lot"]))
    links = downloads(sscc) if shipment else []
    return render(request, "shipments.html", status, who=who, shipment=shipment, links=links, **ctx)


def _lot_vouch(request: Request, lot_id: str) -> dict[str, Any]:
    return lot_vouching(request, web(request), lot_id)


@router.get("/shipments")
def shipments_page(request: Request) -> Response:
    who = account_of(request)
    return to_signin(request) if who is None else _shipments(request, who)


def _shipment_action(request: Request, action: str) -> Any:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        console = web(request).console
        sscc, when = _sscc(form), _when(form, console.ledger.clock())
        values = {k: text(form, k, 4000) for k in ("sscc", "lots", "description", "party", "ref", "step")}
        try:
            if action == "pack":
                lots = [line.strip() for line in values["lots"].splitlines() if line.strip()]
                console.pack(who, sscc, lots, when, values["description"] or None)
            elif action == "move":
                console.move(who, sscc, values["step"], when, values["party"] or None, values["ref"] or None)
            else:
                console.unpack(who, sscc, when)
        except InputError as exc:
            field = (
                "sscc" if "sscc" in (exc.field or "") or "SSCC" in str(exc) else "lots" if action == "pack" else "form"
            )
            return _shipments(request, who, 422, sscc="", form=values, errors={field: str(exc)}, action=action)
        return RedirectResponse(f"{PREFIX}/shipments?sscc={quote(sscc, safe='')}", status_code=303)

    return handle


@router.post("/shipments/pack")
async def pack(request: Request) -> Response:
    return await guarded(request, _shipment_action(request, "pack"))


@router.post("/shipments/move")
async def move(request: Request) -> Response:
    return await guarded(request, _shipment_action(request, "move"))


@router.post("/shipments/unpack")
async def unpack(request: Request) -> Response:
    return await guarded(request, _shipment_action(request, "unpack"))


@router.get("/import")
def import_page(request: Request) -> Response:
    who = account_of(request)
    return to_signin(request) if who is None else render(request, "import.html", who=who, rows=None, recorded=None)


@router.post("/import")
async def import_csv(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        upload = form.get("csv")
        raw = await upload.read(5 * 1024 * 1024) if isinstance(upload, UploadFile) else b""
        try:
            recorded = web(request).console.import_csv(who, raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            rows = [{"row": 0, "column": "-", "message": "the file is not UTF-8 text"}]
            return render(request, "import.html", 422, who=who, rows=rows, recorded=None)
        except InputError as exc:
            rows = list(exc.details) or [{"row": 0, "column": "-", "message": str(exc)}]
            return render(request, "import.html", 422, who=who, rows=rows, recorded=None)
        return render(request, "import.html", 201, who=who, rows=None, recorded=len(recorded))

    return await guarded(request, handle)


@router.get("/label")
def label(request: Request) -> Response:
    """A printable sheet of the lot's label (QR, product, lot, 'Quét để kiểm tra / Scan to verify')."""
    who = account_of(request)
    if who is None:
        return to_signin(request)
    lot_id = request.query_params.get("id", "")
    try:
        lot = web(request).console.own_lot(who, lot_id)
    except NotFound as exc:
        return render(request, "error.html", 404, who=who, message=str(exc), code=exc.code)
    product = web(request).console.ledger.get_product(lot_id[:14])
    qr = f"/api/v1/lots/{quote(lot_id, safe='')}/qr.svg"
    return render(request, "label.html", who=who, lot=lot, product=product, qr=qr, scan=lot_path(lot_id))


@router.get("/admin")
def admin(request: Request) -> Response:
    """The operator's overview: organizations, people, API keys, anchoring."""
    who = account_of(request)
    return to_signin(request) if who is None else _admin(request, who)


@router.post("/admin/reset-password")
async def reset_password(request: Request) -> Response:
    """The operator gives a person a new password (shown once): unlocked, signed out everywhere."""

    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        person, password = web(request).console.reset_password_for(who, text(form, "login", 254))
        return _admin(request, who, 201, reset={"login": person["login"], "password": password})

    return await guarded(request, handle)


def _admin(request: Request, who: Account, status: int = 200, **extra: Any) -> Response:
    w = web(request)
    try:
        orgs, people, keys = w.console.organizations(who), w.console.all_people(who), w.console.all_api_keys(who)
    except PermissionDenied as exc:
        return render(request, "error.html", 403, who=who, message=str(exc), code=exc.code)
    _, size, anchored = w.svc.verdict_key("")
    chain = w.svc.chain_ids()
    ctx: dict[str, Any] = {"orgs": orgs, "people": people, "keys": keys, "size": size, "anchored": anchored}
    ctx["authorities"] = w.console.authorities(who)
    return render(request, "admin.html", status, who=who, chain=chain, **ctx, **extra)
