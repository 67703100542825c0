"""The consumer scan page in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)
against a real uvicorn server and a real anvil: a verified, a pending, a tampered and an unknown lot.

Phone-sized screenshots go to ``test-artifacts/``. JavaScript is off: the page must work without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from ledger.store.db import write_tx
from ledger.store.models import LogEntry
from tests.api.anvil_support import MASTER_KEY_B64, ChainWorld, free_port, start_chain_world
from tests.exports.scenario import build as build_scene

pytestmark = [pytest.mark.browser, pytest.mark.chain]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
PHONE = {"width": 390, "height": 844}


def _missing(msg: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{msg} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(f"{msg} -- skipping locally; with CI=true this is a failure")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Lots in every state, served by uvicorn on a free port; yields their page URLs."""
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    tmp = tmp_path_factory.mktemp("site")
    gen = start_chain_world(tmp)
    world: ChainWorld = next(gen)
    try:
        world.new_lot("PH-2026-07", events=4)
        tampered = world.new_lot("PH-2026-08", events=2)
        scene = build_scene(world.ledger)  # raw durian -> frozen durian -> a pallet (SSCC)
        world.anchor()
        world.new_lot("PH/2026-09", events=1)
        with write_tx(world.ledger.engine) as conn:  # edit a signed event behind the ledger's back
            conn.execute(
                update(LogEntry.__table__)  # type: ignore[attr-defined]
                .where(LogEntry.lot_id == tampered, LogEntry.seq == 1)
                .values(event_time="2026-06-01T06:30:00+07:00")
            )
        port = free_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),  # serve this checkout's code, not the installed one
            "HOME": str(tmp),
            "LEDGER_DATA_DIR": str(world.data_dir / "data"),
            "LEDGER_MASTER_KEY": MASTER_KEY_B64,
            "LEDGER_RPC_URL": world.rpc,
            "LEDGER_CONTRACT_ADDRESS": world.chain.address,
            "LEDGER_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "LEDGER_EXPLORER_URL": "http://127.0.0.1:1/explorer",
        }
        if "PYTHONPATH" in os.environ:  # a checkout run without installing it (a git worktree) stays itself
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        log = (tmp / "uvicorn.log").open("wb")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "ledger.cli.wiring:create_app_from_env",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_up(base + "/healthz", server)
            yield {
                "base": base,
                "verified": f"{base}/01/08930000045676/10/PH-2026-07",
                "pending": f"{base}/01/08930000045676/10/PH%2F2026-09",
                "tampered": f"{base}/01/08930000045676/10/PH-2026-08",
                "unknown": f"{base}/01/08930000045676/10/NO-SUCH-LOT",
                "shipment": f"{base}/00/{scene.sscc}",
                "frozen": f"{base}/01/{scene.frozen[:14]}/10/DL-FROZEN-1",
                "scene": scene,
                "world": world,
            }
        finally:
            server.terminate()
            server.wait(timeout=10)
            log.close()
    finally:
        gen.close()


def _wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 - our own server
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


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


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport=PHONE, device_scale_factor=2, locale="vi-VN", java_script_enabled=False)
    page = ctx.new_page()
    external: list[str] = []
    page.on("request", lambda req: external.append(req.url) if not req.url.startswith("http://127.0.0.1") else None)
    page.external = external  # checked by the tests: nothing is loaded from outside
    try:
        yield page
    finally:
        ctx.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"scan-{name}.png"), full_page=True)


def verdict_of(page: Any) -> str:
    return str(page.locator("section.verdict").get_attribute("data-verdict"))


def test_verified_lot(site: dict[str, Any], phone: Any) -> None:
    resp = phone.goto(site["verified"])
    assert resp.status == 200
    assert verdict_of(phone) == "verified"
    assert phone.locator("section.verdict h2").inner_text() == "Đã xác minh"
    assert phone.locator("h1").inner_text() == "Thanh long ruột đỏ Phú Hội"
    body = phone.locator("body").inner_text()
    for text in ("HTX Thanh long Phú Hội", "Lâm Đồng", "OCOP 4 sao", "VietGAP", "Thu hoạch", "Tạo lô hàng", "Ký bởi"):
        assert text in body, text
    assert phone.locator("ol.timeline li").count() == 5
    assert phone.locator("ol.timeline li.ok").count() == 5
    anchor = phone.locator("section.anchor").inner_text()
    assert "Anvil (local) (31337)" in anchor
    tx_link = phone.locator("section.anchor a")
    assert tx_link.get_attribute("href").startswith("http://127.0.0.1:1/explorer/tx/0x")
    assert phone.external == []
    shot(phone, "verified-vi")


def test_language_switch_to_english(site: dict[str, Any], phone: Any) -> None:
    phone.goto(site["verified"])
    phone.click("a.lang")
    assert phone.url.endswith("?lang=en")
    assert phone.locator("html").get_attribute("lang") == "en"
    assert phone.locator("section.verdict h2").inner_text() == "Verified"
    assert phone.locator("h1").inner_text() == "Phu Hoi red dragon fruit"
    assert "Harvested" in phone.locator("ol.timeline").inner_text()
    shot(phone, "verified-en")


def test_pending_lot(site: dict[str, Any], phone: Any) -> None:
    resp = phone.goto(site["pending"])
    assert resp.status == 200
    assert verdict_of(phone) == "pending"
    assert "chưa được neo" in phone.locator("section.verdict").inner_text()
    assert phone.locator("ol.timeline li.pending").count() == 2
    assert "PH/2026-09" in phone.locator("body").inner_text()
    shot(phone, "pending-vi")


def test_tampered_lot(site: dict[str, Any], phone: Any) -> None:
    resp = phone.goto(site["tampered"])
    assert resp.status == 200
    assert verdict_of(phone) == "tampered"
    verdict = phone.locator("section.verdict").inner_text()
    assert "Cảnh báo: dữ liệu đã bị thay đổi" in verdict
    assert "#1" in verdict  # names the event
    assert "bản ghi" in verdict or "chữ ký số" in verdict  # and the failed check
    assert phone.locator("ol.timeline li.failed").count() == 1
    shot(phone, "tampered-vi")


def test_unknown_lot(site: dict[str, Any], phone: Any) -> None:
    resp = phone.goto(site["unknown"])
    assert resp.status == 404
    assert verdict_of(phone) == "not_found"
    assert phone.locator("section.verdict h2").inner_text() == "Không tìm thấy"
    assert phone.locator("ol.timeline").count() == 0
    shot(phone, "unknown-vi")


def test_page_layout_fits_a_phone(site: dict[str, Any], phone: Any) -> None:
    phone.goto(site["verified"])
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    size = phone.locator("body").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 18


def test_json_for_machines(site: dict[str, Any]) -> None:
    req = urllib.request.Request(site["verified"], headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - our own server
        import json

        body = json.loads(r.read())
    assert body["verification"]["verdict"] == "verified"


def test_shipment_page(site: dict[str, Any], phone: Any) -> None:
    scene = site["scene"]
    resp = phone.goto(site["shipment"])
    assert resp.status == 200
    assert verdict_of(phone) == "verified"
    assert phone.locator("section.verdict h2").inner_text() == "Đã xác minh"
    assert "Mọi lô trong kiện hàng" in phone.locator("section.verdict").inner_text()
    assert scene.sscc in phone.locator("h1").inner_text()
    body = phone.locator("body").inner_text()
    for text in ("Vina Export", "Importer warehouse, Los Angeles CA", "Các lô trong kiện hàng (1)"):
        assert text in body, text
    lots = phone.locator("ul.lots li")
    assert lots.count() == 1 and phone.locator("ul.lots li.ok").count() == 1
    item = lots.first.inner_text()
    for text in (
        "Sầu riêng đông lạnh",
        "Đã xác minh",
        "OCOP 5 sao",
        "Công ty Đông lạnh Mekong",
        "Tiền Giang",
        "1 500 kg",
    ):
        assert text in item, text
    assert "Anvil (local) (31337)" in phone.locator("section.anchor").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.external == []
    shot(phone, "shipment-vi")
    phone.click("ul.lots li a")  # to the lot's own page
    assert phone.url == site["frozen"]
    assert phone.locator("h1").inner_text() == "Sầu riêng đông lạnh"


def test_shipment_page_in_english_and_unknown(site: dict[str, Any], phone: Any) -> None:
    phone.goto(site["shipment"])
    phone.click("a.lang")
    assert phone.url.endswith("?lang=en")
    assert phone.locator("section.verdict h2").inner_text() == "Verified"
    assert "Lots in this shipment (1)" in phone.locator("body").inner_text()
    assert "Frozen durian" in phone.locator("ul.lots").inner_text()
    resp = phone.goto(site["base"] + "/00/089300000000000996")
    assert resp.status == 404 and verdict_of(phone) == "not_found"
    assert "Không có kiện hàng nào" in phone.locator("section.verdict").inner_text()


def test_lineage_on_the_lot_page(site: dict[str, Any], phone: Any) -> None:
    scene = site["scene"]
    assert phone.goto(site["frozen"]).status == 200
    assert verdict_of(phone) == "verified"
    up = phone.locator("ul.lineage.up li")
    assert up.count() == 2
    text = phone.locator("ul.lineage.up").inner_text()
    assert "Sầu riêng Ri6 tươi" in text and "CM-RAW-1" in text and "800 kg" in text and "1 200 kg" in text
    assert "Được làm từ" in phone.locator("body").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "lineage-vi")
    phone.click("ul.lineage.up li:nth-child(2) a")  # to the raw lot it was made from
    assert phone.url.endswith(f"/01/{scene.raw2[:14]}/10/CM-RAW-2")
    assert verdict_of(phone) == "verified"
    down = phone.locator("ul.lineage.down").inner_text()
    assert "Đã chế biến thành" in phone.locator("body").inner_text()
    assert "Sầu riêng đông lạnh" in down and "1 500 kg" in down and "dùng 1 200 kg" in down
