"""Every class of bad input gets a 4xx with {"error": {"code", "message"}} and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import GTIN_A, LOT_A_PATH, World, event

EVENTS = f"/api/v1/lots/{LOT_A_PATH}/events"


def assert_error(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    err = r.json()["error"]
    assert isinstance(err["code"], str) and isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code
    return dict(err)


BAD_BODIES = [
    ("malformed-json", b'{"type": "ObjectEvent",', 400, "malformed_json"),
    ("not-utf8", b'{"type": "\xff\xfe"}', 400, "malformed_json"),
    ("empty-body", b"", 422, "invalid_input"),
    ("json-array", b"[1, 2]", 422, "invalid_input"),
    ("json-string", b'"hello"', 422, "invalid_input"),
]


@pytest.mark.parametrize("name,body,status,code", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_unparseable_bodies(world: World, name: str, body: bytes, status: int, code: str) -> None:
    before = world.counts()
    r = world.client.post(EVENTS, content=body, headers={**world.auth("a"), "Content-Type": "application/json"})
    assert_error(r, status, code)
    assert world.counts() == before


BAD_EVENTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown-biz-step", event("dancing"), "bizStep"),
    ("no-timezone", event(time="2026-07-02T06:30:00"), "eventTime"),
    ("not-a-time", event(time="yesterday"), "eventTime"),
    ("future", event(time="2030-01-01T00:00:00+07:00"), "eventTime"),
    ("unknown-field", event(colour="red"), "colour"),
    ("owned-record-time", event(recordTime="2026-07-02T00:00:00Z"), "recordTime"),
    ("bad-uom", event(quantityList=[{"quantity": 5, "uom": "kilos"}]), "uom"),
    ("negative-quantity", event(quantityList=[{"quantity": -5, "uom": "KGM"}]), "quantity"),
    ("no-action", {"type": "ObjectEvent", "bizStep": "storing", "eventTime": "2026-07-02T06:30:00+07:00"}, "action"),
    ("wrong-type", {**event(), "type": "SensorEvent"}, "type"),
    ("huge-note", event(**{"ocop:note": "x" * 5000}), "note"),
]


@pytest.mark.parametrize("name,body,field", BAD_EVENTS, ids=[b[0] for b in BAD_EVENTS])
def test_invalid_events(world: World, name: str, body: dict[str, Any], field: str) -> None:
    before = world.counts()
    err = assert_error(world.client.post(EVENTS, json=body, headers=world.auth("a")), 422, "invalid_input")
    assert field in err["message"] or any(field in str(d) for d in err.get("details", []))
    assert world.counts() == before


BAD_PRODUCTS: list[tuple[str, dict[str, Any], int]] = [
    ("gtin-check-digit", {"gtin": "08930000045677", "name_vi": "Trà"}, 422),
    ("gtin-letters", {"gtin": "0893000004567A", "name_vi": "Trà"}, 422),
    ("gtin-length", {"gtin": "12345", "name_vi": "Trà"}, 422),
    ("missing-name", {"gtin": "08930000000026"}, 422),
    ("stars-out-of-range", {"gtin": "08930000000026", "name_vi": "Trà", "ocop_stars": 7, "ocop_year": 2024}, 422),
    ("stars-without-year", {"gtin": "08930000000026", "name_vi": "Trà", "ocop_stars": 4}, 422),
    ("extra-field", {"gtin": "08930000000026", "name_vi": "Trà", "price": 5}, 422),
    ("duplicate-gtin", {"gtin": GTIN_A, "name_vi": "Thanh long"}, 409),
]


@pytest.mark.parametrize("name,body,status", BAD_PRODUCTS, ids=[b[0] for b in BAD_PRODUCTS])
def test_invalid_products(world: World, name: str, body: dict[str, Any], status: int) -> None:
    before = world.counts()
    assert_error(world.client.post("/api/v1/products", json=body, headers=world.auth("a")), status)
    assert world.counts() == before


BAD_LOTS: list[tuple[str, dict[str, Any], int]] = [
    ("lot-code-too-long", {"gtin": GTIN_A, "code": "X" * 21}, 422),
    ("lot-code-bad-char", {"gtin": GTIN_A, "code": "lô-1"}, 422),
    ("unknown-product", {"gtin": "08930000000026", "code": "A1"}, 422),
    ("quantity-without-unit", {"gtin": GTIN_A, "code": "A1", "quantity": 5}, 422),
    (
        "harvest-backwards",
        {"gtin": GTIN_A, "code": "A1", "harvest_start": "2026-07-02", "harvest_end": "2026-07-01"},
        422,
    ),
    ("bad-geometry", {"gtin": GTIN_A, "code": "A1", "plot": {"type": "Point", "coordinates": [500, 0]}}, 422),
    ("duplicate-lot", {"gtin": GTIN_A, "code": "PH/2026-07"}, 409),
]


@pytest.mark.parametrize("name,body,status", BAD_LOTS, ids=[b[0] for b in BAD_LOTS])
def test_invalid_lots(world: World, name: str, body: dict[str, Any], status: int) -> None:
    before = world.counts()
    assert_error(world.client.post("/api/v1/lots", json=body, headers=world.auth("a")), status)
    assert world.counts() == before


@pytest.mark.parametrize(
    "url,status",
    [
        ("/api/v1/lots/not-a-lot/events", 422),
        ("/api/v1/lots/08930000045677.PH-1/events", 422),  # wrong check digit
        ("/api/v1/lots/08930000045676.UNKNOWN/events", 422),  # unknown lot
    ],
)
def test_bad_lot_ids_on_writes(world: World, url: str, status: int) -> None:
    before = world.counts()
    assert_error(world.client.post(url, json=event(), headers=world.auth("a")), status)
    assert world.counts() == before


def test_body_over_the_limit_is_413(app_factory: Any, world: World) -> None:
    small = app_factory(max_body_bytes=4096)
    before = world.counts()
    big = event(**{"ocop:note": "x" * 1500}, bizLocation={"id": "y" * 400, "name": "z" * 400})
    body = {"events": [{"lot": "08930000045676.PH/2026-07", "event": big}] * 5}
    assert_error(small.post("/api/v1/events:batch", json=body, headers=world.auth("a")), 413, "payload_too_large")
    assert world.counts() == before


def test_streamed_body_over_the_limit_is_413(app_factory: Any, world: World) -> None:
    small = app_factory(max_body_bytes=4096)

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 1000

    r = small.post(
        "/api/v1/events:batch", content=chunks(), headers={**world.auth("a"), "Content-Type": "application/json"}
    )
    assert_error(r, 413, "payload_too_large")


@pytest.mark.parametrize(
    "url,status",
    [
        ("/api/v1/log/entries?start=-1", 422),
        ("/api/v1/log/entries?start=abc", 422),
        ("/api/v1/log/entries?start=5&end=2", 422),
        ("/api/v1/log/entries?start=0&end=100000", 422),
        ("/api/v1/log/entries?start=999", 404),
        ("/api/v1/log/consistency?first=2&second=1", 422),
        ("/api/v1/log/consistency?first=1&second=999", 404),
        ("/api/v1/log/consistency?first=0&second=1", 422),
        ("/api/v1/log/consistency", 422),
        ("/api/v1/anchors?limit=0", 422),
        ("/api/v1/lots/garbage", 422),
        ("/api/v1/lots/08930000045676.NOPE", 404),
        ("/api/v1/lots/08930000045676.NOPE/qr.png", 404),
        ("/api/v1/lots/08930000045676.NOPE/bundle", 404),
        ("/01/08930000045677/10/PH-1", 422),
        ("/nowhere", 404),
    ],
)
def test_bad_queries_and_paths(world: World, url: str, status: int) -> None:
    assert_error(world.client.get(url, headers={"Accept": "application/json"}), status)


def test_wrong_method_is_405_json(world: World) -> None:
    assert_error(world.client.delete("/api/v1/log/checkpoint"), 405, "method_not_allowed")


def test_validation_errors_list_every_field(world: World) -> None:
    err = assert_error(
        world.client.post("/api/v1/products", json={"gtin": 5, "name_vi": ""}, headers=world.auth("a")), 422
    )
    fields = {d["field"] for d in err["details"]}
    assert {"body.gtin", "body.name_vi"} <= fields


def test_rate_limit_on_public_routes(app_factory: Any, world: World) -> None:
    limited = app_factory(rate_limit=1.0, rate_burst=3)
    codes = [limited.get("/api/v1/log/checkpoint").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = limited.get("/api/v1/log/checkpoint")
    assert_error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    assert limited.get("/healthz").status_code == 200  # health checks are not limited
    ok = limited.post(EVENTS, json=event(), headers=world.auth("a"))  # writes are authenticated, not limited
    assert ok.status_code == 201


def test_no_5xx_for_odd_inputs(world: World) -> None:
    odd = [
        "/api/v1/lots/%00%ff/verify",
        "/api/v1/lots/08930000045676.%2F%2F%2F/verify",
        "/01/%FF/10/%FF",
        "/01/08930000045676/10/" + "A" * 500,
        "/api/v1/lots/" + "9" * 5000,
        "/api/v1/log/entries?start=99999999999999999999999",
        "/api/v1/anchors?before=99999999999999999999999",
        "/api/v1/log/consistency?first=1&second=99999999999999999999999",
        "/01/08930000045676/10/PH-1?lang=fr",
    ]
    for url in odd:
        r = world.client.get(url, headers={"Accept": "application/json"})
        assert 400 <= r.status_code < 500, (url, r.status_code, r.text)
        assert "error" in r.json()
