"""The capture path accepts EPCIS 2.0 sensor data, certification info, error declarations and
persistent dispositions, and refuses malformed ones with a clear message."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.core.events import normalize_event
from ledger.errors import InputError
from ledger.exports.event_hash import document_events, event_hash_id
from tests.helpers import VECTORS_DIR

NOW = datetime(2026, 8, 1, tzinfo=UTC)
SHARED = VECTORS_DIR / "epcis-event-hash"
BASE: dict[str, Any] = {
    "type": "ObjectEvent",
    "action": "OBSERVE",
    "bizStep": "sensor_reporting",
    "eventTime": "2026-07-03T09:00:00+07:00",
}
SENSORS = [
    {
        "sensorMetadata": {"time": "2026-07-03T08:59:00+07:00", "deviceID": "urn:epc:id:giai:4000001.111"},
        "sensorReport": [
            {"type": "Temperature", "value": 4.0, "uom": "CEL", "ocop:probe": "P1"},
            {"type": "RelativeHumidity", "exception": "ALARM_CONDITION", "value": 91.5, "uom": "P1"},
        ],
    }
]


def test_sensor_data_certification_error_declaration_and_persistent_disposition_accepted() -> None:
    ev = normalize_event(
        BASE
        | {
            "sensorElementList": SENSORS,
            "certificationInfo": "https://cert.example.vn/VG-0042",
            "errorDeclaration": {"declarationTime": "2026-07-04T10:00:00+07:00", "reason": "incorrect_data"},
            "persistentDisposition": {
                "set": ["completeness_verified"],
                "unset": ["https://ref.gs1.org/cbv/Disp-active"],
            },
        },
        now=NOW,
    )
    assert ev["sensorElementList"][0]["sensorReport"][0] == {
        "type": "Temperature",
        "value": 4,
        "uom": "CEL",
        "ocop:probe": "P1",
    }
    assert ev["persistentDisposition"] == {"set": ["completeness_verified"], "unset": ["active"]}
    assert ev["errorDeclaration"]["declarationTime"] == "2026-07-04T10:00:00+07:00"
    assert ev["certificationInfo"] == "https://cert.example.vn/VG-0042"


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"sensorElementList": [{"sensorReport": []}]}, r"sensorElementList\.0\.sensorReport"),
        ({"sensorElementList": [{"sensorReport": [{"type": "Mass", "value": "warm"}]}]}, r"sensorReport\.0\.value"),
        ({"sensorElementList": [{"sensorReport": [{"type": "Mass", "probe": "P1"}]}]}, "prefix"),
        ({"sensorElementList": [{"sensorReport": [{"value": 4}]}]}, r"sensorReport\.0\.type"),
        (
            {"sensorElementList": [{"sensorMetadata": {"time": "yesterday"}, "sensorReport": [{"type": "Mass"}]}]},
            "time",
        ),
        ({"persistentDisposition": {"set": ["fresh"]}}, "disposition"),
        ({"errorDeclaration": {"reason": "incorrect_data"}}, "declarationTime"),
    ],
    ids=[
        "no-reports",
        "value-not-number",
        "unprefixed-extension",
        "no-type",
        "bad-time",
        "unknown-disposition",
        "no-time",
    ],
)
def test_malformed_shapes_refused(extra: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match):
        normalize_event(BASE | extra, now=NOW)


def test_reference_sensor_events_pass_the_capture_path() -> None:
    """The reference examples' sensor-data ObjectEvents are accepted, and hashed as published."""
    if not SHARED.is_dir():
        pytest.skip(f"CBV 2.0 event hash examples not found at {SHARED}: ../shared is not beside this clone")
    accepted = 0
    for name in ("epcisDocWithSensorDataObjectEvent.jsonld", "CertificationInfoAndSensorReportWithCRS.jsonld"):
        doc = json.loads((SHARED / name).read_text())
        expected = (SHARED / name).with_suffix(".hashes").read_text().split()
        for event, want in zip(document_events(doc), expected, strict=True):
            raw = {k: v for k, v in event.items() if k not in ("eventID", "recordTime")}
            normalize_event(raw, now=NOW)
            assert event_hash_id(event, doc["@context"]) == want
            accepted += 1
    assert accepted >= 2
