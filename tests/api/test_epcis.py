"""POST /api/v1/epcis/capture: EPCIS 2.0 documents, lots from Digital Link URIs, all or nothing."""

from __future__ import annotations

from typing import Any

import pytest

from api.epcis import lot_from_uri
from ledger.errors import InputError
from tests.api.conftest import GTIN_A, GTIN_B, LOT_A, World

LOT_URI = f"https://id.gs1.org/01/{GTIN_A}/10/PH%2F2026-07"


def doc(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-07-03T08:00:00+07:00",
        "epcisBody": {"eventList": list(events)},
    }


def object_event(**kw: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "https://ref.gs1.org/cbv/BizStep-packing",
        "eventTime": "2026-07-02T07:30:00+07:00",
        "eventTimeZoneOffset": "+07:00",
        "recordTime": "2026-07-02T07:31:00+07:00",
        "quantityList": [{"epcClass": LOT_URI, "quantity": 400, "uom": "KGM"}],
        **kw,
    }


def test_capture_object_aggregation_and_transformation_events(world: World) -> None:
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "DRY-1"}, headers=world.auth("a"))
    assert r.status_code == 201
    aggregation = {
        "type": "AggregationEvent",
        "action": "ADD",
        "bizStep": "packing",
        "eventTime": "2026-07-02T09:00:00+07:00",
        "parentID": "urn:epc:id:sscc:0893000.0000000017",
        "childQuantityList": [{"epcClass": LOT_URI, "quantity": 400, "uom": "KGM"}],
    }
    transformation = {
        "type": "TransformationEvent",
        "bizStep": "ocop:drying",
        "eventTime": "2026-07-02T10:00:00+07:00",
        "inputQuantityList": [{"epcClass": LOT_URI, "quantity": 100, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": "urn:epc:class:lgtin:893000.0004567.DRY-1", "quantity": 12, "uom": "KGM"}],
    }
    r = world.client.post(
        "/api/v1/epcis/capture", json=doc(object_event(), aggregation, transformation), headers=world.auth("a")
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["captured"] == 3
    assert [x["lot"] for x in body["recorded"]] == [LOT_A, LOT_A, f"{GTIN_A}.DRY-1"]
    lot = world.client.get(f"/api/v1/lots/{GTIN_A}.DRY-1").json()
    ev = lot["entries"][-1]["entry"]["event"]
    assert ev["ocop:inputs"][0]["lot"] == LOT_A  # linked to the input lot's head


def test_explicit_ocop_lot_field(world: World) -> None:
    ev = object_event(quantityList=None, **{"ocop:lot": LOT_A})
    ev.pop("quantityList")
    r = world.client.post("/api/v1/epcis/capture", json=doc(ev), headers=world.auth("a"))
    assert r.status_code == 201, r.text


def test_bad_events_are_listed_and_nothing_is_stored(world: World) -> None:
    before = world.counts()
    good = object_event()
    no_lot = object_event(
        quantityList=[{"epcClass": "urn:epc:class:lgtin:893000.0004567", "quantity": 1, "uom": "KGM"}]
    )
    two_lots = object_event(
        epcList=[f"https://example.com/01/{GTIN_B}/10/B1"],
    )
    bad_step = object_event(bizStep="dancing")
    r = world.client.post("/api/v1/epcis/capture", json=doc(good, no_lot, two_lots), headers=world.auth("a"))
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert [d["index"] for d in details] == [1, 2]
    assert all(d["field"].startswith("epcisBody.eventList.") for d in details)
    assert world.counts() == before
    r = world.client.post("/api/v1/epcis/capture", json=doc(good, bad_step), headers=world.auth("a"))
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert details[0]["index"] == 1 and "epcisBody.eventList.1" in details[0]["field"]
    assert world.counts() == before


@pytest.mark.parametrize(
    "body",
    [
        {"type": "EPCISQueryDocument"},
        {"type": "EPCISDocument"},
        {"type": "EPCISDocument", "epcisBody": {"eventList": []}},
        {"type": "EPCISDocument", "epcisBody": {"eventList": [{"type": "SensorEvent"}]}},
        {"type": "EPCISDocument", "epcisBody": {"eventList": ["x"]}},
    ],
)
def test_malformed_documents(world: World, body: dict[str, Any]) -> None:
    before = world.counts()
    r = world.client.post("/api/v1/epcis/capture", json=body, headers=world.auth("a"))
    assert r.status_code == 422
    assert world.counts() == before


def test_capture_respects_roles(world: World) -> None:
    before = world.counts()
    r = world.client.post("/api/v1/epcis/capture", json=doc(object_event()), headers=world.auth("b"))
    assert r.status_code == 403
    assert r.json()["error"]["details"][0]["field"] == "epcisBody.eventList.0.lot"
    assert world.counts() == before


@pytest.mark.parametrize(
    "uri,lot",
    [
        (f"https://id.gs1.org/01/{GTIN_A}/10/PH-1", f"{GTIN_A}.PH-1"),
        (f"https://ocop.example/01/{GTIN_A}/10/PH%2F1/21/77", f"{GTIN_A}.PH/1"),
        ("urn:epc:class:lgtin:893000.0004567.PH-1", f"{GTIN_A}.PH-1"),
        (f"https://id.gs1.org/01/{GTIN_A}/21/77", None),
        ("urn:epc:id:sgtin:893000.0004567.77", None),
    ],
)
def test_lot_from_uri(uri: str, lot: str | None) -> None:
    assert lot_from_uri(uri) == lot


def test_lot_from_uri_rejects_bad_gtins() -> None:
    with pytest.raises(InputError, match="check digit"):
        lot_from_uri("https://id.gs1.org/01/08930000045677/10/PH-1")
