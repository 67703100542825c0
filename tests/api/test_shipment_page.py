"""The shipment's Digital Link ``/00/{sscc}``: HTML page vs JSON, the overall verdict, lineage on the lot page.

The durian scenario of ``tests/exports/scenario.py``: two raw lots frozen into one lot, which is
packed into a pallet and shipped. No chain here (verdicts are pending); ``tests/api/test_shipment_bundle.py``
anchors on a real anvil.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from api.routes.shipment import overall_verdict
from ledger.core import gs1
from ledger.service import Ledger
from ledger.store import shipments
from ledger.store.db import write_tx
from ledger.store.models import LogEntry
from tests.exports.scenario import Scene, build

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def scene(ledger: Ledger) -> Scene:
    return build(ledger)


@pytest.fixture
def web(app_factory: Any, scene: Scene) -> TestClient:
    c: TestClient = app_factory()
    return c


def other_sscc(serial: int) -> str:
    body = f"0893000000{serial:07d}"
    return body + str(gs1.check_digit(body))


def test_browsers_get_the_shipment_page_in_vietnamese(web: TestClient, scene: Scene) -> None:
    r = web.get(f"/00/{scene.sscc}", headers=HTML)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["content-language"] == "vi"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    html = r.text
    assert len(r.content) < 100_000
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="https?://', html)  # nothing external
    assert 'data-verdict="pending"' in html
    for text in (
        scene.sscc,
        "Kiện hàng",
        "Sầu riêng đông lạnh",
        "Công ty Đông lạnh Mekong",
        "Tiền Giang",
        "OCOP 5 sao",
        "DL-FROZEN-1",
        "Vina Export",
        "Importer warehouse, Los Angeles CA",
        "Các lô trong kiện hàng (1)",
    ):
        assert text in html, text
    assert f'href="/01/{scene.frozen[:14]}/10/DL-FROZEN-1"' in html
    assert f'href="/api/v1/shipments/{scene.sscc}/bundle"' in html


def test_english_by_accept_language_and_by_switch(web: TestClient, scene: Scene) -> None:
    r = web.get(f"/00/{scene.sscc}", headers={**HTML, "Accept-Language": "en-US,en;q=0.9"})
    assert r.headers["content-language"] == "en"
    assert "Lots in this shipment (1)" in r.text and "Frozen durian" in r.text and "OCOP 5 stars" in r.text
    assert 'href="?lang=vi"' in r.text
    r = web.get(f"/00/{scene.sscc}?lang=en", headers=HTML)
    assert r.headers["content-language"] == "en" and "Shipment" in r.text


def test_json_clients_get_the_shipment(web: TestClient, scene: Scene) -> None:
    r = web.get(f"/00/{scene.sscc}", headers=JSON)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body == web.get(f"/api/v1/shipments/{scene.sscc}").json()
    assert body["sscc"] == scene.sscc and [m["lot"] for m in body["lots"]] == [scene.frozen]
    assert body["verdict"] == "pending" and body["lot_verdicts"] == {scene.frozen: "pending"}
    assert body["owner"]["name"] == "Vina Export"
    assert "bundle" in r.headers["link"]


def test_every_lot_is_listed_and_unpacked_lots_are_not(ledger: Ledger, web: TestClient, scene: Scene) -> None:
    sscc = other_sscc(42)
    shipments.pack(ledger, "htx-cai-mon", sscc, [scene.raw1, scene.raw2], event_time="2026-07-05T05:00:00+07:00")
    shipments.unpack(ledger, "htx-cai-mon", sscc, [scene.raw2], event_time="2026-07-05T05:30:00+07:00")
    body = web.get(f"/00/{sscc}", headers=JSON).json()
    assert [m["lot"] for m in body["lots"]] == [scene.raw1]
    html = web.get(f"/00/{sscc}").text
    assert "CM-RAW-1" in html and "CM-RAW-2" not in html and "Sầu riêng Ri6 tươi" in html and "OCOP 4 sao" in html
    assert "HTX Sầu riêng Cái Mơn" in html and "800 kg" in html


def test_a_tampered_lot_makes_the_shipment_tampered(ledger: Ledger, web: TestClient, scene: Scene) -> None:
    sscc = other_sscc(43)
    shipments.pack(ledger, "htx-cai-mon", sscc, [scene.raw1, scene.raw2], event_time="2026-07-05T05:00:00+07:00")
    with write_tx(ledger.engine) as conn:  # edit a signed event behind the ledger's back
        conn.execute(
            update(LogEntry.__table__)  # type: ignore[attr-defined]
            .where(LogEntry.lot_id == scene.raw2, LogEntry.seq == 1)
            .values(event_time="2026-06-01T06:30:00+07:00")
        )
    body = web.get(f"/00/{sscc}", headers=JSON).json()
    assert body["verdict"] == "tampered"
    assert body["lot_verdicts"] == {scene.raw1: "pending", scene.raw2: "tampered"}
    html = web.get(f"/00/{sscc}").text
    assert '<section class="verdict tampered"' in html
    assert f'data-lot="{scene.raw2}" data-verdict="tampered"' in html
    assert f'data-lot="{scene.raw1}" data-verdict="pending"' in html
    assert "Lỗi ở sự kiện #1" in html


@pytest.mark.parametrize(
    "verdicts,overall",
    [
        (["verified", "verified"], "verified"),
        (["verified", "pending"], "pending"),
        (["verified", "tampered", "pending"], "tampered"),
        (["tampered"], "tampered"),
        (["pending", "not_found"], "pending"),
        ([], "pending"),
    ],
)
def test_overall_verdict_rules(verdicts: list[str], overall: str) -> None:
    assert overall_verdict(verdicts) == overall


def test_unknown_sscc(web: TestClient) -> None:
    sscc = other_sscc(99)
    r = web.get(f"/00/{sscc}", headers=JSON)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = web.get(f"/00/{sscc}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert 'data-verdict="not_found"' in r.text and "Không tìm thấy" in r.text
    assert "content-security-policy" in r.headers
    assert web.get(f"/api/v1/shipments/{sscc}/bundle").status_code == 404


@pytest.mark.parametrize("bad", ["089300000000000018", "12345", "08930000000000001X"])
def test_invalid_sscc(web: TestClient, bad: str) -> None:
    r = web.get(f"/00/{bad}", headers=JSON)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_sscc" and "SSCC" in r.json()["error"]["message"]
    r = web.get(f"/00/{bad}")
    assert r.status_code == 400 and 'data-verdict="invalid"' in r.text and "Mã không hợp lệ" in r.text
    assert web.get(f"/api/v1/shipments/{bad}/bundle").status_code == 422


def test_shipment_bundle_waits_for_the_anchor(web: TestClient, scene: Scene) -> None:
    r = web.get(f"/api/v1/shipments/{scene.sscc}/bundle")
    assert r.status_code == 409 and "not fully anchored" in r.json()["error"]["message"]


def test_lot_page_shows_what_it_was_made_from(web: TestClient, scene: Scene) -> None:
    html = web.get(f"/01/{scene.frozen[:14]}/10/DL-FROZEN-1").text
    assert "Được làm từ" in html and "Đã chế biến thành" not in html
    up = html[html.index('<ul class="links lineage up">') :]
    up = up[: up.index("</ul>")]
    assert f'href="/01/{scene.raw1[:14]}/10/CM-RAW-1"' in up and f'href="/01/{scene.raw2[:14]}/10/CM-RAW-2"' in up
    assert "Sầu riêng Ri6 tươi" in up and "800 kg" in up and "1 200 kg" in up
    en = web.get(f"/01/{scene.frozen[:14]}/10/DL-FROZEN-1?lang=en").text
    assert "Made from" in en and "Fresh Ri6 durian" in en


def test_lot_page_shows_what_was_made_from_it(web: TestClient, scene: Scene) -> None:
    html = web.get(f"/01/{scene.raw2[:14]}/10/CM-RAW-2").text
    assert "Đã chế biến thành" in html and "Được làm từ" not in html
    down = html[html.index('<ul class="links lineage down">') :]
    down = down[: down.index("</ul>")]
    assert f'href="/01/{scene.frozen[:14]}/10/DL-FROZEN-1"' in down
    assert "Sầu riêng đông lạnh" in down and "1 500 kg" in down and "dùng 1 200 kg" in down
