"""CSV import as a spreadsheet user sees it: row numbers, `;` files, one pass, two languages."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.core import policy
from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.errors import InputError, PermissionDenied
from ledger.exports.csv_import import import_csv
from ledger.service import Ledger
from tests.exports.scenario import Scene
from tests.exports.test_routes import client  # noqa: F401  (the exporter routes on a bare app)
from tests.helpers import gtin

TEMPLATE = Path(__file__).resolve().parents[2] / "docs" / "import-template.csv"
LOT = "08930000010018.CM-RAW-1"


@pytest.fixture
def coop(ledger: Ledger) -> str:
    ledger.create_org(OrganizationCreate(name="HTX Sầu riêng Cái Mơn", slug="htx-cai-mon"))
    ledger.create_product("htx-cai-mon", ProductCreate(gtin=gtin(1001), name_vi="Sầu riêng"))
    return "htx-cai-mon"


def _rows() -> list[list[str]]:
    return list(csv.reader(io.StringIO(TEMPLATE.read_text(encoding="utf-8"))))


def _write(rows: list[list[str]], sep: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=sep, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


def _details(ledger: Ledger, coop: str, text: str, lang: str = "en") -> list[dict[str, object]]:
    with pytest.raises(InputError, match="nothing stored|không lưu gì") as info:
        import_csv(ledger, coop, text, lang=lang)
    assert ledger.head().size == 0
    return info.value.details


def test_semicolon_file_as_excel_writes_it_in_vi_vn(ledger: Ledger, coop: str) -> None:
    rows = _rows()
    rows[1][7] = "KGM"
    rows[2][6] = "800,0"  # a decimal comma, as a vi-VN spreadsheet shows numbers
    res = import_csv(ledger, coop, "\ufeff" + _write(rows, ";"))
    assert [r["seq"] for r in res] == [0, 1, 2, 3, 4]
    assert ledger.get_lot(LOT)["plot"]["type"] == "Point"


def test_comma_file_with_semicolons_in_cells_stays_comma(ledger: Ledger, coop: str) -> None:
    rows = _rows()
    rows[2][20] = "thu hoạch; trời mưa; 3 người"
    assert len(import_csv(ledger, coop, _write(rows, ","))) == 5


def test_row_numbers_are_the_spreadsheet_rows(ledger: Ledger, coop: str) -> None:
    rows = _rows()
    rows[3][5] = "2026-07-03 18:00"  # cooling: no offset, spreadsheet row 4 ...
    rows[2][20] = "một ghi chú\ntrên hai dòng"  # ... even after a cell that spans two lines
    text = _write(rows[:3], ";") + "\r\n" + _write(rows[3:], ";")  # a blank row 4 pushes cooling to row 5
    got = [(d["row"], d["column"]) for d in _details(ledger, coop, text)]
    assert got == [(5, "event_time")]


def test_every_error_in_one_pass_row_and_ledger_errors_together(ledger: Ledger, coop: str) -> None:
    rows = _rows()
    rows[2][6] = "nhiều"  # row 3: not a number (found by reading the row)
    rows[3][0] = "08930000010018.CM-NOPE"  # row 4: unknown lot (found only by the ledger)
    rows[5][0] = "08930000010018.CM-NADA"  # row 6: another unknown lot
    details = _details(ledger, coop, _write(rows, ","))
    assert [(d["row"], d["column"]) for d in details] == [(3, "quantity"), (4, "lot"), (6, "lot")]
    assert "unknown lot" in str(details[1]["message_en"]) and "CM-NOPE" in str(details[1]["message_en"])


def test_each_error_in_vietnamese_and_english(ledger: Ledger, coop: str) -> None:
    rows = _rows()
    rows[2][6] = "nhiều"
    rows[3][0] = "08930000010018.CM-NOPE"
    vi = _details(ledger, coop, _write(rows, ","), lang="vi")
    assert vi[0]["message_en"] == "expected a number, got 'nhiều'"
    assert vi[0]["message_vi"] == "cần một số, nhận được 'nhiều'" == vi[0]["message"]
    assert str(vi[1]["message_vi"]).startswith("lô không tồn tại") and vi[1]["message"] == vi[1]["message_vi"]
    en = _details(ledger, coop, _write(rows, ","), lang="en")
    assert [d["message"] for d in en] == [d["message_en"] for d in en]


def test_extra_cells_are_reported_not_dropped(ledger: Ledger, coop: str) -> None:
    rows = _rows()
    rows[2].append("lạc cột")
    assert [(d["row"], d["column"]) for d in _details(ledger, coop, _write(rows, ","))] == [(3, "")]


def test_route_answers_in_the_language_asked(
    client: TestClient,  # noqa: F811
    scene: Scene,
) -> None:
    rows = _rows()
    text = _write([rows[0], rows[2], rows[3]], ";").replace("+07:00", "")
    base = {"x-org": "htx-cai-mon", "x-role": "producer", "content-type": "text/csv"}
    for lang, word in (("en", "error(s) in the CSV"), ("vi-VN,vi;q=0.9", "lỗi trong tệp CSV")):
        res = client.post("/api/v1/import", content=text.encode(), headers=base | {"accept-language": lang})
        assert res.status_code == 422
        err = res.json()["error"]
        assert word in err["message"]
        assert [(d["row"], d["column"]) for d in err["details"]] == [(2, "event_time"), (3, "event_time")]
        key = "message_en" if lang == "en" else "message_vi"
        assert all(d["message"] == d[key] and d["message_vi"] != d["message_en"] for d in err["details"])


def test_a_policy_refusal_is_403_naming_its_row_even_among_row_errors(ledger: Ledger, coop: str) -> None:
    import_csv(ledger, coop, TEMPLATE.read_text(encoding="utf-8"))  # the cooperative's lot exists
    ledger.create_org(OrganizationCreate(name="HTX Dừa Mỏ Cày", slug="htx-mo-cay"))
    before = ledger.head().size
    text = (
        "lot;event_time;biz_step;quantity\n"
        f"{LOT};2026-07-09T08:00:00+07:00;storing;nhiều\n"  # row 2: an input error (422 on its own)
        f"{LOT};2026-07-09T09:00:00+07:00;packing;\n"  # row 3: another organization's lot (the policy)
    )
    with pytest.raises(policy.Denied, match=r"^row 3: .*packing.*; nothing stored$") as info:
        import_csv(ledger, "htx-mo-cay", text, role="producer", lang="vi")
    assert isinstance(info.value, PermissionDenied) and info.value.lot == LOT
    assert ledger.head().size == before


def test_over_long_cell_in_a_semicolon_file_names_row_and_column(ledger: Ledger, coop: str) -> None:
    big = "x" * (csv.field_size_limit() + 1)
    text = (
        "lot;event_time;biz_step;note\n"
        f"{LOT};2026-07-09T08:00:00+07:00;storing;ok\n"
        f"{LOT};2026-07-09T09:00:00+07:00;storing;{big}\n"
    )
    with pytest.raises(InputError, match=r"^CSV row 3, column note: field larger than field limit") as info:
        import_csv(ledger, coop, text)
    assert [(d["row"], d["column"]) for d in info.value.details] == [(3, "note")]
    assert str(info.value.details[0]["message_vi"]).startswith("không đọc được dòng")
    assert ledger.head().size == 0
