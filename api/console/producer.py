"""Producer pages: home (products, lots, verdicts, what waits for an anchor), new product, new lot,
the lot page with one tap per usual step, and the event form (quantity, place, note, photos)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from api.console.authority import lot_vouching
from api.console.forms import NET_UNITS, event_from_form, lot_from_form, product_from_form
from api.console.i18n import STEPS, UNITS
from api.console.web import PREFIX, account_of, guarded, render, to_signin, wants_json, web
from api.deps import require
from api.page import lot_path
from ledger.errors import ConflictError, InputError, NotFound
from ledger.service.console import Account

router = APIRouter(prefix=PREFIX, include_in_schema=False)
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.")


def lot_url(lot_id: str) -> str:
    return f"{PREFIX}/lot?id={quote(lot_id, safe='')}"


@router.get("")
def home(request: Request) -> Response:
    who = account_of(request)
    if who is None:
        return to_signin(request)
    if who.org_kind == "authority":  # an authority has no lots: its home is its attestations
        return RedirectResponse(f"{PREFIX}/attest", status_code=303)
    w = web(request)
    lots = w.console.lots(who.org_id, limit=30)  # each needs a verdict: the newest 30
    for lot in lots:
        report, _ = w.svc.report(str(lot["lot_id"]))
        lot["verdict"] = report.verdict
        lot["url"] = lot_url(str(lot["lot_id"]))
    _, size, anchored = w.svc.verdict_key("")
    return render(
        request, "home.html", who=who, products=w.console.products(who.org_id), lots=lots, waiting=size - anchored
    )


@router.get("/products/new")
def product_page(request: Request) -> Response:
    who = account_of(request)
    if who is None:
        return to_signin(request)
    return render(request, "product_new.html", who=who, form={"net_unit": "GRM"}, errors={}, units=NET_UNITS)


@router.post("/products/new")
async def create_product(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        require(web(request).console.principal(who), "producer")
        values, data, images, errors = await product_from_form(form)
        console = web(request).console
        if data is not None:
            try:
                for n, image in enumerate(images):
                    try:
                        console.store_photo(image)  # the product's entry signs its hash
                    except InputError as exc:
                        raise InputError(f"image {n + 1}: {exc}", field="images") from exc
                console.ledger.create_product(who.org_id, data)
            except InputError as exc:
                errors = {_product_field(exc.field): str(exc)}
        if errors:
            status = 409 if _dup(errors) else 422
            return render(request, "product_new.html", status, who=who, form=values, errors=errors, units=NET_UNITS)
        return RedirectResponse(f"{PREFIX}/lots/new?gtin={data.gtin if data else ''}", status_code=303)

    return await guarded(request, handle)


def _product_field(field: str | None) -> str:
    """The form field an input error belongs to (``images.0`` -> ``images``; ``net_content.unit`` -> its top)."""
    return (field or "form").split(".")[0]


def _dup(errors: dict[str, str]) -> bool:
    return "exists already" in errors.get("gtin", "")


@router.get("/lots/new")
def lot_page(request: Request) -> Response:
    who = account_of(request)
    if who is None:
        return to_signin(request)
    form = {"gtin": request.query_params.get("gtin", ""), "unit": "KGM"}
    return _lot_form(request, who, form, {})


def _lot_form(
    request: Request, who: Account, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    products = web(request).console.products(who.org_id)
    return render(request, "lot_new.html", status, who=who, form=form, errors=errors, products=products, units=UNITS)


@router.post("/lots/new")
async def create_lot(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        console = web(request).console
        require(console.principal(who), "producer")
        values, data, errors = await lot_from_form(form)
        if data is not None:
            try:
                console.own_product(who, data.gtin)
                console.ledger.create_lot(who.org_id, data)
            except NotFound:
                errors = {"gtin": f"no product with GTIN {data.gtin}"}
            except InputError as exc:
                errors = {_lot_field(exc): str(exc)}
        if errors or data is None:
            return _lot_form(request, who, values, errors, 409 if "exists" in str(errors) else 422)
        return RedirectResponse(lot_url(data.lot_id), status_code=303)

    return await guarded(request, handle)


def _lot_field(exc: InputError) -> str:
    f = exc.field or ""
    if "lot" in f or "already" in str(exc):
        return "code"
    return f.split(".")[-1] if f else "form"


@router.get("/lot")
def lot_detail(request: Request) -> Response:
    who = account_of(request)
    if who is None:
        return to_signin(request)
    w = web(request)
    lot_id = request.query_params.get("id", "")
    try:
        w.console.own_lot(who, lot_id)
    except NotFound as exc:
        return render(request, "error.html", 404, who=who, message=str(exc), code=exc.code)
    report, _ = w.svc.report(lot_id)
    data = w.svc.lot_json(lot_id)
    events = [_event_view(w, e["entry"]["event"], e["seq"]) for e in reversed(data["entries"])]
    ctx: dict[str, Any] = {"lot": data, "verdict": report.verdict, "events": events, "steps": STEPS}
    ctx |= {"scan_url": lot_path(lot_id), "step_urls": {s: _event_url(lot_id, s) for s in STEPS}}
    ctx |= lot_vouching(request, w, lot_id) | {"vid": "lot"}
    return render(request, "lot.html", who=who, **ctx)


def _event_url(lot_id: str, step: str) -> str:
    return f"{PREFIX}/event?lot={quote(lot_id, safe='')}&step={quote(step, safe='')}"


def _event_view(w: Any, ev: dict[str, Any], seq: int) -> dict[str, Any]:
    photos = [
        {"sha256": d["sha256"], "state": w.console.photo_state(d["sha256"])}
        for d in ev.get("ocop:documents", [])
        if d.get("type") == "photo"
    ]
    q = (ev.get("quantityList") or [{}])[0]
    return {
        "seq": seq,
        "step": ev.get("bizStep"),
        "when": str(ev.get("eventTime", ""))[:16].replace("T", " "),
        "quantity": f"{q['quantity']:g} {q['uom']}" if q.get("quantity") else None,
        "place": (ev.get("bizLocation") or {}).get("name"),
        "note": ev.get("ocop:note"),
        "photos": photos,
    }


@router.get("/event")
def event_page(request: Request) -> Response:
    who = account_of(request)
    if who is None:
        return to_signin(request)
    lot_id = request.query_params.get("lot", "")
    try:
        lot = web(request).console.own_lot(who, lot_id)
    except NotFound as exc:
        return render(request, "error.html", 404, who=who, message=str(exc), code=exc.code)
    step = request.query_params.get("step", "")
    form = {"step": step if step in STEPS else "", "unit": str(lot.get("unit") or "KGM")}
    return _event_form(request, who, lot_id, form, {})


def _event_form(
    request: Request, who: Account, lot_id: str, form: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    import secrets

    ctx = {"lot_id": lot_id, "steps": STEPS, "units": UNITS, "idem": form.get("idem") or secrets.token_urlsafe(16)}
    return render(request, "event_new.html", status, who=who, form=form, errors=errors, lot_url=lot_url(lot_id), **ctx)


@router.post("/event")
async def record_event(request: Request) -> Response:
    async def handle(form: FormData, who: Account | None) -> Response:
        assert who is not None
        w = web(request)
        lot_id = str(form.get("lot") or "")[:40]
        key = _idempotency_key(request, form)
        values, event, photos, errors = await event_from_form(form, lot_id, who.org_slug, w.console.ledger.clock())
        values["idem"] = key or ""
        try:
            for p in photos:
                w.console.check_photo(p)
        except InputError as exc:
            errors["photos"] = str(exc)
        if event is None or errors:
            return _refused(request, who, lot_id, values, errors)
        for p in photos:  # content-addressed: a photo of a refused event is an unreferenced file, not a fact
            w.console.store_photo(p)
        try:  # ledger.core.policy decides in the append path, with the same role an API key would have
            role = w.console.principal(who).role
            recorded = w.console.record_event(who.org_id, lot_id, event, idempotency_key=key, role=role)
        except ConflictError:
            raise  # a clash with stored state (409 page), not a field to fix
        except InputError as exc:
            return _refused(request, who, lot_id, values, {"form": str(exc)})
        if wants_json(request):
            return JSONResponse({"recorded": recorded, "lot": lot_id}, status_code=201)
        return RedirectResponse(lot_url(lot_id) + "&recorded=1", status_code=303)

    return await guarded(request, handle)


def _refused(request: Request, who: Account, lot_id: str, values: dict[str, str], errors: dict[str, str]) -> Response:
    if wants_json(request):
        field, message = next(iter(errors.items()))
        return JSONResponse({"error": {"code": "invalid_input", "message": f"{field}: {message}"}}, status_code=422)
    return _event_form(request, who, lot_id, values, errors, 422)


def _idempotency_key(request: Request, form: FormData) -> str | None:
    """The ``Idempotency-Key`` header (the offline queue sends one per submission), else the form's own."""
    raw = request.headers.get("idempotency-key") or form.get("idem")
    if not isinstance(raw, str) or not raw:
        return None
    if len(raw) > 100 or not set(raw) <= _KEY_CHARS:
        raise InputError("Idempotency-Key: expected 1-100 letters, digits or -_:., got something else", field="idem")
    return raw
