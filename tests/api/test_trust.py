"""The operator's trust roots at /.well-known/ocop-ledger.json, and the CLI's key registration with pop."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.core import signing
from ledger.service import Ledger
from tests.api.conftest import api_settings, make_settings
from tests.cli.test_cli import run  # noqa: F401 - the CLI fixture

CONTRACT = "0x5FbDB2315678afecb367f642d3d0d5E8EA2a3B6c"


def test_the_well_known_document_publishes_chain_contract_and_log_key(v2_ledger: Ledger, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, chain_id=31337, contract_address=CONTRACT)
    app = create_app(settings, ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        r = client.get("/.well-known/ocop-ledger.json")
        again = client.get("/.well-known/ocop-ledger.json").json()
    assert r.status_code == 200
    doc = r.json()
    assert set(doc) == {"chain_id", "contract", "log_key", "bundle_versions"}
    assert (doc["chain_id"], doc["contract"], doc["bundle_versions"]) == (31337, CONTRACT, [1, 2, 3])
    pub = base64.b64decode(doc["log_key"]["public_key"])
    assert doc["log_key"]["key_id"] == signing.key_id(pub) and again == doc  # one key, kept


def test_cli_registers_a_client_key_with_its_proof_of_possession(run: Any) -> None:  # noqa: F811
    assert run("org", "create", "HTX Tư Kỳ", "--slug", "htx-tu-ky").exit_code == 0
    signer = signing.Signer(bytes(range(7, 39)))
    pub = base64.b64encode(signer.public_key).decode()
    when = "2026-08-01T03:00:00Z"
    r = run("key", "register", "htx-tu-ky", pub, "--effective", when)
    assert r.exit_code == 2 and "proof of possession" in r.output
    stmt = run("key", "pop-statement", "htx-tu-ky", pub, "--effective", when)
    assert stmt.exit_code == 0, stmt.output
    data = stmt.output.strip().encode()
    assert json.loads(data)["body"] == {"action": "register", "effective": when, "org": "htx-tu-ky", "public_key": pub}
    r = run("key", "register", "htx-tu-ky", pub, "--effective", when, "--pop", signer.sign(data), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["key_id"] == signer.key_id


def test_a_product_update_is_a_new_version_and_old_lots_keep_theirs(v2_ledger: Ledger, tmp_path: Path) -> None:
    from tests.api.conftest import GTIN_A, add_org

    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        _, token = add_org(v2_ledger, "HTX Phú Hội", "htx-phu-hoi", "cooperative", "producer")
        _, other = add_org(v2_ledger, "HTX Khác", "htx-khac", "cooperative", "producer")
        auth = {"Authorization": f"Bearer {token}"}
        product = {"gtin": GTIN_A, "name_vi": "Thanh long", "category": "fruit", "ocop_stars": 3, "ocop_year": 2023}
        assert client.post("/api/v1/products", json=product, headers=auth).status_code == 201
        lot = {"gtin": GTIN_A, "code": "OLD-1", "quantity": 10, "unit": "KGM"}
        assert client.post("/api/v1/lots", json=lot, headers=auth).status_code == 201
        newer = {**product, "ocop_stars": 4, "ocop_year": 2025}
        r = client.put(f"/api/v1/products/{GTIN_A}", json=newer, headers=auth)
        assert r.status_code == 200 and r.json()["ocop_stars"] == 4
        assert client.post("/api/v1/lots", json={**lot, "code": "NEW-1"}, headers=auth).status_code == 201
        refused = client.put(f"/api/v1/products/{GTIN_A}", json=newer, headers={"Authorization": f"Bearer {other}"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        moved = client.put(f"/api/v1/products/{GTIN_A}", json={**newer, "gtin": "08930000000019"}, headers=auth)
        assert moved.status_code == 422 and "expected the product's GTIN" in moved.json()["error"]["message"]
        missing = client.put("/api/v1/products/08930000000019", json={**newer, "gtin": "08930000000019"}, headers=auth)
        assert missing.status_code == 404
    old_report = v2_ledger.verify_lot(f"{GTIN_A}.OLD-1")
    new_report = v2_ledger.verify_lot(f"{GTIN_A}.NEW-1")
    assert old_report.verdict == new_report.verdict == "pending"
    assert old_report.product is not None and old_report.product["declared"]["ocop_stars"] == 3
    assert new_report.product is not None and new_report.product["declared"]["ocop_stars"] == 4


def test_the_page_shows_the_signed_product_and_who_vouches(v2_ledger: Ledger, tmp_path: Path) -> None:
    from sqlalchemy import update

    from ledger.store.db import write_tx
    from ledger.store.models import Product
    from tests.api.conftest import GTIN_A, add_org

    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        _, token = add_org(v2_ledger, "HTX Phú Hội", "htx-phu-hoi", "cooperative", "producer")
        auth = {"Authorization": f"Bearer {token}"}
        product = {"gtin": GTIN_A, "name_vi": "Thanh long", "name_en": "Dragon fruit", "ocop_stars": 4,
                   "ocop_year": 2024, "certifications": [{"scheme": "VietGAP", "certificate_no": "VG-1"}]}  # fmt: skip
        assert client.post("/api/v1/products", json=product, headers=auth).status_code == 201
        lot = {"gtin": GTIN_A, "code": "PH-1", "quantity": 10, "unit": "KGM"}
        assert client.post("/api/v1/lots", json=lot, headers=auth).status_code == 201
        page = client.get(f"/01/{GTIN_A}/10/PH-1?lang=en", headers={"Accept": "text/html"}).text
        assert "declared by the producer" in page and "OCOP 4 stars" in page
        vi = client.get(f"/01/{GTIN_A}/10/PH-1", headers={"Accept": "text/html"}).text
        assert "do nhà sản xuất tự công bố" in vi
    t = Product.__table__
    with write_tx(v2_ledger.engine) as conn:  # verdicts are cached per log size: a fresh app sees the edit
        conn.execute(update(t).where(t.c.gtin == GTIN_A).values(ocop_stars=5))
    app = create_app(make_settings(tmp_path), ledger=v2_ledger, connect_chain=False, api_settings=api_settings())
    with TestClient(app) as client:
        verdict = client.get(f"/api/v1/lots/{GTIN_A}.PH-1/verify").json()
        assert verdict["verdict"] == "tampered" and verdict["failure"]["message"].startswith("OCOP stars differs")
        page = client.get(f"/01/{GTIN_A}/10/PH-1?lang=en", headers={"Accept": "text/html"}).text
        assert "Warning: records were altered" in page
