"""FSMA 204 sortable spreadsheet: CTEs and KDEs of a shipment with a transformation."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook

from ledger.errors import InputError
from ledger.exports import fsma204
from ledger.service import Ledger
from ledger.store.db import read_tx
from tests.exports.scenario import LAB_SHA, Scene


def rows(ledger: Ledger, **kw: Any) -> list[dict[str, Any]]:
    with read_tx(ledger.engine) as conn:
        return fsma204.rows_for(conn, **kw)


def test_shipment_ctes(ledger: Ledger, scene: Scene) -> None:
    got = rows(ledger, sscc=scene.sscc)
    ctes = [(r["Traceability Lot Code"][-10:], r["Critical Tracking Event"], r["Event Date"]) for r in got]
    assert ctes == [
        ("8.CM-RAW-1", "Harvesting", "2026-07-03"),
        ("8.CM-RAW-1", "Cooling", "2026-07-03"),
        ("8.CM-RAW-2", "Harvesting", "2026-07-04"),
        ("8.CM-RAW-1", "Initial Packing", "2026-07-04"),
        ("8.CM-RAW-2", "Cooling", "2026-07-04"),
        ("8.CM-RAW-1", "Shipping", "2026-07-05"),
        ("8.CM-RAW-2", "Shipping", "2026-07-05"),
        ("L-FROZEN-1", "Transformation", "2026-07-06"),
        ("L-FROZEN-1", "Shipping", "2026-07-09"),
    ]


def test_key_data_elements(ledger: Ledger, scene: Scene) -> None:
    got = {
        (r["Traceability Lot Code"], r["Critical Tracking Event"], r["Event Date"]): r
        for r in rows(ledger, sscc=scene.sscc)
    }
    tr = got[(scene.frozen, "Transformation", "2026-07-06")]
    assert tr["Input Traceability Lot Codes"] == f"{scene.raw1} (800 KGM); {scene.raw2} (1200 KGM)"
    assert (tr["Quantity"], tr["Unit of Measure"]) == (1500, "KGM")
    assert tr["Product Description"] == "Frozen durian (Sầu riêng đông lạnh)"
    assert tr["Traceability Lot Code Source"] == "Công ty Đông lạnh Mekong, Tiền Giang"
    assert tr["Location Description"] == "Nhà máy Đông lạnh Mekong, Tiền Giang"
    harvest2 = got[(scene.raw2, "Harvesting", "2026-07-04")]
    assert harvest2["Growing Area / Field"] == "VN-BTCM-0008"
    assert harvest2["Location Description"] == "xã Vĩnh Thành, Bến Tre"
    assert harvest2["Reference Document Number"] == "2026-07-02..2026-07-04"
    pack = got[(scene.raw1, "Initial Packing", "2026-07-04")]
    assert (pack["Reference Document Type"], pack["Reference Document Number"]) == ("lab_report", "KQ-2026-118")
    ship = got[(scene.frozen, "Shipping", "2026-07-09")]
    assert ship["Immediate Subsequent Recipient"] == "Importer warehouse, Los Angeles CA"
    assert (ship["Reference Document Type"], ship["Reference Document Number"]) == ("bol", "urn:ocop:bol:VNX-889")
    assert ship["Event Time"] == "09:00:00+07:00" and len(ship["Ledger Entry Hash"]) == 64
    assert LAB_SHA not in str(ship)


def test_lot_and_date_range(ledger: Ledger, scene: Scene) -> None:
    assert {r["Critical Tracking Event"] for r in rows(ledger, lot=scene.raw2)} == {"Harvesting", "Cooling", "Shipping"}
    ranged = rows(ledger, start=date(2026, 7, 5), end=date(2026, 7, 6))
    assert [r["Critical Tracking Event"] for r in ranged] == ["Shipping", "Shipping", "Transformation"]
    with pytest.raises(InputError, match="reversed"):
        rows(ledger, start=date(2026, 7, 6), end=date(2026, 7, 5))
    with pytest.raises(InputError, match="date range"):
        rows(ledger)


def test_csv_and_xlsx(ledger: Ledger, scene: Scene) -> None:
    got = rows(ledger, sscc=scene.sscc)
    text = fsma204.to_csv(got).decode("utf-8-sig")
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert list(parsed[0]) == fsma204.COLUMNS and len(parsed) == 9
    assert parsed[7]["Critical Tracking Event"] == "Transformation" and parsed[7]["Quantity"] == "1500"
    wb = load_workbook(io.BytesIO(fsma204.to_xlsx(got)))
    ws = wb["CTEs"]
    assert [c.value for c in ws[1]] == fsma204.COLUMNS
    assert ws.auto_filter.ref == "A1:S10" and ws.freeze_panes == "A2"
    assert ws.cell(row=9, column=4).value == "Transformation" and ws.cell(row=9, column=7).value == 1500
