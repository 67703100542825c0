"""Admin routes: organizations, API keys (shown once, revocable), anchoring status."""

from __future__ import annotations

from tests.api.conftest import World


def test_admin_creates_an_organization_with_its_first_key(world: World) -> None:
    r = world.client.post(
        "/api/v1/admin/organizations?api_key_role=producer",
        json={"name": "HTX Dừa Bến Tre", "province": "Bến Tre"},
        headers=world.auth("admin"),
    )
    assert r.status_code == 201, r.text
    org = r.json()
    token = org["api_key"]["token"]
    assert org["slug"] == "htx-dua-ben-tre" and org["keys"][0]["status"] == "active"
    me = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert me["organization"]["slug"] == "htx-dua-ben-tre" and me["role"] == "producer"
    listed = world.client.get(f"/api/v1/admin/organizations/{org['id']}/api-keys", headers=world.auth("admin")).json()
    assert [k["key_id"] for k in listed] == [org["api_key"]["key_id"]]
    assert "token" not in listed[0]


def test_duplicate_organization_is_409(world: World) -> None:
    r = world.client.post(
        "/api/v1/admin/organizations", json={"name": "X", "slug": "org-a"}, headers=world.auth("admin")
    )
    assert r.status_code == 409


def test_revoking_a_key(world: World) -> None:
    r = world.client.post(
        "/api/v1/admin/organizations/org-b/api-keys", json={"role": "producer"}, headers=world.auth("admin")
    )
    key = r.json()
    h = {"Authorization": f"Bearer {key['token']}"}
    assert world.client.get("/api/v1/me", headers=h).status_code == 200
    r = world.client.post(f"/api/v1/admin/api-keys/{key['key_id']}/revoke", headers=world.auth("admin"))
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert world.client.get("/api/v1/me", headers=h).status_code == 401
    again = world.client.post(f"/api/v1/admin/api-keys/{key['key_id']}/revoke", headers=world.auth("admin"))
    assert again.status_code == 409
    missing = world.client.post("/api/v1/admin/api-keys/ak_nope/revoke", headers=world.auth("admin"))
    assert missing.status_code == 404


def test_anchoring_status(world: World) -> None:
    r = world.client.get("/api/v1/admin/anchoring", headers=world.auth("admin"))
    assert r.status_code == 200
    body = r.json()
    assert body["tree_size"] == 1 and body["anchored_size"] == 0 and body["pending_entries"] == 1


def test_list_and_get_organizations(world: World) -> None:
    orgs = world.client.get("/api/v1/admin/organizations", headers=world.auth("admin")).json()
    assert {o["slug"] for o in orgs} >= {"org-a", "org-b", "org-inspector"}
    assert (
        world.client.get("/api/v1/admin/organizations/org-a", headers=world.auth("admin")).json()["kind"]
        == "cooperative"
    )
    assert world.client.get("/api/v1/admin/organizations/nope", headers=world.auth("admin")).status_code == 404
