"""Health, metrics, structured logs (never a key), security headers, the OpenAPI document."""

from __future__ import annotations

import json
import logging

import pytest

from tests.api.conftest import LOT_A_PATH, World, event

CONTRACT_PATHS = {
    "/01/{gtin}/10/{lot}": "get",
    "/api/v1/lots/{lot_id}": "get",
    "/api/v1/lots/{lot_id}/verify": "get",
    "/api/v1/lots/{lot_id}/bundle": "get",
    "/api/v1/lots/{lot_id}/qr.png": "get",
    "/api/v1/lots/{lot_id}/qr.svg": "get",
    "/api/v1/log/checkpoint": "get",
    "/api/v1/log/entries": "get",
    "/api/v1/log/consistency": "get",
    "/api/v1/anchors": "get",
    "/healthz": "get",
    "/metrics": "get",
    "/api/v1/products": "post",
    "/api/v1/lots": "post",
    "/api/v1/lots/{lot_id}/events": "post",
    "/api/v1/events:batch": "post",
    "/api/v1/epcis/capture": "post",
}


def test_openapi_has_every_contract_path_with_schemas(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    for path, method in CONTRACT_PATHS.items():
        assert method in spec["paths"].get(path, {}), path
        op = spec["paths"][path][method]
        assert op.get("summary") and op.get("description"), path
        if method == "post":
            assert "requestBody" in op, path
        codes = set(op["responses"])
        assert any(c.startswith("2") for c in codes), path
        assert any(c.startswith("4") for c in codes), path
    schemas = spec["components"]["schemas"]
    for name in ("LotCreate", "ProductCreate", "LotPublic", "VerifyReport", "ErrorBody", "BatchIn", "AnchorPublic"):
        assert name in schemas, name
    assert "examples" in schemas["VerifyReport"]


def test_docs_are_served_from_local_assets(world: World) -> None:
    """/docs must work on an offline machine: every script and stylesheet comes from this server."""
    import re

    page = world.client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css"} <= set(assets)
    for url in assets:
        assert url.startswith("/"), f"/docs loads {url} from outside the server"
        r = world.client.get(url)
        assert r.status_code == 200 and len(r.content) > 100, url
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text


def test_healthz(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok", "tree_size": 1}


def test_metrics_are_prometheus_text(world: World) -> None:
    world.client.get(f"/api/v1/lots/{LOT_A_PATH}/verify")
    r = world.client.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    assert 'ocop_http_requests_total{method="GET",route="/api/v1/lots/{lot_id:path}/verify",status="200"} 1.0' in r.text
    assert "ocop_log_tree_size 1.0" in r.text
    assert "ocop_http_request_duration_seconds_bucket" in r.text


def test_one_json_log_line_per_request_without_keys(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ocop.api.access")
    token = world.tokens["a"]
    world.client.post(f"/api/v1/lots/{LOT_A_PATH}/events?x=1", json=event(), headers=world.auth("a"))
    world.client.get("/healthz", headers={"Authorization": f"Bearer {token}"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ocop.api.access"]
    assert [(x["method"], x["status"]) for x in lines] == [("POST", 201), ("GET", 200)]
    assert set(lines[0]) >= {"method", "path", "status", "duration_ms"}
    assert lines[0]["route"] == "/api/v1/lots/{lot_id:path}/events"
    assert all(token not in r.getMessage() and "Bearer" not in r.getMessage() for r in caplog.records)


def test_security_headers_on_json(world: World) -> None:
    r = world.client.get("/api/v1/log/checkpoint")
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_unexpected_errors_are_a_bare_500(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = world.client.app.state.services  # type: ignore[attr-defined]

    def boom() -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(svc, "log_size", boom)
    r = world.client.get("/healthz")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal error"}}
