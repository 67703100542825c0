"""Stored poison never breaks an export or passes through it live (issue 9, reproductions 2-4).

Every case runs on SQLite and PostgreSQL, with the poison appended through the ledger (while the
append path still takes it) and written straight into a stored row (a legacy ledger). The files
are read back as a partner would: openpyxl, the csv module, pdftotext.
"""

from __future__ import annotations

import csv
import io
import subprocess
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from api import errors
from api.routes.exports import make_router
from ledger.exports.sanitize import FORMULA_START, REPLACEMENT
from ledger.service import Ledger
from tests.exports import poison
from tests.exports.scenario import Scene

XLSX = {"format": "xlsx"}
ATTACKS = [
    '=HYPERLINK("http://attacker.example","Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "\uff1d1+1",
]


@pytest.fixture
def client(ledger: Ledger, scene: Scene) -> TestClient:
    def get_ledger() -> Ledger:
        return ledger

    def require_role(*roles: str) -> Any:
        return lambda: None

    app = FastAPI()
    errors.install(app)
    app.include_router(make_router(get_ledger, require_role))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(params=poison.MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def sheet(content: bytes) -> list[list[Any]]:
    ws = load_workbook(io.BytesIO(content)).active
    assert all(c.data_type != "f" for row in ws.iter_rows() for c in row), "a cell is a live formula"
    return [[c.value for c in row] for row in ws.iter_rows()]


def table(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def pdf_text(content: bytes) -> str:
    out = subprocess.run(["pdftotext", "-", "-"], input=content, capture_output=True, check=True)
    return "".join(out.stdout.decode().split())


def ok(response: Any, media: str) -> bytes:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    return bytes(response.content)


def test_epcis_time_whose_utc_is_year_0(client: TestClient, ledger: Ledger, scene: Scene, mode: str) -> None:
    ev = poison.event(scene.raw1, time="0001-01-01T00:00:00+14:00")
    index = poison.store(ledger, mode, "htx-cai-mon", scene.raw1, ev)
    doc = client.get(f"/api/v1/lots/{scene.raw1}/epcis")
    assert doc.status_code == 200, doc.text
    got = next(e for e in doc.json()["epcisBody"]["eventList"] if e["ocop:logIndex"] == index)
    assert got["eventTime"] == "0001-01-01T00:00:00+14:00" and got["eventID"].startswith("ni:///sha-256;")
    for path in (f"/api/v1/lots/{scene.raw1}/certificate.pdf", f"/api/v1/shipments/{scene.sscc}/certificate.pdf"):
        ok(client.get(path), "application/pdf")
    rows = sheet(ok(client.get("/api/v1/exports/fsma204", params={"lot": scene.raw1, **XLSX}), "application/vnd"))
    assert ["0001-01-01", "00:00:00+14:00"] in [r[4:6] for r in rows]


def test_date_ranges_at_the_ends_of_the_calendar(client: TestClient, ledger: Ledger, scene: Scene, mode: str) -> None:
    poison.store(ledger, mode, "htx-cai-mon", scene.raw1, poison.event(scene.raw1, time="0001-01-01T00:00:00+14:00"))
    poison.store(ledger, mode, "htx-cai-mon", scene.raw2, poison.event(scene.raw2, time="9999-12-31T23:59:59-14:00"))
    for start, end, lot, day in (
        ("0001-01-01", "0001-01-02", scene.raw1, "0001-01-01"),
        ("9999-12-30", "9999-12-31", scene.raw2, "9999-12-31"),
    ):
        got = table(ok(client.get("/api/v1/exports/fsma204", params={"from": start, "to": end}), "text/csv"))
        assert [(r[0], r[4]) for r in got[1:]] == [(lot, day)]
        rows = sheet(ok(client.get("/api/v1/exports/fsma204", params={"from": start, "to": end, **XLSX}), "app"))
        assert [(r[0], r[4]) for r in rows[1:]] == [(lot, day)]
    reversed_ = client.get("/api/v1/exports/fsma204", params={"from": "9999-12-31", "to": "0001-01-01"})
    assert reversed_.status_code == 422 and "reversed" in reversed_.json()["error"]["message"]


@pytest.mark.parametrize("name", ["a\x00b", "a\u000bb", "a\x1fb\x08c"])
def test_control_characters_in_text(client: TestClient, ledger: Ledger, scene: Scene, mode: str, name: str) -> None:
    loc = {"id": "urn:epc:id:sgln:8930001.00009.0", "name": name}
    poison.store(ledger, mode, "htx-cai-mon", scene.raw1, poison.event(scene.raw1, bizLocation=loc))
    shown = name.replace(name[1], REPLACEMENT)[:3] if name != "a\x1fb\x08c" else f"a{REPLACEMENT}b{REPLACEMENT}c"
    for params in ({"lot": scene.raw1}, {"from": "2026-07-01", "to": "2026-07-31"}, {"sscc": scene.sscc}):
        rows = sheet(ok(client.get("/api/v1/exports/fsma204", params={**params, **XLSX}), "application/vnd"))
        assert shown in [r[8] for r in rows]
        assert shown in [r[8] for r in table(ok(client.get("/api/v1/exports/fsma204", params=params), "text/csv"))]
    text = pdf_text(ok(client.get(f"/api/v1/lots/{scene.raw1}/certificate.pdf"), "application/pdf"))
    assert shown in text
    assert ok(client.get(f"/api/v1/lots/{scene.raw1}/epcis"), "application/ld+json")


NAMES = [
    "</b><b>",
    '<font color="red">x</font> & "q" \'s\'',
    "<para>&amp;&#65;</para>",
    "Vườn Phú Hội, Đắk Lắk",
    "Chợ" + "W" * 200,
    "cà phê ☕ 😀",
]


@pytest.mark.parametrize("name", NAMES)
def test_certificate_renders_any_name_literally(
    client: TestClient, ledger: Ledger, scene: Scene, mode: str, name: str
) -> None:
    loc = {"id": "urn:epc:id:sgln:8930001.00009.0", "name": name}
    poison.store(ledger, mode, "htx-cai-mon", scene.raw1, poison.event(scene.raw1, bizLocation=loc))
    for path in (f"/api/v1/lots/{scene.raw1}/certificate.pdf", f"/api/v1/shipments/{scene.sscc}/certificate.pdf"):
        assert "".join(name.split()) in pdf_text(ok(client.get(path), "application/pdf"))


def _neutralized(value: Any) -> bool:
    return not isinstance(value, str) or value.lstrip(" ")[:1] not in FORMULA_START


def test_no_formula_reaches_a_spreadsheet(client: TestClient, ledger: Ledger, scene: Scene, mode: str) -> None:
    for i, attack in enumerate(ATTACKS):
        ev = poison.event(
            scene.raw1,
            step="shipping",
            time=f"2026-07-05T1{i}:00:00+07:00",
            readPoint={"id": attack, "name": attack},
            sourceList=[{"type": "location", "source": attack}],
            destinationList=[{"type": "location", "destination": attack}],
            bizTransactionList=[{"type": "po", "bizTransaction": attack}],
        )
        poison.store(ledger, mode, "htx-cai-mon", scene.raw1, ev)
    for params in ({"lot": scene.raw1}, {"from": "2026-07-01", "to": "2026-07-31"}):
        rows = sheet(ok(client.get("/api/v1/exports/fsma204", params={**params, **XLSX}), "application/vnd"))
        lines = table(ok(client.get("/api/v1/exports/fsma204", params=params), "text/csv"))
        for got in (rows, lines):
            cells = [c for r in got for c in r]
            assert all(_neutralized(c) for c in cells)
            kept = {c[1:].strip() for c in cells if isinstance(c, str) and c.startswith("'")}
            assert {a.strip() for a in ATTACKS} <= kept  # the text itself is kept, behind a quote
            assert all(isinstance(r[16], int) for r in rows[1:])  # numbers stay numbers


NASTY = ["\x00", "</b>", "=1", "\ufffe\uffff", "x" * 100_000, "", " ", "\u202e", "\x7f\x80\x9f", "&amp;"]
TIMES = ["garbage", "", "2026-13-45T00:00:00Z", "9999-12-31T23:59:59.9999999-14:00", "2026-07-05T10:00:00"]


def test_every_export_survives_a_legacy_ledger(client: TestClient, ledger: Ledger, scene: Scene) -> None:
    """Whatever a stored row holds (shape aside), every export answers 200 with a readable file."""
    evs = [
        poison.event(
            scene.raw1,
            step="shipping",
            bizLocation={"id": n, "name": n, "province": n},
            readPoint={"id": n},
            sourceList=[{"type": n, "source": n}],
            destinationList=[{"type": n, "destination": n}],
            bizTransactionList=[{"type": n, "bizTransaction": n}],
            **{"ocop:documents": [{"type": n, "name": n, "sha256": n}], "ocop:note": n},
        )
        for n in NASTY
    ]
    evs += [poison.event(scene.raw2, time=t) for t in TIMES]
    evs.append(poison.event(scene.raw1, inputQuantityList=[{"lot": 5, "quantity": None}, {"quantity": "x"}]))
    for ev in evs:
        poison.store(ledger, "legacy", "htx-cai-mon", ev["quantityList"][0]["lot"], ev)
    for path in (f"/api/v1/lots/{scene.raw1}/epcis", f"/api/v1/shipments/{scene.sscc}/epcis"):
        assert len(ok(client.get(path), "application/ld+json")) > 100_000
    for path in (f"/api/v1/lots/{scene.raw2}/certificate.pdf", f"/api/v1/shipments/{scene.sscc}/certificate.pdf"):
        assert scene.raw2 in pdf_text(ok(client.get(path), "application/pdf"))
    for params in ({"sscc": scene.sscc}, {"from": "0001-01-01", "to": "9999-12-31"}):
        assert len(sheet(ok(client.get("/api/v1/exports/fsma204", params={**params, **XLSX}), "app"))) > 10
        assert len(table(ok(client.get("/api/v1/exports/fsma204", params=params), "text/csv"))) > 10
    assert ok(client.get("/api/v1/exports/eudr", params={"sscc": scene.sscc}), "application/geo+json")


def test_csv_import_columns_come_out_neutralized(client: TestClient, ledger: Ledger, scene: Scene) -> None:
    """A partner's CSV import (the realistic path for spreadsheet text) cannot plant a formula either."""
    from ledger.exports.csv_import import COLUMNS, import_csv

    attack = '=HYPERLINK("http://attacker.example","x")'
    row = dict.fromkeys(COLUMNS, "") | {
        "lot": scene.raw1,
        "biz_step": "shipping",
        "event_time": "2026-07-05T12:00:00+07:00",
        "quantity": "800",
        "location_id": "@urn:x",
        "location_name": attack,
        "ship_to": "+Los Angeles",
        "ship_from": "-Cái Mơn",
        "document_type": "lab_report",
        "document_sha256": "ab" * 32,
        "document_name": "=cmd|' /C calc'!A0",
        "biz_transaction": "@SUM(1)",
    }
    buf = io.StringIO()
    csv.DictWriter(buf, fieldnames=COLUMNS).writerows([dict(zip(COLUMNS, COLUMNS, strict=True)), row])
    import_csv(ledger, "htx-cai-mon", buf.getvalue())
    rows = sheet(ok(client.get("/api/v1/exports/fsma204", params={"lot": scene.raw1, **XLSX}), "app"))
    lines = table(ok(client.get("/api/v1/exports/fsma204", params={"lot": scene.raw1}), "text/csv"))
    for got in (rows, lines):
        shipped = next(r for r in got if r[3] == "Shipping" and r[5] == "12:00:00+07:00")
        assert shipped[8:12] == ["'" + attack, "'@urn:x", "'-Cái Mơn", "'+Los Angeles"]
        assert shipped[14:16] == ["po; lab_report", "'@SUM(1); =cmd|' /C calc'!A0"]
        assert all(_neutralized(c) for r in got for c in r)
