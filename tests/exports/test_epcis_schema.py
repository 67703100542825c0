"""Every event the ledger accepts exports valid against GS1's EPCIS 2.0 JSON schema (a property).

The README Quickstart over HTTP is in tests/api/test_epcis_export.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.events import CBV_BIZ_STEPS, CBV_DISPOSITIONS, OCOP_BIZ_STEPS, normalize_event
from ledger.exports import epcis
from tests.exports.test_epcis import errors

LOT = "08930000045676.PH-2026-07"
_ROW = SimpleNamespace(lot_id=LOT, idx=7, leaf_hash=b"\x01" * 32)
_NOW = datetime(2026, 8, 1, tzinfo=UTC)
_uri = st.sampled_from(["urn:epc:id:sgtin:0614141.107346.2018", "https://id.gs1.org/00/089300000000000017", "X-1"])
_qty = st.fixed_dictionaries(
    {"quantity": st.integers(1, 10_000), "uom": st.sampled_from(["KGM", "TNE", "H87"])},
    optional={"lot": st.just(LOT), "epcClass": st.just("urn:epc:class:lgtin:4012345.012345.998877")},
)
_loc = st.fixed_dictionaries(
    {"id": st.sampled_from(["urn:ocop:loc:A", "VN-LD 1", "https://id.gs1.org/414/8930000000017"])}
)
_report = st.fixed_dictionaries(
    {"type": st.sampled_from(["Temperature", "gs1:Mass", "nhiệt độ"])},
    optional={
        "exception": st.sampled_from(["ALARM_CONDITION", "bad"]),
        "deviceID": st.sampled_from(["urn:epc:id:giai:4000001.111", "probe 1"]),
        "value": st.floats(-50, 50),
        "uom": st.just("CEL"),
        "component": st.sampled_from(["x", "axis"]),
        "booleanValue": st.booleans(),
        "ocop:probe": st.just("P1"),
    },
)
_sensor = st.fixed_dictionaries(
    {"sensorReport": st.lists(_report, min_size=1, max_size=2)},
    optional={"sensorMetadata": st.just({"time": "2026-07-03T08:59:00+07:00", "bizRules": "rule 7"})},
)
_common = {
    "bizStep": st.sampled_from(sorted(CBV_BIZ_STEPS | OCOP_BIZ_STEPS)),
    "eventTime": st.sampled_from(["2026-07-03T09:00:00+07:00", "2026-07-01T00:00:00Z"]),
}
_optional = {
    "disposition": st.sampled_from(sorted(CBV_DISPOSITIONS)),
    "readPoint": _loc,
    "bizLocation": _loc,
    "epcList": st.lists(_uri, max_size=2),
    "quantityList": st.lists(_qty, max_size=2),
    "ilmd": st.just({"ocop:originProvince": "Lâm Đồng"}),
    "bizTransactionList": st.just([{"type": "po", "bizTransaction": "PO 42"}]),
    "sourceList": st.just([{"type": "owning_party", "source": "HTX A"}]),
    "ocop:note": st.just("ghi chú"),
    "persistentDisposition": st.just({"set": ["completeness_verified"], "unset": ["active"]}),
    "certificationInfo": st.sampled_from(["https://cert.example.vn/VG-0042", "VG-0042"]),
    "errorDeclaration": st.just({"declarationTime": "2026-07-04T10:00:00+07:00", "reason": "incorrect_data"}),
    "sensorElementList": st.lists(_sensor, min_size=1, max_size=2),
}
_object = st.fixed_dictionaries(
    {"type": st.just("ObjectEvent"), "action": st.sampled_from(["ADD", "OBSERVE", "DELETE"]), **_common},
    optional=_optional,
)
_aggregation = st.fixed_dictionaries(
    {"type": st.just("AggregationEvent"), "action": st.sampled_from(["ADD", "OBSERVE", "DELETE"]), **_common},
    optional={
        "parentID": _uri,
        "childEPCs": st.lists(_uri, max_size=2),
        "childQuantityList": st.lists(_qty, max_size=2),
    },
)
_transformation = st.fixed_dictionaries(
    {
        "type": st.just("TransformationEvent"),
        **_common,
        "inputQuantityList": st.lists(_qty.map(lambda q: q | {"lot": LOT}), min_size=1, max_size=2),
    },
    optional={"outputQuantityList": st.lists(_qty, max_size=2)},
)


def _accepted(raw: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return normalize_event(raw, now=_NOW)
    except ValueError:  # InputError is a ValueError: the ledger refuses it, nothing to export
        return None


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(_object, _aggregation, _transformation), amount=st.sampled_from([(1200, "KGM"), (None, None)]))
def test_every_accepted_event_exports_schema_valid(raw: dict[str, Any], amount: tuple[Any, Any]) -> None:
    ev = _accepted(raw)
    if ev is None:
        return
    doc = epcis.document([epcis.with_hash_id(epcis.epcis_event(_ROW, ev, amount))], _NOW)
    assert errors(doc) == [], (raw, doc)
