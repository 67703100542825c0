"""EPCIS 2.0 capture: an ``EPCISDocument``'s events mapped to ledger events on lots (pure).

Each event is recorded on one lot, found (first match wins) from:

1. an explicit ``"ocop:lot": "<GTIN-14>.<lot code>"`` on the event;
2. GS1 Digital Link URIs with a lot (``…/01/{gtin}/10/{lot}``, any host) or LGTIN class URNs
   (``urn:epc:class:lgtin:{company prefix}.{indicator+item ref}.{lot}``) in the event's
   ``quantityList``/``epcList`` (object events), ``childQuantityList``/``childEPCs``
   (aggregation events) or ``outputQuantityList``/``outputEPCList`` (transformation events).

The inputs of a transformation are named the same way in ``inputQuantityList`` (their
``epcClass``); the ledger links each to its input lot's head. Fields the ledger owns
(``recordTime``) and JSON-LD bookkeeping (``@context``, ``@id``, ``ocop:lot``) are dropped;
everything else must be a field the ledger accepts, or the event is reported.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from ledger.core import gs1
from ledger.errors import InputError

EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransformationEvent")
_LGTIN = re.compile(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)")
_DROP = ("@context", "@id", "ocop:lot", "recordTime", "transformationID", "outputEPCList")
_LOT_SOURCES = {
    "ObjectEvent": ("quantityList", "epcList"),
    "AggregationEvent": ("childQuantityList", "childEPCs"),
    "TransformationEvent": ("outputQuantityList", "outputEPCList"),
}


def lot_from_uri(uri: str) -> str | None:
    """The lot id named by a Digital Link URI or an LGTIN URN; None if the URI names no lot."""
    m = _LGTIN.fullmatch(uri)
    if m:
        prefix, ref, lot = m.groups()
        if len(prefix) + len(ref) != 13:
            raise InputError(f"LGTIN {uri!r}: company prefix and item reference must have 13 digits together")
        body = ref[0] + prefix + ref[1:]
        return gs1.lot_id(body + str(gs1.check_digit(body)), unquote(lot))
    path = urlsplit(uri).path if "://" in uri else ""
    segs = path.split("/")
    try:
        i = segs.index("01")
    except ValueError:
        return None
    rest = segs[i:]
    keys = dict(zip(rest[0::2], rest[1::2], strict=False))
    if "01" not in keys or "10" not in keys:
        return None
    return gs1.lot_id(keys["01"], unquote(keys["10"]))


def _lots_in(event: dict[str, Any], qty_field: str, epc_field: str) -> list[str]:
    found: list[str] = []
    for q in event.get(qty_field) or []:
        if isinstance(q, dict) and isinstance(q.get("epcClass"), str):
            lot = lot_from_uri(q["epcClass"])
            if lot:
                found.append(lot)
    for epc in event.get(epc_field) or []:
        if isinstance(epc, str):
            lot = lot_from_uri(epc)
            if lot:
                found.append(lot)
    return list(dict.fromkeys(found))


def map_event(event: Any, where: str) -> dict[str, Any]:
    """One EPCIS event as a ledger batch item ``{"lot": id, "event": {...}}``; raise ``InputError``."""
    if not isinstance(event, dict):
        raise InputError(f"{where}: expected an event object, got {type(event).__name__}", field=where)
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        raise InputError(f"{where}.type: expected one of {', '.join(EVENT_TYPES)}, got {kind!r}", field=f"{where}.type")
    explicit = event.get("ocop:lot")
    if explicit is not None:
        if not isinstance(explicit, str):
            raise InputError(f"{where}.ocop:lot: expected a lot id string", field=f"{where}.ocop:lot")
        gtin, code = gs1.split_lot_id(explicit)
        lot = f"{gtin}.{code}"
    else:
        lots = _lots_in(event, *_LOT_SOURCES[kind])
        if len(lots) != 1:
            what = "no lot" if not lots else f"{len(lots)} lots ({', '.join(lots)})"
            raise InputError(
                f"{where}: cannot tell which lot this event is about: found {what}; "
                "name one lot with a Digital Link URI (…/01/{gtin}/10/{lot}) or 'ocop:lot'",
                field=where,
            )
        lot = lots[0]
    out = {k: v for k, v in event.items() if k not in _DROP}
    if kind == "TransformationEvent":
        out["inputQuantityList"] = [_with_lot(q) for q in event.get("inputQuantityList") or []]
        if not out["inputQuantityList"]:
            out.pop("inputQuantityList")
    return {"lot": lot, "event": out}


def _with_lot(q: Any) -> Any:
    if isinstance(q, dict) and "lot" not in q and isinstance(q.get("epcClass"), str):
        lot = lot_from_uri(q["epcClass"])
        if lot:
            return {**q, "lot": lot}
    return q


def map_document(doc: Any) -> list[dict[str, Any]]:
    """All events of an ``EPCISDocument`` as ledger items; every mapping error listed at once."""
    if not isinstance(doc, dict) or doc.get("type") != "EPCISDocument":
        raise InputError('expected an EPCIS 2.0 JSON-LD document with "type": "EPCISDocument"', field="type")
    body = doc.get("epcisBody")
    events = body.get("eventList") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events:
        raise InputError("epcisBody.eventList: expected a non-empty list of events", field="epcisBody.eventList")
    items, errors = [], []
    for i, ev in enumerate(events):
        where = f"epcisBody.eventList.{i}"
        try:
            items.append(map_event(ev, where))
        except InputError as exc:
            errors.append({"index": i, "field": exc.field or where, "message": str(exc)})
    if errors:
        raise InputError(
            f"{len(errors)} event(s) cannot be captured; first: {errors[0]['message']}",
            field=str(errors[0]["field"]),
            details=errors,
        )
    return items
