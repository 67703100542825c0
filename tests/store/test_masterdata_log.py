"""Organizations, keys and products as format v2 log entries (issue 11), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from ledger.audit.auditor import audit
from ledger.core import masterdata, statements
from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.errors import InputError, VerificationError
from ledger.service import Ledger
from ledger.store import masterdata_log, v2log
from ledger.store.db import read_tx, write_tx
from ledger.store.keys import KeyRing
from ledger.store.models import LogEntry, Organization, Product, SigningKey
from tests.conftest import MASTER_KEY
from tests.helpers import Clock, add_lot, add_org, add_product, event, gtin, new_client_key, register_client_key

_entry = LogEntry.__table__


def chain(ledger: Ledger, subject: str) -> list[dict[str, Any]]:
    with read_tx(ledger.engine) as conn:
        return v2log.subject_entries(conn, subject)


def log_key(ledger: Ledger) -> bytes:
    with read_tx(ledger.engine) as conn:
        found = v2log.log_public_key(conn)
    assert found is not None
    return found[1]


def test_an_organization_and_its_key_are_signed_entries_of_the_log(v2_ledger: Ledger) -> None:
    org = add_org(v2_ledger, "htx-phu-hoi")
    kid = org["keys"][0]["key_id"]
    [org_entry] = chain(v2_ledger, "org:htx-phu-hoi")
    [key_entry] = chain(v2_ledger, f"key:{kid}")
    pub = log_key(v2_ledger)
    assert statements.verify_entry(org_entry, pub)["body"]["kind"] == "cooperative"
    assert statements.verify_entry(key_entry, pub)["body"]["org"] == "htx-phu-hoi"
    assert key_entry["pop"]  # the server-held key proved possession itself
    assert masterdata.key_owner([key_entry], kid, "2026-08-01T03:00:00Z") == "htx-phu-hoi"
    assert v2_ledger.head().size == 2


def test_rotation_retires_and_revocation_revokes_in_the_log(v2_ledger: Ledger, clock: Clock) -> None:
    old = add_org(v2_ledger, "htx-phu-hoi")["keys"][0]["key_id"]
    clock.advance(hours=1)
    new = v2_ledger.generate_key("htx-phu-hoi")["key_id"]
    old_chain = chain(v2_ledger, f"key:{old}")
    assert [e["body"]["action"] for e in old_chain] == ["register", "retire"]
    assert old_chain[1]["prev"] is not None and old_chain[1]["seq"] == 1
    with pytest.raises(VerificationError, match="was retired at 2026-08-01T04:00:00Z"):
        masterdata.key_owner(old_chain, old, "2026-08-01T05:00:00Z")
    assert masterdata.key_owner(old_chain, old, "2026-08-01T03:30:00Z") == "htx-phu-hoi"
    v2_ledger.revoke_key(new, effective=clock() + timedelta(hours=2), reason="lost phone")
    state = masterdata.current(chain(v2_ledger, f"key:{new}"))
    assert (state["revoked"], state["reason"]) == ("2026-08-01T06:00:00Z", "lost phone")


def test_a_client_key_needs_its_proof_of_possession(v2_ledger: Ledger) -> None:
    add_org(v2_ledger, "htx-tu-ky", generate_key=False)
    signer, pub = new_client_key()
    with pytest.raises(InputError, match="needs its proof of possession"):
        v2_ledger.register_key("htx-tu-ky", pub)
    other, _ = new_client_key()
    stmt = v2_ledger.registration_statement("htx-tu-ky", pub, "2026-08-01T03:00:00Z")
    bad = other.sign(statements.statement_bytes(stmt))
    with pytest.raises(InputError, match="proof of possession does not verify"):
        v2_ledger.register_key("htx-tu-ky", pub, pop=bad, effective="2026-08-01T03:00:00Z")
    with pytest.raises(InputError, match="effective: expected the form 2026-08-01T03:00:00Z"):
        v2_ledger.register_key("htx-tu-ky", pub, pop=bad, effective="2026-08-01T03:00:00.000000Z")
    assert v2_ledger.get_org("htx-tu-ky")["keys"] == []  # nothing stored by the refusals
    info = register_client_key(v2_ledger, "htx-tu-ky", signer, pub)
    [ent] = chain(v2_ledger, f"key:{info['key_id']}")
    assert statements.verify_entry(ent, log_key(v2_ledger))["body"]["effective"] == "2026-08-01T03:00:00Z"


def test_a_product_is_signed_by_its_organization(v2_ledger: Ledger) -> None:
    kid = add_org(v2_ledger, "htx-phu-hoi")["keys"][0]["key_id"]
    g = add_product(v2_ledger, "htx-phu-hoi", 4567)
    [ent] = chain(v2_ledger, f"product:{g}")
    assert ent["signer"] == kid
    body = masterdata.current([ent])
    assert body["names"] == {"vi": "Thanh long ruột đỏ", "en": "Red dragon fruit"} and body["org"] == "htx-phu-hoi"
    assert "migrated" not in body


def test_the_authority_kind_exists(v2_ledger: Ledger) -> None:
    v2_ledger.create_org(OrganizationCreate(name="Hội đồng OCOP tỉnh Lâm Đồng", slug="ocop-lam-dong", kind="authority"))
    assert masterdata.org_kind(chain(v2_ledger, "org:ocop-lam-dong")) == "authority"


def test_prefix_change_is_a_new_org_version(v2_ledger: Ledger) -> None:
    add_org(v2_ledger, "htx-phu-hoi")
    v2_ledger.set_gs1_prefixes("htx-phu-hoi", ["8930000"])
    entries = chain(v2_ledger, "org:htx-phu-hoi")
    assert [e["seq"] for e in entries] == [0, 1] and masterdata.current(entries)["gs1_prefixes"] == ["8930000"]


def test_an_older_ledger_is_backfilled_once(engine: Engine, clock: Clock) -> None:
    old = Ledger(engine, KeyRing(MASTER_KEY), clock=clock, log_masterdata=False)
    add_org(old, "htx-phu-hoi")
    g = add_product(old, "htx-phu-hoi", 4567)
    lot = add_lot(old, "htx-phu-hoi", g, "PH-1")
    add_org(old, "htx-tu-ky", generate_key=False)
    signer, pub = new_client_key()
    client = old.register_key("htx-tu-ky", pub)["key_id"]
    old.revoke_key(client, effective=clock() + timedelta(days=1), reason="left")
    before = old.head().size
    with write_tx(engine) as conn:
        added = masterdata_log.backfill(conn, old.keyring, clock())
    with write_tx(engine) as conn:
        assert masterdata_log.backfill(conn, old.keyring, clock()) == 0  # idempotent
    assert added == 2 + 1 + 2 + 1 and old.head().size == before + added  # orgs, key, client key + revoke, product
    reg, rev = chain(old, f"key:{client}")
    assert reg["body"]["migrated"] is True and "pop" not in reg
    statements.verify_entry(reg, log_key(old))
    want = {"action": "revoke", "org": "htx-tu-ky", "effective": "2026-08-02T03:00:00Z", "reason": "left"}
    assert rev["body"] == want
    assert old.verify_lot(lot).verdict == "pending"  # lot events untouched
    assert audit(engine).ok


def test_the_audit_checks_v2_entries(v2_ledger: Ledger) -> None:
    add_org(v2_ledger, "htx-phu-hoi")
    add_product(v2_ledger, "htx-phu-hoi", 4567)
    assert audit(v2_ledger.engine).ok
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(
            update(_entry).where(_entry.c.idx == 0).values(event=text("replace(event, 'cooperative', 'authority')"))
        )
    checks = {(f.check, f.index) for f in audit(v2_ledger.engine).findings}
    assert ("signature", 0) in checks and ("leaf", 0) in checks


_product = Product.__table__


@pytest.mark.parametrize(
    ("column", "value", "fact"),
    [
        ("name_vi", "Thanh long giả", "product name"),
        ("name_en", "Fake fruit", "product name (English)"),
        ("category", "coffee", "product category"),
        ("ocop_stars", 5, "OCOP stars"),
        ("ocop_year", 2020, "OCOP year"),
        ("certifications", [{"scheme": "GlobalGAP", "certificate_no": "GG-1"}], "certifications"),
    ],
)
def test_an_edited_product_fact_is_tampering_named_by_the_fact(
    v2_ledger: Ledger, column: str, value: Any, fact: str
) -> None:
    add_org(v2_ledger, "htx-phu-hoi")
    g = gtin(4567)
    v2_ledger.create_product(
        "htx-phu-hoi",
        ProductCreate(gtin=g, name_vi="Thanh long", name_en="Dragon fruit", category="fruit", ocop_stars=4,
                      ocop_year=2024, certifications=[{"scheme": "VietGAP", "certificate_no": "VG-1"}]),
    )  # fmt: skip
    lot = add_lot(v2_ledger, "htx-phu-hoi", g, "PH-1")
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "pending" and report.product is not None and report.product["declared"]["ocop_stars"] == 4
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(update(_product).where(_product.c.gtin == g).values({column: value}))
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered" and report.failure is not None
    assert report.failure.check == "record" and report.failure.message.startswith(f"{fact} differs from the signed")
    with read_tx(v2_ledger.engine) as conn:
        assert report.failure.index == v2log.subject_rows(conn, f"product:{g}")[-1].idx


def test_a_forged_product_entry_is_tampering(v2_ledger: Ledger) -> None:
    add_org(v2_ledger, "htx-phu-hoi")
    g = add_product(v2_ledger, "htx-phu-hoi", 4567)
    lot = add_lot(v2_ledger, "htx-phu-hoi", g, "PH-1")
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(
            update(_entry)
            .where(_entry.c.lot_id == f"product:{g}")
            .values(event=text("replace(event, 'Thanh long ruột đỏ', 'Sầu riêng')"))
        )
        conn.execute(update(_product).where(_product.c.gtin == g).values(name_vi="Sầu riêng"))
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered" and report.failure is not None and report.failure.check == "signature"


_key = SigningKey.__table__


def test_key_revocation_and_ownership_come_from_the_log(v2_ledger: Ledger, clock: Clock) -> None:
    kid = add_org(v2_ledger, "htx-phu-hoi")["keys"][0]["key_id"]
    add_org(v2_ledger, "cty-khac", kind="company")
    g = add_product(v2_ledger, "htx-phu-hoi", 4567)
    lot = add_lot(v2_ledger, "htx-phu-hoi", g, "PH-1")
    clock.advance(hours=1)
    v2_ledger.record("htx-phu-hoi", [{"lot": lot, "event": event()}])
    v2_ledger.revoke_key(kid, effective=clock() - timedelta(minutes=30), reason="leaked")
    assert v2_ledger.verify_lot(lot).verdict == "tampered"  # the event was recorded after the revocation
    with write_tx(v2_ledger.engine) as conn:  # an operator hides the revocation in the table
        conn.execute(update(_key).where(_key.c.key_id == kid).values(status="active", revoked_at=None))
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered" and report.failure is not None and report.failure.check == "key"
    assert "revoked at 2026-08-01T03:30:00" in report.failure.message


def test_a_forged_key_registration_unregisters_the_key(v2_ledger: Ledger) -> None:
    kid = add_org(v2_ledger, "htx-phu-hoi")["keys"][0]["key_id"]
    g = add_product(v2_ledger, "htx-phu-hoi", 4567)
    lot = add_lot(v2_ledger, "htx-phu-hoi", g, "PH-1")
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(
            update(_entry)
            .where(_entry.c.lot_id == f"key:{kid}")
            .values(event=text("replace(event, 'htx-phu-hoi', 'cty-khac')"))
        )
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered" and report.failure is not None
    assert report.failure.check == "signature" and "not a registered key" in report.failure.message


_org = Organization.__table__


@pytest.mark.parametrize(
    ("column", "value", "fact"),
    [("name", "HTX Giả Mạo", "producer name"), ("province", "Bến Tre", "producer province"),
     ("kind", "authority", "producer kind")],
)  # fmt: skip
def test_an_edited_producer_fact_is_tampering_named_by_the_fact(
    v2_ledger: Ledger, column: str, value: str, fact: str
) -> None:
    add_org(v2_ledger, "htx-phu-hoi")
    g = add_product(v2_ledger, "htx-phu-hoi", 4567)
    lot = add_lot(v2_ledger, "htx-phu-hoi", g, "PH-1")
    assert v2_ledger.verify_lot(lot).verdict == "pending"
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(update(_org).where(_org.c.slug == "htx-phu-hoi").values({column: value}))
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered" and report.failure is not None
    assert report.failure.message.startswith(f"{fact} differs from the signed organization entry")


def test_the_audit_compares_master_data_rows_with_the_log(v2_ledger: Ledger) -> None:
    kid = add_org(v2_ledger, "htx-phu-hoi")["keys"][0]["key_id"]
    g = add_product(v2_ledger, "htx-phu-hoi", 4567)
    assert audit(v2_ledger.engine).ok
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(update(_product).where(_product.c.gtin == g).values(ocop_stars=5))
        conn.execute(update(_org).where(_org.c.slug == "htx-phu-hoi").values(name="HTX Khác"))
        conn.execute(update(_key).where(_key.c.key_id == kid).values(revoked_at=datetime(2026, 1, 1, tzinfo=UTC)))
    messages = sorted(f.message for f in audit(v2_ledger.engine).findings if f.check == "master_data")
    assert messages == [
        f"key {kid} differs from its signed key entries",
        "organization htx-phu-hoi differs from its signed org entry",
        f"product {g}: OCOP stars differs from its signed product entry",
    ]


def test_a_malformed_org_entry_is_found_not_crashed_on(v2_ledger: Ledger) -> None:
    import json

    add_org(v2_ledger, "htx-phu-hoi")
    g = add_product(v2_ledger, "htx-phu-hoi", 4567)
    lot = add_lot(v2_ledger, "htx-phu-hoi", g, "PH-1")
    with write_tx(v2_ledger.engine) as conn:
        where = _entry.c.lot_id == "org:htx-phu-hoi"
        body = json.loads(conn.execute(select(_entry.c.event).where(where)).scalar_one())
        conn.execute(update(_entry).where(where).values(event=json.dumps({**body, "x": 1}, sort_keys=True)))
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered" and report.failure is not None  # the producer's org entry no longer verifies
    assert "signature" in {f.check for f in audit(v2_ledger.engine).findings}
