"""EPCIS 2.0 export: valid against GS1's JSON schema, with the scenario's content and hash ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ledger.exports import epcis
from ledger.exports.event_hash import event_hash_id
from ledger.service import Ledger
from ledger.store.db import read_tx
from tests.exports.scenario import Scene

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "data" / "epcis" / "EPCIS-JSON-Schema.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def errors(doc: dict[str, Any]) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in VALIDATOR.iter_errors(doc)]


@pytest.fixture
def doc(ledger: Ledger, scene: Scene) -> dict[str, Any]:
    with read_tx(ledger.engine) as conn:
        return epcis.shipment_document(conn, scene.sscc)


def test_format_checker_is_active() -> None:
    assert "uri" in VALIDATOR.format_checker.checkers and "date-time" in VALIDATOR.format_checker.checkers


def test_shipment_document_is_schema_valid(doc: dict[str, Any]) -> None:
    assert errors(doc) == []
    assert len(doc["epcisBody"]["eventList"]) == 12


def test_lot_document_is_schema_valid(ledger: Ledger, scene: Scene) -> None:
    with read_tx(ledger.engine) as conn:
        own = epcis.lot_document(conn, scene.frozen)
        up = epcis.lot_document(conn, scene.frozen, upstream=True)
    assert errors(own) == [] and errors(up) == []
    assert {e["ocop:lot"] for e in own["epcisBody"]["eventList"]} == {scene.frozen}
    assert len(up["epcisBody"]["eventList"]) == 12


def test_content_of_transformation_and_aggregation(doc: dict[str, Any], scene: Scene) -> None:
    events = doc["epcisBody"]["eventList"]
    tr = next(e for e in events if e["type"] == "TransformationEvent")
    assert tr["bizStep"] == "ocop:freezing"
    assert [q["epcClass"] for q in tr["inputQuantityList"]] == [
        f"https://id.gs1.org/01/{scene.raw1[:14]}/10/CM-RAW-1",
        f"https://id.gs1.org/01/{scene.raw2[:14]}/10/CM-RAW-2",
    ]
    assert [q["quantity"] for q in tr["inputQuantityList"]] == [800, 1200]
    assert tr["outputQuantityList"][0]["quantity"] == 1500
    agg = next(e for e in events if e["type"] == "AggregationEvent")
    assert agg["parentID"] == f"https://id.gs1.org/00/{scene.sscc}" and agg["action"] == "ADD"
    commissioning = [e for e in events if e["bizStep"] == "commissioning"]
    assert commissioning[0]["ilmd"]["ocop:plotAreaHa"] == 2.5


def test_event_ids_are_hash_ids(doc: dict[str, Any]) -> None:
    events = doc["epcisBody"]["eventList"]
    ids = [e["eventID"] for e in events]
    assert len(set(ids)) == len(ids)
    for e in events:
        assert e["eventID"] == event_hash_id({k: v for k, v in e.items() if k != "eventID"}, doc["@context"])


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["epcisBody"]["eventList"][0]["quantityList"][0].pop("epcClass"),
        lambda d: d["epcisBody"]["eventList"][1].__setitem__("eventTime", "yesterday"),
        lambda d: d["epcisBody"]["eventList"][2]["readPoint"].__setitem__("id", "not a uri"),
        lambda d: d.pop("@context"),
    ],
    ids=["no-epcClass", "bad-time", "bad-uri", "no-context"],
)
def test_schema_rejects_broken_documents(doc: dict[str, Any], breakage: Any) -> None:
    broken = json.loads(json.dumps(doc))
    breakage(broken)
    assert errors(broken)
