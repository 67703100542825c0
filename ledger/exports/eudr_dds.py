"""EU Deforestation Regulation: the data of a due diligence statement (DDS) for a lot or a shipment.

What an operator enters in the EU information system for each commodity it places on the market or
exports (Regulation (EU) 2023/1115, Annex II and Article 33): the HS heading and description, the
quantity (net mass in kilograms, and the unit the ledger recorded), the country of production, the
geolocation of every plot (the GeoJSON of ``ledger.exports.eudr``) and the producers. Every value comes
from the ledger's signed entries; each lot carries its log index and leaf hash so the statement can be
checked against the ledger's proofs.

Only Annex I commodities have a statement: a product whose category is not one of them (``coffee``
is; dragon fruit is not) is refused with ``InputError``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ledger.errors import InputError
from ledger.exports import data, eudr

REGULATION = "Regulation (EU) 2023/1115"
HS_HEADINGS: dict[str, tuple[str, str]] = {
    "coffee": ("0901", "Coffee, whether or not roasted or decaffeinated; coffee husks and skins"),
    "cocoa": ("1801", "Cocoa beans, whole or broken, raw or roasted"),
    "rubber": ("4001", "Natural rubber, in primary forms or in plates, sheets or strip"),
    "soya": ("1201", "Soya beans, whether or not broken"),
    "palm oil": ("1511", "Palm oil and its fractions"),
    "wood": ("4403", "Wood in the rough"),
    "cattle": ("0102", "Live bovine animals"),
}
"""Product category → HS heading of Annex I (the heading; the operator may declare a finer code)."""
_TO_KG = {"KGM": 1.0, "TNE": 1000.0, "GRM": 0.001}


def _heading(lot: data.LotEvents) -> tuple[str, str]:
    category = (lot.category or "").strip().lower()
    if category not in HS_HEADINGS:
        raise InputError(
            f"EUDR: lot {lot.lot_id} is {lot.product!r} of category {lot.category!r}, not a commodity of "
            f"{REGULATION} Annex I: expected one of {sorted(HS_HEADINGS)}",
            field="category",
        )
    return HS_HEADINGS[category]


def _net_mass_kg(lots: list[data.LotEvents]) -> float | None:
    """The lots' net mass in kg, or None when a lot's quantity is not a mass."""
    total = 0.0
    for lot in lots:
        if lot.quantity is None or lot.unit not in _TO_KG:
            return None
        total += float(lot.quantity) * _TO_KG[lot.unit]
    return round(total, 3)


def _ledger_ref(lot: data.LotEvents) -> dict[str, Any]:
    first = lot.entries[0][0]
    return {"lot": lot.lot_id, "logIndex": int(first.idx), "leafHash": bytes(first.leaf_hash).hex()}


def _producers(raw: list[data.LotEvents]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for lot in raw:
        seen.setdefault(
            lot.producer, {"name": lot.producer, "country": eudr.COUNTRY, "province": lot.producer_province}
        )
    return list(seen.values())


def statement(conn: Connection, *, lot: str | None = None, sscc: str | None = None) -> dict[str, Any]:
    """The DDS data for a lot or a shipment: commodity, quantity, country, geolocation, producers."""
    placed = data.load_lots(conn, data.lots_for(conn, lot=lot, sscc=sscc, upstream=False))
    hs, description = _heading(placed[0])
    for other in placed[1:]:
        if _heading(other)[0] != hs:
            raise InputError(f"EUDR: lots of different HS headings in one statement: {hs} and {_heading(other)[0]}")
    raw = eudr.raw_lots(conn, lot=lot, sscc=sscc)
    units = {le.unit for le in placed}
    return {
        "regulation": REGULATION,
        "subject": {"lot": lot} if lot else {"sscc": sscc},
        "commodity": {
            "hsHeading": hs,
            "description": description,
            "tradeName": placed[0].product,
            "netMassKg": _net_mass_kg(placed),
            "quantity": sum(float(le.quantity or 0) for le in placed) if len(units) == 1 else None,
            "unit": units.pop() if len(units) == 1 else None,
            "countryOfProduction": eudr.COUNTRY,
        },
        "producers": _producers(raw),
        "geolocation": eudr.collection_of(raw),
        "ledger": {"placed": [_ledger_ref(le) for le in placed], "plots": [_ledger_ref(le) for le in raw]},
    }
