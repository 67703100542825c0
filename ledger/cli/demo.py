"""The demo data set that ``ocop-ledger up`` seeds into a fresh data folder.

Producers and products are real OCOP producers named in public Vietnamese news (2024-2025);
their GTINs are NOT real (made under the GS1 Vietnam prefix 893 with correct check digits), and
growing-area codes, plots, lot numbers, documents, the inspection lab and the logistics company
are invented for the demo. Everything lives here: nothing reads files outside the project.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from ledger.core.gs1 import make_gtin
from ledger.core.records import Certification, OrganizationCreate, ProductCreate
from ledger.exports import eudr
from ledger.service import Ledger

TZ = "+07:00"

# slug, name, kind, province, products: (name_vi, name_en, category, stars, year)
ORGS: list[tuple[str, str, str, str, list[tuple[str, str, str, int | None, int | None]]]] = [
    ("htx-phu-hoi", "HTX Dịch vụ Thanh long Hữu cơ Phú Hội", "cooperative", "Lâm Đồng",
     [("Thanh long ruột đỏ", "Red-flesh dragon fruit", "fruit", 3, 2024)]),
    ("htx-hoa-le", "HTX Thanh long sạch Hòa Lệ", "cooperative", "Lâm Đồng",
     [("Thanh long", "Dragon fruit", "fruit", None, None)]),
    ("long-thuy", "Công ty TNHH TM-SX Long Thủy", "company", "Lâm Đồng",
     [("Sầu riêng", "Durian", "fruit", None, None)]),
    ("htx-thuan-an", "HTX Công Bằng Thuận An", "cooperative", "Lâm Đồng",
     [("Cà phê bột", "Ground coffee", "coffee", 4, 2024)]),
    ("tafa-viet", "Công ty TNHH Chăn nuôi TAFA Việt", "company", "Lâm Đồng",
     [("Trứng gà tươi", "Fresh chicken eggs", "eggs", 4, 2024), ("Trứng gà nướng", "Roasted eggs", "eggs", 4, 2024)]),
    ("htx-binh-minh", "HTX Nông sản hữu cơ Bình Minh", "cooperative", "Tuyên Quang",
     [("Trà ổi túi lọc", "Guava tea bags", "tea", 4, 2024),
      ("Hoa đu đủ đực ngâm mật ong", "Male papaya flowers in honey", "preserves", 4, 2024)]),
    ("htx-chieu-yen", "HTX Chuối sạch Chiêu Yên", "cooperative", "Tuyên Quang",
     [("Chuối sấy", "Dried bananas", "dried fruit", 4, 2024)]),
    ("dong-a", "Công ty TNHH SX-TM Tổng hợp Đông Á", "company", "Bến Tre",
     [("Kẹo dừa ca cao", "Cocoa coconut candy", "confectionery", 5, 2024),
      ("Kẹo dừa sầu riêng lá dứa", "Durian pandan coconut candy", "confectionery", 5, 2024)]),
    ("chanh-thu", "Công ty TNHH XNK Trái cây Chánh Thu", "company", "Bến Tre",
     [("Sầu riêng nguyên trái đông lạnh DuriVy", "DuriVy whole frozen durian", "frozen fruit", 5, 2024)]),
    ("demo-lab", "Phòng Kiểm nghiệm Nông sản Demo", "inspector", "Hồ Chí Minh", []),
    ("demo-logistics", "Công ty CP Logistics Xuất khẩu Demo", "exporter", "Hồ Chí Minh", []),
]  # fmt: skip


# slug/product index -> the optional master data of products sold abroad (brand, net content, zh/ja names)
DETAILS: dict[str, dict[str, Any]] = {
    "htx-phu-hoi/1": {"name_zh": "红心火龙果", "name_ja": "赤肉ドラゴンフルーツ", "brand": "Phú Hội",
                      "net_content": {"value": 10, "unit": "KGM"}},
    "chanh-thu/1": {"name_zh": "DuriVy 冷冻整颗榴莲", "name_ja": "DuriVy 冷凍ドリアン(丸ごと)", "brand": "DuriVy"},
    "dong-a/1": {"name_zh": "可可椰子糖", "name_ja": "ココア・ココナッツキャンディ", "brand": "Đông Á",
                 "net_content": {"value": 400, "unit": "GRM"}},
}  # fmt: skip


@dataclass
class DemoData:
    gtins: dict[str, str] = field(default_factory=dict)  # "org/product index" -> GTIN-14
    lots: list[str] = field(default_factory=list)
    featured: str = ""  # the lot `up` prints: DuriVy frozen durian, made from Long Thủy's fresh durian


def gtin_for(org_no: int, item: int) -> str:
    """An invented GTIN-13 (as GTIN-14) under 893 (GS1 Vietnam), company prefix 893 + 4 digits."""
    return make_gtin(f"893{9000 + org_no:04d}", item)


def is_fresh(ledger: Ledger) -> bool:
    return not ledger.list_orgs()


def seed(ledger: Ledger) -> DemoData:
    """Create the demo organizations, products, lots and events (about 50 log entries)."""
    data = DemoData()
    for no, (slug, name, kind, province, products) in enumerate(ORGS, start=1):
        ledger.create_org(OrganizationCreate(name=name, slug=slug, kind=kind, province=province))
        for item, (vi, en, cat, stars, year) in enumerate(products, start=1):
            gtin = gtin_for(no, item)
            certs = [Certification(scheme="GlobalGAP")] if slug == "htx-phu-hoi" else []
            ledger.create_product(
                slug,
                ProductCreate(
                    gtin=gtin,
                    name_vi=vi,
                    name_en=en,
                    category=cat,
                    ocop_stars=stars,
                    ocop_year=year,
                    certifications=certs,
                    **DETAILS.get(f"{slug}/{item}", {}),
                ),
            )
            data.gtins[f"{slug}/{item}"] = gtin
    _dragon_fruit(ledger, data)
    _durian(ledger, data)
    _processed(ledger, data)
    return data


def _plot(lon: float, lat: float, d: float = 0.002) -> dict[str, Any]:
    ring = [[lon, lat], [lon + d, lat], [lon + d, lat + d], [lon, lat + d], [lon, lat]]
    return {"type": "Polygon", "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]]}


def _area(plot: dict[str, Any]) -> float:
    """The plot's declared area: its polygon's geodesic area (EUDR export checks the two agree)."""
    return round(eudr.polygon_area_ha(plot), 2)


def _loc(gln: str, name: str, province: str) -> dict[str, str]:
    return {"id": f"urn:epc:id:sgln:{gln}.0", "name": name, "province": province}


def _doc(kind: str, name: str) -> dict[str, str]:
    return {"type": kind, "name": name, "sha256": hashlib.sha256(f"demo:{name}".encode()).hexdigest()}


def _event(step: str, time: str, lot: str, qty: float, uom: str = "KGM", **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "action": "OBSERVE",
        "bizStep": step,
        "eventTime": f"{time}{TZ}",
        "quantityList": [{"lot": lot, "quantity": qty, "uom": uom}],
        **extra,
    }


def _lot(ledger: Ledger, data: DemoData, org: str, gtin: str, code: str, **fields: Any) -> str:
    lot = ledger.create_lot(org, {"gtin": gtin, "code": code, **fields})
    data.lots.append(lot["lot_id"])
    return str(lot["lot_id"])


def _inspect(ledger: Ledger, lot: str, time: str, qty: float, report: str) -> None:
    lab = _loc("8939010.00001", "Phòng Kiểm nghiệm Nông sản Demo", "Hồ Chí Minh")
    ev = _event("inspecting", time, lot, qty, disposition="conformant", readPoint=lab)
    ev["ocop:documents"] = [_doc("lab_report", report)]
    ledger.record("demo-lab", [{"lot": lot, "event": ev}])


def _ship(ledger: Ledger, lot: str, time: str, qty: float, po: str, dest: str, uom: str = "KGM") -> None:
    port = _loc("8939011.00001", "Cảng Cát Lái", "Hồ Chí Minh")
    ev = _event(
        "shipping",
        time,
        lot,
        qty,
        uom,
        disposition="in_transit",
        readPoint=port,
        bizTransactionList=[{"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:8939011000014:{po}"}],
        destinationList=[{"type": "location", "destination": dest}],
    )
    ledger.record("demo-logistics", [{"lot": lot, "event": ev}])


def _dragon_fruit(ledger: Ledger, data: DemoData) -> None:
    farm = _loc("8939001.00001", "Vùng trồng thanh long Phú Hội", "Lâm Đồng")
    for i, (code, day, kg, dest) in enumerate(
        [("PH-2025-07-A", "2025-07-08", 1200, "US"), ("PH-2025-08-B", "2025-08-12", 950, "AE")]
    ):
        lot = _lot(
            ledger,
            data,
            "htx-phu-hoi",
            data.gtins["htx-phu-hoi/1"],
            code,
            origin_province="Lâm Đồng",
            origin_commune="phường Bình Thuận",
            growing_area_code=f"VN-LDPH-00{42 + i}",
            plot=_plot(108.104 + i * 0.004, 10.93),
            plot_area_ha=_area(_plot(108.104 + i * 0.004, 10.93)),
            harvest_start=day,
            harvest_end=day,
            quantity=kg,
            unit="KGM",
            event_time=f"{day}T05:30:00{TZ}",
        )
        ledger.record(
            "htx-phu-hoi",
            [{"lot": lot, "event": _event("ocop:harvesting", f"{day}T06:00:00", lot, kg, readPoint=farm)}],
        )
        ledger.record(
            "htx-phu-hoi", [{"lot": lot, "event": _event("ocop:cooling", f"{day}T11:00:00", lot, kg, readPoint=farm)}]
        )
        _inspect(ledger, lot, f"{day}T14:00:00", kg, f"Phiếu kết quả thử nghiệm dư lượng thuốc BVTV {code}")
        ledger.record("demo-logistics", [{"lot": lot, "event": _event("packing", f"{day}T17:00:00", lot, kg - 30)}])
        _ship(ledger, lot, f"{day[:8]}{int(day[8:]) + 1:02d}T09:00:00", kg - 30, f"PO-{code}", dest)
    hoa_le = _lot(
        ledger,
        data,
        "htx-hoa-le",
        data.gtins["htx-hoa-le/1"],
        "HL-2025-07-03",
        origin_province="Lâm Đồng",
        origin_commune="xã Hòa Thắng",
        growing_area_code="VN-LDHL-0107",
        plot=_plot(108.36, 11.08),
        harvest_start="2025-07-03",
        harvest_end="2025-07-04",
        quantity=2000,
        unit="KGM",
        event_time=f"2025-07-03T06:00:00{TZ}",
    )
    ledger.record(
        "htx-hoa-le", [{"lot": hoa_le, "event": _event("ocop:harvesting", "2025-07-04T07:00:00", hoa_le, 2000)}]
    )
    _inspect(ledger, hoa_le, "2025-07-04T15:00:00", 2000, "Giấy chứng nhận kiểm dịch thực vật HL-0703")
    _ship(ledger, hoa_le, "2025-07-06T08:00:00", 1950, "PO-HL-JP-0706", "JP")


def _durian(ledger: Ledger, data: DemoData) -> None:
    inputs = []
    for i, (code, kg) in enumerate([("LT-2025-06-01", 800), ("LT-2025-06-02", 750)]):
        lot = _lot(
            ledger,
            data,
            "long-thuy",
            data.gtins["long-thuy/1"],
            code,
            origin_province="Lâm Đồng",
            origin_commune="xã Đạ Huoai",
            growing_area_code=f"VN-LDDH-03{10 + i}",
            plot=_plot(107.64 + i * 0.003, 11.43),
            plot_area_ha=_area(_plot(107.64 + i * 0.003, 11.43)),
            harvest_start="2025-06-20",
            harvest_end="2025-06-21",
            quantity=kg,
            unit="KGM",
            event_time=f"2025-06-20T06:00:00{TZ}",
        )
        ledger.record("long-thuy", [{"lot": lot, "event": _event("ocop:harvesting", "2025-06-21T06:30:00", lot, kg)}])
        _inspect(ledger, lot, "2025-06-21T13:00:00", kg, f"Phiếu kiểm nghiệm cadimi, vàng O {code}")
        ledger.record(
            "long-thuy",
            [{"lot": lot, "event": _event("shipping", "2025-06-21T20:00:00", lot, kg, disposition="in_transit")}],
        )
        inputs.append((lot, kg))
    plant = _loc("8939009.00001", "Nhà máy cấp đông Chánh Thu, Chợ Lách", "Bến Tre")
    out = _lot(
        ledger,
        data,
        "chanh-thu",
        data.gtins["chanh-thu/1"],
        "DV-2025-06-22",
        origin_province="Lâm Đồng",
        quantity=1480,
        unit="KGM",
        event_time=f"2025-06-22T08:00:00{TZ}",
    )
    freeze = {
        "type": "TransformationEvent",
        "bizStep": "ocop:freezing",
        "eventTime": f"2025-06-22T10:00:00{TZ}",
        "readPoint": plant,
        "inputQuantityList": [{"lot": lot, "quantity": kg, "uom": "KGM"} for lot, kg in inputs],
        "outputQuantityList": [{"lot": out, "quantity": 1480, "uom": "KGM"}],
        "ocop:note": "cấp đông nhanh bằng nitơ lỏng (liquid nitrogen quick freezing)",
    }
    ledger.record("chanh-thu", [{"lot": out, "event": freeze}])
    _inspect(ledger, out, "2025-06-23T09:00:00", 1480, "Chứng thư kiểm dịch xuất khẩu sầu riêng đông lạnh DV-0622")
    ledger.record("demo-logistics", [{"lot": out, "event": _event("packing", "2025-06-23T15:00:00", out, 1480)}])
    _ship(ledger, out, "2025-06-24T07:00:00", 1480, "PO-DV-CN-0624", "CN")
    data.featured = out


def _processed(ledger: Ledger, data: DemoData) -> None:
    coffee = _lot(
        ledger,
        data,
        "htx-thuan-an",
        data.gtins["htx-thuan-an/1"],
        "TA-2025-03",
        origin_province="Lâm Đồng",
        growing_area_code="VN-LDTA-0021",
        plot=_plot(108.28, 11.62, 0.004),
        quantity=500,
        unit="KGM",
        event_time=f"2025-03-02T07:00:00{TZ}",
    )
    for step, t in (("ocop:drying", "2025-03-10"), ("ocop:roasting", "2025-03-20"), ("ocop:grinding", "2025-03-21")):
        ledger.record("htx-thuan-an", [{"lot": coffee, "event": _event(step, f"{t}T09:00:00", coffee, 500)}])
    _inspect(ledger, coffee, "2025-03-24T10:00:00", 500, "Phiếu kiểm nghiệm ochratoxin A TA-2025-03")
    ledger.record(
        "htx-thuan-an", [{"lot": coffee, "event": _event("packing", "2025-03-25T09:00:00", coffee, 2000, "H87")}]
    )
    _ship(ledger, coffee, "2025-04-02T08:00:00", 2000, "PO-TA-JP-0402", "JP", "H87")
    candy = _lot(
        ledger,
        data,
        "dong-a",
        data.gtins["dong-a/1"],
        "DA-2025-05-11",
        origin_province="Bến Tre",
        quantity=12000,
        unit="H87",
        event_time=f"2025-05-11T08:00:00{TZ}",
    )
    ledger.record("dong-a", [{"lot": candy, "event": _event("packing", "2025-05-12T09:00:00", candy, 12000, "H87")}])
    _inspect(ledger, candy, "2025-05-13T10:00:00", 12000, "Phiếu kiểm nghiệm an toàn thực phẩm DA-0511")
    _ship(ledger, candy, "2025-05-20T08:00:00", 12000, "PO-DA-US-0520", "US", "H87")
    tea = _lot(
        ledger,
        data,
        "htx-binh-minh",
        data.gtins["htx-binh-minh/1"],
        "BM-2025-09",
        origin_province="Tuyên Quang",
        quantity=3000,
        unit="H87",
        event_time=f"2025-09-01T08:00:00{TZ}",
    )
    ledger.record(
        "htx-binh-minh", [{"lot": tea, "event": _event("ocop:drying", "2025-09-03T08:00:00", tea, 3000, "H87")}]
    )
    ledger.record("htx-binh-minh", [{"lot": tea, "event": _event("packing", "2025-09-05T08:00:00", tea, 3000, "H87")}])
    _ship(ledger, tea, "2025-09-15T08:00:00", 3000, "PO-BM-UK-0915", "GB", "H87")
