"""Attestations in the console (issues 11 and 14): an authority issues and revokes its own through
forms; producers and exporters see who vouches for each fact and the product's master data versions;
the operator sees each authority's count; nobody reaches another organization's attestations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.core.records import OrganizationCreate, ProductCreate
from ledger.service import Ledger
from tests.api.conftest import GTIN_A, GTIN_B, LOT_A, World, api_settings, build_world, make_settings
from tests.api.console_support import PASSWORD, console_of, sign_in

COUNCIL = "Hội đồng OCOP tỉnh Bình Thuận"
PPD = "Chi cục Trồng trọt và BVTV Bình Thuận"
SSCC = "089300000000000019"
DECLARED = "do nhà sản xuất tự công bố (chưa được cơ quan nào chứng thực)"
RATING = {"about_type": "product", "about_id": GTIN_A, "claim_type": "ocop_rating", "rating_stars": "5",
          "rating_year": "2025", "decision": "1234/QĐ-UBND", "expires": "2028-12-31"}  # fmt: skip


@pytest.fixture
def people(v2_ledger: Ledger, tmp_path: Path) -> Iterator[World]:
    """The usual world on a ledger that writes master data into the log, two authorities, an account each."""
    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app, raise_server_exceptions=False) as client:
        w = build_world(v2_ledger, client)
        v2_ledger.create_org(OrganizationCreate(name=COUNCIL, slug="ocop-binh-thuan", kind="authority"))
        v2_ledger.create_org(OrganizationCreate(name=PPD, slug="bvtv-binh-thuan", kind="authority"))
        console = console_of(client)
        for org, login in (("org-a", "0912345678"), ("org-b", "0987654321"), ("org-exporter", "xk@sg.vn"),
                           ("org-admin", "vh@ocop.vn"), ("ocop-binh-thuan", "hd@ocop-bt.vn"),
                           ("bvtv-binh-thuan", "bvtv@bt.vn")):  # fmt: skip
            console.create_account(org, login, PASSWORD, role="owner")
        yield w


def signed_in(w: World, login: str) -> tuple[TestClient, str]:
    c = TestClient(w.client.app, raise_server_exceptions=False)
    return c, sign_in(c, login)


def attest(c: TestClient, csrf: str, **fields: str) -> Any:
    return c.post("/console/attest", data={"csrf": csrf, **fields}, follow_redirects=False)


def test_an_authority_attests_and_every_page_says_who_vouches(people: World) -> None:
    c, csrf = signed_in(people, "hd@ocop-bt.vn")
    assert c.get("/console", follow_redirects=False).headers["location"] == "/console/attest"
    r = attest(c, csrf, **RATING)
    assert r.status_code == 303 and r.headers["location"] == "/console/attest?done=attestation%3Aocop-binh-thuan%3A1"
    page = c.get(r.headers["location"])
    assert 'data-subject="attestation:ocop-binh-thuan:1" data-status="active"' in page.text
    assert "1234/QĐ-UBND" in page.text and "2028-12-31" in page.text
    # the producer's lot page, product page and the exporter's shipment page say who vouches, as the scan page does
    p, _ = signed_in(people, "0912345678")
    lot_page = p.get(f"/console/lot?id={quote(LOT_A, safe='')}").text
    assert f"OCOP 5 sao (2025)</strong> · <span data-by>chứng thực bởi {COUNCIL}" in lot_page
    assert f"VietGAP VG-0042</strong> · <span data-by>{DECLARED}" in lot_page
    assert "OCOP 4★" not in lot_page.split("h-versions")[0]  # the producer's 4 stars are outvoted by the attestation
    scan = people.client.get("/01/08930000045676/10/PH%2F2026-07").text
    assert f"chứng thực bởi {COUNCIL}" in scan and "OCOP 5 sao (2025)" in scan
    product_page = p.get(f"/console/product?gtin={GTIN_A}").text
    assert f"chứng thực bởi {COUNCIL}" in product_page and 'data-versions="1"' in product_page
    e, ecsrf = signed_in(people, "xk@sg.vn")
    pack = {"csrf": ecsrf, "sscc": SSCC, "lots": LOT_A, "event_time": "2026-07-08T09:00"}
    assert e.post("/console/shipments/pack", data=pack, follow_redirects=False).status_code == 303
    ship = e.get(f"/console/shipments?sscc={SSCC}&lang=en").text
    assert f"OCOP 5 stars (2025) · <span data-by>attested by {COUNCIL}" in ship
    assert "VietGAP VG-0042 · <span data-by>declared by the producer (not attested by any authority)" in ship


def test_the_product_page_shows_master_data_versions_from_the_log(people: World) -> None:
    people.ledger.update_product(
        "org-a", GTIN_A, ProductCreate(gtin=GTIN_A, name_vi="Thanh long ruột đỏ Phú Hội loại 1", category="fruit")
    )
    p, _ = signed_in(people, "0912345678")
    page = p.get(f"/console/product?gtin={GTIN_A}").text
    assert 'data-versions="2"' in page
    v2, v1 = page.index('data-version="2"'), page.index('data-version="1"')
    assert v2 < v1 and "Thanh long ruột đỏ Phú Hội loại 1" in page[v2:v1]  # newest first
    assert "OCOP 4★ 2024" in page[v1:]  # the first version declared 4 stars; the second declares none
    assert "Chưa có thông tin nào được xác nhận hay công bố." in page  # nothing declared or attested now


def test_a_refused_attestation_keeps_what_was_typed_and_says_what_to_fix(people: World) -> None:
    c, csrf = signed_in(people, "hd@ocop-bt.vn")
    before = people.counts()
    r = attest(c, csrf, **{**RATING, "rating_stars": "6", "expires": "2028-02-30"})
    assert r.status_code == 422
    assert "Số sao là một số từ 1 đến 5." in r.text and "Ngày hết hiệu lực phải là một ngày có thật" in r.text
    assert 'value="6"' in r.text and 'value="1234/QĐ-UBND"' in r.text and 'value="2028-02-30"' in r.text
    cert = {"about_type": "lot", "about_id": f"{GTIN_A}.NO-SUCH", "claim_type": "certification", "scheme": "VietGAP"}
    r = attest(c, csrf, **cert)
    assert r.status_code == 422 and "Nhập số giấy chứng nhận" in r.text and 'value="VietGAP"' in r.text
    r = attest(c, csrf, **cert, number="VG-1")
    assert r.status_code == 422 and "Nhập mã có trong sổ cái" in r.text  # no such lot
    r = attest(c, csrf, about_type="product", about_id=GTIN_A, claim_type="certification", scheme="VietGAP",
               number="VG-1", valid_from="2026-05-01", valid_to="2026-01-01")  # fmt: skip
    assert r.status_code == 422 and "không trước ngày bắt đầu" in r.text
    en = c.post("/console/attest?lang=en", data={"csrf": csrf, **RATING, "claim_type": ""})
    assert en.status_code == 422 and "Choose a kind of attestation." in en.text
    assert people.counts() == before


def test_an_authority_revokes_its_own_and_only_its_own(people: World) -> None:
    c, csrf = signed_in(people, "hd@ocop-bt.vn")
    attest(c, csrf, **RATING)
    other, ocsrf = signed_in(people, "bvtv@bt.vn")
    code = {"about_type": "lot", "about_id": LOT_A, "claim_type": "growing_area_code", "claim_code": "VN-BTH-0042"}
    assert attest(other, ocsrf, **code).status_code == 303
    before = people.counts()
    # another authority's attestation is not found, and nothing changes
    r = other.post("/console/attest/revoke", data={"csrf": ocsrf, "subject": "attestation:ocop-binh-thuan:1"})
    assert r.status_code == 404 and people.counts() == before
    assert "attestation:ocop-binh-thuan:1" not in other.get("/console/attest").text  # nor listed to it
    r = c.post("/console/attest/revoke", data={"csrf": csrf, "subject": "attestation:ocop-binh-thuan:1"},
               follow_redirects=False)  # fmt: skip
    assert r.status_code == 303 and people.counts()[0] == before[0] + 1
    assert 'data-subject="attestation:ocop-binh-thuan:1" data-status="revoked"' in c.get("/console/attest").text
    again = c.post("/console/attest/revoke", data={"csrf": csrf, "subject": "attestation:ocop-binh-thuan:1"})
    assert again.status_code == 409
    scan = people.client.get("/01/08930000045676/10/PH%2F2026-07").text
    assert f"chứng thực bởi {COUNCIL}" not in scan and f"chứng thực bởi {PPD}" in scan
    # the operator sees each authority's count
    op, _ = signed_in(people, "vh@ocop.vn")
    admin = op.get("/console/admin").text
    assert 'data-authorities="2"' in admin
    row = admin[admin.index('data-authority="ocop-binh-thuan"') :]
    assert row.startswith('data-authority="ocop-binh-thuan"><td>' + COUNCIL)
    assert "<td>1</td><td>0</td>" in row.split("</tr>")[0]  # issued one, revoked it
    assert "<td>1</td><td>1</td>" in admin[admin.index('data-authority="bvtv-binh-thuan"') :].split("</tr>")[0]


@pytest.mark.parametrize("login", ["0912345678", "xk@sg.vn", "vh@ocop.vn"])
def test_no_one_but_an_authority_attests_or_revokes(people: World, login: str) -> None:
    a, acsrf = signed_in(people, "hd@ocop-bt.vn")
    attest(a, acsrf, **RATING)
    c, csrf = signed_in(people, login)
    before = people.counts()
    assert c.get("/console/attest").status_code == 403
    assert attest(c, csrf, **RATING).status_code == 403
    r = c.post("/console/attest/revoke", data={"csrf": csrf, "subject": "attestation:ocop-binh-thuan:1"})
    assert r.status_code == 403
    assert attest(a, "forged", **RATING).status_code == 403  # and an authority needs its CSRF token
    assert people.counts() == before


def test_product_pages_are_for_their_own_organization(people: World) -> None:
    b, _ = signed_in(people, "0987654321")
    assert b.get(f"/console/product?gtin={GTIN_B}").status_code == 200
    r = b.get(f"/console/product?gtin={GTIN_A}")
    assert r.status_code == 404 and GTIN_A in r.text and "Thanh long" not in r.text
    assert b.get("/console/product?gtin=00000000000000").status_code == 404
    assert b.get(f"/console/lot?id={quote(LOT_A, safe='')}").status_code == 404  # as before: no foreign lots


def test_the_new_pages_are_small_and_load_nothing_from_outside(people: World) -> None:
    a, acsrf = signed_in(people, "hd@ocop-bt.vn")
    for n in range(12):  # a busy authority: a dozen attestations listed
        assert attest(a, acsrf, **{**RATING, "rating_year": str(2018 + n)}).status_code == 303
    refused = attest(a, acsrf, **{**RATING, "rating_stars": "9"})
    p, _ = signed_in(people, "0912345678")
    op, _ = signed_in(people, "vh@ocop.vn")
    e, ecsrf = signed_in(people, "xk@sg.vn")
    pack = {"csrf": ecsrf, "sscc": SSCC, "lots": LOT_A, "event_time": "2026-07-08T09:00"}
    assert e.post("/console/shipments/pack", data=pack, follow_redirects=False).status_code == 303
    pages = [a.get("/console/attest"), refused, p.get(f"/console/product?gtin={GTIN_A}"),
             p.get(f"/console/lot?id={quote(LOT_A, safe='')}"), op.get("/console/admin"),
             e.get(f"/console/shipments?sscc={SSCC}")]  # fmt: skip
    for r in pages:
        assert r.status_code in (200, 422) and len(r.content) < 60 * 1024, (r.url, len(r.content))
        assert "http://" not in r.text.replace("http://testserver", "") and "https://" not in r.text
        assert "built-in method" not in r.text and "hứng thực" in r.text  # every text key resolves


def test_an_authority_manages_its_api_keys_in_the_console(people: World) -> None:
    """The keys page of an authority offers the one role its organization may hold (``authority``) and the key
    it issues records an attestation through the API; another role is refused with a message, not a 500."""
    c, csrf = signed_in(people, "hd@ocop-bt.vn")
    page = c.get("/console/keys")
    assert page.status_code == 200 and 'value="authority"' in page.text
    refused = c.post("/console/keys", data={"csrf": csrf, "label": "sai", "role": "producer"})
    assert refused.status_code == 422 and 'value="sai"' in refused.text
    made = c.post("/console/keys", data={"csrf": csrf, "label": "API hội đồng", "role": "authority"})
    assert made.status_code == 201
    token = made.text.split('id="new-key">', 1)[1].split("</output>", 1)[0]
    about = {"type": "product", "id": GTIN_A}
    claim = {"type": "ocop_rating", "stars": 4, "year": 2025}
    r = people.client.post(
        "/api/v1/attestations", json={"about": about, "claim": claim}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["subject"].startswith("attestation:ocop-binh-thuan:")
