"""Builders shared by the test suites: a controllable clock, events, and a seeded scenario.

Everything here goes through the public ``Ledger`` service, so later API tests can reuse it
to put a realistic cooperative, product, lots and events in place.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.core import canonical, gs1, signing
from ledger.core.events import format_record_time, normalize_event
from ledger.core.records import LotCreate, OrganizationCreate, ProductCreate, lot_ilmd
from ledger.service import Ledger

TESTS_DIR = Path(__file__).resolve().parent
SHARED_DIR = TESTS_DIR.parent.parent / "shared"  # <repo>/../shared, beside the clone
VECTORS_DIR = SHARED_DIR / "vectors"

T0 = datetime(2026, 8, 1, 3, 0, tzinfo=UTC)
"""The ledger clock's start in tests; events happen in July 2026, before it."""


class Clock:
    """A clock the test moves by hand: ``Ledger(..., clock=clock)``."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def gtin(item: int, prefix: str = "893") -> str:
    """A valid GTIN-14 under the Vietnamese GS1 prefix 893."""
    return gs1.make_gtin(prefix, item)


def event(
    biz_step: str = "storing",
    *,
    type: str = "ObjectEvent",
    action: str | None = "OBSERVE",
    time: str = "2026-07-02T06:30:00+07:00",
    **extra: Any,
) -> dict[str, Any]:
    """An EPCIS-shaped event as a client submits it; ``extra`` keys go in as they are."""
    ev: dict[str, Any] = {"type": type, "bizStep": biz_step, "eventTime": time}
    if action is not None:
        ev["action"] = action
    ev.update(extra)
    return ev


def transformation(inputs: list[str], *, time: str = "2026-07-05T09:00:00+07:00", **extra: Any) -> dict[str, Any]:
    """A TransformationEvent consuming 100 kg of each input lot."""
    return event(
        "ocop:drying",
        type="TransformationEvent",
        action=None,
        time=time,
        inputQuantityList=[{"lot": lot, "quantity": 100, "uom": "KGM"} for lot in inputs],
        **extra,
    )


def add_org(ledger: Ledger, slug: str, kind: str = "cooperative", *, generate_key: bool = True) -> dict[str, Any]:
    data = OrganizationCreate(name=f"Tổ chức {slug}", slug=slug, kind=kind, province="Lâm Đồng")
    return ledger.create_org(data, generate_key=generate_key)


def add_product(ledger: Ledger, org: str, item: int, name_vi: str = "Thanh long ruột đỏ") -> str:
    g = gtin(item)
    ledger.create_product(org, ProductCreate(gtin=g, name_vi=name_vi, name_en="Red dragon fruit", category="fruit"))
    return g


def lot_fields(product_gtin: str, code: str, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "gtin": product_gtin,
        "code": code,
        "origin_province": "Lâm Đồng",
        "origin_commune": "xã Phú Hội",
        "growing_area_code": "VN-LDPH-0042",
        "plot": {"type": "Point", "coordinates": [108.3721, 11.7294]},
        "plot_area_ha": 2.5,
        "harvest_start": "2026-06-28",
        "harvest_end": "2026-06-30",
        "quantity": 1200,
        "unit": "KGM",
        "event_time": "2026-07-01T06:30:00+07:00",
    }
    fields.update(extra)
    return fields


def add_lot(ledger: Ledger, org: str, product_gtin: str, code: str, **extra: Any) -> str:
    return str(ledger.create_lot(org, lot_fields(product_gtin, code, **extra))["lot_id"])


@dataclass
class Scenario:
    """A cooperative with one product, some lots, and events recorded on them."""

    org: str
    gtin: str
    lots: list[str]
    results: list[dict[str, Any]] = field(default_factory=list)


def seed(
    ledger: Ledger,
    *,
    org: str = "htx-phu-hoi",
    item: int = 4567,
    codes: tuple[str, ...] = ("PH-2026-07-A", "PH-2026-07-B", "PH-2026-07-C"),
    rounds: int = 4,
) -> Scenario:
    """Create the lots, then ``rounds`` rounds of one event per lot, interleaved in the log.

    With the defaults the log holds 15 entries: three commissioning entries (indexes 0-2),
    then round r puts lot k's seq r+1 at index 3 + 3r + k.
    """
    add_org(ledger, org)
    g = add_product(ledger, org, item)
    lots = [add_lot(ledger, org, g, code) for code in codes]
    sc = Scenario(org, g, lots)
    steps = ["ocop:harvesting", "ocop:cooling", "packing", "storing", "loading", "shipping"]
    for r in range(rounds):
        items = [
            {
                "lot": lot,
                "event": event(
                    steps[r % len(steps)],
                    time=f"2026-07-{2 + r:02d}T{k:02d}:15:00+07:00",
                    readPoint={"id": "urn:epc:id:sgln:8930000.00001.0", "name": "Kho Phú Hội"},
                    **{"ocop:note": f"lô {code} bước {r + 1}"},
                ),
            }
            for k, (lot, code) in enumerate(zip(lots, codes, strict=True))
        ]
        sc.results += ledger.record(org, items)
    return sc


# --- client-side signing -------------------------------------------------------------------


def new_client_key() -> tuple[signing.Signer, str]:
    """A key the organization keeps itself, and its public key in base64 for registration."""
    signer = signing.Signer(signing.generate_private_key())
    return signer, base64.b64encode(signer.public_key).decode()


def masterdata_entries(ledger: Any) -> int:
    """How many format v2 entries (organizations, keys, products) the log holds besides lot events."""
    from sqlalchemy import func, select

    from ledger.core.statements import KINDS
    from ledger.store.db import read_tx
    from ledger.store.models import LogEntry

    t = LogEntry.__table__  # type: ignore[attr-defined]
    with read_tx(ledger.engine) as conn:
        return int(conn.execute(select(func.count()).where(t.c.event_type.in_(KINDS))).scalar_one())


def register_client_key(ledger: Any, org: str, signer: signing.Signer, pub: str) -> dict[str, Any]:
    """Register a client-held key with its proof of possession, effective at the ledger's clock."""
    from ledger.core import statements
    from ledger.store.v2log import utc_text

    effective = utc_text(ledger.clock())
    stmt = ledger.registration_statement(org, pub, effective)
    pop = signer.sign(statements.statement_bytes(stmt))
    return dict(ledger.register_key(org, pub, pop=pop, effective=effective))


def client_entry(
    signer: signing.Signer,
    *,
    lot: str,
    seq: int,
    prev: str | None,
    raw_event: dict[str, Any],
    now: datetime,
    inputs: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An entry built and signed the way a client does it (normalized event + recordTime)."""
    ev = normalize_event(raw_event, now=now)
    ev["recordTime"] = format_record_time(now)
    if inputs:
        ev["ocop:inputs"] = inputs
    stmt = canonical.statement(lot=lot, seq=seq, prev=prev, event=ev, signer=signer.key_id)
    return canonical.entry(stmt, signer.sign(canonical.statement_bytes(stmt)))


def commissioning_event(lot: LotCreate) -> dict[str, Any]:
    """The commissioning event a client signs to create a lot itself."""
    ev = event("commissioning", action="ADD", time=lot.event_time or "2026-07-01T06:30:00+07:00")
    ev["disposition"] = "active"
    ev["ilmd"] = lot_ilmd(lot)
    if lot.quantity is not None:
        ev["quantityList"] = [{"lot": lot.lot_id, "quantity": lot.quantity, "uom": lot.unit}]
    return ev
