"""What the exports read from the store: lots with their product and producer, signed events.

Every value an export shows about a lot's origin comes from the *signed* commissioning event
(``ilmd``), not from the editable lot row, so an export never shows data the ledger cannot prove.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from ledger.core import canonical, gs1
from ledger.core.records import lot_fields_from_ilmd
from ledger.errors import InputError, NotFound
from ledger.store import lineage, shipments
from ledger.store import log as store
from ledger.store.models import Lot, Organization, Product

_lot = Lot.__table__  # type: ignore[attr-defined]
_org = Organization.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]


@dataclass
class LotEvents:
    """One lot: its signed master data, product, producer and its events in log order."""

    lot_id: str
    gtin: str
    code: str
    product_vi: str
    product_en: str | None
    category: str | None
    ocop_stars: int | None
    ocop_year: int | None
    producer: str
    producer_province: str | None
    origin: dict[str, Any]  # signed ilmd fields (origin, plot, harvest dates, growing area)
    quantity: float | None
    unit: str | None
    entries: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)  # (row, event)

    @property
    def product(self) -> str:
        return self.product_en or self.product_vi


def load_lot(conn: Connection, lot_id: str) -> LotEvents:
    q = (
        select(_lot, _product, _org.c.name.label("org_name"), _org.c.province.label("org_province"))
        .join(_product, _product.c.id == _lot.c.product_id)
        .join(_org, _org.c.id == _lot.c.org_id)
        .where(_lot.c.lot_id == lot_id)
    )
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"no lot {lot_id!r}")
    entries = [(e, canonical.from_canonical(str(e.event).encode())) for e in store.lot_entries(conn, lot_id)]
    first = entries[0][1] if entries else {}
    origin = lot_fields_from_ilmd(first.get("ilmd") or {}) if first.get("bizStep") == "commissioning" else {}
    q0 = (first.get("quantityList") or [{}])[0]
    gtin, code = gs1.split_lot_id(lot_id)
    return LotEvents(
        lot_id,
        gtin,
        code,
        row["name_vi"],
        row["name_en"],
        row["category"],
        row["ocop_stars"],
        row["ocop_year"],
        row["org_name"],
        row["org_province"],
        origin,
        q0.get("quantity"),
        q0.get("uom"),
        entries,
    )


def lots_for(conn: Connection, lot: str | None = None, sscc: str | None = None, upstream: bool = True) -> list[str]:
    """The lots an export covers: one lot or a shipment's lots, with their upstream lineage."""
    if (lot is None) == (sscc is None):
        # an InputError (a ValueError too): a request giving both or neither is a 422, not a 500
        raise InputError(f"give exactly one of lot or sscc: got lot={lot!r}, sscc={sscc!r}")
    roots = [lot] if lot is not None else [m.lot_id for m in shipments.members(conn, str(sscc))]
    if sscc is not None and not roots:
        raise NotFound(f"shipment {sscc} holds no lots")
    return lineage.related_lots(conn, roots, "up") if upstream else roots


def load_lots(conn: Connection, lot_ids: Iterable[str]) -> list[LotEvents]:
    return [load_lot(conn, lot) for lot in lot_ids]
