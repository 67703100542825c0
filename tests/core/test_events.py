"""EPCIS 2.0-shaped events: validation, normalization and their error messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ledger.core.events import format_record_time, normalize_event, parse_time
from ledger.errors import InputError
from tests.helpers import event

NOW = datetime(2026, 8, 1, 3, 0, tzinfo=UTC)
SHA = "ab" * 32


def _norm(raw: Any) -> dict[str, Any]:
    return normalize_event(raw, now=NOW)


def test_object_event_is_normalized() -> None:
    out = _norm(
        event(
            "urn:epcglobal:cbv:bizstep:shipping",
            action="ADD",
            disposition="https://ref.gs1.org/cbv/Disp-in_transit",
            time="2026-07-02T06:30:00+07:00",
            quantityList=[{"lot": "08930000045676.A", "quantity": 1200.0, "uom": "KGM"}],
            readPoint={"id": "urn:epc:id:sgln:8930000.00001.0", "name": "  Kho Phú Hội  "},
            **{"ocop:documents": [{"type": "lab-report", "sha256": SHA.upper()}], "ocop:note": "đã kiểm"},
        )
    )
    assert out == {
        "type": "ObjectEvent",
        "action": "ADD",
        "bizStep": "shipping",
        "disposition": "in_transit",
        "eventTime": "2026-07-02T06:30:00+07:00",
        "eventTimeZoneOffset": "+07:00",
        "quantityList": [{"lot": "08930000045676.A", "quantity": 1200, "uom": "KGM"}],
        "readPoint": {"id": "urn:epc:id:sgln:8930000.00001.0", "name": "Kho Phú Hội"},
        "ocop:documents": [{"type": "lab-report", "sha256": SHA}],
        "ocop:note": "đã kiểm",
    }
    assert isinstance(out["quantityList"][0]["quantity"], int)
    assert _norm(out) == out  # normalizing twice changes nothing (clients sign the normal form)


@pytest.mark.parametrize(
    ("step", "want"),
    [
        ("shipping", "shipping"),
        ("urn:epcglobal:cbv:bizstep:receiving", "receiving"),
        ("https://ref.gs1.org/cbv/BizStep-inspecting", "inspecting"),
        ("ocop:harvesting", "ocop:harvesting"),
        ("ocop:roasting", "ocop:roasting"),
    ],
)
def test_biz_steps_and_cbv_uris(step: str, want: str) -> None:
    assert _norm(event(step))["bizStep"] == want


@pytest.mark.parametrize("step", ["dancing", "ocop:dancing", "urn:epcglobal:cbv:bizstep:dancing", "Shipping", ""])
def test_unknown_biz_step(step: str) -> None:
    with pytest.raises(InputError, match="expected a CBV 2.0 business step") as exc:
        _norm(event(step))
    assert exc.value.field == "event.bizStep"


def test_unknown_disposition() -> None:
    with pytest.raises(InputError, match="expected a CBV 2.0 disposition, got 'ripe'"):
        _norm(event(disposition="ripe"))


@pytest.mark.parametrize("missing", ["type", "bizStep", "eventTime"])
def test_missing_fields(missing: str) -> None:
    raw = event()
    del raw[missing]
    with pytest.raises(InputError, match=f"event.{missing}: Field required") as exc:
        _norm(raw)
    assert exc.value.field == f"event.{missing}"
    assert exc.value.details == [{"field": f"event.{missing}", "message": "Field required"}]


def test_all_errors_are_listed() -> None:
    raw = event(time="2026-07-02T06:30:00", quantityList=[{"quantity": -1, "uom": "kg"}])
    with pytest.raises(InputError) as exc:
        _norm(raw)
    fields = [d["field"] for d in exc.value.details]
    assert fields == ["event.eventTime", "event.quantityList.0.quantity", "event.quantityList.0.uom"]


@pytest.mark.parametrize(
    "time", ["yesterday", "2026-13-01T06:30:00+07:00", "2026-07-02T25:00:00+07:00", "", "07/02/2026"]
)
def test_malformed_time(time: str) -> None:
    with pytest.raises(InputError, match="eventTime must be an ISO 8601 date-time with offset"):
        _norm(event(time=time))


@pytest.mark.parametrize("time", ["2026-07-02T06:30:00", "2026-07-02"])
def test_time_without_offset(time: str) -> None:
    with pytest.raises(InputError, match=r"eventTime must carry a timezone offset \(e.g. \+07:00\)"):
        _norm(event(time=time))


def test_time_zone_offset() -> None:
    assert _norm(event(time="2026-07-02T06:30:00Z"))["eventTimeZoneOffset"] == "+00:00"
    assert _norm(event(time="2026-07-02T06:30:00-03:30"))["eventTimeZoneOffset"] == "-03:30"
    assert (
        _norm(event(time="2026-07-02T06:30:00+07:00", eventTimeZoneOffset="+07:00"))["eventTimeZoneOffset"] == "+07:00"
    )
    with pytest.raises(
        InputError, match="eventTimeZoneOffset disagrees with eventTime: expected \\+07:00, got \\+08:00"
    ):
        _norm(event(time="2026-07-02T06:30:00+07:00", eventTimeZoneOffset="+08:00"))


def test_future_time() -> None:
    _norm(event(time="2026-08-02T09:59:00+07:00"))  # 23h59m ahead of the clock: clock skew, accepted
    with pytest.raises(InputError, match="eventTime is in the future: 2026-08-02T10:01:00\\+07:00") as exc:
        _norm(event(time="2026-08-02T10:01:00+07:00"))
    assert exc.value.field == "event.eventTime"


def test_transformation_needs_inputs() -> None:
    raw = event("ocop:drying", type="TransformationEvent", action=None)
    with pytest.raises(InputError, match="a TransformationEvent needs its input lots"):
        _norm(raw)
    raw["inputQuantityList"] = [{"quantity": 5, "uom": "KGM"}]
    with pytest.raises(InputError, match="inputQuantityList.0.lot: name the input lot's id"):
        _norm(raw)
    raw["inputQuantityList"][0]["lot"] = "08930000045676.A"
    assert _norm(raw)["inputQuantityList"] == [{"lot": "08930000045676.A", "quantity": 5, "uom": "KGM"}]
    with pytest.raises(InputError, match="a TransformationEvent has no action"):
        _norm({**raw, "action": "ADD"})


def test_action_rules() -> None:
    with pytest.raises(InputError, match="action: expected ADD, OBSERVE or DELETE"):
        _norm(event(action=None))
    with pytest.raises(InputError, match="event.action"):
        _norm(event(action="UPDATE"))
    with pytest.raises(InputError, match="an AggregationEvent needs its parent"):
        _norm(event("packing", type="AggregationEvent", action="ADD", childEPCs=["urn:epc:id:sgtin:8930000.004567.1"]))
    agg = event("packing", type="AggregationEvent", action="ADD", parentID="urn:epc:id:sscc:8930000.0000000001")
    assert _norm(agg)["parentID"] == "urn:epc:id:sscc:8930000.0000000001"


@pytest.mark.parametrize("owned", ["recordTime", "ocop:inputs"])
def test_ledger_owned_fields_are_refused(owned: str) -> None:
    with pytest.raises(InputError, match=f"event.{owned} is set by the ledger") as exc:
        _norm({**event(), owned: "x"})
    assert exc.value.field == f"event.{owned}"


def test_unknown_fields_and_non_objects() -> None:
    with pytest.raises(InputError, match="event.colour: Extra inputs are not permitted"):
        _norm({**event(), "colour": "red"})
    with pytest.raises(InputError, match="event must be a JSON object, got list"):
        _norm([event()])


@pytest.mark.parametrize(
    ("q", "field"),
    [
        ({"quantity": 0, "uom": "KGM"}, "quantity"),
        ({"quantity": float("nan"), "uom": "KGM"}, "quantity"),
        ({"quantity": 1e13, "uom": "KGM"}, "quantity"),
        ({"quantity": 1, "uom": "kilo"}, "uom"),
        ({"quantity": 1}, "uom"),
    ],
)
def test_bad_quantities(q: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as exc:
        _norm(event(quantityList=[q]))
    assert exc.value.field == f"event.quantityList.0.{field}"


def test_bad_document_hash() -> None:
    with pytest.raises(InputError, match="expected 64 lowercase hex digits"):
        _norm(event(**{"ocop:documents": [{"type": "lab-report", "sha256": "abc"}]}))


def test_parse_and_format_times() -> None:
    t = parse_time("2026-07-02T06:30:00.123456+07:00", "eventTime")
    assert t.utcoffset() is not None
    assert format_record_time(t) == "2026-07-01T23:30:00.123Z"
    with pytest.raises(ValueError, match="must carry a timezone offset"):
        parse_time("2026-07-02T06:30:00", "x")
