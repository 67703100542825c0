"""Producer pages: products, lots with plots, events with photos, idempotent resends, form errors
that keep what was typed, and no access to another organization's data (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from ledger.core.canonical import from_canonical
from ledger.store import log as store
from ledger.store.db import read_tx
from tests.api.conftest import GTIN_A, GTIN_B, LOT_A, World
from tests.api.console_support import JPEG, PASSWORD, console_of, sign_in

LOT_URL = f"/console/lot?id={quote(LOT_A, safe='')}"
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[108.0, 11.0], [108.001, 11.0], [108.001, 11.001], [108.0, 11.001], [108.0, 11.0]]],
}


@pytest.fixture
def coop(world: World) -> tuple[World, str]:
    console = console_of(world.client)
    console.create_account("org-a", "0912345678", PASSWORD, role="owner")
    console.create_account("org-b", "0987654321", PASSWORD, role="owner")
    return world, sign_in(world.client, "0912345678")


def entries(w: World, lot: str) -> list[dict[str, Any]]:
    with read_tx(w.ledger.engine) as conn:
        return [from_canonical(str(r.event).encode()) for r in store.lot_entries(conn, lot)]


def harvest(c: TestClient, csrf: str, lot: str = LOT_A, **extra: Any) -> Any:
    data = {
        "csrf": csrf,
        "lot": lot,
        "step": "ocop:harvesting",
        "quantity": "250,5",
        "unit": "KGM",
        "place": "Vườn Phú Hội",
        "note": "Trời nắng",
        "event_time": "2026-07-02T06:30",
        **extra,
    }
    return c.post(
        "/console/event", data=data, files=[("photos", ("a.jpg", JPEG, "image/jpeg"))], follow_redirects=False
    )


def test_home_lists_products_lots_verdicts_and_what_waits(coop: tuple[World, str]) -> None:
    w, _ = coop
    page = w.client.get("/console")
    assert page.status_code == 200
    assert "Thanh long ruột đỏ Phú Hội" in page.text and "PH/2026-07" in page.text
    assert 'data-verdict="pending"' in page.text or 'data-verdict="unverifiable"' in page.text
    assert 'data-waiting="1"' in page.text  # the lot's commissioning entry waits for an anchor
    assert "Cà phê bột Công Bằng" not in page.text  # organization B's product


def test_create_a_product_then_a_lot_with_an_uploaded_polygon(coop: tuple[World, str]) -> None:
    w, csrf = coop
    r = w.client.post(
        "/console/products/new",
        data={"csrf": csrf, "gtin": "8930000000026", "name_vi": "Cà phê", "ocop_stars": "4", "ocop_year": "2024"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/lots/new?gtin=08930000000026"
    data = {"csrf": csrf, "gtin": "08930000000026", "code": "CF-01", "quantity": "500", "unit": "KGM"}
    files = [("plot_file", ("plot.geojson", json.dumps(SQUARE).encode(), "application/geo+json"))]
    r = w.client.post("/console/lots/new", data=data, files=files, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    lot = w.ledger.get_lot("08930000000026.CF-01")
    assert lot["plot"]["type"] == "Polygon"
    assert lot["plot_area_ha"] == pytest.approx(1.2, rel=0.05)  # 0.001° x 0.001° at 11° N
    page = w.client.get(r.headers["location"])
    assert 'id="area"' in page.text and "ha" in page.text
    ilmd = entries(w, "08930000000026.CF-01")[0]["ilmd"]
    assert ilmd["ocop:plot"]["type"] == "Polygon"  # the plot is signed in the commissioning event


def test_a_lot_with_a_walked_boundary_and_no_quantity(coop: tuple[World, str]) -> None:
    w, csrf = coop
    walked = json.dumps(SQUARE)  # what console.js puts in plot_geojson after a walk around the plot
    data = {"csrf": csrf, "gtin": GTIN_A, "code": "WALK-1", "unit": "KGM", "quantity": "", "plot_geojson": walked}
    assert w.client.post("/console/lots/new", data=data, follow_redirects=False).status_code == 303
    lot = w.ledger.get_lot(f"{GTIN_A}.WALK-1")
    assert lot["plot"]["type"] == "Polygon" and lot["quantity"] is None and lot["unit"] is None
    assert lot["plot_area_ha"] == pytest.approx(1.2, rel=0.05)


def test_a_lot_with_a_gps_point(coop: tuple[World, str]) -> None:
    w, csrf = coop
    data = {"csrf": csrf, "gtin": GTIN_A, "code": "GPS-1", "lat": "11.123456", "lon": "108.654321"}
    assert w.client.post("/console/lots/new", data=data, follow_redirects=False).status_code == 303
    assert w.ledger.get_lot(f"{GTIN_A}.GPS-1")["plot"] == {"type": "Point", "coordinates": [108.654321, 11.123456]}


@pytest.mark.parametrize(
    ("path", "data", "kept", "help_text"),
    [
        (
            "/console/products/new",
            {"gtin": "08930000000027", "name_vi": "Cà phê sữa"},
            "Cà phê sữa",
            "chữ số cuối phải đúng",
        ),
        (
            "/console/products/new",
            {"gtin": "08930000000026", "name_vi": "Trà", "ocop_stars": "4"},
            "Trà",
            "nhập cả năm",
        ),
        (
            "/console/products/new",
            {"gtin": "08930000000026", "name_vi": "Trà", "brand": "Tân Cương", "net_value": "năm trăm"},
            'value="năm trăm"',
            "Khối lượng tịnh là một số lớn hơn 0",
        ),
        (
            "/console/products/new",
            {"gtin": "08930000000026", "name_vi": "Trà", "name_zh": "茶", "net_value": "0", "net_unit": "GRM"},
            'value="茶"',
            "Khối lượng tịnh là một số lớn hơn 0",
        ),
        (
            "/console/products/new",
            {"gtin": "08930000000026", "name_vi": "Trà", "brand": "x" * 201, "name_ja": "お茶"},
            'value="お茶"',
            "Thương hiệu tối đa 200 ký tự",
        ),
        (
            "/console/lots/new",
            {"gtin": GTIN_A, "code": "BAD CODE!", "origin_province": "Lâm Đồng"},
            "Lâm Đồng",
            "Số lô chỉ gồm",
        ),
        ("/console/lots/new", {"gtin": GTIN_A, "code": "Q-1", "quantity": "nhiều"}, "nhiều", "Khối lượng là một số"),
        ("/console/lots/new", {"gtin": GTIN_A, "code": "G-1", "lat": "200", "lon": "1"}, 'value="200"', "Vĩ độ từ -90"),
        (
            "/console/event",
            {"lot": LOT_A, "step": "ocop:harvesting", "quantity": "-3", "unit": "KGM", "note": "ghi chú cũ"},
            "ghi chú cũ",
            "Khối lượng là một số",
        ),
        (
            "/console/event",
            {"lot": LOT_A, "step": "ocop:harvesting", "event_time": "2099-01-01T00:00"},
            "2099-01-01T00:00",
            "ở tương lai",
        ),
        ("/console/event", {"lot": LOT_A, "step": "dancing", "place": "Kho 2"}, "Kho 2", "Chọn một bước."),
    ],
)
def test_form_errors_keep_what_was_typed_and_say_what_to_fix(
    coop: tuple[World, str], path: str, data: dict[str, str], kept: str, help_text: str
) -> None:
    w, csrf = coop
    before = w.counts()
    r = w.client.post(path, data={"csrf": csrf, **data})
    assert r.status_code in (409, 422), r.text[:300]
    assert kept in r.text
    assert help_text in r.text
    assert 'role="alert"' in r.text and 'aria-invalid="true"' in r.text
    assert w.counts() == before


def test_control_characters_never_reach_the_database(coop: tuple[World, str]) -> None:
    w, csrf = coop
    data = {"csrf": csrf, "gtin": "8930000000026", "name_vi": "Cà\x00 phê\x1b", "category": "\x00"}
    r = w.client.post("/console/products/new", data=data, follow_redirects=False)
    assert r.status_code == 303
    assert w.ledger.get_product("08930000000026")["name_vi"] == "Cà phê"
    note = {"csrf": csrf, "lot": LOT_A, "step": "packing", "note": "a\x00b", "place": "\x00"}
    assert w.client.post("/console/event", data=note, follow_redirects=False).status_code == 303
    assert entries(w, LOT_A)[-1]["ocop:note"] == "ab"


def test_a_product_with_brand_net_content_names_and_photos(coop: tuple[World, str]) -> None:
    w, csrf = coop
    data = {"csrf": csrf, "gtin": "8930000000026", "name_vi": "Cà phê", "name_zh": "咖啡", "name_ja": "コーヒー",
            "brand": "Công Bằng", "net_value": "250", "net_unit": "GRM"}  # fmt: skip
    files = [("images", ("goi.jpg", JPEG, "image/jpeg"))]
    r = w.client.post("/console/products/new", data=data, files=files, follow_redirects=False)
    assert r.status_code == 303, r.text[:400]
    made = w.ledger.get_product("08930000000026")
    assert (made["brand"], made["name_zh"], made["name_ja"]) == ("Công Bằng", "咖啡", "コーヒー")
    assert made["net_content"] == {"value": 250, "unit": "GRM"}
    assert made["images"] == [{"sha256": hashlib.sha256(JPEG).hexdigest(), "media_type": "image/jpeg"}]
    assert w.client.get(f"/photos/{made['images'][0]['sha256']}").content == JPEG
    # a file that is no image: 422, the typed values kept, nothing stored
    data |= {"gtin": "8930000000033", "brand": "Thương hiệu giữ lại"}
    files = [("images", ("x.jpg", b"not an image", "image/jpeg"))]
    r = w.client.post("/console/products/new", data=data, files=files, follow_redirects=False)
    assert r.status_code == 422 and 'value="Thương hiệu giữ lại"' in r.text and 'value="250"' in r.text
    assert "Ảnh phải là JPEG, PNG hoặc WebP" in r.text


def test_a_duplicate_product_is_a_conflict_with_the_form_kept(coop: tuple[World, str]) -> None:
    w, csrf = coop
    r = w.client.post("/console/products/new", data={"csrf": csrf, "gtin": GTIN_A, "name_vi": "Lần hai"})
    assert r.status_code == 409 and "Lần hai" in r.text


def test_record_an_event_with_a_photo_signed_by_hash(coop: tuple[World, str]) -> None:
    w, csrf = coop
    r = harvest(w.client, csrf)
    assert r.status_code == 303, r.text[:400]
    ev = entries(w, LOT_A)[-1]
    digest = hashlib.sha256(JPEG).hexdigest()
    assert ev["bizStep"] == "ocop:harvesting" and ev["eventTime"] == "2026-07-02T06:30:00+07:00"
    assert ev["quantityList"] == [{"lot": LOT_A, "quantity": 250.5, "uom": "KGM"}]
    assert ev["bizLocation"]["name"] == "Vườn Phú Hội" and ev["ocop:note"] == "Trời nắng"
    assert ev["ocop:documents"] == [{"type": "photo", "sha256": digest, "name": "photo-1"}]
    photo = w.client.get(f"/photos/{digest}")
    assert photo.status_code == 200 and photo.content == JPEG and photo.headers["content-type"] == "image/jpeg"
    page = w.client.get(LOT_URL)
    assert f'src="/photos/{digest}"' in page.text and 'data-photo="ok"' in page.text
    scan = w.client.get("/01/08930000045676/10/PH%2F2026-07")  # the consumer's page shows it too
    assert f'src="/photos/{digest}"' in scan.text and 'data-photo="ok"' in scan.text


def test_a_swapped_photo_shows_as_tampered(coop: tuple[World, str]) -> None:
    w, csrf = coop
    harvest(w.client, csrf)
    digest = hashlib.sha256(JPEG).hexdigest()
    console_of(w.client).photos.path(digest).write_bytes(JPEG[:-1] + b"\x00")
    page = w.client.get(LOT_URL)
    assert 'data-photo="tampered"' in page.text and "Ảnh đã bị thay đổi" in page.text
    r = w.client.get(f"/photos/{digest}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "photo_tampered"
    scan = w.client.get("/01/08930000045676/10/PH%2F2026-07")
    assert 'data-photo="tampered"' in scan.text and "Ảnh đã bị thay đổi sau khi ký" in scan.text
    assert f'src="/photos/{digest}"' not in scan.text


def test_a_resent_submission_is_stored_once(coop: tuple[World, str]) -> None:
    w, csrf = coop
    headers = {"Idempotency-Key": "k-123e4567", "Accept": "application/json"}
    data = {"csrf": csrf, "lot": LOT_A, "step": "packing", "event_time": "2026-07-03T14:00"}
    first = w.client.post("/console/event", data=data, headers=headers)
    again = w.client.post("/console/event", data=data, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert [e["bizStep"] for e in entries(w, LOT_A)].count("packing") == 1
    other = w.client.post("/console/event", data=data, headers={**headers, "Idempotency-Key": "k-other"})
    assert other.status_code == 201 and other.json()["recorded"]["index"] != first.json()["recorded"]["index"]


def test_a_bad_idempotency_key_is_refused(coop: tuple[World, str]) -> None:
    w, csrf = coop
    r = w.client.post(
        "/console/event",
        data={"csrf": csrf, "lot": LOT_A, "step": "packing"},
        headers={"Idempotency-Key": "x" * 101, "Accept": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"]["message"].startswith("Idempotency-Key")


def test_photos_that_are_not_images_are_refused(coop: tuple[World, str]) -> None:
    w, csrf = coop
    before = w.counts()
    r = w.client.post(
        "/console/event",
        data={"csrf": csrf, "lot": LOT_A, "step": "ocop:harvesting"},
        files=[("photos", ("x.jpg", b"<svg/>", "image/jpeg"))],
    )
    assert r.status_code == 422 and "JPEG, PNG hoặc WebP" in r.text
    assert w.counts() == before


# --- another organization's data --------------------------------------------------------------


def _b_client(w: World) -> tuple[TestClient, str]:
    c = TestClient(w.client.app)
    return c, sign_in(c, "0987654321")


CROSS_GETS = [LOT_URL, f"/console/event?lot={quote(LOT_A, safe='')}&step=packing"]


@pytest.mark.parametrize("path", CROSS_GETS)
def test_another_organizations_lot_pages_are_not_found(coop: tuple[World, str], path: str) -> None:
    w, _ = coop
    b, _ = _b_client(w)
    r = b.get(path)
    assert r.status_code == 404 and "PH/2026-07" not in r.text.split("<main")[1].split("</p>")[-1]


def test_another_organizations_lot_takes_no_events(coop: tuple[World, str]) -> None:
    w, _ = coop
    b, csrf = _b_client(w)
    before = w.counts()
    r = harvest(b, csrf)
    assert r.status_code == 403
    assert w.counts() == before


def test_another_organizations_product_takes_no_lots(coop: tuple[World, str]) -> None:
    w, _ = coop
    b, csrf = _b_client(w)
    before = w.counts()
    r = b.post("/console/lots/new", data={"csrf": csrf, "gtin": GTIN_A, "code": "STEAL-1"})
    assert r.status_code == 403 and "belongs to another organization" in r.text
    assert w.counts() == before
    assert b.post("/console/lots/new", data={"csrf": csrf, "gtin": GTIN_B, "code": "OWN-1"},
                  follow_redirects=False).status_code == 303  # fmt: skip


def test_another_organizations_api_keys_cannot_be_revoked(coop: tuple[World, str]) -> None:
    w, csrf_a = coop
    created = w.client.post("/console/keys", data={"csrf": csrf_a, "role": "producer", "label": "A"})
    key_id = created.text.split("<code>")[1].split("</code>")[0]
    b, csrf = _b_client(w)
    assert key_id not in b.get("/console/keys").text
    assert b.post(f"/console/keys/{key_id}/revoke", data={"csrf": csrf}).status_code == 404
    assert "đang dùng" in w.client.get("/console/keys").text


def test_people_lists_only_the_own_organization(coop: tuple[World, str]) -> None:
    w, _ = coop
    b, _ = _b_client(w)
    page = b.get("/console/people").text
    assert "+84987654321" in page and "+84912345678" not in page


CONSOLE_PAGES = ["/console", "/console/products/new", "/console/lots/new", LOT_URL, CROSS_GETS[1], "/console/people",
                 "/console/keys", "/console/signin"]  # fmt: skip


@pytest.mark.parametrize("path", CONSOLE_PAGES)
def test_every_page_is_small_and_loads_nothing_from_outside(coop: tuple[World, str], path: str) -> None:
    w, csrf = coop
    harvest(w.client, csrf)
    r = w.client.get(path)
    assert r.status_code == 200
    assert len(r.content) < 60 * 1024
    assert "http://" not in r.text.replace("http://testserver", "") and "https://" not in r.text
    assert '<meta name="viewport"' in r.text
    assert "built-in method" not in r.text and "Khoá API" in r.text  # every text key resolves
