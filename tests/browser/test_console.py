"""The web console in real headless Chromium (Debian's /usr/bin/chromium, Playwright) against a real
uvicorn server and a real anvil: a producer on a 360x740 phone signs in, creates a lot with a plot,
records a harvest with a photo, goes offline, records packing (queued in IndexedDB), comes back
online, the queue drains once, and the scan page shows the lot verified with its photo. A swapped
photo shows as altered. axe-core checks every console page for WCAG 2.1 AA violations.

axe-core is the pinned npm devDependency (``node_modules/axe-core/axe.min.js``), or the file named by
``LEDGER_AXE_JS``; without either the axe checks skip locally and fail with ``CI=true``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image
from sqlalchemy import delete

from ledger.core.canonical import from_canonical
from ledger.core.records import OrganizationCreate
from ledger.service.console import Console
from ledger.store import log as store
from ledger.store.account_models import ConsoleSession
from ledger.store.db import read_tx, write_tx
from tests.api.anvil_support import GTIN, MASTER_KEY_B64, ChainWorld, free_port, start_chain_world
from tests.browser.test_scan_page import ARGS, CHROMIUM, _missing, _wait_up, shot

pytestmark = [pytest.mark.browser, pytest.mark.chain]
PHONE = {"width": 360, "height": 740}
LOGIN, PASSWORD = "0912 345 678", "mat-khau-vuon-1"
EXPORTER = "xuatkhau@vina.vn"
OPERATOR = "vanhanh@ocop.vn"
AUTHORITY = "hoidong@ocop-bt.vn"
COUNCIL = "Hội đồng OCOP tỉnh Bình Thuận"
SSCC = "089300000000000019"
LOT = f"{GTIN}.PH-CONSOLE-1"
ROOT = Path(__file__).resolve().parents[2]
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 60)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def axe_source() -> str | None:
    for path in (os.environ.get("LEDGER_AXE_JS"), ROOT / "node_modules" / "axe-core" / "axe.min.js"):
        if path and Path(path).is_file():
            return Path(path).read_text(encoding="utf-8")
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("console")
    gen = start_chain_world(tmp)
    world: ChainWorld = next(gen)
    try:
        console = Console.open(world.ledger, world.settings.data_dir)
        console.create_account("htx-phu-hoi", LOGIN, PASSWORD, "owner")
        world.ledger.create_org(OrganizationCreate(name="Vina Export", slug="vina-export", kind="exporter"))
        console.create_account("vina-export", EXPORTER, PASSWORD, "owner")
        world.ledger.create_org(OrganizationCreate(name="OCOP Ledger vận hành", slug="operator", kind="operator"))
        console.create_account("operator", OPERATOR, PASSWORD, "owner")
        world.ledger.create_org(OrganizationCreate(name=COUNCIL, slug="ocop-binh-thuan", kind="authority"))
        console.create_account("ocop-binh-thuan", AUTHORITY, PASSWORD, "owner")
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp),
            "LEDGER_DATA_DIR": str(world.data_dir / "data"),
            "LEDGER_MASTER_KEY": MASTER_KEY_B64,
            "LEDGER_RPC_URL": world.rpc,
            "LEDGER_CONTRACT_ADDRESS": world.chain.address,
            "LEDGER_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LEDGER_VERDICT_CACHE_TTL": "0",  # the tampered-photo check must not see a cached page
        }
        if "PYTHONPATH" in os.environ:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        log = (tmp / "uvicorn.log").open("wb")
        factory = "ledger.cli.wiring:create_app_from_env"  # the composition root builds settings and chain
        cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1"]
        server = subprocess.Popen([*cmd, "--port", str(port)], cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_up(base + "/healthz", server)
            yield {"base": base, "world": world}
        finally:
            server.terminate()
            server.wait(timeout=10)
            log.close()
    finally:
        gen.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def phone(browser: Any, site: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """One phone for the whole walk (its service worker, caches and IndexedDB carry over)."""
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN", service_workers="allow")
    page = ctx.new_page()
    external: list[str] = []
    page.on("request", lambda req: external.append(req.url) if not req.url.startswith(site["base"]) else None)
    page.external = external
    try:
        yield ctx, page
    finally:
        ctx.close()


def stored_steps(world: ChainWorld, lot: str) -> list[str]:
    with read_tx(world.ledger.engine) as conn:
        return [str(from_canonical(str(r.event).encode())["bizStep"]) for r in store.lot_entries(conn, lot)]


def check_axe(page: Any, name: str) -> None:
    source = axe_source()
    if source is None:
        _missing("axe-core is missing (npm ci, or LEDGER_AXE_JS=path/to/axe.min.js)")
    page.evaluate(source)
    result = page.evaluate("opts => axe.run(document, opts)", {"runOnly": {"type": "tag", "values": WCAG}})
    problems = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
    assert problems == [], f"{name}: {json.dumps(problems, ensure_ascii=False)}"


def until(page: Any, js: str, arg: Any = None, timeout: float = 20.0) -> None:
    """Poll ``js`` in the page until true (wait_for_function would need 'unsafe-eval', which the CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(js, arg):
        assert time.monotonic() < deadline, f"not true within {timeout} s: {js}"
        page.wait_for_timeout(200)


def signed_in(page: Any) -> None:
    """Sign in when the page asks for it (a test run on its own); back to the page asked for."""
    if "/console/signin" in page.url:
        page.fill("#f-login", LOGIN)
        page.fill("#f-password", PASSWORD)
        page.click("button.primary")
        page.wait_for_load_state()


def fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_producer_walk_with_offline_queue(site: dict[str, Any], phone: tuple[Any, Any]) -> None:
    ctx, page = phone
    base, world = site["base"], site["world"]
    page.goto(base + "/console")
    assert "/console/signin" in page.url
    page.fill("#f-login", LOGIN)
    page.fill("#f-password", PASSWORD)
    page.click("button.primary")
    page.wait_for_url(base + "/console")
    assert "HTX Thanh long Phú Hội" in page.locator("h1").inner_text()

    page.click("text=Tạo lô hàng")
    page.fill("#f-code", "PH-CONSOLE-1")
    page.fill("#f-quantity", "1200")
    square = [[108.0, 11.0], [108.001, 11.0], [108.001, 11.001], [108.0, 11.001], [108.0, 11.0]]
    plot = json.dumps({"type": "Polygon", "coordinates": [square]}).encode()
    page.set_input_files("#f-plot_file", {"name": "vuon.geojson", "mimeType": "application/geo+json", "buffer": plot})
    page.click("button.primary")
    page.wait_for_url(f"**/console/lot?id={quote(LOT, safe='')}")
    assert "ha" in page.locator("#area").inner_text()
    fits(page)

    photo = jpeg()
    page.click("a[data-step='ocop:harvesting']")
    page.fill("#f-quantity", "300")
    page.fill("#f-place", "Vườn Phú Hội")
    page.set_input_files("#f-photos", {"name": "thu-hoach.jpg", "mimeType": "image/jpeg", "buffer": photo})
    page.click("button.primary")
    page.wait_for_url("**recorded=1")
    assert stored_steps(world, LOT) == ["commissioning", "ocop:harvesting"]
    assert page.locator("img[data-photo='ok']").count() == 1
    shot(page, "console-lot-vi")

    packing = f"/console/event?lot={quote(LOT, safe='')}&step=packing"
    js = "u => !!navigator.serviceWorker.controller && caches.match(u).then(r => !!r)"
    until(page, js, packing)
    ctx.set_offline(True)
    page.click("a[data-step='packing']")  # the page comes from the service worker's cache
    assert page.locator("h1").inner_text() == "Đóng gói"
    page.fill("#f-quantity", "1150")
    page.click("button.primary")
    page.locator("#queued").wait_for(state="visible")
    assert page.locator("#queue-count").inner_text() == "1"
    assert "Đóng gói" in page.locator("#queue-list").inner_text()
    assert stored_steps(world, LOT) == ["commissioning", "ocop:harvesting"]  # nothing sent yet
    shot(page, "console-queued-vi")

    ctx.set_offline(False)
    until(page, "() => document.getElementById('queue').hidden")
    assert stored_steps(world, LOT) == ["commissioning", "ocop:harvesting", "packing"]  # exactly once
    page.reload()  # a reload drains again: nothing is left to send
    page.wait_for_timeout(500)
    assert stored_steps(world, LOT).count("packing") == 1

    world.anchor()
    page.goto(f"{base}/01/{GTIN}/10/PH-CONSOLE-1")
    assert page.locator("section.verdict").get_attribute("data-verdict") == "verified"
    img = page.locator("img[data-photo='ok']")
    assert img.count() == 1
    assert img.evaluate("i => i.complete && i.naturalWidth") == 64
    assert page.external == []
    shot(page, "console-scan-verified-vi")


def test_walk_the_plot_and_shrink_a_big_photo(site: dict[str, Any], phone: tuple[Any, Any]) -> None:
    ctx, page = phone
    base, world = site["base"], site["world"]
    ctx.grant_permissions(["geolocation"], origin=base)
    ctx.set_geolocation({"latitude": 11.0, "longitude": 108.0})
    page.goto(base + "/console/lots/new")
    signed_in(page)
    page.fill("#f-code", "PH-WALK-1")
    page.click("[data-walk-start]")
    for lat, lon in ((11.0, 108.0), (11.0, 108.001), (11.001, 108.001), (11.001, 108.0)):
        ctx.set_geolocation({"latitude": lat, "longitude": lon})
        page.wait_for_timeout(300)
    until(page, "() => +document.getElementById('walk-status').textContent >= 4")
    page.click("[data-walk-stop]")
    page.click("button.primary")
    page.wait_for_load_state()
    assert "PH-WALK-1" in page.url, page.locator("main").inner_text()[:600]
    lot = world.ledger.get_lot(f"{GTIN}.PH-WALK-1")
    assert lot["plot"]["type"] == "Polygon"
    assert 1.0 < lot["plot_area_ha"] < 1.4  # 0.001 deg x 0.001 deg at 11 deg N is about 1.2 ha

    big = io.BytesIO()
    Image.effect_noise((3000, 2000), 60).convert("RGB").save(big, "JPEG", quality=95)
    assert len(big.getvalue()) > 1024 * 1024
    page.click("a[data-step='ocop:cooling']")
    page.set_input_files("#f-photos", {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big.getvalue()})
    page.click("button.primary")
    page.wait_for_url("**recorded=1")
    with read_tx(world.ledger.engine) as conn:
        ev = from_canonical(str(store.lot_entries(conn, f"{GTIN}.PH-WALK-1")[-1].event).encode())
    digest = ev["ocop:documents"][0]["sha256"]
    with Image.open(world.data_dir / "data" / "photos" / digest[:2] / digest) as stored:
        assert stored.size == (1600, 1067)  # redrawn at most 1600 px wide before it was signed


def test_a_queue_outlives_an_expired_session(site: dict[str, Any], phone: tuple[Any, Any]) -> None:
    """Queued offline, the session ends meanwhile: nothing is lost; after signing in again it is sent once."""
    ctx, page = phone
    base, world = site["base"], site["world"]
    page.goto(f"{base}/console/lot?id={quote(LOT, safe='')}")
    signed_in(page)
    sorting = f"/console/event?lot={quote(LOT, safe='')}&step=ocop%3Asorting"
    until(page, "u => !!navigator.serviceWorker.controller && caches.match(u).then(r => !!r)", sorting)
    ctx.set_offline(True)
    page.click("a[data-step='ocop:sorting']")
    page.click("button.primary")
    page.locator("#queued").wait_for(state="visible")
    with write_tx(world.ledger.engine) as conn:  # the session expires while the phone is offline
        conn.execute(delete(ConsoleSession.__table__))  # type: ignore[attr-defined]
    ctx.set_offline(False)
    page.wait_for_timeout(1500)  # the drain is refused (401) and keeps the entry
    assert "ocop:sorting" not in stored_steps(world, LOT)
    assert page.locator("#queue-count").inner_text() == "1"
    page.goto(base + "/console")
    signed_in(page)
    deadline = time.monotonic() + 20
    while "ocop:sorting" not in stored_steps(world, LOT):  # the home page drains the queue on load
        assert time.monotonic() < deadline, "the queued sorting event was not sent after signing in again"
        page.wait_for_timeout(200)
    until(page, "() => document.getElementById('queue-count').textContent === '0'")
    assert stored_steps(world, LOT).count("ocop:sorting") == 1


def test_a_swapped_photo_shows_as_altered(site: dict[str, Any], phone: tuple[Any, Any]) -> None:
    _, page = phone
    world = site["world"]
    digest = hashlib.sha256(jpeg()).hexdigest()
    path = world.data_dir / "data" / "photos" / digest[:2] / digest
    assert path.exists(), "the walk stored the harvest photo under its SHA-256"
    path.write_bytes(jpeg()[:-2] + b"\x00\x00")
    page.goto(f"{site['base']}/01/{GTIN}/10/PH-CONSOLE-1")
    bad = page.locator("[data-photo='tampered']")
    assert bad.count() == 1 and "Ảnh đã bị thay đổi" in bad.inner_text()
    assert page.locator("img[data-photo]").count() == 0


@pytest.mark.parametrize(
    "path",
    ["/console", "/console/products/new", "/console/lots/new", "/console/people", "/console/keys",
     f"/console/lot?id={quote(LOT, safe='')}", f"/console/event?lot={quote(LOT, safe='')}&step=packing",
     "/console/shipments", "/console/import", f"/console/label?id={quote(LOT, safe='')}"],
)  # fmt: skip
def test_console_pages_pass_axe_wcag21_aa(site: dict[str, Any], phone: tuple[Any, Any], path: str) -> None:
    _, page = phone
    resp = page.goto(site["base"] + path)
    assert resp.status == 200 and "/signin" not in page.url
    fits(page)
    check_axe(page, path)


def test_exporter_packs_a_shipment_and_downloads_fsma204(site: dict[str, Any], browser: Any) -> None:
    base, world = site["base"], site["world"]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN", accept_downloads=True)
    try:
        page = ctx.new_page()
        page.goto(base + "/console/shipments")
        page.fill("#f-login", EXPORTER)
        page.fill("#f-password", PASSWORD)
        page.click("button.primary")
        page.wait_for_url(base + "/console/shipments")
        page.fill("#p-sscc", SSCC)
        page.fill("#p-lots", LOT)
        page.click("form[action$='/shipments/pack'] button")
        page.wait_for_url(f"**/console/shipments?sscc={SSCC}")
        assert page.locator("[data-lots]").get_attribute("data-lots") == "1"
        page.fill("#m-sscc", SSCC)
        page.fill("#m-party", "Importer warehouse, Los Angeles CA")
        page.fill("#m-ref", "INV-2026-007")
        page.click("form[action$='/shipments/move'] button")
        page.wait_for_url(f"**/console/shipments?sscc={SSCC}")
        with page.expect_download() as info:
            page.click("text=FSMA 204 (CSV)")
        body = Path(info.value.path()).read_text(encoding="utf-8-sig")
        assert LOT in body and "INV-2026-007" in body and "Los Angeles" in body
        assert stored_steps(world, LOT)[-2:] == ["packing", "shipping"]
        check_axe(page, "/console/shipments?sscc=")
    finally:
        ctx.close()


def test_operator_overview_passes_axe(site: dict[str, Any], browser: Any) -> None:
    ctx = browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = ctx.new_page()
        page.goto(site["base"] + "/console/admin")
        page.fill("#f-login", OPERATOR)
        page.fill("#f-password", PASSWORD)
        page.click("button.primary")
        page.wait_for_url(site["base"] + "/console/admin")
        assert "HTX Thanh long Phú Hội" in page.locator("main").inner_text()
        fits(page)
        check_axe(page, "/console/admin")
    finally:
        ctx.close()


def test_an_authority_attests_at_phone_size_and_the_pages_pass_axe(site: dict[str, Any], browser: Any) -> None:
    base = site["base"]
    ctx = browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = ctx.new_page()
        page.goto(base + "/console")
        page.fill("#f-login", AUTHORITY)
        page.fill("#f-password", PASSWORD)
        page.click("button.primary")
        page.wait_for_url(base + "/console/attest")  # an authority's home is its attestations
        fits(page)
        check_axe(page, "/console/attest")
        page.fill("#f-about_id", GTIN)
        page.check("input[name=claim_type][value=ocop_rating]")
        page.fill("#f-rating_stars", "9")  # refused: the form comes back with what was typed and what to fix
        page.fill("#f-rating_year", "2025")
        page.evaluate("document.querySelector('#f-rating_stars').removeAttribute('max')")
        page.click("form[action$='/attest'] button.primary")
        assert "Số sao là một số từ 1 đến 5." in page.locator("[role=alert]").inner_text()
        assert page.input_value("#f-rating_year") == "2025"
        fits(page)
        check_axe(page, "/console/attest (refused)")
        page.fill("#f-rating_stars", "4")
        page.fill("#f-decision", "1234/QĐ-UBND")
        page.click("form[action$='/attest'] button.primary")
        page.wait_for_url("**/console/attest?done=*")
        assert page.locator("[data-status=active]").count() == 1
        check_axe(page, "/console/attest?done=")
        page.goto(f"{base}/01/{GTIN}/10/PH-CONSOLE-1")
        assert f"chứng thực bởi {COUNCIL}" in page.locator("main").inner_text()
    finally:
        ctx.close()


def test_producer_product_page_passes_axe(site: dict[str, Any], phone: tuple[Any, Any]) -> None:
    _, page = phone
    resp = page.goto(f"{site['base']}/console/product?gtin={GTIN}")
    signed_in(page)
    if "/console/product" not in page.url:
        resp = page.goto(f"{site['base']}/console/product?gtin={GTIN}")
    assert resp.status == 200 and page.locator("[data-versions]").count() == 1
    fits(page)
    check_axe(page, "/console/product")


def test_sign_in_page_passes_axe(site: dict[str, Any], browser: Any) -> None:
    ctx = browser.new_context(viewport=PHONE, locale="vi-VN")
    try:
        page = ctx.new_page()
        page.goto(site["base"] + "/console/signin")
        page.fill("#f-login", "0900000000")
        page.fill("#f-password", "sai-mat-khau")
        page.click("button.primary")  # a refused sign-in: the error summary is checked too
        assert "Sai số điện thoại" in page.locator("[role=alert]").inner_text()
        check_axe(page, "/console/signin")
    finally:
        ctx.close()
