"""Lots, the GS1 Digital Link resolver (content negotiation, languages) and QR codes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.i18n import pick_lang
from api.routes.resolver import wants_json
from ledger.service import Ledger, reads
from tests.api.conftest import (
    GTIN_A,
    GTIN_B,
    LOT_A,
    LOT_A_PATH,
    PUBLIC_URL,
    World,
    add_org,
    api_settings,
    build_world,
    event,
    make_settings,
)

LINK = f"/01/{GTIN_A}/10/PH%2F2026-07"


def test_lot_with_a_slash_in_its_code(world: World) -> None:
    r = world.client.get(f"/api/v1/lots/{LOT_A_PATH}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["lot_id"] == LOT_A
    assert body["code"] == "PH/2026-07"
    assert body["digital_link"] == f"{PUBLIC_URL}/01/{GTIN_A}/10/PH%2F2026-07"
    assert body["entries"][0]["entry"]["event"]["bizStep"] == "commissioning"
    assert body["product"]["ocop_stars"] == 4
    assert body["producer"]["slug"] == "org-a"


def test_lot_paths_accept_an_unencoded_slash_too(world: World) -> None:
    r = world.client.get(f"/api/v1/lots/{GTIN_A}.PH/2026-07/verify")
    assert r.status_code == 200
    assert r.json()["lot"] == LOT_A


def test_a_lot_code_that_looks_like_a_route_suffix(world: World) -> None:
    """Lot code 'X/verify' percent-encoded is the lot, not the /verify route of lot 'X'."""
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "X/verify"}, headers=world.auth("a"))
    assert r.status_code == 201, r.text
    r = world.client.get(f"/api/v1/lots/{GTIN_A}.X%2Fverify")
    assert r.status_code == 200
    assert r.json()["lot_id"] == f"{GTIN_A}.X/verify"
    r = world.client.get(f"/api/v1/lots/{GTIN_A}.X%2Fverify/verify")
    assert r.json()["lot"] == f"{GTIN_A}.X/verify"


def test_percent_signs_in_lot_codes_survive(world: World) -> None:
    code = "A%2F"  # a literal percent sign, then '2F'
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": code}, headers=world.auth("a"))
    assert r.status_code == 201, r.text
    r = world.client.get(f"/api/v1/lots/{GTIN_A}.{quote(code, safe='')}")
    assert r.status_code == 200
    assert r.json()["code"] == code


def test_verify_is_pending_without_a_chain(world: World) -> None:
    r = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify")
    body = r.json()
    assert body["verdict"] == "pending"
    assert body["entries"][0]["checks"]["signature"] == "ok"
    assert body["entries"][0]["checks"]["anchor"] == "pending"


def test_verify_unknown_lot(world: World) -> None:
    r = world.client.get(f"/api/v1/lots/{GTIN_A}.NOPE/verify")
    assert r.status_code == 404
    assert r.json()["verdict"] == "not_found"
    assert r.json()["error"]["code"] == "not_found"


def test_verdict_cache_follows_the_log(world: World) -> None:
    first = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    assert len(first["entries"]) == 1
    world.client.post(f"/api/v1/lots/{LOT_A_PATH}/events", json=event("packing"), headers=world.auth("a"))
    second = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    assert len(second["entries"]) == 2
    assert second["tree_size"] == first["tree_size"] + 1


def _lot_b(world: World) -> str:
    lot = world.ledger.create_lot("org-b", {"gtin": GTIN_B, "code": "CB-1", "event_time": "2026-07-02T06:00:00+07:00"})
    return str(lot["lot_id"])


def _hits(world: World) -> tuple[float, float]:
    svc = world.client.app.state.services  # type: ignore[attr-defined]
    return svc.verdicts.hits, svc.verdicts.misses


@pytest.fixture
def v2_world(v2_ledger: Ledger, tmp_path: Path) -> Iterator[World]:
    """The same world on a ledger as it runs: master data are v2 entries of the log."""
    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app, raise_server_exceptions=False) as client:
        yield build_world(v2_ledger, client)


def test_verdict_stands_across_other_lots_appends(v2_world: World) -> None:
    world = v2_world
    """Appends to another lot change nothing a verdict on lot A reads: it is served again, still
    telling the tree size it was computed at, and the page follows it."""
    other = _lot_b(world)
    first = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    before = _hits(world)
    for step in ("packing", "shipping"):
        r = world.client.post(f"/api/v1/lots/{other}/events", json=event(step), headers=world.auth("b"))
        assert r.status_code == 201, r.text
    size = world.ledger.head().size
    assert size == first["tree_size"] + 2
    again = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    assert again == first
    assert _hits(world) == (before[0] + 1, before[1])
    assert world.ledger.verdict_state(LOT_A, None, first["tree_size"]) == (size, 0, False)
    # lot B's own verdict is computed at the size it now has
    assert world.client.get(f"/api/v1/lots/{other}/verify").json()["tree_size"] == size


def test_verdict_recomputed_after_a_v2_entry(v2_world: World) -> None:
    world = v2_world
    """Organizations, keys, products and attestations are v2 entries: any of them appended makes
    every cached verdict be computed again (here: a new organization)."""
    first = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    add_org(world.ledger, "HTX Dừa Bến Tre", "org-c", "cooperative", "producer")
    size = world.ledger.head().size
    assert size > first["tree_size"]
    assert world.ledger.verdict_state(LOT_A, None, first["tree_size"]) == (size, 0, True)
    again = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    assert again["tree_size"] == size and again["entries"] == first["entries"]


def test_verdict_reuse_scans_a_bounded_span(v2_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world = v2_world
    """More entries since the verdict than ``VERDICT_REUSE_SPAN`` count as grown, whatever they are."""
    monkeypatch.setattr(reads, "VERDICT_REUSE_SPAN", 1)
    other = _lot_b(world)
    first = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    world.client.post(f"/api/v1/lots/{other}/events", json=event("packing"), headers=world.auth("b"))
    assert world.ledger.verdict_state(LOT_A, None, first["tree_size"])[2] is False  # one entry: scanned
    world.client.post(f"/api/v1/lots/{other}/events", json=event("shipping"), headers=world.auth("b"))
    assert world.ledger.verdict_state(LOT_A, None, first["tree_size"])[2] is True  # two: past the span
    assert world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()["tree_size"] == first["tree_size"] + 2


def test_verdict_state_of_no_prior(v2_world: World) -> None:
    world = v2_world
    size = world.ledger.head().size
    assert world.ledger.verdict_state(LOT_A, None, None) == (size, 0, True)
    assert world.ledger.verdict_state(LOT_A, None, size) == (size, 0, False)
    assert world.ledger.verdict_state(LOT_A, None, size + 1)[2] is True  # a log shorter than the verdict


def test_without_master_data_in_the_log_any_append_recomputes(world: World) -> None:
    """Format v1 ledgers change master data in tables only: every append counts, as before."""
    other = _lot_b(world)
    first = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()
    world.client.post(f"/api/v1/lots/{other}/events", json=event("packing"), headers=world.auth("b"))
    assert world.ledger.verdict_state(LOT_A, None, first["tree_size"])[2] is True
    assert world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify").json()["tree_size"] == first["tree_size"] + 1


# --- Digital Link resolver ----------------------------------------------------------------


@pytest.mark.parametrize(
    "accept,expect_json",
    [
        (None, False),
        ("*/*", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("application/json", True),
        ("application/json, text/html;q=0.5", True),
        ("text/html, application/json;q=0.9", False),
        ("application/ld+json", True),
    ],
)
def test_content_negotiation(world: World, accept: str | None, expect_json: bool) -> None:
    headers = {"Accept": accept} if accept else {}
    r = world.client.get(LINK, headers=headers)
    assert r.status_code == 200
    assert "accept" in r.headers["vary"].lower()
    if expect_json:
        assert r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert body["lot_id"] == LOT_A
        assert body["verification"]["verdict"] == "pending"
        assert 'rel="bundle"' in r.headers["link"]
    else:
        assert r.headers["content-type"].startswith("text/html")
        assert "Thanh long ruột đỏ Phú Hội" in r.text


@pytest.mark.parametrize(
    "gtin",
    ["8930000045676", "08930000045676"],  # GTIN-13 is padded to GTIN-14
)
def test_resolver_accepts_short_gtins(world: World, gtin: str) -> None:
    r = world.client.get(f"/01/{gtin}/10/PH%2F2026-07", headers={"Accept": "application/json"})
    assert r.status_code == 200
    assert r.json()["lot_id"] == LOT_A


def test_resolver_rejects_a_bad_check_digit(world: World) -> None:
    r = world.client.get("/01/08930000045677/10/PH-1", headers={"Accept": "application/json"})
    assert r.status_code == 422
    assert "check digit" in r.json()["error"]["message"]
    page = world.client.get("/01/08930000045677/10/PH-1")
    assert page.status_code == 400
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-verdict="invalid"' in page.text


def test_resolver_unknown_lot(world: World) -> None:
    r = world.client.get(f"/01/{GTIN_A}/10/NOPE", headers={"Accept": "application/json"})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    page = world.client.get(f"/01/{GTIN_A}/10/NOPE")
    assert page.status_code == 404
    assert 'data-verdict="not_found"' in page.text


@pytest.mark.parametrize(
    "query,accept_language,lang",
    [
        ("", None, "vi"),
        ("", "vi-VN,vi;q=0.9,en;q=0.8", "vi"),
        ("", "en-US,en;q=0.9", "en"),
        ("", "fr-FR, en;q=0.5, vi;q=0.4", "en"),
        ("", "ja", "en"),
        ("?lang=en", "vi", "en"),
        ("?lang=vi", "en", "vi"),
    ],
)
def test_page_language(world: World, query: str, accept_language: str | None, lang: str) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    r = world.client.get(LINK + query, headers=headers)
    assert f'<html lang="{lang}">' in r.text
    assert r.headers["content-language"] == lang
    assert ("Đang chờ xác nhận" in r.text) == (lang == "vi")
    assert ("Pending" in r.text) == (lang == "en")
    other = "en" if lang == "vi" else "vi"
    assert f'href="?lang={other}"' in r.text  # the visible switch


def test_page_is_small_self_contained_and_locked_down(world: World) -> None:
    r = world.client.get(LINK)
    assert len(r.content) < 100_000
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'sha256-" in csp and "img-src 'self' data:" in csp
    assert "<script" not in r.text
    assert "http://" not in r.text.replace(PUBLIC_URL, "") and "https://" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_page_shows_what_a_consumer_needs(world: World) -> None:
    world.client.post(
        f"/api/v1/lots/{LOT_A_PATH}/events",
        json=event("inspecting", bizLocation={"id": "urn:x", "name": "Quatest 3", "province": "TP. Hồ Chí Minh"}),
        headers=world.auth("inspector"),
    )
    html = world.client.get(LINK + "?lang=en").text
    for text in (
        "Phu Hoi red dragon fruit",
        "HTX Thanh long Phú Hội",
        "Lâm Đồng",
        "OCOP 4 stars",
        "★★★★",
        "VietGAP",
        "Quality inspection",
        "Quatest 3",
        "Trung tâm Kiểm định Quatest 3",  # who signed
        "Lot created",
        "1 200 kg",
        'data-verdict="pending"',
    ):
        assert text in html, text


def test_wants_json_and_pick_lang_units() -> None:
    assert wants_json("application/json;q=0.8, text/html;q=0.7")
    assert not wants_json("application/json;q=0.5, text/html")
    assert pick_lang(None, "en;q=0, vi") == "vi"
    assert pick_lang("fr", None) == "vi"


# --- QR codes -----------------------------------------------------------------------------


def decode_png(data: bytes) -> Any:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def test_qr_png_and_svg(world: World) -> None:
    png = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/qr.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    img = decode_png(png.content)
    assert img.width == img.height and img.width >= 29 * 8
    # quiet zone: the outer 4 modules (32 px) are white
    assert all(img.getpixel((x, 0)) == 255 for x in range(img.width))
    assert all(img.getpixel((31, y)) == 255 for y in range(img.height))
    svg = world.client.get(f"/api/v1/lots/{LOT_A_PATH}/qr.svg?caption=true")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and LOT_A in svg.text
    captioned = decode_png(world.client.get(f"/api/v1/lots/{LOT_A_PATH}/qr.png?caption=true").content)
    assert captioned.height > captioned.width


def test_qr_encodes_the_digital_link(world: World) -> None:
    import qrcode

    from ledger.core import gs1
    from ledger.exports import qr

    url = gs1.digital_link(PUBLIC_URL, GTIN_A, "PH/2026-07")
    assert url == f"{PUBLIC_URL}/01/{GTIN_A}/10/PH%2F2026-07"
    expected = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    expected.add_data(url)
    expected.make(fit=True)
    assert qr.matrix(url) == [list(r) for r in expected.get_matrix()]


def test_qr_is_cached(world: World) -> None:
    svc = world.client.app.state.services  # type: ignore[attr-defined]
    world.client.get(f"/api/v1/lots/{LOT_A_PATH}/qr.svg")
    hits = svc.qr.hits
    world.client.get(f"/api/v1/lots/{LOT_A_PATH}/qr.svg")
    assert svc.qr.hits == hits + 1
