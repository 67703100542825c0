"""The OpenAPI document declares the bearer scheme, so /docs offers "Authorize" (issue 14)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_bearer_scheme_is_declared_on_authenticated_routes_only(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key: `Authorization: Bearer ocop_…`",
    }
    assert doc["paths"]["/api/v1/products"]["post"]["security"] == [{"apiKey": []}]
    assert doc["paths"]["/api/v1/admin/organizations"]["get"]["security"] == [{"apiKey": []}]
    assert "security" not in doc["paths"]["/api/v1/log/checkpoint"]["get"]
    assert not [p for p in doc["paths"] if p.startswith(("/console", "/photos"))]


def test_a_missing_key_still_gets_the_apis_own_401(client: TestClient) -> None:
    r = client.post("/api/v1/products", json={})
    assert r.status_code == 401
    assert r.json()["error"] == {
        "code": "unauthorized",
        "message": "missing API key: send 'Authorization: Bearer <api key>'",
    }
    assert r.headers["www-authenticate"] == "Bearer"
