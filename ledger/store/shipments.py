"""Shipments: lots packed into a logistic unit identified by an SSCC, and unpacked again.

Packing records one signed ``AggregationEvent`` (action ADD, bizStep ``packing``) on each lot's
chain with ``parentID`` = the SSCC's GS1 Digital Link (``https://id.gs1.org/00/{sscc}``) and the
lot in ``childQuantityList``; unpacking records the same with action DELETE. Which lots a
shipment holds is derived from those signed events, in log order, never from a table: the
``shipment`` row only keeps master data (owner, description, destination).
Shipping and receiving are ObjectEvents on every lot in the shipment, naming the SSCC in
``epcList``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from ledger.core import canonical, gs1
from ledger.errors import InputError, NotFound
from ledger.store import log as store
from ledger.store.append import Submission, append
from ledger.store.db import read_tx, write_tx
from ledger.store.models import LogEntry, Lot, Organization, Shipment

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]
_shipment = Shipment.__table__  # type: ignore[attr-defined]
SSCC_URI = "https://id.gs1.org/00/"


def sscc_uri(sscc: str) -> str:
    """The SSCC as the GS1 Digital Link URI used in ``parentID`` and ``epcList``."""
    return SSCC_URI + gs1.validate_sscc(sscc)


def sscc_from_uri(value: str) -> str | None:
    """The SSCC in an ``https://id.gs1.org/00/{sscc}`` Digital Link, or None for anything else."""
    if isinstance(value, str) and value.startswith(SSCC_URI) and len(value) == len(SSCC_URI) + 18:
        return value[len(SSCC_URI) :]
    return None


@dataclass(frozen=True)
class Member:
    lot_id: str
    quantity: float | None
    uom: str | None
    packed_at_index: int
    packed_time: str

    def to_json(self) -> dict[str, Any]:
        return {
            "lot": self.lot_id,
            "quantity": self.quantity,
            "uom": self.uom,
            "packed_at_index": self.packed_at_index,
            "packed_time": self.packed_time,
        }


def aggregation_entries(conn: Connection, sscc: str) -> list[Any]:
    """The stored AggregationEvents whose signed parentID is this SSCC, in log order."""
    uri = sscc_uri(sscc)
    q = (
        select(_entry)
        .where(_entry.c.event_type == "AggregationEvent", _entry.c.event.like(f'%"parentID":"{uri}"%'))
        .order_by(_entry.c.idx)
    )
    out = []
    for row in conn.execute(q):
        ev = canonical.from_canonical(str(row.event).encode())
        if ev.get("parentID") == uri:
            out.append((row, ev))
    return out


def members(conn: Connection, sscc: str) -> list[Member]:
    """The lots in the shipment now: replay its signed ADD and DELETE aggregation events."""
    inside: dict[str, Member] = {}
    for row, ev in aggregation_entries(conn, sscc):
        if ev.get("action") == "DELETE":
            inside.pop(row.lot_id, None)
        elif ev.get("action") == "ADD":
            q: dict[str, Any] = next((c for c in ev.get("childQuantityList", []) if c.get("lot") == row.lot_id), {})
            inside[row.lot_id] = Member(row.lot_id, q.get("quantity"), q.get("uom"), int(row.idx), ev["eventTime"])
    return list(inside.values())


def get_shipment(conn: Connection, sscc: str) -> dict[str, Any]:
    gs1.validate_sscc(sscc)
    row = conn.execute(select(_shipment).where(_shipment.c.sscc == sscc)).first()
    inside = members(conn, sscc)
    if row is None and not aggregation_entries(conn, sscc):
        raise NotFound(f"no shipment with SSCC {sscc}")
    org = conn.execute(select(_org.c.slug, _org.c.name).where(_org.c.id == row.org_id)).first() if row else None
    return {
        "sscc": sscc,
        "uri": sscc_uri(sscc),
        "owner": {"slug": org.slug, "name": org.name} if org else None,
        "description": row.description if row else None,
        "destination": row.destination if row else None,
        "lots": [m.to_json() for m in inside],
    }


def _ensure_shipment(conn: Connection, org_id: int, sscc: str, description: str | None, now: Any) -> None:
    if conn.execute(select(_shipment.c.sscc).where(_shipment.c.sscc == sscc)).first() is None:
        conn.execute(insert(_shipment).values(sscc=sscc, org_id=org_id, description=description, created_at=now))


def _lot_quantity(conn: Connection, lot: str) -> tuple[float | None, str | None]:
    row = conn.execute(select(_lot.c.quantity, _lot.c.unit).where(_lot.c.lot_id == lot)).first()
    if row is None:
        raise InputError(f"unknown lot {lot!r}", field="lots")
    return row.quantity, row.unit


def _child(conn: Connection, item: str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(item, str):
        item = {"lot": item}
    lot = str(item.get("lot"))
    qty, uom = item.get("quantity"), item.get("uom")
    if qty is None:
        qty, uom = _lot_quantity(conn, lot)
    out: dict[str, Any] = {"lot": lot}
    if qty is not None:
        out |= {"quantity": qty, "uom": uom or "KGM"}
    else:
        out |= {"quantity": 1, "uom": "H87"}
    return out


def check_lots(lots: Any, *, mappings: bool) -> None:
    """``lots`` is a non-empty list of lot ids (and, when packing, ``{"lot", "quantity", "uom"}`` objects)."""
    want = "lot ids or {'lot', 'quantity', 'uom'} objects" if mappings else "lot ids"
    if not isinstance(lots, Sequence) or isinstance(lots, str) or not lots:
        raise InputError(f"lots: expected a non-empty list of {want}, got {lots!r:.60}", field="lots")
    for i, item in enumerate(lots):
        if not (isinstance(item, str) and item) and not (mappings and isinstance(item, Mapping)):
            raise InputError(f"lots.{i}: expected one of {want}, got {item!r:.60}", field=f"lots.{i}")


def pack(
    ledger: Any,
    org: str | int,
    sscc: str,
    lots: Sequence[str | Mapping[str, Any]],
    *,
    event_time: str,
    read_point: Mapping[str, Any] | None = None,
    description: str | None = None,
    role: str | None = None,
) -> list[dict[str, Any]]:
    """Pack lots into the shipment: one signed AggregationEvent (ADD) per lot, all or nothing.

    ``role`` is the caller's API-key role (None: the organization itself); ``ledger.core.policy``
    decides in the append path, as for ``/events``."""
    return _aggregate(ledger, org, sscc, lots, "ADD", "packing", event_time, read_point, description, role)


def unpack(
    ledger: Any,
    org: str | int,
    sscc: str,
    lots: Sequence[str] | None = None,
    *,
    event_time: str,
    read_point: Mapping[str, Any] | None = None,
    role: str | None = None,
) -> list[dict[str, Any]]:
    """Take lots (default: all) out of the shipment: one AggregationEvent (DELETE) per lot.

    The organization that packed a lot may unpack it, whoever owns the lot (``ledger.core.policy``)."""
    if lots is not None:
        check_lots(lots, mappings=False)
    with read_tx(ledger.engine) as conn:
        inside = {m.lot_id: m for m in members(conn, sscc)}
    chosen = list(inside) if lots is None else list(lots)
    missing = [lot for lot in chosen if lot not in inside]
    if missing or not chosen:
        raise InputError(f"not in shipment {sscc}: expected one of {sorted(inside)}, got {missing or chosen}")
    items = [{"lot": lot, "quantity": inside[lot].quantity, "uom": inside[lot].uom} for lot in chosen]
    return _aggregate(ledger, org, sscc, items, "DELETE", "unpacking", event_time, read_point, None, role)


def _aggregate(
    ledger: Any,
    org: str | int,
    sscc: str,
    lots: Sequence[str | Mapping[str, Any]],
    action: str,
    step: str,
    event_time: str,
    read_point: Mapping[str, Any] | None,
    description: str | None,
    role: str | None,
) -> list[dict[str, Any]]:
    uri = sscc_uri(sscc)
    check_lots(lots, mappings=True)
    if read_point is not None and not isinstance(read_point, Mapping):
        raise InputError(
            f"read_point: expected an object like {{'id': 'urn:ocop:loc:…'}}, got {type(read_point).__name__}",
            field="read_point",
        )
    with write_tx(ledger.engine) as conn:
        org_id = ledger._org_id(conn, org)
        items = []
        for item in lots:
            child = _child(conn, item)
            ev: dict[str, Any] = {
                "type": "AggregationEvent",
                "action": action,
                "bizStep": step,
                "eventTime": event_time,
                "parentID": uri,
                "childQuantityList": [child],
            }
            if read_point:
                ev["readPoint"] = dict(read_point)
            items.append({"lot": child["lot"], "event": ev})
        now = ledger.clock()
        if action == "ADD":
            _ensure_shipment(conn, org_id, sscc, description, now)
        subs = [Submission.from_json(it, i, org_id, role) for i, it in enumerate(items)]
        return append(conn, subs, ledger.keyring, now)


def move(
    ledger: Any,
    org: str | int,
    sscc: str,
    step: str,
    *,
    event_time: str,
    location: Mapping[str, Any] | None = None,
    party: str | None = None,
    documents: Sequence[Mapping[str, Any]] = (),
    biz_transactions: Sequence[Mapping[str, Any]] = (),
    role: str | None = None,
) -> list[dict[str, Any]]:
    """Record ``shipping`` or ``receiving`` of the whole shipment: one ObjectEvent per lot in it.

    ``location`` is where it happened (readPoint); ``party`` is the ship-to (shipping) or the
    ship-from (receiving) location description, kept in the destination or source list.
    """
    if step not in ("shipping", "receiving"):
        raise InputError(f"step must be shipping or receiving, got {step!r}", field="step")
    with read_tx(ledger.engine) as conn:
        inside = members(conn, sscc)
    if not inside:
        raise InputError(f"shipment {sscc} holds no lots: pack lots first", field="sscc")
    items = []
    for m in inside:
        ev: dict[str, Any] = {
            "type": "ObjectEvent",
            "action": "OBSERVE",
            "bizStep": step,
            "disposition": "in_transit" if step == "shipping" else "in_progress",
            "eventTime": event_time,
            "epcList": [sscc_uri(sscc)],
            "quantityList": [{"lot": m.lot_id, "quantity": m.quantity or 1, "uom": m.uom or "H87"}],
        }
        if location:
            ev["readPoint"] = dict(location)
        if party:
            kind, key = ("destinationList", "destination") if step == "shipping" else ("sourceList", "source")
            ev[kind] = [{"type": "location", key: party}]
        if documents:
            ev["ocop:documents"] = [dict(d) for d in documents]
        if biz_transactions:
            ev["bizTransactionList"] = [dict(b) for b in biz_transactions]
        items.append({"lot": m.lot_id, "event": ev})
    return list(ledger.record(org, items, role=role))


# CBV 2.0 business transaction types (bizTransaction types) a shipment's reference documents may have
BIZ_TRANSACTION_TYPES = frozenset("bol cert desadv inv pedigree po poc prodorder recadv rma testprd testevt".split())


def reference_documents(items: Sequence[Any]) -> list[dict[str, str]]:
    """Reference documents as ``bizTransactionList`` items, from ``"TYPE:NUMBER"`` texts or
    ``{"type", "number"}`` objects; the type is a CBV business transaction type."""
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            kind, sep, number = item.partition(":")
        elif isinstance(item, Mapping):
            kind, sep, number = str(item.get("type", "")), ":", str(item.get("number", "") or "")
        else:
            kind, sep, number = "", "", ""
        kind = kind.strip().lower()
        if not sep or kind not in BIZ_TRANSACTION_TYPES or not number.strip():
            raise InputError(
                f"documents.{i}: expected TYPE:NUMBER with TYPE one of {sorted(BIZ_TRANSACTION_TYPES)}, got {item!r}",
                field=f"documents.{i}",
            )
        out.append({"type": kind, "bizTransaction": number.strip()})
    return out


def location_arg(text: str) -> dict[str, str]:
    """``ID`` or ``ID=NAME`` as a location (readPoint)."""
    ident, _, name = text.partition("=")
    if not ident.strip():
        raise InputError(f"location: expected ID or ID=NAME, got {text!r}", field="location")
    return {"id": ident.strip()} | ({"name": name.strip()} if name.strip() else {})


def shipments_of_lot(conn: Connection, lot_id: str) -> list[str]:
    """The SSCCs a lot was ever packed into, in log order."""
    out: list[str] = []
    for row in store.lot_entries(conn, lot_id):
        if row.event_type != "AggregationEvent":
            continue
        s = sscc_from_uri(canonical.from_canonical(str(row.event).encode()).get("parentID", ""))
        if s and s not in out:
            out.append(s)
    return out
