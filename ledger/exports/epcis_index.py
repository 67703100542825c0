"""Storage side of the EPCIS 2.0 query interface: the derived index and the event searches.

``epcis_event_index`` holds, per log entry, what a query filters on that ``log_entry`` has no
column for (the CBV 2.0 Event Hash ID, UTC event and record times, disposition, read point,
business location). It is derived, never signed, and filled by ``catch_up`` from the log before
each query, so the append path stays as it is. A search narrows with SQL (event type and business
step on ``log_entry``; times, disposition, locations and event id on the index; a lot named by an
EPC or class through the lot column or the event's JSON text), reads at most ``SCAN`` candidates,
exports them and keeps those ``epcis_query.matches`` accepts; a page cut short by the scan bound
still carries a next-page token, so every request costs bounded work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

from sqlalchemy import Connection, and_, func, insert, or_, select
from sqlalchemy.sql.elements import ColumnElement

from ledger.core import canonical
from ledger.errors import InputError, QueryError
from ledger.exports import epcis
from ledger.exports.epcis_query import EVENT_TYPES, EventQuery, ident, matches, utc_text, word
from ledger.store.models import EpcisEventIndex, LogEntry, Lot, Shipment

_entry = LogEntry.__table__  # type: ignore[attr-defined]
_index = EpcisEventIndex.__table__  # type: ignore[attr-defined]
# EPCIS events only: the log also holds format-v2 entries (organizations, keys, products, attestations, heads)
_IS_EVENT = _entry.c.event_type.in_(EVENT_TYPES)
_lot = Lot.__table__  # type: ignore[attr-defined]
_shipment = Shipment.__table__  # type: ignore[attr-defined]
SCAN = 1000  # candidate rows read per request at most
_CATCH_UP_CHUNK = 500


def behind(conn: Connection) -> bool:
    """Whether log entries exist that the index does not cover yet."""
    indexed = conn.execute(select(func.max(_index.c.entry_idx))).scalar()
    logged = conn.execute(select(func.max(_entry.c.idx)).where(_IS_EVENT)).scalar()
    return logged is not None and (indexed is None or int(indexed) < int(logged))


def catch_up(conn: Connection) -> int:
    """Index every log entry past the last indexed one; returns how many were added."""
    last = conn.execute(select(func.max(_index.c.entry_idx))).scalar()
    added = 0
    while True:
        after = -1 if last is None else int(last)
        q = select(_entry).where(_entry.c.idx > after, _IS_EVENT).order_by(_entry.c.idx)
        rows = list(conn.execute(q.limit(_CATCH_UP_CHUNK)))
        if not rows:
            return added
        conn.execute(insert(_index), [_index_row(r, ev) for r, ev in exported(conn, rows)])
        added += len(rows)
        last = rows[-1].idx


def _index_row(row: Any, ev: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "entry_idx": int(row.idx),
        "event_id": ev["eventID"],
        "event_time": _utc_or_text(ev.get("eventTime")),
        "record_time": _utc_or_text(ev.get("recordTime")),
        "disposition": word(str(ev["disposition"]))[:200] if "disposition" in ev else None,
        "read_point": ident(str(ev["readPoint"]["id"]))[:300] if "readPoint" in ev else None,
        "biz_location": ident(str(ev["bizLocation"]["id"]))[:300] if "bizLocation" in ev else None,
    }


def _utc_or_text(value: Any) -> str:
    """A stored time as UTC text; a legacy entry's odd time stays as written (an index never refuses a logged entry)."""
    try:
        return utc_text(str(value), "time")[:32]
    except QueryError:
        return str(value)[:32]


def exported(conn: Connection, rows: list[Any]) -> list[tuple[Any, dict[str, Any]]]:
    """Stored entries as the EPCIS 2.0 events the exports give (eventID = CBV 2.0 Event Hash ID)."""
    lots = {r.lot_id for r in rows}
    amounts = {
        str(x.lot_id): (x.quantity, x.unit)
        for x in conn.execute(select(_lot.c.lot_id, _lot.c.quantity, _lot.c.unit).where(_lot.c.lot_id.in_(lots)))
    }
    out = []
    for r in rows:
        ev = canonical.from_canonical(str(r.event).encode())
        out.append((r, epcis.with_hash_id(epcis.epcis_event(r, ev, amounts.get(str(r.lot_id))))))
    return out


def search(conn: Connection, q: EventQuery) -> tuple[list[dict[str, Any]], int | None]:
    """One page of events answering ``q`` and the log index the next page continues from (None: last page)."""
    sel = select(_entry, _index.c.event_time.label("x_event_time"), _index.c.record_time.label("x_record_time"))
    sel = sel.join(_index, _index.c.entry_idx == _entry.c.idx).where(*_filters(q))
    if q.after is not None:
        sel = sel.where(_entry.c.idx < q.after if q.descending else _entry.c.idx > q.after)
    order = _entry.c.idx.desc() if q.descending else _entry.c.idx
    rows = list(conn.execute(sel.order_by(order).limit(SCAN)))
    found: list[dict[str, Any]] = []
    last: int | None = None
    for r, ev in exported(conn, rows):
        last = int(r.idx)
        if matches(q, ev, r.x_record_time, r.x_event_time):
            found.append(ev)
            if len(found) == q.per_page:
                break
    more = len(rows) == SCAN or (len(found) == q.per_page and last != int(rows[-1].idx))
    return found, (last if more else None)


def _filters(q: EventQuery) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if q.event_types:
        out.append(_entry.c.event_type.in_(q.event_types))
    if "EQ_bizStep" in q.words:
        out.append(_entry.c.biz_step.in_(q.words["EQ_bizStep"]))
    if "EQ_disposition" in q.words:
        out.append(_index.c.disposition.in_(q.words["EQ_disposition"]))
    for name, col in (("EQ_readPoint", "read_point"), ("EQ_bizLocation", "biz_location"), ("EQ_eventID", "event_id")):
        if name in q.ids:
            out.append(_index.c[col].in_(q.ids[name]))
    for name, bound in q.times.items():
        col = _index.c.event_time if name.endswith("eventTime") else _index.c.record_time
        out.append(col >= bound if name.startswith("GE_") else col < bound)
    for wanted in q.match.values():
        lots = [lot for lot in (_lot_of(v) for v in wanted) if lot]
        if len(lots) == len(wanted):  # every value names a lot: the event names it too, or is about it
            out.append(or_(*(_names_lot(lot) for lot in lots)))
    return out


_DL_LOT = re.compile(r"https://id\.gs1\.org/01/(\d{14})/10/([^/?#]+)")


def _lot_of(uri: str) -> str | None:
    """The lot id (``GTIN-14.lot``) an EPC class names, if it names one (after Digital Link canonicalization)."""
    m = _DL_LOT.fullmatch(ident(uri))
    return f"{m[1]}.{unquote(m[2])}" if m else None


def _names_lot(lot: str) -> ColumnElement[bool]:
    needle = json.dumps(lot, ensure_ascii=False)
    return or_(_entry.c.lot_id == lot, and_(_entry.c.lot_id != lot, _entry.c.event.contains(needle, autoescape=True)))


def find(conn: Connection, event_id: str) -> dict[str, Any] | None:
    """The exported event with this CBV 2.0 Event Hash ID, or None."""
    sel = select(_entry).join(_index, _index.c.entry_idx == _entry.c.idx).where(_index.c.event_id == event_id)
    rows = list(conn.execute(sel.order_by(_entry.c.idx).limit(1)))
    return exported(conn, rows)[0][1] if rows else None


def distinct_values(conn: Connection, kind: str, offset: int, limit: int) -> list[str]:
    """A page of the read points, business locations or EPCs (lots as LGTIN classes, SSCCs) in the log."""
    if kind in ("readPoints", "bizLocations"):
        col = _index.c.read_point if kind == "readPoints" else _index.c.biz_location
        q = select(col).distinct().where(col.is_not(None)).order_by(col)
        return [str(v) for v in conn.execute(q.offset(offset).limit(limit)).scalars()]
    lots = [_lot_uri(str(v)) for v in conn.execute(select(_lot.c.lot_id).order_by(_lot.c.lot_id)).scalars()]
    ssccs = [f"https://id.gs1.org/00/{v}" for v in conn.execute(select(_shipment.c.sscc).order_by(_shipment.c.sscc))]
    return (lots + ssccs)[offset : offset + limit]


def _lot_uri(lot_id: str) -> str:
    try:
        return epcis.lot_class(lot_id)
    except InputError:  # a legacy malformed lot id
        return epcis.as_uri(lot_id, "lot")


def vocabulary(values: Iterable[str]) -> list[str]:
    return sorted(set(values))
