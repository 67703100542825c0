"""Transformation lineage: which lots a lot was made from (up) and what was made from it (down).

The links come from ``lot_link`` rows, written in the append transaction of every
TransformationEvent (``ocop:inputs``); quantities come from the signed events themselves
(``inputQuantityList`` / ``outputQuantityList``), so what is shown is what was signed.
Both directions are walked breadth-first with a visited set: O(edges) reads, cycles impossible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select

from ledger.core import canonical
from ledger.errors import InputError, NotFound
from ledger.store.models import LogEntry, Lot, LotLink, Product

_link = LotLink.__table__  # type: ignore[attr-defined]
_entry = LogEntry.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_CHUNK = 400
Direction = Literal["up", "down"]


@dataclass(frozen=True)
class Edge:
    """``output_lot`` was made from ``input_lot`` by the entry at ``entry_idx``."""

    input_lot: str
    output_lot: str
    entry_idx: int
    event_time: str
    biz_step: str
    input_quantity: float | None
    input_uom: str | None
    output_quantity: float | None
    output_uom: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _links(conn: Connection, lots: Iterable[str], direction: Direction) -> list[Any]:
    col = _link.c.output_lot if direction == "up" else _link.c.input_lot
    ids = sorted(set(lots))
    out: list[Any] = []
    for i in range(0, len(ids), _CHUNK):
        out += conn.execute(select(_link).where(col.in_(ids[i : i + _CHUNK])).order_by(_link.c.entry_idx))
    return out


def _events(conn: Connection, idxs: Iterable[int]) -> dict[int, Any]:
    ids = sorted(set(idxs))
    out: dict[int, Any] = {}
    for i in range(0, len(ids), _CHUNK):
        q = select(_entry.c.idx, _entry.c.event, _entry.c.event_time, _entry.c.biz_step).where(
            _entry.c.idx.in_(ids[i : i + _CHUNK])
        )
        out.update({int(r.idx): r for r in conn.execute(q)})
    return out


def _quantity(items: list[dict[str, Any]], lot: str, fallback_first: bool) -> tuple[float | None, str | None]:
    for q in items:
        if q.get("lot") == lot:
            return q.get("quantity"), q.get("uom")
    if fallback_first and len(items) == 1:
        return items[0].get("quantity"), items[0].get("uom")
    return None, None


def edges(conn: Connection, lot_id: str, direction: Direction = "up", max_depth: int = 64) -> list[tuple[int, Edge]]:
    """Every (depth, edge) reachable from ``lot_id`` in ``direction``, breadth-first."""
    if direction not in ("up", "down"):
        raise InputError(f"direction must be up or down, got {direction!r}", field="direction")
    seen = {lot_id}
    frontier = [lot_id]
    out: list[tuple[int, Edge]] = []
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        rows = _links(conn, frontier, direction)
        events = _events(conn, (int(r.entry_idx) for r in rows))
        nxt: list[str] = []
        for r in rows:
            ev_row = events.get(int(r.entry_idx))
            ev = canonical.from_canonical(str(ev_row.event).encode()) if ev_row is not None else {}
            iq, iu = _quantity(ev.get("inputQuantityList", []), r.input_lot, False)
            oq, ou = _quantity(ev.get("outputQuantityList", []), r.output_lot, True)
            out.append(
                (
                    depth,
                    Edge(
                        r.input_lot,
                        r.output_lot,
                        int(r.entry_idx),
                        str(ev.get("eventTime", "")),
                        str(ev.get("bizStep", "")),
                        iq,
                        iu,
                        oq,
                        ou,
                    ),
                )
            )
            other = r.input_lot if direction == "up" else r.output_lot
            if other not in seen:
                seen.add(other)
                nxt.append(other)
        frontier = nxt
    return out


def related_lots(conn: Connection, lot_ids: Iterable[str], direction: Direction = "up") -> list[str]:
    """The given lots and every lot reachable from them, in first-seen order."""
    order: list[str] = []
    for lot in lot_ids:
        if lot not in order:
            order.append(lot)
        for _, e in edges(conn, lot, direction):
            other = e.input_lot if direction == "up" else e.output_lot
            if other not in order:
                order.append(other)
    return order


def lot_summaries(conn: Connection, lot_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = sorted(set(lot_ids))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), _CHUNK):
        q = (
            select(_lot, _product.c.name_vi, _product.c.name_en, _product.c.gtin)
            .join(_product, _product.c.id == _lot.c.product_id)
            .where(_lot.c.lot_id.in_(ids[i : i + _CHUNK]))
        )
        for r in conn.execute(q):
            out[r.lot_id] = {
                "lot_id": r.lot_id,
                "gtin": r.gtin,
                "product": r.name_en or r.name_vi,
                "product_vi": r.name_vi,
                "quantity": r.quantity,
                "unit": r.unit,
            }
    return out


def lineage(conn: Connection, lot_id: str, direction: Direction = "up", max_depth: int = 64) -> dict[str, Any]:
    """The lineage of a lot as JSON: the lots (with depth) and the edges with quantities."""
    if conn.execute(select(_lot.c.id).where(_lot.c.lot_id == lot_id)).first() is None:
        raise NotFound(f"no lot {lot_id!r}")
    found = edges(conn, lot_id, direction, max_depth)
    depth_of = {lot_id: 0}
    for d, e in found:
        depth_of.setdefault(e.input_lot if direction == "up" else e.output_lot, d)
    info = lot_summaries(conn, depth_of)
    return {
        "lot": lot_id,
        "direction": direction,
        "lots": [{**info.get(k, {"lot_id": k}), "depth": d} for k, d in depth_of.items()],
        "edges": [e.to_json() | {"depth": d} for d, e in found],
    }
