"""Issue 9 reproduction 5 and issue 13's unpack, over HTTP on SQLite and PostgreSQL: one policy decides.

- a producer registering a GTIN inside another organization's GS1 company prefix gets 403;
- a transformation consuming another organization's lot needs its owner's release (a shipping
  event it signed) and at most the lot's declared quantity;
- an exporter organization holding a producer key packs no foreign lot (as /events refuses);
- the exporter that packed a shipment unpacks it; nobody else unpacks another's lot.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.core import gs1
from ledger.store import apikeys
from ledger.store.db import write_tx
from tests.api.conftest import GTIN_A, GTIN_B, LOT_A, LOT_A_PATH, World, event

SSCC = "08930000000000002"
SSCC = SSCC + str(gs1.check_digit(SSCC))
T = "2026-07-05T08:00:00+07:00"


def _forbidden(r: Any, *words: str) -> None:
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == "forbidden"
    for w in words:
        assert w in err["message"], err["message"]


# --- GS1 company prefixes ---------------------------------------------------------------------


def test_gtin_under_another_organizations_prefix_is_refused(world: World) -> None:
    admin = world.auth("admin")
    r = world.client.put(
        "/api/v1/admin/organizations/org-b/gs1-prefixes", json={"gs1_prefixes": ["8930001"]}, headers=admin
    )
    assert r.status_code == 200 and r.json()["gs1_prefixes"] == ["8930001"]
    squatted = gs1.make_gtin("8930001", 42)
    before = world.counts()
    r = world.client.post("/api/v1/products", json={"gtin": squatted, "name_vi": "Cà phê"}, headers=world.auth("a"))
    _forbidden(r, f"GTIN {squatted} lies under a GS1 company prefix of organization {world.orgs['b']['id']}")
    assert world.counts() == before
    r = world.client.post("/api/v1/products", json={"gtin": squatted, "name_vi": "Cà phê"}, headers=world.auth("b"))
    assert r.status_code == 201, r.text  # the prefix's holder is not blocked by a squatter
    outside = gs1.make_gtin("8939999", 7)
    r = world.client.post("/api/v1/products", json={"gtin": outside, "name_vi": "Trà"}, headers=world.auth("b"))
    _forbidden(r, "under none of your GS1 company prefixes: expected one of 8930001")
    r = world.client.post("/api/v1/products", json={"gtin": outside, "name_vi": "Trà"}, headers=world.auth("a"))
    assert r.status_code == 201, r.text  # org a declares no prefix: a GTIN under nobody's prefix is allowed


def test_prefixes_at_creation_and_overlaps(world: World) -> None:
    admin = world.auth("admin")
    body = {"name": "Công ty Dừa", "slug": "cty-dua", "kind": "company", "gs1_prefixes": ["8935555", "8936666"]}
    r = world.client.post("/api/v1/admin/organizations", json=body, headers=admin)
    assert r.status_code == 201 and r.json()["gs1_prefixes"] == ["8935555", "8936666"]
    for prefixes in (["89355551"], ["8935"]):  # nested either way: a conflict with cty-dua
        r = world.client.put(
            "/api/v1/admin/organizations/org-a/gs1-prefixes", json={"gs1_prefixes": prefixes}, headers=admin
        )
        assert r.status_code == 409 and "overlaps" in r.json()["error"]["message"], r.text
    r = world.client.put(
        "/api/v1/admin/organizations/org-a/gs1-prefixes", json={"gs1_prefixes": ["89x"]}, headers=admin
    )
    assert r.status_code == 422 and "expected 4 to 12 digits, got '89x'" in r.text
    assert world.client.get("/api/v1/admin/organizations/org-a", headers=admin).json()["gs1_prefixes"] == []


# --- transformation inputs ---------------------------------------------------------------------


@pytest.fixture
def lots(world: World) -> tuple[str, str]:
    """Org b's lot of 100 kg (the victim) and org a's output lot."""
    victim = f"{GTIN_B}.CB-100"
    r = world.client.post(
        "/api/v1/lots",
        json={"gtin": GTIN_B, "code": "CB-100", "quantity": 100, "unit": "KGM", "event_time": T},
        headers=world.auth("b"),
    )
    assert r.status_code == 201, r.text
    r = world.client.post(
        "/api/v1/lots", json={"gtin": GTIN_A, "code": "OUT-1", "event_time": T}, headers=world.auth("a")
    )
    assert r.status_code == 201, r.text
    return victim, f"{GTIN_A}.OUT-1"


def transform(src: str, out: str, kg: float) -> dict[str, Any]:
    return {
        "type": "TransformationEvent",
        "bizStep": "ocop:roasting",
        "eventTime": "2026-07-06T08:00:00+07:00",
        "inputQuantityList": [{"lot": src, "quantity": kg, "uom": "KGM"}],
        "outputQuantityList": [{"lot": out, "quantity": 80, "uom": "KGM"}],
    }


def test_transformation_needs_the_input_owners_release(world: World, lots: tuple[str, str]) -> None:
    victim, out = lots
    before = world.counts()
    r = world.client.post(f"/api/v1/lots/{out}/events", json=transform(victim, out, 999_999), headers=world.auth("a"))
    _forbidden(r, f"input lot {victim} belongs to another organization", "expected a shipping event")
    assert world.counts() == before
    page = world.client.get(f"/api/v1/lots/{victim}").json()
    assert "TransformationEvent" not in str(page)  # the victim's public history shows nothing
    # the same fault through the batch route and EPCIS-less batch: the same answer
    r = world.client.post(
        "/api/v1/events:batch",
        json={"events": [{"lot": out, "event": transform(victim, out, 50)}]},
        headers=world.auth("a"),
    )
    _forbidden(r, "events.0:")
    assert r.json()["error"]["details"][0]["index"] == 0
    # the owner releases the lot: a shipping event it signs
    r = world.client.post(f"/api/v1/lots/{victim}/events", json=event("shipping", T), headers=world.auth("b"))
    assert r.status_code == 201, r.text
    r = world.client.post(f"/api/v1/lots/{out}/events", json=transform(victim, out, 999_999), headers=world.auth("a"))
    assert r.status_code == 422, r.text
    assert "holds 100 KGM, 0 of it consumed already: expected a quantity of at most 100, got 999999" in r.text
    r = world.client.post(f"/api/v1/lots/{out}/events", json=transform(victim, out, 60), headers=world.auth("a"))
    assert r.status_code == 201, r.text
    r = world.client.post(f"/api/v1/lots/{out}/events", json=transform(victim, out, 60), headers=world.auth("a"))
    assert r.status_code == 422 and "60 of it consumed already: expected a quantity of at most 40" in r.text
    r = world.client.post(f"/api/v1/lots/{out}/events", json=transform(victim, out, 40), headers=world.auth("a"))
    assert r.status_code == 201, r.text


def test_shipping_by_someone_else_is_no_release(world: World, lots: tuple[str, str]) -> None:
    victim, out = lots
    r = world.client.post(f"/api/v1/lots/{victim}/events", json=event("shipping", T), headers=world.auth("exporter"))
    assert r.status_code == 201, r.text
    r = world.client.post(f"/api/v1/lots/{out}/events", json=transform(victim, out, 10), headers=world.auth("a"))
    _forbidden(r, "has not released it")


def test_own_inputs_need_no_release(world: World) -> None:
    r = world.client.post(
        "/api/v1/lots", json={"gtin": GTIN_A, "code": "OUT-2", "event_time": T}, headers=world.auth("a")
    )
    assert r.status_code == 201, r.text
    out = f"{GTIN_A}.OUT-2"
    r = world.client.post(f"/api/v1/lots/{out}/events", json=transform(LOT_A, out, 1200), headers=world.auth("a"))
    assert r.status_code == 201, r.text


# --- packing and unpacking -------------------------------------------------------------------


def _producer_key_of_exporter(world: World) -> dict[str, str]:
    with write_tx(world.ledger.engine) as conn:
        key = apikeys.create(conn, int(world.orgs["exporter"]["id"]), "producer")
    return {"Authorization": f"Bearer {key['token']}"}


def test_exporter_org_with_a_producer_key_packs_no_foreign_lot(world: World) -> None:
    producer_key = _producer_key_of_exporter(world)
    before = world.counts()
    body = {"lots": [LOT_A], "event_time": T}
    r = world.client.post(f"/api/v1/shipments/{SSCC}/pack", json=body, headers=producer_key)
    _forbidden(r, "a producer key may not record packing on another organization's lot")
    r2 = world.client.post(f"/api/v1/lots/{LOT_A_PATH}/events", json=event("packing", T), headers=producer_key)
    _forbidden(r2)
    assert r.json()["error"]["message"] == r2.json()["error"]["message"]  # one decision, one answer
    csv = f"lot,event_time,biz_step\n{LOT_A},{T},packing\n"
    r3 = world.client.post("/api/v1/import", content=csv.encode(), headers={**producer_key, "content-type": "text/csv"})
    _forbidden(r3, "row 2: a producer key may not record packing", "nothing stored")
    assert world.counts() == before
    r = world.client.post(f"/api/v1/shipments/{SSCC}/pack", json=body, headers=world.auth("exporter"))
    assert r.status_code == 200, r.text


def test_the_exporter_that_packed_a_shipment_unpacks_it(world: World) -> None:
    body = {"lots": [LOT_A], "event_time": T}
    r = world.client.post(f"/api/v1/shipments/{SSCC}/pack", json=body, headers=world.auth("exporter"))
    assert r.status_code == 200, r.text
    before = world.counts()
    r = world.client.post(
        f"/api/v1/shipments/{SSCC}/unpack", json={"event_time": "2026-07-06T08:00:00+07:00"}, headers=world.auth("b")
    )
    _forbidden(r, "may not record unpacking")
    assert world.counts() == before
    r = world.client.post(
        f"/api/v1/shipments/{SSCC}/unpack",
        json={"event_time": "2026-07-06T08:00:00+07:00"},
        headers=world.auth("exporter"),
    )
    assert r.status_code == 200, r.text
    assert world.client.get(f"/api/v1/shipments/{SSCC}").json()["lots"] == []
    assert world.ledger.verify_lot(LOT_A).verdict == "pending"  # verification accepts the packer's unpacking


def test_epcis_capture_of_the_same_transformation_gets_the_same_answer(world: World, lots: tuple[str, str]) -> None:
    victim, out = lots
    gtin, code = victim.split(".", 1)
    tr = {
        "type": "TransformationEvent",
        "bizStep": "ocop:roasting",
        "eventTime": "2026-07-06T08:00:00+07:00",
        "inputQuantityList": [
            {"epcClass": f"https://id.gs1.org/01/{gtin}/10/{code}", "quantity": 999_999, "uom": "KGM"}
        ],
        "outputQuantityList": [{"epcClass": f"https://id.gs1.org/01/{GTIN_A}/10/OUT-1", "quantity": 80, "uom": "KGM"}],
    }
    doc = {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-07-06T08:00:00+07:00",
        "epcisBody": {"eventList": [tr]},
    }
    before = world.counts()
    r = world.client.post("/api/v1/epcis/capture", json=doc, headers=world.auth("a"))
    _forbidden(r, f"input lot {victim} belongs to another organization")
    assert r.json()["error"]["details"][0]["field"] == "epcisBody.eventList.0.lot"
    assert world.counts() == before
