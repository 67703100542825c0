"""FSMA 204 KDEs per 21 CFR 1.1325-1.1350, read back as the FDA's sortable-spreadsheet reader would:
every CTE's required columns, missing KDEs marked (column, yellow cells, summary sheet), --strict."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from ledger.errors import InputError
from ledger.exports import fsma204
from ledger.service import Ledger
from ledger.store.db import read_tx
from tests.exports.scenario import Scene

SHIPPING = ("Traceability Lot Code", "Quantity", "Unit of Measure", "Product Description")
SHIPPING += ("Immediate Subsequent Recipient", "Location Description", "Event Date", "Traceability Lot Code Source")
SHIPPING += ("Reference Document Type", "Reference Document Number")


def rows(ledger: Ledger, **kw: Any) -> list[dict[str, Any]]:
    with read_tx(ledger.engine) as conn:
        return fsma204.rows_for(conn, **kw)


def parsed_csv(got: list[dict[str, Any]]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(fsma204.to_csv(got).decode("utf-8-sig"))))


def test_shipping_kdes_are_those_of_1_1340() -> None:
    assert fsma204.REQUIRED_KDES["Shipping"] == SHIPPING
    receiving = set(fsma204.REQUIRED_KDES["Receiving"])
    assert {"Immediate Previous Source", "Location Description", "Reference Document Number"} <= receiving
    assert "Input Traceability Lot Codes" in fsma204.REQUIRED_KDES["Transformation"]


def test_missing_kdes_column_names_exactly_the_empty_required_cells(ledger: Ledger, scene: Scene) -> None:
    table = parsed_csv(rows(ledger, sscc=scene.sscc))
    assert table and all(set(r) == set(fsma204.COLUMNS) for r in table)
    for r in table:
        required = fsma204.REQUIRED_KDES[r["Critical Tracking Event"]]
        expected = [k for k in required if not r[k].strip()]
        assert r["Missing KDEs"] == "; ".join(expected), r
    cooling = next(r for r in table if r["Critical Tracking Event"] == "Cooling")
    assert "Reference Document Number" in cooling["Missing KDEs"]  # the scene's cooling names no document
    packing = next(r for r in table if r["Critical Tracking Event"] == "Initial Packing")
    assert packing["Missing KDEs"] == ""


def test_a_processed_lots_packing_is_part_of_its_transformation(ledger: Ledger, scene: Scene) -> None:
    ev = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": "packing",
        "eventTime": "2026-07-07T08:00:00+07:00",
        "quantityList": [{"lot": scene.frozen, "quantity": 1500, "uom": "KGM"}],
    }
    ledger.record("cty-dong-lanh", [{"lot": scene.frozen, "event": ev}])
    got = [(r["Critical Tracking Event"], r["Event Date"]) for r in rows(ledger, lot=scene.frozen)]
    assert ("Transformation", "2026-07-07") in got and ("Initial Packing", "2026-07-07") not in got
    raw = [r["Critical Tracking Event"] for r in rows(ledger, lot=scene.raw1) if r["Event Date"] == "2026-07-04"]
    assert "Initial Packing" in raw


def test_receiving_at_the_processor_is_required(ledger: Ledger, scene: Scene) -> None:
    gaps = fsma204.missing_ctes(rows(ledger, sscc=scene.sscc))
    assert sorted(g["lot"] for g in gaps) == sorted([scene.raw1, scene.raw2])
    assert all(g["cte"] == "Receiving" and "Mekong" in g["at"] for g in gaps)


def test_xlsx_marks_missing_cells_and_sums_them_up(ledger: Ledger, scene: Scene) -> None:
    got = rows(ledger, sscc=scene.sscc)
    wb = load_workbook(io.BytesIO(fsma204.to_xlsx(got)))
    ws = wb["CTEs"]
    header = [c.value for c in ws[1]]
    assert header == fsma204.COLUMNS
    for n, row in enumerate(got, start=2):
        for name in fsma204.COLUMNS:
            cell = ws.cell(row=n, column=header.index(name) + 1)
            yellow = cell.fill.fill_type == "solid" and cell.fill.start_color.rgb.endswith(fsma204.MISSING_FILL)
            assert yellow == (name in fsma204.missing_kdes(row)), (n, name)
    summary = list(wb["Missing KDEs"].iter_rows(values_only=True))
    assert list(summary[0]) == fsma204.SUMMARY_COLUMNS
    assert len(summary) - 1 == len(fsma204.gaps(got)) > 0
    assert any(r[1] == "Receiving" and "Receiving CTE" in str(r[3]) for r in summary[1:])


def test_strict_refuses_and_lists_every_gap(ledger: Ledger, scene: Scene) -> None:
    got = rows(ledger, sscc=scene.sscc)
    with pytest.raises(InputError, match="FSMA 204 export refused") as info:
        fsma204.check_complete(got)
    assert len(info.value.details) == len(fsma204.gaps(got))
    complete = dict.fromkeys(fsma204.COLUMNS, "x") | {"Critical Tracking Event": "Shipping", "Missing KDEs": ""}
    fsma204.check_complete([complete])  # nothing missing: no error
