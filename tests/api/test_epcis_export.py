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
