"""Authorization: API keys per organization and role; 401 without a valid key, 403 without the right."""

from __future__ import annotations

import pytest

from ledger.store import apikeys
from ledger.store.db import write_tx
from tests.api.conftest import GTIN_A, GTIN_B, LOT_A_PATH, World, event


def events_url(lot: str = LOT_A_PATH) -> str:
    return f"/api/v1/lots/{lot}/events"


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer ocop_ak_000000000000_wrong", "Bearer not-a-key"],
    ids=["missing", "empty-bearer", "blank-token", "basic-auth", "unknown-key", "malformed-key"],
)
def test_missing_or_wrong_key_is_401_json(world: World, header: str | None) -> None:
    before = world.counts()
    headers = {"Authorization": header} if header is not None else {}
    r = world.client.post(events_url(), json=event(), headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert world.counts() == before


def test_revoked_key_is_refused_from_the_next_request(world: World) -> None:
    assert world.client.get("/api/v1/me", headers=world.auth("a")).status_code == 200
    key_id = world.client.get("/api/v1/me", headers=world.auth("a")).json()["key_id"]
    with write_tx(world.ledger.engine) as conn:
        apikeys.revoke(conn, key_id)
    r = world.client.post(events_url(), json=event(), headers=world.auth("a"))
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "invalid or revoked API key"


def test_keys_are_stored_hashed_and_shown_once(world: World) -> None:
    from sqlalchemy import select

    from ledger.store.db import read_tx
    from ledger.store.models import ApiKey

    with read_tx(world.ledger.engine) as conn:
        rows = list(conn.execute(select(ApiKey.__table__)))  # type: ignore[attr-defined]
    stored = {str(v) for r in rows for v in r}
    assert all(token not in stored for token in world.tokens.values())
    assert {r.token_hash for r in rows} == {apikeys.hash_token(t) for t in world.tokens.values()}


def test_producer_writes_its_own_lots(world: World) -> None:
    r = world.client.post(events_url(), json=event("ocop:harvesting"), headers=world.auth("a"))
    assert r.status_code == 201, r.text
    assert r.json()["seq"] == 1


def test_producer_may_not_write_another_organizations_lot(world: World) -> None:
    before = world.counts()
    r = world.client.post(events_url(), json=event("ocop:harvesting"), headers=world.auth("b"))
    assert r.status_code == 403
    body = r.json()["error"]
    assert body["code"] == "forbidden"
    assert body["details"][0]["index"] == 0
    assert world.counts() == before


def test_producer_may_not_create_a_lot_of_another_organizations_product(world: World) -> None:
    before = world.counts()
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "X-1"}, headers=world.auth("b"))
    assert r.status_code == 403
    assert "another organization" in r.json()["error"]["message"]
    assert world.counts() == before


def test_producer_creates_products_and_lots_of_its_own(world: World) -> None:
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_B, "code": "CB-01"}, headers=world.auth("b"))
    assert r.status_code == 201, r.text
    assert r.json()["producer"]["slug"] == "org-b"


@pytest.mark.parametrize("step", ["inspecting", "sampling", "urn:epcglobal:cbv:bizstep:inspecting"])
def test_inspector_may_add_inspection_events_to_any_lot(world: World, step: str) -> None:
    r = world.client.post(events_url(), json=event(step), headers=world.auth("inspector"))
    assert r.status_code == 201, r.text
    assert r.json()["signer"] in {k["key_id"] for k in world.orgs["inspector"]["keys"]}


@pytest.mark.parametrize(
    "who,step", [("inspector", "shipping"), ("inspector", "ocop:harvesting"), ("exporter", "inspecting")]
)
def test_foreign_roles_are_limited_to_their_steps(world: World, who: str, step: str) -> None:
    before = world.counts()
    r = world.client.post(events_url(), json=event(step), headers=world.auth(who))
    assert r.status_code == 403
    assert world.counts() == before


@pytest.mark.parametrize("step", ["shipping", "loading", "departing"])
def test_exporter_may_record_shipping_events(world: World, step: str) -> None:
    r = world.client.post(events_url(), json=event(step), headers=world.auth("exporter"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("who", ["inspector", "exporter", "admin"])
def test_only_producers_create_products_and_lots(world: World, who: str) -> None:
    before = world.counts()
    r = world.client.post(
        "/api/v1/products", json={"gtin": "08930000000026", "name_vi": "Trà"}, headers=world.auth(who)
    )
    assert r.status_code == 403
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "Z-9"}, headers=world.auth(who))
    assert r.status_code == 403
    assert world.counts() == before


def test_admin_records_no_events(world: World) -> None:
    r = world.client.post(events_url(), json=event("inspecting"), headers=world.auth("admin"))
    assert r.status_code == 403


@pytest.mark.parametrize("who", ["a", "inspector", "exporter"])
def test_admin_routes_need_the_admin_role(world: World, who: str) -> None:
    for method, url in (
        ("GET", "/api/v1/admin/organizations"),
        ("POST", "/api/v1/admin/organizations/org-a/api-keys"),
        ("GET", "/api/v1/admin/anchoring"),
    ):
        r = world.client.request(method, url, json={"role": "producer"}, headers=world.auth(who))
        assert r.status_code == 403, (method, url)
        assert r.json()["error"]["code"] == "forbidden"


def test_public_routes_need_no_key(world: World) -> None:
    for url in (
        f"/api/v1/lots/{LOT_A_PATH}",
        f"/api/v1/lots/{LOT_A_PATH}/verify",
        f"/api/v1/lots/{LOT_A_PATH}/qr.svg",
        "/api/v1/log/checkpoint",
        "/api/v1/log/entries?start=0",
        "/api/v1/anchors",
        "/healthz",
        "/metrics",
        f"/01/{GTIN_A}/10/PH%2F2026-07",
    ):
        assert world.client.get(url).status_code == 200, url


def test_role_must_suit_the_organization_kind(world: World) -> None:
    r = world.client.post(
        "/api/v1/admin/organizations/org-a/api-keys", json={"role": "inspector"}, headers=world.auth("admin")
    )
    assert r.status_code == 422
    assert "needs an organization of kind inspector" in r.json()["error"]["message"]


@pytest.mark.parametrize("who", ["a", "inspector", "exporter", "admin"])
def test_only_authority_keys_record_attestations(world: World, who: str) -> None:
    before = world.counts()
    body = {"about": {"type": "product", "id": GTIN_A}, "claim": {"type": "ocop_rating", "stars": 5, "year": 2025}}
    for url, payload in (
        ("/api/v1/attestations", body),
        ("/api/v1/attestations/attestation:org-a:1/revoke", None),
    ):
        r = world.client.post(url, json=payload, headers=world.auth(who))
        assert r.status_code == 403, (who, url, r.text)
        assert r.json()["error"]["code"] == "forbidden"
        assert "role authority" in r.json()["error"]["message"]
    assert world.counts() == before


def test_attestation_routes_need_a_key(world: World) -> None:
    r = world.client.post("/api/v1/attestations", json={"about": {}, "claim": {}})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_authority_keys_record_no_products_lots_or_events(world: World) -> None:
    from tests.api.conftest import add_org

    _, token = add_org(world.ledger, "Hội đồng OCOP tỉnh Lâm Đồng", "ocop-lam-dong", "authority", "authority")
    auth = {"Authorization": f"Bearer {token}"}
    before = world.counts()
    assert world.client.post(events_url(), json=event("inspecting"), headers=auth).status_code == 403
    r = world.client.post("/api/v1/products", json={"gtin": "08930000000026", "name_vi": "Trà"}, headers=auth)
    assert r.status_code == 403
    r = world.client.post("/api/v1/lots", json={"gtin": GTIN_A, "code": "Z-9"}, headers=auth)
    assert r.status_code == 403
    r = world.client.get("/api/v1/admin/organizations", headers=auth)
    assert r.status_code == 403
    assert world.counts() == before


def test_the_authority_role_needs_an_authority_organization(world: World) -> None:
    r = world.client.post(
        "/api/v1/admin/organizations/org-a/api-keys", json={"role": "authority"}, headers=world.auth("admin")
    )
    assert r.status_code == 422
    assert "needs an organization of kind authority" in r.json()["error"]["message"]
