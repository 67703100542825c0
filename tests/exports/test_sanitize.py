"""The writers' sanitizer: spreadsheet cells, PDF text and UTC times, on crafted values."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from ledger.exports import fsma204
from ledger.exports.event_hash import fix_time
from ledger.exports.sanitize import FORMULA_START, MAX_CELL, REPLACEMENT, clean_text, pdf_text, sheet_cell, utc_iso


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-5", "'-5"),  # text that looks like a number is still text
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("  =1", "'  =1"),
        ("\uff1d1", "'\uff1d1"),
        ("a=1", "a=1"),
        ("Vườn Cái Mơn", "Vườn Cái Mơn"),
        ("a\x00b\x0bc", f"a{REPLACEMENT}b{REPLACEMENT}c"),
        ("=\x00", f"'={REPLACEMENT}"),
        (-5, -5),
        (-1.25, -1.25),
        (0, 0),
        (None, None),
        (True, "True"),
        (float("nan"), "nan"),
    ],
)
def test_sheet_cell(value: Any, cell: Any) -> None:
    assert sheet_cell(value) == cell and type(sheet_cell(value)) is type(cell)


def test_long_text_fits_a_cell() -> None:
    cell = sheet_cell("=" + "x" * 40000)
    assert isinstance(cell, str) and len(cell) == MAX_CELL and cell.startswith("'=x") and cell.endswith("x…")
    assert sheet_cell("y" * MAX_CELL) == "y" * MAX_CELL


@given(st.text())
def test_any_text_becomes_an_inert_cell(text: str) -> None:
    cell = sheet_cell(text)
    assert isinstance(cell, str)
    assert not ILLEGAL_CHARACTERS_RE.search(cell)
    assert cell.startswith("'") or cell.lstrip(" ")[:1] not in FORMULA_START


@given(st.text())
def test_pdf_text_has_no_markup(text: str) -> None:
    out = pdf_text(text)
    assert not set("<>\"'") & set(out) and "\x00" not in out
    assert out.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&#39;", "'").replace(
        "&amp;", "&"
    ) == clean_text(text)


def test_pdf_text_escapes_everything() -> None:
    assert pdf_text("</b><b> & \"x\" 'y'\x00") == f"&lt;/b&gt;&lt;b&gt; &amp; &quot;x&quot; &#39;y&#39;{REPLACEMENT}"


ROW = dict.fromkeys(fsma204.COLUMNS, "") | {
    "Quantity": -5,
    "Ledger Log Index": 7,
    "Location Description": "-5",
    "Location Identifier": '=HYPERLINK("http://attacker.example","x")',
    "Immediate Previous Source": "a\x00b",
}


def test_xlsx_cells_are_never_formulas_and_numbers_stay_numbers() -> None:
    ws = load_workbook(io.BytesIO(fsma204.to_xlsx([ROW]))).active
    cells = {name: ws.cell(row=2, column=i) for i, name in enumerate(fsma204.COLUMNS, start=1)}
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
    assert cells["Quantity"].value == -5 and cells["Quantity"].data_type == "n"
    assert cells["Ledger Log Index"].value == 7
    assert cells["Location Description"].value == "'-5" and cells["Location Description"].data_type == "s"
    assert cells["Location Identifier"].value == "'" + ROW["Location Identifier"]
    assert cells["Immediate Previous Source"].value == f"a{REPLACEMENT}b"


def test_csv_cells_are_neutralized() -> None:
    header, row = list(csv.reader(io.StringIO(fsma204.to_csv([ROW]).decode("utf-8-sig"))))
    got = dict(zip(header, row, strict=True))
    assert got["Quantity"] == "-5" and got["Location Description"] == "'-5"
    assert got["Location Identifier"] == "'" + ROW["Location Identifier"]
    assert got["Immediate Previous Source"] == f"a{REPLACEMENT}b"


@pytest.mark.parametrize(
    ("recorded", "utc"),
    [
        ("0001-01-01T00:00:00+14:00", "0000-12-31T10:00:00"),
        ("0001-01-01T13:59:59+14:00", "0000-12-31T23:59:59"),
        ("0001-01-01T14:00:00+14:00", "0001-01-01T00:00:00"),
        ("0001-03-01T05:00:00+14:00", "0001-02-28T15:00:00"),
        ("9999-12-31T23:59:59-14:00", "10000-01-01T13:59:59"),
        ("2026-07-03T07:00:00+07:00", "2026-07-03T00:00:00"),
        ("0999-05-01T00:00:00+00:00", "0999-05-01T00:00:00"),
    ],
)
def test_utc_iso(recorded: str, utc: str) -> None:
    assert utc_iso(datetime.fromisoformat(recorded)) == utc


@given(st.datetimes(timezones=st.just(timezone(timedelta(hours=14)))))
def test_utc_iso_matches_datetime_where_it_can(t: datetime) -> None:
    try:
        expected = t.astimezone(UTC)
    except OverflowError:
        assert utc_iso(t).startswith("0000-12-31T")
        return
    assert utc_iso(t) == f"{expected.year:04d}-{expected:%m-%dT%H:%M:%S}"


def test_event_hash_time_at_the_ends_of_the_calendar() -> None:
    assert fix_time("0001-01-01T00:00:00.0004+14:00") == "0000-12-31T10:00:00.000Z"
    assert fix_time("9999-12-31T23:59:59.9996+00:00") == "9999-12-31T23:59:59.999Z"
    assert fix_time("2026-07-03T07:00:00.0005+07:00") == "2026-07-03T00:00:00.001Z"


ANY_CHAR = st.characters(exclude_categories=())  # surrogates too: a legacy ledger may hold anything


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(ANY_CHAR, max_size=30), min_size=len(fsma204.COLUMNS), max_size=len(fsma204.COLUMNS)))
def test_any_row_gives_files_a_partner_can_open(values: list[str]) -> None:
    row = dict(zip(fsma204.COLUMNS, values, strict=True))
    ws = load_workbook(io.BytesIO(fsma204.to_xlsx([row]))).active
    cells = [c for r in ws.iter_rows(min_row=2) for c in r]
    assert all(c.data_type != "f" and (c.value is None or isinstance(c.value, str)) for c in cells)
    header, line = list(csv.reader(io.StringIO(fsma204.to_csv([row]).decode("utf-8-sig"), newline="")))
    assert len(line) == len(header) and all(v[:1] == "'" or v.lstrip(" ")[:1] not in FORMULA_START for v in line)
