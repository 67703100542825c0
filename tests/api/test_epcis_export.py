"""The README Quickstart, recorded exactly as shown, exports an EPCIS document valid against GS1's schema.

Cooling and packing name the lot only in ``ocop:lot``; the export names it as a class-level quantity.
"""

from __future__ import annotations

import json

from tests.api.conftest import World
from tests.exports.test_epcis import errors

LOT = "08930000045676.PH-2026-07"
QUICKSTART_LOT = {
    "gtin": "08930000045676", "code": "PH-2026-07", "origin_province": "Lâm Đồng", "origin_commune": "Phú Hội",
    "quantity": 1200, "unit": "KGM", "harvest_start": "2026-07-01", "harvest_end": "2026-07-03",
}  # fmt: skip
HARVEST = {
    "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "ocop:harvesting", "eventTime": "2026-07-03T06:30:00+07:00",
    "bizLocation": {"id": "urn:ocop:loc:VN-LDPH-0042", "name": "Vườn Phú Hội", "province": "Lâm Đồng"},
    "quantityList": [{"lot": LOT, "quantity": 1200, "uom": "KGM"}],
}  # fmt: skip
BATCH = {"events": [
    {"lot": LOT, "event": {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "ocop:cooling",
                           "eventTime": "2026-07-03T09:00:00+07:00"}},
    {"lot": LOT, "event": {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "packing",
                           "eventTime": "2026-07-03T14:00:00+07:00"}},
]}  # fmt: skip


def test_readme_quickstart_lot_exports_schema_valid(world: World) -> None:
    a = world.auth("a")
    assert world.client.post("/api/v1/lots", json=QUICKSTART_LOT, headers=a).status_code == 201
    assert world.client.post(f"/api/v1/lots/{LOT}/events", json=HARVEST, headers=a).status_code == 201
    assert world.client.post("/api/v1/events:batch", json=BATCH, headers=a).status_code in (200, 201)
    r = world.client.get(f"/api/v1/lots/{LOT}/epcis")
    assert r.status_code == 200
    doc = json.loads(r.content)
    events = doc["epcisBody"]["eventList"]
    assert [e["bizStep"] for e in events] == ["commissioning", "ocop:harvesting", "ocop:cooling", "packing"]
    assert errors(doc) == []
    cooling = events[2]
    assert cooling["quantityList"] == [
        {"epcClass": "https://id.gs1.org/01/08930000045676/10/PH-2026-07", "quantity": 1200, "uom": "KGM"}
    ]


def test_sensor_event_captured_exported_valid_and_hashed(world: World) -> None:
    """An EPCIS 2.0 sensor event with certification info and an error declaration goes in through
    /epcis/capture and comes out schema-valid, its eventID the CBV 2.0 hash of what was exported."""
    from ledger.exports.event_hash import event_hash_id
    from tests.api.conftest import GTIN_A
    from tests.api.test_epcis import doc, object_event

    lot = f"{GTIN_A}.SENSOR-1"
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "SENSOR-1"}, headers=world.auth("a"))
    assert r.status_code == 201, r.text
    sensor = object_event(
        quantityList=[{"epcClass": f"https://id.gs1.org/01/{GTIN_A}/10/SENSOR-1", "quantity": 400, "uom": "KGM"}],
        bizStep="sensor_reporting",
        sensorElementList=[
            {
                "sensorMetadata": {"time": "2026-07-02T07:00:00+07:00", "deviceID": "urn:epc:id:giai:4000001.111"},
                "sensorReport": [{"type": "Temperature", "value": 4.5, "uom": "CEL"}],
            }
        ],
        certificationInfo="https://cert.example.vn/VG-0042",
        persistentDisposition={"set": ["completeness_verified"]},
        errorDeclaration={"declarationTime": "2026-07-02T08:00:00+07:00", "reason": "incorrect_data"},
    )
    r = world.client.post("/api/v1/epcis/capture", json=doc(sensor), headers=world.auth("a"))
    assert r.status_code == 201, r.text
    got = world.client.get(f"/api/v1/lots/{lot}/epcis")
    assert got.status_code == 200, got.text
    out = json.loads(got.content)
    assert errors(out) == []
    ev = out["epcisBody"]["eventList"][-1]
    assert ev["ocop:lot"] == lot and ev["sensorElementList"][0]["sensorReport"][0]["value"] == 4.5
    assert ev["epcis:certificationInfo"] == "https://cert.example.vn/VG-0042"
    assert ev["eventID"] == event_hash_id({k: v for k, v in ev.items() if k != "eventID"}, out["@context"])
