"""Reads behind the GS1 Digital Link resolver's product (``/01/{gtin}``) and party (``/414/{gln}``) pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from ledger.errors import NotFound
from ledger.store.models import Lot, Organization, Product

_org = Organization.__table__  # type: ignore[attr-defined]
_product = Product.__table__  # type: ignore[attr-defined]
_lot = Lot.__table__  # type: ignore[attr-defined]
LOTS_SHOWN = 50


def _party(row: Any) -> dict[str, Any]:
    return {"name": row.name, "slug": row.slug, "kind": row.kind, "province": row.province, "gln": row.gln}


def product(conn: Connection, gtin: str) -> dict[str, Any]:
    """A product, its producer and its newest lots (at most ``LOTS_SHOWN``)."""
    row = conn.execute(select(_product).where(_product.c.gtin == gtin)).first()
    if row is None:
        raise NotFound(f"no product with GTIN {gtin}")
    org = conn.execute(select(_org).where(_org.c.id == row.org_id)).one()
    lots = conn.execute(
        select(_lot.c.lot_id, _lot.c.code).where(_lot.c.product_id == row.id).order_by(_lot.c.id.desc())
    ).all()
    keep = ("gtin", "name_vi", "name_en", "category", "ocop_stars", "ocop_year", "certifications")
    out = {k: getattr(row, k) for k in keep if hasattr(row, k)}
    return out | {"producer": _party(org), "lots": [{"lot_id": x.lot_id, "code": x.code} for x in lots[:LOTS_SHOWN]]}


def party(conn: Connection, gln: str) -> dict[str, Any]:
    """An organization by its GLN, with its products."""
    org = conn.execute(select(_org).where(_org.c.gln == gln)).first()
    if org is None:
        raise NotFound(f"no organization with GLN {gln}")
    rows = conn.execute(select(_product).where(_product.c.org_id == org.id).order_by(_product.c.gtin)).all()
    return _party(org) | {"products": [{"gtin": p.gtin, "name_vi": p.name_vi, "name_en": p.name_en} for p in rows]}
