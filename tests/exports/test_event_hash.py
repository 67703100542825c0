"""CBV 2.0 Event Hash IDs: GS1's reference examples, one case per example file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.errors import InputError
from ledger.exports.event_hash import document_hash_ids, epc_to_dl, event_hash_id, fix_time, prehash

DATA = Path(__file__).resolve().parents[1] / "data" / "epcis_event_hash"
EXAMPLES = sorted(DATA.glob("*.jsonld"))


def test_examples_are_there() -> None:
    assert len(EXAMPLES) == 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_matches_reference_hashes(path: Path) -> None:
    doc = json.loads(path.read_text())
    expected = path.with_suffix(".hashes").read_text().split()
    assert document_hash_ids(doc) == expected


def test_prehash_of_single_event() -> None:
    doc = json.loads((DATA / "epcisDocWithSingleEvent.jsonld").read_text())
    assert prehash(doc["epcisBody"]["eventList"][0], doc["@context"]) == (
        "eventType=ObjectEventeventTime=2022-02-17T02:33:31.116ZeventTimeZoneOffset=-06:00"
        "epcListepc=https://id.gs1.org/01/10614141073464/21/2017epc=https://id.gs1.org/01/10614141073464/21/2018"
        "action=OBSERVEbizStep=https://ref.gs1.org/cbv/BizStep-shippingdisposition=https://ref.gs1.org/cbv/Disp-in_transit"
        "readPointid=https://id.gs1.org/414/0614141073467/254/1234"
        "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-pobizTransaction=http://transaction.acme.com/po/12345678"
    )


def test_ignores_event_id_record_time_and_key_order() -> None:
    ev = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "storing",
        "eventTime": "2026-07-01T06:30:00+07:00",
        "eventTimeZoneOffset": "+07:00",
        "epcList": ["https://id.gs1.org/00/089300000000000019"],
    }
    same = dict(reversed(list(ev.items()))) | {"eventID": "urn:x:1", "recordTime": "2026-08-01T00:00:00Z"}
    assert event_hash_id(ev) == event_hash_id(same)
    assert event_hash_id(ev) != event_hash_id(ev | {"bizStep": "shipping"})
    assert event_hash_id(ev).startswith("ni:///sha-256;") and event_hash_id(ev).endswith("?ver=CBV2.0")


def test_canonical_values() -> None:
    assert fix_time("2026-07-01T06:30:00.1234+07:00") == "2026-06-30T23:30:00.123Z"
    assert fix_time("2026-07-01T06:30:00.9996+07:00") == "2026-06-30T23:30:01.000Z"
    assert epc_to_dl("urn:epc:id:sscc:4012345.1112223334") == "https://id.gs1.org/00/140123451122233341"
    assert epc_to_dl("urn:epc:class:lgtin:4012345.011111.4444") == "https://id.gs1.org/01/04012345111118/10/4444"


def test_sensor_data_is_refused() -> None:
    with pytest.raises(InputError, match="sensorElementList"):
        prehash({"type": "ObjectEvent", "sensorElementList": []})
