"""An exporter's scenario: raw durian lots, a transformation into frozen durian, a shipment.

- HTX Sầu riêng Cái Mơn (cooperative) harvests two raw lots: RAW-1 on a 2.5 ha plot (Point) and
  RAW-2 on a 6 ha plot (Polygon); cools and packs them, ships them to the processor.
- Công ty Đông lạnh Mekong (company) turns 800 kg + 1200 kg of them into FROZEN-1 (1500 kg).
- Vina Export (exporter) packs FROZEN-1 into a pallet (SSCC), ships it to Los Angeles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.core import gs1
from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.service import Ledger
from ledger.store import shipments
from tests.helpers import gtin

SSCC = "089300000000000017"
LAB_SHA = "ab" * 32
POLYGON = {  # about 6.0 ha (geodesic, WGS-84), as declared
    "type": "Polygon",
    "coordinates": [
        [
            [106.1231234, 10.2101],
            [106.1253734, 10.2101],
            [106.1253734, 10.2123],
            [106.1231234, 10.2123],
            [106.1231234, 10.2101],
        ]
    ],
}


@dataclass
class Scene:
    raw1: str
    raw2: str
    frozen: str
    sscc: str
    coop: str = "htx-cai-mon"
    company: str = "cty-dong-lanh"
    exporter: str = "vina-export"


def fix_sscc() -> str:
    body = SSCC[:17]
    return body + str(gs1.check_digit(body))


def _org(ledger: Ledger, slug: str, name: str, kind: str, province: str) -> None:
    ledger.create_org(OrganizationCreate(name=name, slug=slug, kind=kind, province=province))


def _ev(step: str, time: str, lot: str, qty: float, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": step,
        "eventTime": time,
        "quantityList": [{"lot": lot, "quantity": qty, "uom": "KGM"}],
    }
    ev.update(extra)
    return ev


def build(ledger: Ledger) -> Scene:
    _org(ledger, "htx-cai-mon", "HTX Sầu riêng Cái Mơn", "cooperative", "Bến Tre")
    _org(ledger, "cty-dong-lanh", "Công ty Đông lạnh Mekong", "company", "Tiền Giang")
    _org(ledger, "vina-export", "Vina Export", "exporter", "TP. Hồ Chí Minh")
    fresh, frozen = gtin(1001), gtin(1002)
    ledger.create_product(
        "htx-cai-mon",
        ProductCreate(
            gtin=fresh, name_vi="Sầu riêng Ri6 tươi", name_en="Fresh Ri6 durian", ocop_stars=4, ocop_year=2024
        ),
    )
    ledger.create_product(
        "cty-dong-lanh",
        ProductCreate(
            gtin=frozen, name_vi="Sầu riêng đông lạnh", name_en="Frozen durian", ocop_stars=5, ocop_year=2025
        ),
    )
    base = {"origin_province": "Bến Tre", "origin_commune": "xã Vĩnh Thành", "unit": "KGM"}
    raw1 = ledger.create_lot(
        "htx-cai-mon",
        {
            **base,
            "gtin": fresh,
            "code": "CM-RAW-1",
            "growing_area_code": "VN-BTCM-0007",
            "plot": {"type": "Point", "coordinates": [106.1234567, 10.2345678]},
            "plot_area_ha": 2.5,
            "harvest_start": "2026-07-01",
            "harvest_end": "2026-07-03",
            "quantity": 800,
            "event_time": "2026-07-03T16:00:00+07:00",
        },
    )["lot_id"]
    raw2 = ledger.create_lot(
        "htx-cai-mon",
        {
            **base,
            "gtin": fresh,
            "code": "CM-RAW-2",
            "growing_area_code": "VN-BTCM-0008",
            "plot": POLYGON,
            "plot_area_ha": 6,
            "harvest_start": "2026-07-02",
            "harvest_end": "2026-07-04",
            "quantity": 1200,
            "event_time": "2026-07-04T16:00:00+07:00",
        },
    )["lot_id"]
    farm = {"id": "urn:epc:id:sgln:8930001.00001.0", "name": "Vườn Cái Mơn", "province": "Bến Tre"}
    ledger.record(
        "htx-cai-mon",
        [
            {"lot": raw1, "event": _ev("ocop:harvesting", "2026-07-03T07:00:00+07:00", raw1, 800, readPoint=farm)},
            {"lot": raw1, "event": _ev("ocop:cooling", "2026-07-03T18:00:00+07:00", raw1, 800, readPoint=farm)},
            {"lot": raw2, "event": _ev("ocop:cooling", "2026-07-04T18:00:00+07:00", raw2, 1200, readPoint=farm)},
            {
                "lot": raw1,
                "event": _ev(
                    "packing",
                    "2026-07-04T08:00:00+07:00",
                    raw1,
                    800,
                    readPoint={"id": "urn:epc:id:sgln:8930001.00002.0", "name": "Nhà sơ chế Cái Mơn"},
                    **{"ocop:documents": [{"type": "lab_report", "sha256": LAB_SHA, "name": "KQ-2026-118"}]},
                ),
            },
        ],
    )
    ledger.record(
        "htx-cai-mon",
        [
            {
                "lot": lot,
                "event": _ev(
                    "shipping",
                    "2026-07-05T06:00:00+07:00",
                    lot,
                    qty,
                    readPoint={"id": "urn:epc:id:sgln:8930001.00002.0", "name": "Nhà sơ chế Cái Mơn"},
                    destinationList=[{"type": "location", "destination": "Nhà máy Đông lạnh Mekong, Tiền Giang"}],
                    bizTransactionList=[{"type": "desadv", "bizTransaction": "urn:ocop:desadv:CM-0705"}],
                ),
            }
            for lot, qty in ((raw1, 800), (raw2, 1200))
        ],
    )
    frozen_lot = ledger.create_lot(
        "cty-dong-lanh",
        {
            "gtin": frozen,
            "code": "DL-FROZEN-1",
            "quantity": 1500,
            "unit": "KGM",
            "origin_province": "Tiền Giang",
            "event_time": "2026-07-06T10:00:00+07:00",
        },
    )["lot_id"]
    plant = {"id": "urn:epc:id:sgln:8930002.00001.0", "name": "Nhà máy Đông lạnh Mekong", "province": "Tiền Giang"}
    ledger.record(
        "cty-dong-lanh",
        [
            {
                "lot": frozen_lot,
                "event": {
                    "type": "TransformationEvent",
                    "bizStep": "ocop:freezing",
                    "eventTime": "2026-07-06T11:00:00+07:00",
                    "inputQuantityList": [
                        {"lot": raw1, "quantity": 800, "uom": "KGM"},
                        {"lot": raw2, "quantity": 1200, "uom": "KGM"},
                    ],
                    "outputQuantityList": [{"lot": frozen_lot, "quantity": 1500, "uom": "KGM"}],
                    "readPoint": plant,
                },
            }
        ],
    )
    sscc = fix_sscc()
    depot = {"id": "urn:epc:id:sgln:8930003.00001.0", "name": "Kho Vina Export Cát Lái"}
    shipments.pack(ledger, "vina-export", sscc, [frozen_lot], event_time="2026-07-08T09:00:00+07:00", read_point=depot)
    shipments.move(
        ledger,
        "vina-export",
        sscc,
        "shipping",
        event_time="2026-07-09T09:00:00+07:00",
        location=depot,
        party="Importer warehouse, Los Angeles CA",
        biz_transactions=[{"type": "bol", "bizTransaction": "urn:ocop:bol:VNX-889"}],
    )
    return Scene(str(raw1), str(raw2), str(frozen_lot), sscc)
