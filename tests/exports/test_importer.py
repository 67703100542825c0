"""CSV import: the documented template imports; bad rows are reported by row and column, nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.errors import InputError
from ledger.exports.csv_import import COLUMNS, import_csv
from ledger.service import Ledger
from tests.helpers import gtin

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "import-template.csv"


@pytest.fixture
def coop(ledger: Ledger) -> str:
    ledger.create_org(OrganizationCreate(name="HTX Sầu riêng Cái Mơn", slug="htx-cai-mon"))
    ledger.create_product("htx-cai-mon", ProductCreate(gtin=gtin(1001), name_vi="Sầu riêng"))
    return "htx-cai-mon"


def test_template_imports(ledger: Ledger, coop: str) -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.splitlines()[0].split(",") == COLUMNS
    res = import_csv(ledger, coop, text)
    assert [r["seq"] for r in res] == [0, 1, 2, 3, 4]
    assert ledger.verify_lot("08930000010018.CM-RAW-1").verdict == "pending"
    lot = ledger.get_lot("08930000010018.CM-RAW-1")
    assert (lot["growing_area_code"], lot["plot_area_ha"], lot["plot"]["type"]) == ("VN-BTCM-0007", 2.5, "Point")


def test_bad_rows_are_reported_and_nothing_is_stored(ledger: Ledger, coop: str) -> None:
    good = TEMPLATE.read_text(encoding="utf-8").splitlines()
    lot = "08930000010018.CM-RAW-1"
    bad_rows = [
        f"{lot},ObjectEvent,OBSERVE,storing,,2026-07-06 10:00,5,KGM" + "," * 22,  # row 7: no offset
        f"{lot},ObjectEvent,OBSERVE,storing,,2026-07-06T10:00:00+07:00,5,kg" + "," * 22,  # row 8: unit
        f"{lot},ObjectEvent,OBSERVE,boiling,,2026-07-06T10:00:00+07:00,5,KGM" + "," * 22,  # row 9: step
        ",ObjectEvent,OBSERVE,storing,,2026-07-06T10:00:00+07:00,5,KGM" + "," * 22,  # row 10: no lot
        f"{lot},ObjectEvent,OBSERVE,storing,,2026-07-06T10:00:00+07:00,five,KGM" + "," * 22,  # row 11: number
        f"{lot},AggregationEvent,ADD,packing,,2026-07-06T10:00:00+07:00,5,KGM,,,,,123456789012345678" + "," * 17,  # 12
        ",ObjectEvent,ADD,commissioning,active,2026-07-03T16:00:00+07:00,800,KGM"
        + "," * 14
        + '08930000010018,CM-RAW-3,Bến Tre,,,"{""type"":""Line""}",2.5,2026-07-01,2026-07-03',  # row 13: plot
    ]
    before = ledger.head().size
    with pytest.raises(InputError) as info:
        import_csv(ledger, coop, "\n".join(good + bad_rows) + "\n")
    got = [(d["row"], d["column"]) for d in info.value.details]
    assert got == [
        (7, "event_time"),
        (8, "uom"),
        (9, "biz_step"),
        (10, "lot"),
        (11, "quantity"),
        (12, "parent_sscc"),
        (13, "plot_geojson"),
    ]
    assert "nothing stored" in str(info.value)
    assert ledger.head().size == before


def test_database_errors_name_the_row(ledger: Ledger, coop: str) -> None:
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "08930000010018.CM-RAW-1,ObjectEvent,OBSERVE,ocop:cooling",
        "08930000010018.CM-NOPE,ObjectEvent,OBSERVE,ocop:cooling",
    )
    with pytest.raises(InputError) as info:
        import_csv(ledger, coop, text)
    assert info.value.details[0]["row"] == 4 and "unknown lot" in str(info.value.details[0]["message"])
    assert ledger.head().size == 0


def test_unknown_columns_are_refused(ledger: Ledger, coop: str) -> None:
    with pytest.raises(InputError, match="unknown columns"):
        import_csv(ledger, coop, "lot,colour\nx,red\n")
