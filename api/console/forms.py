"""Console forms to ledger inputs: values typed are kept for redisplay, errors are named per field.

Each ``*_from_form`` returns ``(values, result, errors)``: ``values`` are what the person typed
(shown again when the form is refused), ``result`` the validated input or None, ``errors`` a map
from form field to the ledger's message (the page shows the plain-words help for that field).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from api.console.i18n import STEPS, UNITS
from ledger.core.events import normalize_event
from ledger.core.plots import area_ha, plot_from_file
from ledger.core.records import LotCreate, ProductCreate, validate_geometry
from ledger.errors import InputError

VN = timezone(timedelta(hours=7))
MAX_PHOTOS = 6
_MODEL_FIELDS = ("ocop_stars", "ocop_year", "quantity", "unit", "harvest_end", "harvest_start")
Errors = dict[str, str]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text(form: FormData, name: str, limit: int = 2000) -> str:
    """A text field, trimmed, without control characters (a NUL would be refused by PostgreSQL)."""
    value = form.get(name)
    return _CONTROL.sub("", value).strip()[: limit + 1] if isinstance(value, str) else ""


def _optional(values: Mapping[str, str], *names: str) -> dict[str, Any]:
    return {n: values[n] for n in names if values.get(n)}


def errors_of(exc: ValidationError) -> Errors:
    """Pydantic's errors by form field; a model-level error goes to the field it names."""
    out: Errors = {}
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        field = loc[0] if loc else next((f for f in _MODEL_FIELDS if f in err["msg"]), "form")
        out.setdefault(field, str(err["msg"]))
    return out


def _number(values: dict[str, str], name: str, errors: Errors) -> float | None:
    raw = values.get(name, "").replace(",", ".").replace(" ", "")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        errors[name] = f"expected a number, got {values[name]!r}"
        return None


# --- products -------------------------------------------------------------------------------


NET_UNITS = ("GRM", "KGM", "MLT", "LTR", "H87")  # the net-content units the form offers (UN/ECE Rec. 20)
MAX_PRODUCT_IMAGES = 6


async def product_from_form(form: FormData) -> tuple[dict[str, str], ProductCreate | None, list[bytes], Errors]:
    """The product a form describes, and its images' bytes (their SHA-256 are in ``images``)."""
    names = ("gtin", "name_vi", "name_en", "name_zh", "name_ja", "category", "brand", "ocop_stars", "ocop_year")
    values = {n: text(form, n, 300) for n in (*names, "net_value", "net_unit")}
    errors: Errors = {}
    data: dict[str, Any] = _optional(values, *names)
    data.setdefault("gtin", "")
    data.setdefault("name_vi", "")
    net = _number(values, "net_value", errors)
    if "net_value" in errors:
        errors["net_content"] = errors.pop("net_value")
    elif net is not None:  # the unit menu always sends a value: it only counts with a number
        data["net_content"] = {"value": int(net) if net.is_integer() else net, "unit": values["net_unit"]}
    images = await _files(form, "images", MAX_PRODUCT_IMAGES, errors)
    data["images"] = [hashlib.sha256(b).hexdigest() for b in images]
    try:
        product = ProductCreate.model_validate(data)
    except ValidationError as exc:
        return values, None, images, {**errors_of(exc), **errors}
    return values, (None if errors else product), images, errors


# --- lots -----------------------------------------------------------------------------------


async def lot_from_form(form: FormData) -> tuple[dict[str, str], LotCreate | None, Errors]:
    names = ("gtin", "code", "origin_province", "origin_commune", "quantity", "unit", "harvest_start", "harvest_end")
    values = {n: text(form, n, 300) for n in (*names, "lat", "lon", "plot_area_ha")}
    values["plot_geojson"] = text(form, "plot_geojson", 200_000)
    errors: Errors = {}
    data: dict[str, Any] = _optional(values, *names)
    data.setdefault("gtin", "")
    data.setdefault("code", "")
    quantity = _number(values, "quantity", errors)
    if quantity is not None:
        data["quantity"] = quantity
    elif not values["quantity"]:
        data.pop("unit", None)  # the unit menu always sends a value: it only counts with a quantity
    plot = await _plot(form, values, errors)
    if plot is not None:
        data["plot"] = plot
        area = _number(values, "plot_area_ha", errors) or area_ha(plot)
        if area:
            data["plot_area_ha"] = area
    try:
        lot = LotCreate.model_validate(data)
    except ValidationError as exc:
        return values, None, {**errors_of(exc), **errors}
    return values, (None if errors else lot), errors


async def _plot(form: FormData, values: dict[str, str], errors: Errors) -> dict[str, Any] | None:
    upload = form.get("plot_file")
    if isinstance(upload, UploadFile) and upload.filename:
        try:
            return plot_from_file(await upload.read(1024 * 1024 + 1))
        except InputError as exc:
            errors["plot_file"] = str(exc)
            return None
    if values.get("plot_geojson"):  # a boundary walked with the phone (console.js)
        try:
            return plot_from_file(values["plot_geojson"].encode())
        except InputError as exc:
            errors["plot_file"] = str(exc)
            return None
    lat, lon = values.get("lat"), values.get("lon")
    if not lat and not lon:
        return None
    try:
        return validate_geometry({"type": "Point", "coordinates": [float(lon or "x"), float(lat or "x")]})
    except ValueError as exc:
        errors["gps"] = str(exc)
        return None


# --- events ---------------------------------------------------------------------------------


async def event_from_form(
    form: FormData, lot_id: str, org_slug: str, now: datetime
) -> tuple[dict[str, str], dict[str, Any] | None, list[bytes], Errors]:
    """The event a form describes, and its photos' bytes (their hashes are in the event)."""
    names = ("step", "event_time", "quantity", "unit", "place", "note")
    values = {n: text(form, n) for n in names}
    errors: Errors = {}
    if values["step"] not in STEPS:
        errors["step"] = f"expected one of {', '.join(STEPS)}, got {values['step']!r}"
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": values["step"],
        "eventTime": _event_time(values["event_time"], now, errors),
    }
    quantity = _number(values, "quantity", errors)
    if quantity is not None:
        if values["unit"] not in UNITS:
            errors["unit"] = f"expected one of {', '.join(UNITS)}, got {values['unit']!r}"
        event["quantityList"] = [{"lot": lot_id, "quantity": quantity, "uom": values["unit"]}]
    if values["place"]:
        slug = re.sub(r"[^a-z0-9]+", "-", values["place"].lower()).strip("-")[:40] or "place"
        event["bizLocation"] = {"id": f"urn:ocop:place:{org_slug}:{slug}", "name": values["place"][:200]}
    if values["note"]:
        event["ocop:note"] = values["note"]
    photos = await _photos(form, errors)
    if photos:
        event["ocop:documents"] = [
            {"type": "photo", "sha256": hashlib.sha256(p).hexdigest(), "name": f"photo-{i + 1}"}
            for i, p in enumerate(photos)
        ]
    if not errors:
        try:
            normalize_event(event, now=now)
        except InputError as exc:
            errors[_event_field(exc.field)] = str(exc)
    return values, (None if errors else event), photos, errors


def _event_time(raw: str, now: datetime, errors: Errors) -> str:
    if not raw:
        return now.astimezone(VN).replace(microsecond=0).isoformat()
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        errors["event_time"] = f"expected a date and time like 2026-07-03T06:30, got {raw!r}"
        return raw
    t = t.replace(tzinfo=VN) if t.tzinfo is None else t
    if t.astimezone(UTC) > now + timedelta(minutes=10):
        errors["event_time"] = f"the time {raw} is in the future"
    return t.replace(microsecond=0).isoformat()


async def _photos(form: FormData, errors: Errors) -> list[bytes]:
    return await _files(form, "photos", MAX_PHOTOS, errors)


async def _files(form: FormData, name: str, limit: int, errors: Errors) -> list[bytes]:
    files = [f for f in form.getlist(name) if isinstance(f, UploadFile) and f.filename]
    if len(files) > limit:
        errors[name] = f"expected at most {limit} photos, got {len(files)}"
        return []
    return [await f.read() for f in files]


def _event_field(field: str | None) -> str:
    f = field or ""
    for key, name in (("quantityList", "quantity"), ("eventTime", "event_time"), ("bizLocation", "place")):
        if key in f:
            return name
    return "note" if "note" in f else "form"
