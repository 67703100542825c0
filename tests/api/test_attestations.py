"""Attestations by authority organizations: API, CLI, the page's "attested by", revocation (issue 11)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from api.app import create_app
from ledger import attestations
from ledger.core.records import OrganizationCreate
from ledger.errors import InputError, PermissionDenied
from ledger.service import Ledger
from ledger.store import apikeys, masterdata_log, v2log
from ledger.store.db import read_tx, write_tx
from ledger.store.models import Organization
from tests.api.conftest import GTIN_A, add_org, api_settings, make_settings
from tests.cli.test_cli import run  # noqa: F401 - the CLI fixture

RATING = {"type": "ocop_rating", "stars": 4, "year": 2024, "decision": "1234/QĐ-UBND", "expires": "2027-12-31"}


def _world(ledger: Ledger) -> dict[str, str]:
    _, producer = add_org(ledger, "HTX Phú Hội", "htx-phu-hoi", "cooperative", "producer")
    _, admin = add_org(ledger, "OCOP Ledger vận hành", "operator", "operator", "admin")
    ledger.create_org(OrganizationCreate(name="Hội đồng OCOP tỉnh Lâm Đồng", slug="ocop-lam-dong", kind="authority"))
    return {"producer": producer, "admin": admin}


def test_an_authority_attests_and_the_page_says_who(v2_ledger: Ledger, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        tokens = _world(v2_ledger)
        prod = {"Authorization": f"Bearer {tokens['producer']}"}
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        product = {"gtin": GTIN_A, "name_vi": "Thanh long", "ocop_stars": 4, "ocop_year": 2024}
        assert client.post("/api/v1/products", json=product, headers=prod).status_code == 201
        assert client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "PH-1"}, headers=prod).status_code == 201
        body = {"about": {"type": "product", "id": GTIN_A}, "claim": RATING}
        r = client.post("/api/v1/admin/organizations/ocop-lam-dong/attestations", json=body, headers=admin)
        assert r.status_code == 201, r.text
        subject = r.json()["subject"]
        assert subject == "attestation:ocop-lam-dong:1"
        code = {
            "about": {"type": "lot", "id": f"{GTIN_A}.PH-1"},
            "claim": {"type": "growing_area_code", "code": "VN-LD-1"},
        }
        assert (
            client.post("/api/v1/admin/organizations/ocop-lam-dong/attestations", json=code, headers=admin).status_code
            == 201
        )
        listed = client.get("/api/v1/attestations", params={"type": "product", "id": GTIN_A}).json()
        assert [(a["authority"], a["claim"]["stars"]) for a in listed] == [("ocop-lam-dong", 4)]
        page = client.get(f"/01/{GTIN_A}/10/PH-1?lang=en", headers={"Accept": "text/html"}).text
        assert "OCOP 4 stars (2024)" in page and "attested by Hội đồng OCOP tỉnh Lâm Đồng" in page
        assert "Growing-area code VN-LD-1" in page
        vi = client.get(f"/01/{GTIN_A}/10/PH-1", headers={"Accept": "text/html"}).text
        assert "chứng thực bởi Hội đồng OCOP tỉnh Lâm Đồng" in vi
        # refusals: a producer attests nothing; a bad claim is a 422; nothing is stored
        bad = client.post("/api/v1/admin/organizations/htx-phu-hoi/attestations", json=body, headers=admin)
        assert bad.status_code == 403 and "only an authority" in bad.json()["error"]["message"]
        wrong = {"about": body["about"], "claim": {"type": "ocop_rating", "stars": "five", "year": 2024}}
        r = client.post("/api/v1/admin/organizations/ocop-lam-dong/attestations", json=wrong, headers=admin)
        assert r.status_code == 422 and "claim" in r.json()["error"]["message"]
        r = client.post(f"/api/v1/admin/attestations/{subject}/revoke", headers=admin)
        assert r.status_code == 200 and r.json()["body"]["status"] == "revoked"
        assert client.post(f"/api/v1/admin/attestations/{subject}/revoke", headers=admin).status_code == 409
        assert client.get("/api/v1/attestations", params={"type": "product", "id": GTIN_A}).json() == []


def test_an_authority_attests_and_revokes_with_its_own_api_key(v2_ledger: Ledger, tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        tokens = _world(v2_ledger)
        _, other = add_org(v2_ledger, "Chi cục BVTV Lâm Đồng", "bvtv-lam-dong", "authority", "authority")
        with write_tx(v2_ledger.engine) as conn:
            own = apikeys.create(conn, _org_id(v2_ledger, "ocop-lam-dong"), "authority")["token"]
        auth = {"Authorization": f"Bearer {own}"}
        body = {"about": {"type": "product", "id": GTIN_A}, "claim": RATING}
        r = client.post("/api/v1/attestations", json=body, headers=auth)
        assert r.status_code == 201, r.text
        subject = r.json()["subject"]
        assert subject == "attestation:ocop-lam-dong:1"
        # signed by the authority's own key, which the log registers to it
        with read_tx(v2_ledger.engine) as conn:
            ent = v2log.subject_entries(conn, subject)[0]
            assert masterdata_log.key_facts(conn, str(ent["signer"]))["org_kind"] == "authority"  # type: ignore[index]
        listed = client.get("/api/v1/attestations", params={"type": "product", "id": GTIN_A}).json()
        assert [(a["authority"], a["claim"]["stars"]) for a in listed] == [("ocop-lam-dong", 4)]
        # bad claims are 422 and store nothing
        wrong = {"about": body["about"], "claim": {"type": "ocop_rating", "stars": 9, "year": 2024}}
        r = client.post("/api/v1/attestations", json=wrong, headers=auth)
        assert r.status_code == 422 and "claim" in r.json()["error"]["message"]
        r = client.post("/api/v1/attestations", json={**body, "extra": 1}, headers=auth)
        assert r.status_code == 422
        # another authority may not withdraw it, nor may a producer; a malformed subject is 422
        r = client.post(f"/api/v1/attestations/{subject}/revoke", headers={"Authorization": f"Bearer {other}"})
        assert r.status_code == 403 and "only ocop-lam-dong or the operator" in r.json()["error"]["message"]
        prod = {"Authorization": f"Bearer {tokens['producer']}"}
        assert client.post(f"/api/v1/attestations/{subject}/revoke", headers=prod).status_code == 403
        assert client.post("/api/v1/attestations/not-a-subject/revoke", headers=auth).status_code == 422
        assert client.post("/api/v1/attestations/attestation:ocop-lam-dong:9/revoke", headers=auth).status_code == 404
        assert len(client.get("/api/v1/attestations", params={"type": "product", "id": GTIN_A}).json()) == 1
        r = client.post(f"/api/v1/attestations/{subject}/revoke", headers=auth)
        assert r.status_code == 200 and r.json()["body"]["status"] == "revoked"
        assert client.post(f"/api/v1/attestations/{subject}/revoke", headers=auth).status_code == 409
        assert client.get("/api/v1/attestations", params={"type": "product", "id": GTIN_A}).json() == []
        # the operator's admin routes keep working, and the operator may revoke any authority's attestation
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        r = client.post("/api/v1/admin/organizations/ocop-lam-dong/attestations", json=body, headers=admin)
        assert r.status_code == 201 and r.json()["subject"] == "attestation:ocop-lam-dong:2"
        r = client.post("/api/v1/admin/attestations/attestation:ocop-lam-dong:2/revoke", headers=admin)
        assert r.status_code == 200


def _org_id(ledger: Ledger, slug: str) -> int:
    with read_tx(ledger.engine) as conn:
        t = Organization.__table__
        return int(conn.execute(select(t.c.id).where(t.c.slug == slug)).scalar_one())


def test_a_producer_promoted_in_the_table_still_cannot_attest(v2_ledger: Ledger) -> None:
    _world(v2_ledger)
    attestations.attest(v2_ledger, "ocop-lam-dong", {"type": "product", "id": GTIN_A}, RATING)
    t = Organization.__table__
    with write_tx(v2_ledger.engine) as conn:  # the table is not the truth; the org entry is
        conn.execute(update(t).where(t.c.slug == "htx-phu-hoi").values(kind="authority"))
    with pytest.raises(PermissionDenied, match="only an authority"):
        attestations.attest(v2_ledger, "htx-phu-hoi", {"type": "product", "id": GTIN_A}, RATING)
    with pytest.raises(InputError, match="claim"):
        attestations.attest(v2_ledger, "ocop-lam-dong", {"type": "product", "id": GTIN_A}, {"type": "gold"})
    assert len(attestations.about(v2_ledger, "product", GTIN_A)) == 1


def test_cli_attest(run: Any) -> None:  # noqa: F811
    assert (
        run(
            "org", "create", "Chi cục Trồng trọt và BVTV Lâm Đồng", "--kind", "authority", "--slug", "bvtv-ld"
        ).exit_code
        == 0
    )
    claim = json.dumps({"type": "packing_house_code", "code": "VN-PH-0042"})
    r = run("attest", "add", "bvtv-ld", "--about", "plot", "--id", "VN-LDPH-0042", "--claim", claim, "--json")
    assert r.exit_code == 0, r.output
    listed = json.loads(run("attest", "list", "--about", "plot", "--id", "VN-LDPH-0042", "--json").output)
    assert [a["claim"]["code"] for a in listed] == ["VN-PH-0042"]
    assert run("attest", "add", "bvtv-ld", "--about", "plot", "--id", "x", "--claim", "{").exit_code == 2
    assert run("attest", "revoke", json.loads(r.output)["subject"]).exit_code == 0
    assert json.loads(run("attest", "list", "--about", "plot", "--id", "VN-LDPH-0042", "--json").output) == []


def test_the_certificate_says_who_vouches_for_the_rating(v2_ledger: Ledger) -> None:
    from ledger.core.records import ProductCreate
    from ledger.exports import certificate

    _world(v2_ledger)
    v2_ledger.create_product(
        "htx-phu-hoi", ProductCreate(gtin=GTIN_A, name_vi="Thanh long", ocop_stars=3, ocop_year=2023)
    )
    lot = v2_ledger.create_lot("htx-phu-hoi", {"gtin": GTIN_A, "code": "PH-1"})["lot_id"]
    declared = certificate.build(v2_ledger, base_url="https://ocop.example.vn", lot=lot).products[0]
    assert (declared["stars"], declared["stars_by"]) == (3, None)
    assert certificate._vouch(declared) == "do nhà sản xuất tự công bố / declared by the producer"
    attestations.attest(v2_ledger, "ocop-lam-dong", {"type": "product", "id": GTIN_A}, RATING)
    attested = certificate.build(v2_ledger, base_url="https://ocop.example.vn", lot=lot).products[0]
    assert (attested["stars"], attested["year"], attested["stars_by"]) == (4, 2024, "Hội đồng OCOP tỉnh Lâm Đồng")
    assert "attested by Hội đồng OCOP tỉnh Lâm Đồng" in certificate._vouch(attested)


def test_growing_area_codes_say_who_vouches_on_the_page_and_certificate(v2_ledger: Ledger, tmp_path: Path) -> None:
    from ledger.exports import certificate

    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        tokens = _world(v2_ledger)
        prod = {"Authorization": f"Bearer {tokens['producer']}"}
        product = {"gtin": GTIN_A, "name_vi": "Thanh long"}
        assert client.post("/api/v1/products", json=product, headers=prod).status_code == 201
        for code, area in (("PH-1", "VN-LDPH-0042"), ("PH-2", "VN-LDPH-0043"), ("PH-3", "VN-LDPH-0044")):
            lot = {"gtin": GTIN_A, "code": code, "growing_area_code": area}
            if code != "PH-3":
                lot["packing_house_code"] = "VN-PH-0007"
            assert client.post("/api/v1/lots", json=lot, headers=prod).status_code == 201
        with write_tx(v2_ledger.engine) as conn:
            own = apikeys.create(conn, _org_id(v2_ledger, "ocop-lam-dong"), "authority")["token"]
        auth = {"Authorization": f"Bearer {own}"}
        same = {
            "about": {"type": "plot", "id": "VN-LDPH-0042"},
            "claim": {"type": "growing_area_code", "code": "VN-LDPH-0042"},
        }
        other = {
            "about": {"type": "lot", "id": f"{GTIN_A}.PH-3"},
            "claim": {"type": "growing_area_code", "code": "VN-LDPH-0999"},
        }
        packed = {
            "about": {"type": "lot", "id": f"{GTIN_A}.PH-1"},
            "claim": {"type": "packing_house_code", "code": "VN-PH-0007"},
        }
        for body in (same, other, packed):
            assert client.post("/api/v1/attestations", json=body, headers=auth).status_code == 201

        def page(code: str) -> str:
            return client.get(f"/01/{GTIN_A}/10/{code}?lang=en", headers={"Accept": "text/html"}).text

        attested, declared, mismatch = page("PH-1"), page("PH-2"), page("PH-3")
        assert 'VN-LDPH-0042 · <span class="vouch">attested by Hội đồng OCOP tỉnh Lâm Đồng</span>' in attested
        assert 'data-code="attested"' in attested
        assert (
            '<dt>Packing-house code</dt><dd class="code" data-code="attested">VN-PH-0007 · '
            '<span class="vouch">attested by Hội đồng OCOP tỉnh Lâm Đồng</span>' in attested
        )
        assert '<dt>Packing-house code</dt><dd class="code" data-code="declared">VN-PH-0007' in declared
        assert "Packing-house code" not in mismatch.split("<h2>")[0]  # PH-3 declares none and none is attested
        assert 'VN-LDPH-0043 · <span class="vouch">declared by the producer (not attested by any authority)' in declared
        assert (
            '<span class="warning">Warning: the producer declares VN-LDPH-0044, but Hội đồng OCOP tỉnh Lâm Đồng '
            "attests VN-LDPH-0999</span>" in mismatch
        )
        vi = client.get(f"/01/{GTIN_A}/10/PH-3", headers={"Accept": "text/html"}).text
        assert "Cảnh báo: nhà sản xuất công bố mã VN-LDPH-0044" in vi
        # a mismatch is a fact about the data, not a broken signature
        assert client.get(f"/api/v1/lots/{GTIN_A}.PH-3/verify").json()["verdict"] != "tampered"
    cert = certificate.build(v2_ledger, base_url="https://ocop.example.vn", lot=f"{GTIN_A}.PH-1").products[0]
    assert cert["codes"] == [
        "mã vùng trồng / growing area VN-LDPH-0042: chứng thực bởi / attested by Hội đồng OCOP tỉnh Lâm Đồng",
        "mã cơ sở đóng gói / packing house VN-PH-0007: chứng thực bởi / attested by Hội đồng OCOP tỉnh Lâm Đồng",
    ]
    cert = certificate.build(v2_ledger, base_url="https://ocop.example.vn", lot=f"{GTIN_A}.PH-3").products[0]
    assert cert["code_status"] == {"growing_area_code": "mismatch"}
    assert "WARNING: growing-area code mismatch: the producer declares VN-LDPH-0044" in cert["codes"][0]
    pdf = certificate.render(certificate.build(v2_ledger, base_url="https://x.vn", lot=f"{GTIN_A}.PH-2"))
    assert pdf.startswith(b"%PDF")


def test_an_edited_attestation_makes_its_products_lots_tampered_naming_the_entry(v2_ledger: Ledger) -> None:
    """A database edit of an attestation (its claim, signature or leaf hash) must not just make the voucher vanish
    from the page: the lot's verdict names the attestation entry (issue 11, tamper suite)."""
    from ledger.core.records import ProductCreate
    from ledger.store.models import LogEntry

    _world(v2_ledger)
    v2_ledger.create_product("htx-phu-hoi", ProductCreate(gtin=GTIN_A, name_vi="Thanh long"))
    lot = v2_ledger.create_lot("htx-phu-hoi", {"gtin": GTIN_A, "code": "PH-1"})["lot_id"]
    made = attestations.attest(v2_ledger, "ocop-lam-dong", {"type": "product", "id": GTIN_A}, RATING)
    assert v2_ledger.verify_lot(lot).verdict != "tampered"
    e = LogEntry.__table__
    forged = json.dumps({**made["body"], "claim": {**RATING, "stars": 5}}, separators=(",", ":"), sort_keys=True)
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(update(e).where(e.c.idx == made["index"]).values(event=forged))
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered"
    assert report.failure is not None and report.failure.index == made["index"]


def test_an_edited_attestation_about_the_lot_is_tampering_too(v2_ledger: Ledger) -> None:
    from ledger.core.records import ProductCreate
    from ledger.store.models import LogEntry

    _world(v2_ledger)
    v2_ledger.create_product("htx-phu-hoi", ProductCreate(gtin=GTIN_A, name_vi="Thanh long"))
    lot = v2_ledger.create_lot("htx-phu-hoi", {"gtin": GTIN_A, "code": "PH-2"})["lot_id"]
    claim = {"type": "packing_house_code", "code": "VN-PH-0042"}
    made = attestations.attest(v2_ledger, "ocop-lam-dong", {"type": "lot", "id": lot}, claim)
    assert v2_ledger.verify_lot(lot).verdict != "tampered"
    e = LogEntry.__table__
    with write_tx(v2_ledger.engine) as conn:
        conn.execute(update(e).where(e.c.idx == made["index"]).values(sig="A" * 86 + "=="))
    report = v2_ledger.verify_lot(lot)
    assert report.verdict == "tampered" and report.failure is not None and report.failure.index == made["index"]
