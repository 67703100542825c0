"""EPCIS 2.0 JSON-LD export of a lot's events, each with its CBV 2.0 Event Hash ID as eventID.

The stored events already use EPCIS 2.0 names; the export makes them valid against the GS1
EPCIS 2.0 JSON schema: quantities name their lot as an LGTIN class (the GS1 Digital Link
``https://id.gs1.org/01/{gtin}/10/{lot}``), identifiers that are not URIs become
``urn:ocop-ledger:…`` URIs, OCOP business steps (``ocop:harvesting``) and fields are JSON-LD
terms of the ``ocop`` prefix, and each event carries its log index and leaf hash
(``ocop:logIndex``, ``ocop:leafHash``) so it can be matched with its inclusion proof.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from ledger.core import gs1
from ledger.exports import data
from ledger.exports.event_hash import event_hash_id

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
OCOP_NS = "urn:ocop-ledger:voc:"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"ocop": OCOP_NS}]
_COPY = ("type", "eventTime", "eventTimeZoneOffset", "recordTime", "action", "bizStep", "disposition")
_EPCS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QTYS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_EXTRA = ("ocop:documents", "ocop:inputs", "ocop:note")


def lot_class(lot_id: str) -> str:
    """The LGTIN class of a lot as a GS1 Digital Link URI."""
    gtin, code = gs1.split_lot_id(lot_id)
    return f"https://id.gs1.org/01/{gtin}/10/{quote(code, safe='')}"


def as_uri(value: str, kind: str) -> str:
    """``value`` if it is already a URI (has a scheme), else ``urn:ocop-ledger:{kind}:{value}``."""
    scheme, sep, _ = value.partition(":")
    if sep and scheme.isascii() and scheme[:1].isalpha() and " " not in value and scheme != "ocop":
        return value
    return f"urn:ocop-ledger:{kind}:{quote(value, safe='')}"


def _quantity(q: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"epcClass": lot_class(q["lot"]) if "lot" in q else as_uri(q["epcClass"], "class")}
    out["quantity"] = q["quantity"]
    if "uom" in q:
        out["uom"] = q["uom"]
    return out


def _location(loc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": as_uri(str(loc["id"]), "location")}
    out |= {f"ocop:{k}": v for k, v in loc.items() if k != "id"}
    return out


def epcis_event(row: Any, ev: dict[str, Any]) -> dict[str, Any]:
    """One stored event as an EPCIS 2.0 JSON-LD event (without @context and eventID)."""
    out: dict[str, Any] = {k: ev[k] for k in _COPY if k in ev}
    for k in _EPCS:
        if k in ev:
            out[k] = [as_uri(e, "epc") for e in ev[k]]
    if "parentID" in ev:
        out["parentID"] = as_uri(ev["parentID"], "epc")
    for k in _QTYS:
        if k in ev:
            out[k] = [_quantity(q) for q in ev[k]]
    for k in ("readPoint", "bizLocation"):
        if k in ev:
            out[k] = _location(ev[k])
    if "bizTransactionList" in ev:
        out["bizTransactionList"] = [
            {"type": b["type"], "bizTransaction": as_uri(b["bizTransaction"], "biztransaction")}
            for b in ev["bizTransactionList"]
        ]
    for k, item in (("sourceList", "source"), ("destinationList", "destination")):
        if k in ev:
            out[k] = [{"type": s["type"], item: as_uri(str(s.get(item, "")), "party")} for s in ev[k]]
    if "ilmd" in ev:
        out["ilmd"] = dict(ev["ilmd"])
    if ev["type"] == "TransformationEvent" and not ev.get("outputQuantityList") and not ev.get("outputEPCList"):
        out["transformationID"] = f"urn:ocop-ledger:entry:{bytes(row.leaf_hash).hex()}"
    out |= {k: ev[k] for k in _EXTRA if k in ev}
    out["ocop:lot"] = row.lot_id
    out["ocop:logIndex"] = int(row.idx)
    out["ocop:leafHash"] = bytes(row.leaf_hash).hex()
    return out


def with_hash_id(event: dict[str, Any]) -> dict[str, Any]:
    """The event with ``eventID`` set to its CBV 2.0 Event Hash ID (eventID is not hashed)."""
    return {**event, "eventID": event_hash_id(event, CONTEXT)}


def document(events: list[dict[str, Any]], now: datetime | None = None) -> dict[str, Any]:
    created = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": created,
        "epcisBody": {"eventList": events},
    }


def lot_document(
    conn: Connection, lot_id: str, *, upstream: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """The EPCIS document of a lot's events (and, with ``upstream``, of its input lots), log order."""
    lots = data.lots_for(conn, lot=lot_id, upstream=upstream)
    rows = sorted((r for lot in data.load_lots(conn, lots) for r in lot.entries), key=lambda re: int(re[0].idx))
    return document([with_hash_id(epcis_event(r, ev)) for r, ev in rows], now)


def shipment_document(conn: Connection, sscc: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The EPCIS document of every event of the lots in a shipment and of their input lots."""
    lots = data.lots_for(conn, sscc=sscc)
    rows = sorted((r for lot in data.load_lots(conn, lots) for r in lot.entries), key=lambda re: int(re[0].idx))
    return document([with_hash_id(epcis_event(r, ev)) for r, ev in rows], now)
