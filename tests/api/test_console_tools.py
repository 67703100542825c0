"""Exporter and operator pages: shipments with downloads, CSV import errors by row and column, labels,
the operator's overview, and a session (and the right organization) on every console route."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.console import assets, auth, authority, exporter, producer
from tests.api.conftest import LOT_A, World
from tests.api.console_support import PASSWORD, console_of, sign_in

SSCC = "089300000000000019"
HEADER = "lot,event_type,action,biz_step,event_time,quantity,uom,note"


@pytest.fixture
def staff(world: World) -> World:
    console = console_of(world.client)
    console.create_account("org-a", "0912345678", PASSWORD, role="owner")
    console.create_account("org-exporter", "xuatkhau@sg.vn", PASSWORD, role="owner")
    console.create_account("org-admin", "vanhanh@ocop.vn", PASSWORD, role="owner")
    console.create_account("org-inspector", "kiemdinh@q3.vn", PASSWORD, role="owner")
    return world


def client_of(w: World, login: str) -> tuple[TestClient, str]:
    c = TestClient(w.client.app)
    return c, sign_in(c, login)


def test_exporter_packs_ships_and_downloads_fsma(staff: World) -> None:
    c, csrf = client_of(staff, "xuatkhau@sg.vn")
    data = {"csrf": csrf, "sscc": SSCC, "lots": f"{LOT_A}\n", "event_time": "2026-07-08T09:00"}
    r = c.post("/console/shipments/pack", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/shipments?sscc={SSCC}"
    page = c.get(r.headers["location"])
    assert 'data-lots="1"' in page.text and LOT_A in page.text
    assert f'href="/api/v1/exports/fsma204?sscc={SSCC}&amp;format=csv"' in page.text
    move = {"csrf": csrf, "sscc": SSCC, "step": "shipping", "party": "Los Angeles CA", "ref": "INV-7"}
    assert c.post("/console/shipments/move", data=move, follow_redirects=False).status_code == 303
    fsma = c.get(f"/api/v1/exports/fsma204?sscc={SSCC}&format=csv")  # the page's download link
    assert fsma.status_code == 200 and LOT_A in fsma.text and "INV-7" in fsma.text
    unpack = {"csrf": csrf, "sscc": SSCC}  # the time defaults to now
    before = staff.counts()
    r = c.post("/console/shipments/unpack", data=unpack, follow_redirects=False)
    # the exporter that packed a lot may unpack it (issue 13; one policy decides, as for the API)
    assert r.status_code == 303
    entries, lots, products = staff.counts()
    assert (entries, lots, products) == (before[0] + 1, before[1], before[2])  # one signed DELETE
    assert 'data-lots="0"' in c.get(f"/console/shipments?sscc={SSCC}").text


def test_a_bad_sscc_keeps_the_form_and_says_what_to_fix(staff: World) -> None:
    c, csrf = client_of(staff, "xuatkhau@sg.vn")
    before = staff.counts()
    r = c.post("/console/shipments/pack", data={"csrf": csrf, "sscc": "089300000000000018", "lots": LOT_A})
    assert r.status_code == 422
    assert "Mã SSCC gồm 18 chữ số" in r.text and LOT_A in r.text
    assert staff.counts() == before


def test_csv_import_lists_errors_by_row_and_column_and_stores_nothing(staff: World) -> None:
    c, csrf = client_of(staff, "0912345678")
    before = staff.counts()
    rows = [
        f"{LOT_A},ObjectEvent,OBSERVE,ocop:cooling,2026-07-02T09:00:00+07:00,100,KGM,ok",
        f"{LOT_A},ObjectEvent,OBSERVE,dancing,2026-07-02T10:00:00+07:00,100,KGM,bad step",
        f"{LOT_A},ObjectEvent,OBSERVE,packing,not-a-time,100,KGM,bad time",
    ]
    body = "\n".join([HEADER, *rows]).encode()
    r = c.post("/console/import", data={"csrf": csrf}, files=[("csv", ("a.csv", body, "text/csv"))])
    assert r.status_code == 422
    assert 'data-errors="2"' in r.text
    assert "<td>3</td><td>biz_step</td>" in r.text and "<td>4</td><td>event_time</td>" in r.text
    assert staff.counts() == before
    good = "\n".join([HEADER, rows[0]]).encode()
    r = c.post("/console/import", data={"csrf": csrf}, files=[("csv", ("a.csv", good, "text/csv"))])
    assert r.status_code == 201 and "Đã lưu các sự kiện: 1" in r.text


def test_a_csv_that_is_not_utf8_is_a_row_error(staff: World) -> None:
    c, csrf = client_of(staff, "0912345678")
    r = c.post("/console/import", data={"csrf": csrf}, files=[("csv", ("a.csv", b"\xff\xfe\x00", "text/csv"))])
    assert r.status_code == 422 and "not UTF-8" in r.text


def test_label_sheet_for_own_lots_only(staff: World) -> None:
    c, _ = client_of(staff, "0912345678")
    r = c.get(f"/console/label?id={quote(LOT_A, safe='')}")
    assert r.status_code == 200
    assert r.text.count("Quét để kiểm tra / Scan to verify") == 8
    assert f"/api/v1/lots/{quote(LOT_A, safe='')}/qr.svg" in r.text
    other, _ = client_of(staff, "xuatkhau@sg.vn")
    assert other.get(f"/console/label?id={quote(LOT_A, safe='')}").status_code == 404


def test_operator_overview_for_the_operator_only(staff: World) -> None:
    op, _ = client_of(staff, "vanhanh@ocop.vn")
    page = op.get("/console/admin")
    assert page.status_code == 200
    for text in ("HTX Thanh long Phú Hội", "xuatkhau@sg.vn", 'data-size="1"', 'data-anchored="0"'):
        assert text in page.text
    coop, _ = client_of(staff, "0912345678")
    r = coop.get("/console/admin")
    assert r.status_code == 403 and "xuatkhau@sg.vn" not in r.text


def test_operator_resets_a_password_others_cannot(staff: World) -> None:
    op, csrf = client_of(staff, "vanhanh@ocop.vn")
    victim, _ = client_of(staff, "0912345678")
    r = op.post("/console/admin/reset-password", data={"csrf": csrf, "login": "0912 345 678"})
    assert r.status_code == 201
    password = r.text.split('id="new-password">')[1].split("<")[0]
    assert victim.get("/console", follow_redirects=False).status_code == 303  # signed out everywhere
    fresh = TestClient(staff.client.app)
    page = fresh.get("/console/signin")
    form = {"csrf": page.text.split('name="csrf" value="')[1].split('"')[0], "login": "0912345678"}
    assert fresh.post("/console/signin", data={**form, "password": PASSWORD}).status_code == 401  # old one gone
    assert fresh.post("/console/signin", data={**form, "password": password}, follow_redirects=False).status_code == 303
    coop, coop_csrf = client_of(staff, "xuatkhau@sg.vn")
    r = coop.post("/console/admin/reset-password", data={"csrf": coop_csrf, "login": "vanhanh@ocop.vn"})
    assert r.status_code == 403


def test_an_inspector_cannot_pack_or_import(staff: World) -> None:
    c, csrf = client_of(staff, "kiemdinh@q3.vn")
    before = staff.counts()
    assert c.post("/console/shipments/pack", data={"csrf": csrf, "sscc": SSCC, "lots": LOT_A}).status_code == 403
    body = f"{HEADER}\n{LOT_A},ObjectEvent,OBSERVE,inspecting,2026-07-02T09:00:00+07:00,1,KGM,x".encode()
    r = c.post("/console/import", data={"csrf": csrf}, files=[("csv", ("a.csv", body, "text/csv"))])
    assert r.status_code == 403
    assert staff.counts() == before


PUBLIC = {"/console/signin", "/console/invite", "/console/static/{name}", "/console/sw.js",
          "/console/manifest.webmanifest"}  # fmt: skip


def console_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every route of the console's routers (a new page is covered by these tests without listing it)."""
    out = []
    for router in (assets.router, auth.router, producer.router, exporter.router, authority.router):
        for route in router.routes:
            if isinstance(route, APIRoute) and route.path.startswith("/console") and route.path not in PUBLIC:
                out += [(m, route.path.replace("{key_id}", "ak_0123456789ab")) for m in sorted(route.methods)]
    return out


def test_every_console_route_needs_a_session_and_changes_nothing_without_one(staff: World) -> None:
    anonymous = TestClient(staff.client.app)
    routes = console_routes(anonymous)
    assert len(routes) >= 20
    before = staff.counts()
    for method, path in routes:
        r = anonymous.request(method, path, data={"csrf": "x"} if method == "POST" else None, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/signin"), (method, path)
    assert staff.counts() == before


def test_every_console_post_refuses_a_forged_csrf_token(staff: World) -> None:
    c, _ = client_of(staff, "0912345678")
    before = staff.counts()
    for method, path in console_routes(c):
        if method == "POST":
            assert c.post(path, data={"csrf": "forged"}).status_code == 403, path
    assert staff.counts() == before
