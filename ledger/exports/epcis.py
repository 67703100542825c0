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
from ledger.errors import InputError
from ledger.exports import data, gs1_voc
from ledger.exports.event_hash import event_hash_id

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
OCOP_NS = "urn:ocop-ledger:voc:"
CONTEXT: list[Any] = [EPCIS_CONTEXT, {"ocop": OCOP_NS}]
_COPY = (
    "type", "eventTime", "eventTimeZoneOffset", "recordTime", "action", "bizStep", "disposition",
    "persistentDisposition", "errorDeclaration",
)  # fmt: skip
_EPCS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_QTYS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_EXTRA = ("ocop:documents", "ocop:inputs", "ocop:note")
_SENSOR_URIS = frozenset(
    "deviceID deviceMetadata rawData dataProcessingMethod bizRules microorganism chemicalSubstance uriValue "
    "coordinateReferenceSystem".split()
)
_SENSOR_WORDS = {"type": gs1_voc.MEASUREMENT_TYPES, "exception": gs1_voc.EXCEPTIONS, "component": gs1_voc.COMPONENTS}


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


def _lot_or_urn(lot_id: str) -> str:
    try:
        return lot_class(lot_id)
    except InputError:  # a legacy entry's malformed lot id: still an identifier, not a failed export
        return as_uri(str(lot_id), "lot")


def _epc_class(q: dict[str, Any], lot_id: str) -> str:
    """A quantity's class; one naming neither a lot nor a class counts the event's own lot."""
    if "epcClass" in q and "lot" not in q:
        return as_uri(str(q["epcClass"]), "class")
    return _lot_or_urn(q.get("lot") or lot_id)


def _quantity(q: dict[str, Any], lot_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {"epcClass": _epc_class(q, lot_id)}
    out["quantity"] = q["quantity"]
    if "uom" in q:
        out["uom"] = q["uom"]
    return out


def _sensor_value(key: str, value: Any) -> Any:
    """Sensor fields the schema types as URIs or GS1 words: anything else becomes an ``urn:ocop-ledger`` URI."""
    if not isinstance(value, str):
        return value
    if key in _SENSOR_WORDS and value not in _SENSOR_WORDS[key]:
        return as_uri(value, "voc")
    return as_uri(value, "sensor") if key in _SENSOR_URIS else value


def _sensor_element(element: dict[str, Any]) -> dict[str, Any]:
    out = dict(element)
    if "sensorMetadata" in out:
        out["sensorMetadata"] = {k: _sensor_value(k, v) for k, v in out["sensorMetadata"].items()}
    out["sensorReport"] = [{k: _sensor_value(k, v) for k, v in r.items()} for r in out.get("sensorReport", [])]
    return out


def _location(loc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": as_uri(str(loc["id"]), "location")}
    out |= {f"ocop:{k}": v for k, v in loc.items() if k != "id"}
    return out


def _what(ev: dict[str, Any], out: dict[str, Any], lot_id: str, amount: tuple[Any, Any] | None) -> None:
    """Name the lot as the event's object when the caller gave neither EPCs nor quantities.

    The GS1 schema wants every ObjectEvent, AggregationEvent and TransformationEvent to say what it
    is about; an event recorded with the lot only in ``ocop:lot`` (the README's cooling and packing)
    gets the lot as a class-level quantity (LGTIN Digital Link) with the lot's recorded quantity, or,
    when the lot has no recorded quantity, an empty ``epcList`` (allowed for an ObjectEvent).
    """
    key = {"ObjectEvent": "quantityList", "AggregationEvent": "childQuantityList"}.get(ev["type"], "outputQuantityList")
    lists = {"ObjectEvent": ("epcList", "quantityList"), "AggregationEvent": ("childEPCs", "childQuantityList")}
    if any(out.get(k) for k in lists.get(ev["type"], ("outputEPCList", "outputQuantityList"))):
        return
    if ev["type"] == "TransformationEvent" and out.get("transformationID"):
        return
    if amount is not None and amount[0] is not None:
        unit = {"uom": amount[1]} if amount[1] else {}
        out[key] = [{"epcClass": _lot_or_urn(lot_id), "quantity": amount[0]} | unit]
    elif ev["type"] == "ObjectEvent":
        out["epcList"] = []
    elif ev["type"] == "AggregationEvent":
        out["childEPCs"] = [_lot_or_urn(lot_id)]


def epcis_event(row: Any, ev: dict[str, Any], amount: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """One stored event as an EPCIS 2.0 JSON-LD event (without @context and eventID).

    ``amount`` is the lot's recorded (quantity, unit), used when the event names no object.
    """
    out: dict[str, Any] = {k: ev[k] for k in _COPY if k in ev}
    for k in _EPCS:
        if k in ev:
            target = "inputEPCList" if k == "epcList" and ev["type"] == "TransformationEvent" else k
            out[target] = [as_uri(e, "epc") for e in ev[k]]
    if "parentID" in ev:
        out["parentID"] = as_uri(ev["parentID"], "epc")
    for k in _QTYS:
        if k in ev:
            out[k] = [_quantity(q, row.lot_id) for q in ev[k]]
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
    if "sensorElementList" in ev:
        out["sensorElementList"] = [_sensor_element(e) for e in ev["sensorElementList"]]
    if "certificationInfo" in ev:  # the EPCIS 2.0 context's term; this schema revision lists it under no name
        out["epcis:certificationInfo"] = ev["certificationInfo"]
    if "ilmd" in ev:  # the schema allows ilmd only on ADD (commissioning); elsewhere it stays an extension
        out["ilmd" if ev.get("action", "ADD") == "ADD" else "ocop:ilmd"] = dict(ev["ilmd"])
    if ev["type"] == "TransformationEvent" and not ev.get("outputQuantityList") and not ev.get("outputEPCList"):
        out["transformationID"] = f"urn:ocop-ledger:entry:{bytes(row.leaf_hash).hex()}"
    _what(ev, out, row.lot_id, amount)
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
    return _events_document(conn, data.lots_for(conn, lot=lot_id, upstream=upstream), now)


def shipment_document(conn: Connection, sscc: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The EPCIS document of every event of the lots in a shipment and of their input lots."""
    return _events_document(conn, data.lots_for(conn, sscc=sscc), now)


def _events_document(conn: Connection, lot_ids: list[str], now: datetime | None) -> dict[str, Any]:
    """Every event of these lots, in log order, each with its lot's recorded quantity at hand."""
    rows = sorted(
        ((r, ev, (lot.quantity, lot.unit)) for lot in data.load_lots(conn, lot_ids) for r, ev in lot.entries),
        key=lambda item: int(item[0].idx),
    )
    return document([with_hash_id(epcis_event(r, ev, amount)) for r, ev, amount in rows], now)
