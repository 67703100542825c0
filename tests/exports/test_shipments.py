"""Shipments (SSCC aggregation) and transformation lineage."""

from __future__ import annotations

import pytest

from ledger.errors import InputError, NotFound
from ledger.service import Ledger
from ledger.store import lineage, shipments
from ledger.store.db import read_tx
from tests.exports.scenario import Scene


def test_membership_comes_from_signed_events(ledger: Ledger, scene: Scene) -> None:
    with read_tx(ledger.engine) as conn:
        data = shipments.get_shipment(conn, scene.sscc)
        assert shipments.shipments_of_lot(conn, scene.frozen) == [scene.sscc]
    assert data["owner"]["slug"] == "vina-export"
    assert [(m["lot"], m["quantity"], m["uom"]) for m in data["lots"]] == [(scene.frozen, 1500, "KGM")]
    assert data["uri"] == f"https://id.gs1.org/00/{scene.sscc}"


def test_pack_more_and_unpack(ledger: Ledger, scene: Scene) -> None:
    shipments.pack(
        ledger,
        "htx-cai-mon",
        scene.sscc,
        [{"lot": scene.raw2, "quantity": 100, "uom": "KGM"}],
        event_time="2026-07-08T10:00:00+07:00",
    )
    with read_tx(ledger.engine) as conn:
        assert [m.lot_id for m in shipments.members(conn, scene.sscc)] == [scene.frozen, scene.raw2]
    shipments.unpack(ledger, "htx-cai-mon", scene.sscc, [scene.raw2], event_time="2026-07-10T08:00:00+07:00")
    with read_tx(ledger.engine) as conn:
        assert [m.lot_id for m in shipments.members(conn, scene.sscc)] == [scene.frozen]
    with pytest.raises(InputError, match="not in shipment"):
        shipments.unpack(ledger, "htx-cai-mon", scene.sscc, [scene.raw2], event_time="2026-07-10T08:00:00+07:00")
    assert ledger.verify_lot(scene.raw2).verdict == "pending"


def test_sscc_check_digit(ledger: Ledger, scene: Scene) -> None:
    bad = scene.sscc[:-1] + str((int(scene.sscc[-1]) + 1) % 10)
    with pytest.raises(InputError, match="SSCC check digit is wrong"):
        shipments.pack(ledger, "vina-export", bad, [scene.frozen], event_time="2026-07-08T09:00:00+07:00")
    with pytest.raises(InputError, match="18 digits"):
        shipments.sscc_uri("12345")
    with read_tx(ledger.engine) as conn, pytest.raises(NotFound):
        shipments.get_shipment(conn, "089300000000000026")


def test_move_needs_lots(ledger: Ledger, scene: Scene) -> None:
    with pytest.raises(InputError, match="holds no lots"):
        shipments.move(ledger, "vina-export", "089300000000000026", "shipping", event_time="2026-07-09T09:00:00+07:00")


def test_lineage_both_ways(ledger: Ledger, scene: Scene) -> None:
    with read_tx(ledger.engine) as conn:
        up = lineage.lineage(conn, scene.frozen, "up")
        down = lineage.lineage(conn, scene.raw2, "down")
        with pytest.raises(NotFound):
            lineage.lineage(conn, "08930000010018.NOPE", "up")
        with pytest.raises(InputError, match="direction"):
            lineage.edges(conn, scene.frozen, "sideways")  # type: ignore[arg-type]
    assert {(e["input_lot"], e["input_quantity"], e["output_quantity"]) for e in up["edges"]} == {
        (scene.raw1, 800, 1500),
        (scene.raw2, 1200, 1500),
    }
    assert [(x["lot_id"], x["depth"]) for x in up["lots"]] == [(scene.frozen, 0), (scene.raw1, 1), (scene.raw2, 1)]
    assert [(e["output_lot"], e["input_quantity"], e["input_uom"]) for e in down["edges"]] == [
        (scene.frozen, 1200, "KGM")
    ]


def test_lineage_is_recursive(ledger: Ledger, scene: Scene) -> None:
    from ledger.core.records import ProductCreate
    from tests.helpers import gtin

    ledger.create_product("cty-dong-lanh", ProductCreate(gtin=gtin(1003), name_vi="Kem sầu riêng"))
    cream = ledger.create_lot(
        "cty-dong-lanh", {"gtin": gtin(1003), "code": "KEM-1", "event_time": "2026-07-07T08:00:00+07:00"}
    )["lot_id"]
    ledger.record(
        "cty-dong-lanh",
        [
            {
                "lot": cream,
                "event": {
                    "type": "TransformationEvent",
                    "bizStep": "other",
                    "eventTime": "2026-07-07T09:00:00+07:00",
                    "inputQuantityList": [{"lot": scene.frozen, "quantity": 200, "uom": "KGM"}],
                },
            }
        ],
    )
    with read_tx(ledger.engine) as conn:
        up = lineage.lineage(conn, cream, "up")
        down = lineage.lineage(conn, scene.raw1, "down")
    assert sorted((x["lot_id"], x["depth"]) for x in up["lots"]) == sorted(
        [(cream, 0), (scene.frozen, 1), (scene.raw1, 2), (scene.raw2, 2)]
    )
    assert [(x["lot_id"], x["depth"]) for x in down["lots"]] == [(scene.raw1, 0), (scene.frozen, 1), (cream, 2)]
